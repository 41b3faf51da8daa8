package checkpoint

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/ovlfix/ovlfix/proto"
)

// dirImages is an images directory: files are read on demand, each capped
// and refused unless it is a regular file (proto.ReadFileCapped).
type dirImages struct {
	dir   string
	names []string
}

// OpenDir opens a CRIU images directory as a Checkpoint.
func OpenDir(dir string) (*Checkpoint, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("images directory: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return &Checkpoint{Path: dir, Format: FormatDir, Images: &dirImages{dir: dir, names: names}}, nil
}

func (d *dirImages) Names() []string { return d.names }

func (d *dirImages) ReadFile(name string) ([]byte, error) {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("%q: not a file name: %w", name, fs.ErrInvalid)
	}
	b, _, err := proto.ReadFileCapped(filepath.Join(d.dir, name), proto.MaxImageFileSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}
