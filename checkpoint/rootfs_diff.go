package checkpoint

import (
	"archive/tar"
	"fmt"
	"io"
)

// buildIDPrefix is how much of a regular rootfs-diff.tar member is read
// for its ELF build-ID: the program headers and the build-ID note sit at
// the start of every linker's output; one placed further is not found.
const buildIDPrefix = 64 << 10

// rootfsDiff reads rootfs-diff.tar as a stream nested in the archive's:
// headers become entries, ELF members give their build-ID from a bounded
// prefix, other contents are skipped. Names are refused like the
// archive's own (.., NUL) and duplicates too; links are recorded, never
// followed or used to read another member. A member under a symlink member
// read before it is refused: Podman's untar (containers/storage
// archive.Unpack) would write it through the link, on the host for an
// absolute one. A member of rootfs-diff.tar that is itself a tar is an
// ordinary entry: nothing is read recursively.
func (a *archiveReader) rootfsDiff(r io.Reader, size int64) (map[string]DiffEntry, error) {
	tr := tar.NewReader(io.LimitReader(r, size))
	entries := map[string]DiffEntry{}
	links := &linkTrie{}
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rootfsDiffTar, streamError(last, err))
		}
		last = hdr.Name
		a.members++
		if a.members > a.opts.MaxMembers {
			return nil, fmt.Errorf("%s: more than %d members in all (Options.MaxMembers): %w", rootfsDiffTar, a.opts.MaxMembers, ErrTooBig)
		}
		e, err := a.diffEntry(tr, hdr)
		if err != nil {
			return nil, fmt.Errorf("%s: member %q: %w", rootfsDiffTar, hdr.Name, err)
		}
		if e.Path == "/" {
			continue
		}
		if l := links.under(e.Path); l != "" {
			return nil, fmt.Errorf("%s: member %q: under the symlink member %s: an untar writes it through the link, wherever it leads (on the host, for an absolute link); refusing: %w", rootfsDiffTar, hdr.Name, l, ErrUnsafe)
		}
		if _, dup := entries[e.Path]; dup {
			return nil, fmt.Errorf("%s: member %q: duplicate of %s: which copy a restore would use is ambiguous; refusing: %w", rootfsDiffTar, hdr.Name, e.Path, ErrUnsafe)
		}
		entries[e.Path] = e
		if e.Type == tar.TypeSymlink {
			links.add(e.Path)
		}
	}
}

func (a *archiveReader) diffEntry(tr *tar.Reader, hdr *tar.Header) (DiffEntry, error) {
	p, err := containerPath(hdr.Name)
	if err != nil {
		return DiffEntry{}, err
	}
	if hdr.Size < 0 {
		return DiffEntry{}, fmt.Errorf("negative size %d: %w", hdr.Size, ErrUnsafe)
	}
	e := DiffEntry{Path: p, Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, Size: hdr.Size, Linkname: hdr.Linkname}
	if hdr.Typeflag != tar.TypeReg || hdr.Size < 4 {
		return e, nil
	}
	prefix := a.buf[:min(hdr.Size, buildIDPrefix)]
	if _, err := io.ReadFull(tr, prefix); err != nil {
		return DiffEntry{}, truncated(err)
	}
	e.BuildID = elfBuildID(prefix)
	return e, nil
}
