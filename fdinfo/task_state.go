package fdinfo

import (
	"bytes"
	"errors"
	"fmt"
)

// Whether a task is still alive, from /proc/<pid>/stat.
//
// Existence is not enough. A task that exits keeps its /proc/<pid> entry as
// a zombie until its parent reaps it, and a zombie's fd and fdinfo
// directories are empty and readable without error (its file table is
// gone), its cwd, root and exe links fail with ENOENT, its maps is empty.
// A scan that only checks that /proc/<pid>/stat exists therefore "succeeds"
// on a task that exited during it, with every fd it had not read yet
// missing. Worse, do_exit drops the file table (exit_files) before the task
// becomes a zombie, so for a moment the task still reads as running (state
// R) with no fds.
//
// What closes both windows is the PF_EXITING bit of the task's flags
// (field 9 of stat, "%u", on every 2.6+ kernel): do_exit sets it in
// exit_signals, before exit_mm and exit_files take anything away, and it
// stays set in the zombie. So if a check made after every read sees the
// task neither exiting nor dead, every read happened before the task began
// to exit, and an fd missing from it really was closed by the task. After
// the parent reaps the task its stat fails with ENOENT or ESRCH, also
// through a /proc/<pid> directory opened before (the entry belongs to the
// task's struct pid, never to a later task given the same number).
//
// The state letter alone is not enough (the R window above), but it names
// the reason in messages: Z zombie, X dead, x dead on some kernels before
// 4.14.

// pfExiting is PF_EXITING from <linux/sched.h> (the same value since 2.6.0).
const pfExiting = 0x00000004

// taskState is the part of /proc/<pid>/stat that says whether a task lives.
type taskState struct {
	State byte   // field 3: R, S, D, Z, X, ...
	Flags uint64 // field 9: the task's PF_* flags
}

// exiting reports whether the task has begun to exit or is dead.
func (t taskState) exiting() bool {
	return t.Flags&pfExiting != 0 || t.State == 'Z' || t.State == 'X' || t.State == 'x'
}

// why names what the state says, for messages: "zombie (state Z)".
func (t taskState) why() string {
	switch t.State {
	case 'Z':
		return "zombie (state Z)"
	case 'X', 'x':
		return fmt.Sprintf("dead (state %c)", t.State)
	}
	return fmt.Sprintf("exiting (state %c, PF_EXITING)", t.State)
}

// parseTaskStat reads the state and flags of a /proc/<pid>/stat line. The
// comm field (2) is the task's own choice, up to 15 bytes in parentheses
// that may hold spaces and parentheses: the fields after it start after
// the LAST ')'.
func parseTaskStat(b []byte) (taskState, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return taskState{}, fmt.Errorf("stat %q: no comm field: %w", trunc(b), errMissing)
	}
	rest := b[i+1:]
	var st taskState
	for n := 3; n <= 9; n++ {
		var tok []byte
		tok, rest = nextToken(rest)
		if len(tok) == 0 {
			return taskState{}, fmt.Errorf("stat %q: field %d: %w", trunc(b), n, errMissing)
		}
		switch n {
		case 3:
			if len(tok) != 1 {
				return taskState{}, fmt.Errorf("stat %q: state %q: %w", trunc(b), tok, errState)
			}
			st.State = tok[0]
		case 9:
			f, err := parseUint(tok, 10, 64)
			if err != nil {
				return taskState{}, fmt.Errorf("stat %q: flags %q: %w", trunc(b), tok, err)
			}
			st.Flags = f
		}
	}
	return st, nil
}

// trunc shortens text quoted in an error.
func trunc(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// live returns nil while the task behind p has not begun to exit, and an
// error wrapping ErrExited (naming why) once it has or is gone. Other
// errors (a stat that is not the kernel's) are returned as they are.
func (p *procDir) live() error {
	st, err := p.state()
	if err != nil {
		if gone(err) {
			return fmt.Errorf("pid %d: gone (stat: %v): %w", p.pid, err, ErrExited)
		}
		return fmt.Errorf("pid %d: %w", p.pid, err)
	}
	if st.exiting() {
		return fmt.Errorf("pid %d: %s: %w", p.pid, st.why(), ErrExited)
	}
	return nil
}

// exitedOr returns err, or, when the task has begun to exit, the
// ErrExited that explains err (a read of a dead task fails with ENOENT or
// ESRCH, which would otherwise read as ErrNoProcess).
func (p *procDir) exitedOr(err error) error {
	if errors.Is(err, ErrExited) {
		return err
	}
	if lerr := p.live(); errors.Is(lerr, ErrExited) {
		return fmt.Errorf("%w; %v", lerr, err)
	}
	return err
}

// state reads the task's /proc stat through the open directory.
func (p *procDir) state() (taskState, error) {
	buf := make([]byte, 1024)
	text, err := readAt(p.fd, "stat", &buf, true)
	if err != nil {
		return taskState{}, err
	}
	return parseTaskStat(text)
}
