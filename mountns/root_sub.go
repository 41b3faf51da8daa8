package mountns

import (
	"errors"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// maxSubHops bounds the final symlinks Sub follows (the kernel's
// MAXSYMLINKS for a path walk is 40).
const maxSubHops = 40

// Sub opens the directory path inside r (resolved as every path of r is,
// never leaving r) and returns it as a Root of its own. The resolver uses
// it for overlay layer directories: a path inside a layer comes from the
// target and is walked with the layer as its root, so a symlink planted in
// a layer cannot lead anywhere else.
//
// Unlike every other lookup of r, a final symlink is followed, inside r,
// at most maxSubHops times: mount(2) followed it when the overlay was
// mounted, and runtimes name layers by symlinks (containers/storage, so
// Podman and CRI-O, gives lowerdir=<storage>/overlay/l/<short id>, a link
// to ../<layer id>/diff). A link's target is resolved again with
// RESOLVE_IN_ROOT from the link's directory, so it cannot leave r either.
func (r *Root) Sub(p string) (*Root, error) {
	for range maxSubHops {
		fd, err := r.resolve(p, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			return newRoot(fd, p), nil
		}
		if !errors.Is(err, unix.ENOTDIR) {
			return nil, err
		}
		target, lerr := r.readlinkFinal(p)
		if lerr != nil {
			return nil, err // not a symlink: a plain ENOTDIR
		}
		if !path.IsAbs(target) {
			// Not path.Join: ".." must be resolved by the walk, after
			// the link's directory's own symlinks, as the kernel does.
			target = path.Dir(p) + "/" + target
		}
		p = target
	}
	return nil, &os.PathError{Op: "sub", Path: p, Err: unix.ELOOP}
}

// readlinkFinal reads the symlink p inside r (its final component not
// followed); an error when p is not a symlink.
func (r *Root) readlinkFinal(p string) (string, error) {
	fd, err := r.resolve(p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err // EINVAL or ENOENT: not a symlink
	}
	return string(buf[:n]), nil
}
