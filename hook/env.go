package hook

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// The environment CRIU gives an action script (criu/action-scripts.c).
const (
	EnvAction   = "CRTOOLS_SCRIPT_ACTION"
	EnvImageDir = "CRTOOLS_IMAGE_DIR"
	EnvInitPID  = "CRTOOLS_INIT_PID"
)

// The actions this hook acts on; CRIU has more (pre-restore, network-lock,
// ...), which the hook ignores.
const (
	ActionPreDump  = "pre-dump"
	ActionPostDump = "post-dump"
)

// ErrNotCRIU means CRTOOLS_SCRIPT_ACTION is unset: the program was not
// started by CRIU as an action script.
var ErrNotCRIU = errors.New("not run by CRIU as an action script: " + EnvAction + " is not set (enable with `action-script` in a CRIU config file, see docs/hook.md)")

// ErrBadEnv marks an environment variable CRIU should have set for the
// action but did not, or set to something unusable.
var ErrBadEnv = errors.New("bad action-script environment")

// Env is what CRIU told the hook.
type Env struct {
	Action string
	// ImageDir is CRTOOLS_IMAGE_DIR, a /proc/<criu-pid>/fd/N link to the
	// images directory: open it as a directory, never show it as its name.
	ImageDir string
	// CRIUPID is the <criu-pid> of ImageDir, 0 when ImageDir is not of
	// that form.
	CRIUPID int
	// InitPID is the host pid of the dumped tree's root task, 0 when unset.
	InitPID int
}

// Acts reports whether the hook does anything for this action.
func (e Env) Acts() bool { return e.Action == ActionPreDump || e.Action == ActionPostDump }

// ParseEnv reads the action-script environment through lookup (os.LookupEnv
// in production). A missing action is ErrNotCRIU. For an action the hook
// does not act on nothing else is checked: CRIU sets CRTOOLS_INIT_PID only
// once the root task is known. For pre-dump and post-dump a missing or
// invalid CRTOOLS_INIT_PID, and for post-dump a missing or relative
// CRTOOLS_IMAGE_DIR, is an error wrapping ErrBadEnv that names the variable.
func ParseEnv(lookup func(string) (string, bool)) (Env, error) {
	var e Env
	action, ok := lookup(EnvAction)
	if !ok {
		return e, ErrNotCRIU
	}
	e.Action = action
	if action == "" {
		return e, fmt.Errorf("%w: %s is empty", ErrBadEnv, EnvAction)
	}
	if !e.Acts() {
		return e, nil
	}
	raw, ok := lookup(EnvInitPID)
	if !ok {
		return e, fmt.Errorf("%w: %s is not set for %s", ErrBadEnv, EnvInitPID, action)
	}
	pid, err := strconv.Atoi(raw)
	if err != nil || pid <= 0 {
		return e, fmt.Errorf("%w: %s=%s is not a process id", ErrBadEnv, EnvInitPID, quote.String(raw))
	}
	e.InitPID = pid
	dir, ok := lookup(EnvImageDir)
	switch {
	case !ok && action == ActionPostDump:
		return e, fmt.Errorf("%w: %s is not set for %s", ErrBadEnv, EnvImageDir, action)
	case ok && !filepath.IsAbs(dir):
		return e, fmt.Errorf("%w: %s=%s is not an absolute path", ErrBadEnv, EnvImageDir, quote.String(dir))
	}
	e.ImageDir = dir
	e.CRIUPID = criuPIDOf(dir)
	return e, nil
}

// criuPIDOf returns <pid> of "/proc/<pid>/fd/<n>", else 0.
func criuPIDOf(dir string) int {
	rest, ok := strings.CutPrefix(dir, "/proc/")
	if !ok {
		return 0
	}
	pidText, fd, ok := strings.Cut(rest, "/fd/")
	if !ok {
		return 0
	}
	pid, err := strconv.Atoi(pidText)
	if _, ferr := strconv.Atoi(fd); err != nil || ferr != nil || pid <= 0 {
		return 0
	}
	return pid
}
