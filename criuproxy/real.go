package criuproxy

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ovlfix/ovlfix/internal/quote"
	"golang.org/x/sys/unix"
)

// EnvRealCRIU names the real CRIU when --real is not given.
const EnvRealCRIU = "OVLFIX_REAL_CRIU"

// ErrNoRealCRIU means no real CRIU was found.
var ErrNoRealCRIU = errors.New("no real CRIU found")

// FindReal returns the real CRIU: flagPath (--real) if set, else
// $OVLFIX_REAL_CRIU, else the first executable `criu` in $PATH that is not
// the program self (compared by device and inode of the resolved file, so
// a `criu -> ovlfix` symlink first in PATH is skipped). A named path that
// is ovlfix itself is an error: the proxy would start itself forever.
func FindReal(flagPath string, lookup func(string) (string, bool), self string) (string, error) {
	selfID, err := fileID(self)
	if err != nil {
		return "", fmt.Errorf("the proxy's own executable %s: %w", quote.String(self), err)
	}
	named := func(what, p string) (string, error) {
		id, err := executableID(p)
		if err != nil {
			return "", fmt.Errorf("real CRIU from %s: %w", what, err)
		}
		if id == selfID {
			return "", fmt.Errorf("real CRIU from %s: %s is ovlfix itself, not CRIU", what, quote.String(p))
		}
		return p, nil
	}
	if flagPath != "" {
		return named("--real", flagPath)
	}
	if p, ok := lookup(EnvRealCRIU); ok && p != "" {
		return named("$"+EnvRealCRIU, p)
	}
	pathList, _ := lookup("PATH")
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, "criu")
		id, err := executableID(p)
		if err != nil || id == selfID {
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("%w: no `criu` in PATH other than ovlfix itself (set --real or $%s)", ErrNoRealCRIU, EnvRealCRIU)
}

type inodeID struct{ dev, ino uint64 }

func fileID(p string) (inodeID, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return inodeID{}, err
	}
	return inodeID{st.Dev, st.Ino}, nil
}

// executableID is fileID of a regular file this process may execute.
func executableID(p string) (inodeID, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return inodeID{}, fmt.Errorf("%s: %w", quote.String(p), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return inodeID{}, fmt.Errorf("%s is not a regular file", quote.String(p))
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return inodeID{}, fmt.Errorf("%s is not executable: %w", quote.String(p), err)
	}
	return inodeID{st.Dev, st.Ino}, nil
}
