package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// interruptBudget is the guarantee of docs/cli.md § Interrupts.
const interruptBudget = time.Second

// fifoImages is a copy of CRIU's own images (testdata/criu/basic) whose
// files.img is a FIFO: opening it blocks until a writer comes, which none
// does.
func fifoImages(t *testing.T) string {
	t.Helper()
	dir := testenv.CopyFiles(t, filepath.Join("..", "..", "testdata", "criu", "basic"))
	fifo := filepath.Join(dir, proto.FilesImg)
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hookCmd is the hook as CRIU starts it (see runHookAs), not yet started.
func hookCmd(t *testing.T, vars map[string]string) *exec.Cmd {
	t.Helper()
	link := filepath.Join(t.TempDir(), hookProgram)
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRTOOLS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func startPlain(cmd *exec.Cmd) error { return cmd.Start() }

// processExit is the exit code in a Wait error (0 for nil, -1 for a
// process a signal killed).
func processExit(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

func assertFIFO(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer the FIFO: %v %v", path, fi, err)
	}
}

// TestInterruptHookPostDump: a post-dump hook blocked on the images (a
// FIFO files.img; an images directory on a hung FUSE mount) ends within a
// second of SIGTERM, exits 0 so the dump CRIU made stands, and logs which
// signal stopped it and what files.img is.
func TestInterruptHookPostDump(t *testing.T) {
	t.Run("fifo files.img", func(t *testing.T) {
		dir := fifoImages(t)
		criu := startCRIUStandIn(t, t.TempDir(), dir)
		p := startBlocked(t, startPlain, hookCmd(t, map[string]string{
			"CRTOOLS_SCRIPT_ACTION": "post-dump", "CRTOOLS_INIT_PID": fmt.Sprint(criu.pid), "CRTOOLS_IMAGE_DIR": criu.imageDir}))
		if !p.waitBlocked(t, wchanFIFO...) {
			// Image opens that do not block (O_NONBLOCK): nothing to
			// interrupt; the hook must still let the dump stand.
			expect(t, result{processExit(p.err), p.stdout(), p.stderr()}, exitOK, "cannot help, the dump is left as CRIU wrote it")
			assertFIFO(t, filepath.Join(dir, proto.FilesImg))
			return
		}
		code, took := p.interrupt(t, syscall.SIGTERM, interruptBudget)
		t.Logf("exit %d %v after SIGTERM; stderr:\n%s", code, took, p.stderr())
		expectInterruptedHook(t, code, p.stderr())
		assertFIFO(t, filepath.Join(dir, proto.FilesImg))
	})
	t.Run("hung FUSE images dir", func(t *testing.T) {
		h := newHungFUSE(t)
		p := startBlocked(t, h.Start, hookCmd(t, map[string]string{
			"CRTOOLS_SCRIPT_ACTION": "post-dump", "CRTOOLS_INIT_PID": fmt.Sprint(os.Getpid()), "CRTOOLS_IMAGE_DIR": filepath.Join(h.Dir, "images")}))
		p.waitBlocked(t, wchanFUSE...)
		code, took := p.interrupt(t, syscall.SIGTERM, interruptBudget)
		t.Logf("exit %d %v after SIGTERM; stderr:\n%s", code, took, p.stderr())
		expectInterruptedHook(t, code, p.stderr())
	})
}

func expectInterruptedHook(t *testing.T, code int, stderr string) {
	t.Helper()
	want := "ovlfix-hook: interrupted by SIGTERM: stopped after 300ms in a call that did not return: " + LeftIfStoppedPostDump
	if code != exitOK || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 0 and %q", code, stderr, want)
	}
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if !strings.HasPrefix(l, "ovlfix-hook: ") {
			t.Errorf("hook line without its prefix: %q", l)
		}
	}
}

// LeftIfStoppedPostDump is what docs/hook.md promises for an interrupted
// post-dump.
const LeftIfStoppedPostDump = "post-dump: files.img is CRIU's own or ovlfix's complete repair (CRIU's original then kept as files.img.ovlfix-orig), never a partial file; the dump goes on with it"

