package checkpoint

import (
	"fmt"
	"io/fs"
	"slices"
)

// archiveImages is an archive's checkpoint/ folder held in memory: every
// image's bytes but page data's (pages-*.img, listed only).
type archiveImages struct {
	names []string
	data  map[string][]byte
	pages map[string]bool
}

func (a *archiveImages) Names() []string { return slices.Clone(a.names) }

// ReadFile returns a copy of an image's bytes: callers may not change the
// checkpoint another caller reads.
func (a *archiveImages) ReadFile(name string) ([]byte, error) {
	if b, ok := a.data[name]; ok {
		return slices.Clone(b), nil
	}
	if a.pages[name] {
		return nil, fmt.Errorf("%s: %w (read it from an images directory, or extract the archive)", name, ErrNotKept)
	}
	return nil, fmt.Errorf("%s: %w: %w", name, ErrNotInCheckpoint, fs.ErrNotExist)
}
