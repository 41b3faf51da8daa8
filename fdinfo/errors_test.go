package fdinfo

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	pathErr := &fs.PathError{Op: "open", Path: "/proc/42/mountinfo", Err: unix.ENOENT}
	for _, c := range []struct {
		err  error
		want error // nil: returned unchanged
	}{
		{fmt.Errorf("pid 42: %w", unix.ESRCH), ErrExited},
		{pathErr, ErrExited},
		{fmt.Errorf("pid 42: %w", unix.EACCES), ErrPermission},
		{unix.EPERM, ErrPermission},
	} {
		got := Classify(c.err)
		if !errors.Is(got, c.want) || !strings.Contains(got.Error(), c.err.Error()) {
			t.Errorf("Classify(%v) = %v, want it to wrap %v and say %q", c.err, got, c.want, c.err)
		}
	}
	for _, err := range []error{nil, unix.EIO, fmt.Errorf("pid 42: %w", ErrNoProcess), fmt.Errorf("pid 42: %w (%v)", ErrExited, unix.ESRCH), fmt.Errorf("x: %w", ErrPermission)} {
		if got := Classify(err); got != err {
			t.Errorf("Classify(%v) = %v, want it unchanged", err, got)
		}
	}
}