// TestInterruptFixup: `ovlfix fixup` blocked on a FIFO files.img, or on an
// images directory on a hung FUSE mount, ends within a second of SIGINT
// with exit 130 and says what files.img is.
func TestInterruptFixup(t *testing.T) {
	t.Run("fifo files.img", func(t *testing.T) {
		dir := fifoImages(t)
		p := startBlocked(t, startPlain, exec.Command(binary, "fixup", "-D", dir, "--pid", fmt.Sprint(os.Getpid())))
		if !p.waitBlocked(t, wchanFIFO...) {
			if c := processExit(p.err); c == exitOK || c == exitUsage {
				t.Errorf("a FIFO files.img: exit %d, want an error that is not usage (2); stderr %q", c, p.stderr())
			}
			assertFIFO(t, filepath.Join(dir, proto.FilesImg))
			return
		}
		code, took := p.interrupt(t, syscall.SIGINT, interruptBudget)
		t.Logf("exit %d %v after SIGINT; stderr:\n%s", code, took, p.stderr())
		want := fmt.Sprintf("ovlfix: interrupted by SIGINT: stopped after 300ms in a call that did not return: files.img in %q is as it was or the complete repair", dir)
		if code != exitInterrupted || !strings.Contains(p.stderr(), want) {
			t.Errorf("exit %d, stderr %q; want exit %d and %q", code, p.stderr(), exitInterrupted, want)
		}
		assertFIFO(t, filepath.Join(dir, proto.FilesImg))
	})
	t.Run("hung FUSE images dir", func(t *testing.T) {
		h := newHungFUSE(t)
		p := startBlocked(t, h.Start, exec.Command(binary, "fixup", "-D", filepath.Join(h.Dir, "images"), "--pid", fmt.Sprint(os.Getpid()), "--dry-run"))
		p.waitBlocked(t, wchanFUSE...)
		code, took := p.interrupt(t, syscall.SIGINT, interruptBudget)
		t.Logf("exit %d %v after SIGINT; stderr:\n%s", code, took, p.stderr())
		if want := "ovlfix: interrupted by SIGINT: stopped after 300ms in a call that did not return: nothing was written"; code != exitInterrupted || !strings.Contains(p.stderr(), want) {
			t.Errorf("exit %d, stderr %q; want exit %d and %q", code, p.stderr(), exitInterrupted, want)
		}
	})
}

// TestInterruptDump: `ovlfix dump -D` on a hung FUSE directory ends within
// a second of SIGTERM with exit 143; so does `ovlfix check` whose cache
// directory hangs.
func TestInterruptDump(t *testing.T) {
	h := newHungFUSE(t)
	for _, tc := range []struct {
		name string
		args []string
		left string
	}{
		{"dump", []string{"dump", fmt.Sprint(os.Getpid()), "-D", filepath.Join(h.Dir, "images")}, "nothing was written"},
		{"check", []string{"check", "--cache-dir", filepath.Join(h.Dir, "cache")}, fmt.Sprintf("%q is the previous cache or the complete new one", filepath.Join(h.Dir, "cache", "quirks.json"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startBlocked(t, h.Start, exec.Command(binary, tc.args...))
			p.waitBlocked(t, wchanFUSE...)
			code, took := p.interrupt(t, syscall.SIGTERM, interruptBudget)
			t.Logf("exit %d %v after SIGTERM; stderr:\n%s", code, took, p.stderr())
			want := "ovlfix: interrupted by SIGTERM: stopped after 300ms in a call that did not return: " + tc.left
			if code != exitTerminated || !strings.Contains(p.stderr(), want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, p.stderr(), exitTerminated, want)
			}
		})
	}
}

// TestInterruptDemoCleansUp: Ctrl-C while the demo is stuck (its -D on a
// hung FUSE mount) ends it within a second with exit 130, after it killed
// its child and removed every directory it made.
func TestInterruptDemoCleansUp(t *testing.T) {
	h := newHungFUSE(t)
	tmp := t.TempDir()
	cmd := exec.Command(binary, "demo", "-D", filepath.Join(h.Dir, "images"))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	p := startBlocked(t, h.Start, cmd)
	p.waitBlocked(t, wchanFUSE...)
	m := regexp.MustCompile(`demo: child pid (\d+) `).FindStringSubmatch(p.stdout())
	if m == nil {
		t.Fatalf("no child pid in the demo's output %q", p.stdout())
	}
	child, _ := strconv.Atoi(m[1])
	if left, _ := os.ReadDir(tmp); len(left) == 0 {
		t.Fatalf("the demo made nothing in TMPDIR before it blocked")
	}
	code, took := p.interrupt(t, syscall.SIGINT, interruptBudget)
	t.Logf("exit %d %v after SIGINT; stderr:\n%s", code, took, p.stderr())
	if want := "ovlfix: interrupted by SIGINT: stopped after 300ms in a call that did not return: everything the demo made was removed"; code != exitInterrupted || !strings.Contains(p.stderr(), want) {
		t.Errorf("exit %d, stderr %q; want exit %d and %q", code, p.stderr(), exitInterrupted, want)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in TMPDIR", left)
	}
	deadline := time.Now().Add(time.Second)
	for unix.Kill(child, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := unix.Kill(child, 0); !errors.Is(err, unix.ESRCH) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		t.Errorf("the demo's child %d is still there (%v): %s", child, err, b)
	}
}

