package mountns

import "golang.org/x/sys/unix"

// Sub opens the directory path inside r (resolved as every path of r is,
// never leaving r) and returns it as a Root of its own. The resolver uses
// it for overlay layer directories: a path inside a layer comes from the
// target and is walked with the layer as its root, so a symlink planted in
// a layer cannot lead anywhere else.
func (r *Root) Sub(path string) (*Root, error) {
	fd, err := r.resolve(path, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	return newRoot(fd, path), nil
}
