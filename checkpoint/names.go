package checkpoint

import (
	"fmt"
	"path"
	"strings"
)

// memberName checks an archive member's name and returns it canonical,
// relative and without a trailing slash ("checkpoint/files.img"); "" for
// the archive's root ("./", "."). Names are untrusted: a NUL, an absolute
// name, a ".." component or a non-canonical spelling ("a//b", "a/./b")
// is refused, so that two spellings can never name one file and no name
// can reach outside the archive's tree.
func memberName(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("empty name: %w", ErrUnsafe)
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", fmt.Errorf("name holds a NUL byte: %w", ErrUnsafe)
	}
	if strings.HasPrefix(raw, "/") {
		return "", fmt.Errorf("absolute name: %w", ErrUnsafe)
	}
	name := raw
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "." {
		return "", nil
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("name climbs out of the archive (..): %w", ErrUnsafe)
		}
	}
	if path.Clean(name) != name {
		return "", fmt.Errorf("non-canonical name (want %q): %w", path.Clean(name), ErrUnsafe)
	}
	return name, nil
}

// containerPath turns a rootfs-diff.tar member name or a deleted.files
// entry into the clean absolute path it names in the container ("/etc/hosts");
// "/" for the root. Podman writes relative names in the tar and absolute
// ones in deleted.files; both are accepted, ".." and NUL never.
func containerPath(raw string) (string, error) {
	if strings.IndexByte(raw, 0) >= 0 {
		return "", fmt.Errorf("name holds a NUL byte: %w", ErrUnsafe)
	}
	if raw == "" {
		return "", fmt.Errorf("empty name: %w", ErrUnsafe)
	}
	for _, c := range strings.Split(raw, "/") {
		if c == ".." {
			return "", fmt.Errorf("name climbs out of the root (..): %w", ErrUnsafe)
		}
	}
	return path.Clean("/" + raw), nil
}

// isPagesImage reports whether an image holds page data (pages-N.img,
// the bulk of a checkpoint), which is listed but not kept.
func isPagesImage(name string) bool {
	return strings.HasPrefix(name, "pages-") && strings.HasSuffix(name, ".img")
}
