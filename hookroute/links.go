package hookroute

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// sameTarget reports whether the symlink at link points at target: the
// same link text or a file that stats to the same inode.
func sameTarget(link, target string) bool {
	if t, err := os.Readlink(link); err == nil && t == target {
		return true
	}
	a, errA := os.Stat(link)
	b, errB := os.Stat(target)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// EnsureLink makes link a symlink to target. An existing symlink to the
// same file is no change; anything else at link (another file, a link
// elsewhere) is refused, never replaced.
func EnsureLink(link, target string, dryRun bool) (Edit, error) {
	e := Edit{Path: link}
	info, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return e, err
	case info.Mode()&fs.ModeSymlink != 0 && sameTarget(link, target):
		e.What = fmt.Sprintf("%s already links to %s", quote.String(link), quote.String(target))
		return e, nil
	default:
		what := info.Mode().Type().String()
		if t, err := os.Readlink(link); err == nil {
			what = "a symlink to " + quote.String(t)
		}
		return e, fmt.Errorf("%s exists (%s) and is not ovlfix: not replaced; remove it or choose another --prefix", quote.String(link), what)
	}
	e.Changed = true
	if dryRun {
		e.What = fmt.Sprintf("would create symlink %s -> %s", quote.String(link), quote.String(target))
		return e, nil
	}
	e.What = fmt.Sprintf("created symlink %s -> %s", quote.String(link), quote.String(target))
	return e, os.Symlink(target, link)
}

// RemoveLink removes link if it is a symlink to target; anything else is
// left and said.
func RemoveLink(link, target string, dryRun bool) (Edit, error) {
	e := Edit{Path: link}
	info, err := os.Lstat(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.What = fmt.Sprintf("%s does not exist", quote.String(link))
		return e, nil
	case err != nil:
		return e, err
	case info.Mode()&fs.ModeSymlink == 0 || !sameTarget(link, target):
		e.What = fmt.Sprintf("%s is not a symlink to %s: left alone", quote.String(link), quote.String(target))
		return e, nil
	}
	e.Changed = true
	if dryRun {
		e.What = fmt.Sprintf("would remove symlink %s", quote.String(link))
		return e, nil
	}
	e.What = fmt.Sprintf("removed symlink %s", quote.String(link))
	return e, os.Remove(link)
}