// The mechanism, with a tiny grace: a command that stops on its context
// returns, one that is stuck is left behind; each says what it leaves.
func TestExecuteOnSignal(t *testing.T) {
	tiny := 20 * time.Millisecond
	stuck := make(chan struct{})
	defer close(stuck)
	cmdWith := func(run func(ctx context.Context) error) *cobra.Command {
		c := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true, RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context())
		}}
		c.SetArgs(nil)
		return c
	}
	signalled := func(sig os.Signal) <-chan os.Signal {
		ch := make(chan os.Signal, 1)
		ch <- sig
		return ch
	}
	for _, tc := range []struct {
		name     string
		hook     bool
		sig      syscall.Signal
		run      func(st *stopState) func(ctx context.Context) error
		code     int
		stderr   string
		cleanups int
	}{
		{name: "returns on its context", sig: syscall.SIGINT, code: exitInterrupted,
			run: func(st *stopState) func(context.Context) error {
				return func(ctx context.Context) error {
					st.leave("half of it")
					<-ctx.Done()
					return ctx.Err()
				}
			}, stderr: "ovlfix: interrupted by SIGINT: half of it\n"},
		{name: "returns another error", sig: syscall.SIGTERM, code: exitTerminated,
			run: func(*stopState) func(context.Context) error {
				return func(ctx context.Context) error { <-ctx.Done(); return errors.New("disk on fire") }
			}, stderr: "ovlfix: disk on fire\novlfix: interrupted by SIGTERM: nothing was written\n"},
		{name: "stuck", sig: syscall.SIGTERM, code: exitTerminated, cleanups: 1,
			run: func(st *stopState) func(context.Context) error {
				return func(context.Context) error { st.leave("the lot"); <-stuck; return nil }
			}, stderr: "ovlfix: interrupted by SIGTERM: stopped after 20ms in a call that did not return: the lot\n"},
		{name: "hook stuck", hook: true, sig: syscall.SIGTERM, code: exitOK, cleanups: 1,
			run: func(st *stopState) func(context.Context) error {
				return func(context.Context) error { st.leave("files.img whole"); <-stuck; return nil }
			}, stderr: "ovlfix-hook: interrupted by SIGTERM: stopped after 20ms in a call that did not return: files.img whole\n"},
		{name: "hook returns its verdict", hook: true, sig: syscall.SIGINT, code: exitFailure,
			run: func(*stopState) func(context.Context) error {
				return func(ctx context.Context) error {
					<-ctx.Done()
					return withCode(exitFailure, loggedError{errors.New("unrepairable")})
				}
			}, stderr: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStopState(tc.hook)
			cleaned := 0
			st.atForcedExit(func() { cleaned++ })
			var stderr bytes.Buffer
			code := execute(cmdWith(tc.run(st)), st, signalled(tc.sig), tiny, &stderr)
			if code != tc.code || stderr.String() != tc.stderr || cleaned != tc.cleanups {
				t.Errorf("exit %d, stderr %q, %d cleanups; want %d, %q, %d", code, stderr.String(), cleaned, tc.code, tc.stderr, tc.cleanups)
			}
		})
	}
}

// A stderr nobody reads cannot keep a stuck command alive.
func TestForcedExitDoesNotWaitForStderr(t *testing.T) {
	r, w := io.Pipe()
	defer r.Close()
	start := time.Now()
	if code := forcedExit(interrupted{syscall.SIGTERM}, newStopState(false), time.Millisecond, w); code != exitTerminated {
		t.Errorf("exit %d", code)
	}
	if took := time.Since(start); took > 10*stderrBudget {
		t.Errorf("forcedExit took %v with a blocked stderr", took)
	}
}
