package checkpoint

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Names in a container checkpoint archive, as checkpointctl's
// lib/metadata.go, Podman and CRI-O write them.
const (
	checkpointFolder = "checkpoint"
	rootfsDiffTar    = "rootfs-diff.tar"
	deletedFiles     = "deleted.files"
)

// knownMeta are the top-level metadata files engines write; one over
// Options.MaxMeta is an error rather than a skip.
var knownMeta = []string{
	"config.dump", "spec.dump", "network.status", "stats-dump", "stats-restore",
	deletedFiles, "bind.mounts", "pod.options", "pod.dump", "checkpointed.pods",
}

// archiveReader reads one archive in one pass; it is used once.
type archiveReader struct {
	ctx      context.Context
	opts     Options
	seekable bool // plain tar on a seekable file: archive/tar skips by seeking

	cp        *Checkpoint
	images    *archiveImages
	seen      map[string]bool
	claimed   int64 // sum of member header sizes, against MaxTotal
	kept      int64 // bytes of images kept, against MaxImages
	members   int   // archive and rootfs-diff.tar members, against MaxMembers
	sawFolder bool
	buf       []byte // skip and prefix buffer
}

func newArchiveReader(ctx context.Context, opts Options, seekable bool) *archiveReader {
	return &archiveReader{
		ctx:      ctx,
		opts:     opts,
		seekable: seekable,
		cp:       &Checkpoint{Meta: map[string][]byte{}},
		images:   &archiveImages{data: map[string][]byte{}, pages: map[string]bool{}},
		seen:     map[string]bool{},
		buf:      make([]byte, 1<<20),
	}
}

// read walks the archive's members; r is the decompressed tar stream.
func (a *archiveReader) read(r io.Reader) (*Checkpoint, error) {
	tr := tar.NewReader(r)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, streamError(last, err)
		}
		if err := a.ctx.Err(); err != nil {
			return nil, err
		}
		last = hdr.Name
		if err := a.member(tr, hdr); err != nil {
			return nil, fmt.Errorf("member %q: %w", hdr.Name, err)
		}
	}
	if !a.sawFolder {
		return nil, fmt.Errorf("no %s/ folder with CRIU's images: not a container checkpoint archive (a pod archive holds one archive per container: open those): %w", checkpointFolder, ErrNotArchive)
	}
	slices.Sort(a.images.names)
	slices.Sort(a.cp.Skipped)
	a.cp.Images = a.images
	return a.cp, nil
}

// streamError explains a failure of the tar or compressed stream after
// member last.
func streamError(last string, err error) error {
	where := "at the first member"
	if last != "" {
		where = fmt.Sprintf("after member %q", last)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: archive is truncated (copy it again): %w", where, err)
	}
	if errors.Is(err, ErrTooBig) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", where, err)
	}
	return fmt.Errorf("%s: corrupt archive: %w", where, err)
}

// member handles one archive member.
func (a *archiveReader) member(tr *tar.Reader, hdr *tar.Header) error {
	a.members++
	if a.members > a.opts.MaxMembers {
		return fmt.Errorf("more than %d members (Options.MaxMembers): %w", a.opts.MaxMembers, ErrTooBig)
	}
	name, err := memberName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil
	}
	if a.seen[name] {
		return fmt.Errorf("duplicate member: which copy a restore would use is ambiguous; refusing: %w", ErrUnsafe)
	}
	a.seen[name] = true
	if hdr.Size < 0 {
		return fmt.Errorf("negative size %d: %w", hdr.Size, ErrUnsafe)
	}
	a.claimed += hdr.Size
	if a.claimed > a.opts.MaxTotal {
		return fmt.Errorf("size %d takes the archive over %d bytes (Options.MaxTotal): %w", hdr.Size, a.opts.MaxTotal, ErrTooBig)
	}
	top, rest, nested := strings.Cut(name, "/")
	switch {
	case top == checkpointFolder && !nested:
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%s is a %s, not a folder: %w", checkpointFolder, typeName(hdr.Typeflag), ErrUnsafe)
		}
		a.sawFolder = true
		return nil
	case top == checkpointFolder:
		a.sawFolder = true
		return a.image(tr, hdr, rest)
	case nested:
		// artifacts/, pre-checkpoint/ (pre-dump images), pod archives'
		// per-container folders: listed, not read.
		a.cp.Skipped = append(a.cp.Skipped, name)
		return nil
	case name == rootfsDiffTar:
		if err := requireRegular(hdr); err != nil {
			return err
		}
		entries, err := a.rootfsDiff(tr, hdr.Size)
		if err != nil {
			return err
		}
		a.diff().Entries = entries
		return nil
	default:
		return a.topFile(tr, hdr, name)
	}
}

// image keeps (or, for page data, lists) one member of checkpoint/.
func (a *archiveReader) image(tr *tar.Reader, hdr *tar.Header, base string) error {
	if strings.Contains(base, "/") {
		return fmt.Errorf("nested inside %s/, but CRIU's images folder is flat: %w", checkpointFolder, ErrUnsafe)
	}
	if err := requireRegular(hdr); err != nil {
		return err
	}
	a.images.names = append(a.images.names, base)
	if isPagesImage(base) {
		a.images.pages[base] = true
		return a.skip(tr)
	}
	if hdr.Size > a.opts.MaxMember {
		return fmt.Errorf("image of %d bytes is over %d (Options.MaxMember): %w", hdr.Size, a.opts.MaxMember, ErrTooBig)
	}
	if a.kept+hdr.Size > a.opts.MaxImages {
		return fmt.Errorf("images over %d bytes in all (Options.MaxImages): %w", a.opts.MaxImages, ErrTooBig)
	}
	b, err := readMember(tr, hdr.Size)
	if err != nil {
		return err
	}
	a.kept += hdr.Size
	a.images.data[base] = b
	return nil
}

// topFile keeps a small top-level file in Meta (deleted.files parsed into
// Diff too), and lists a big unknown one in Skipped.
func (a *archiveReader) topFile(tr *tar.Reader, hdr *tar.Header, name string) error {
	known := slices.Contains(knownMeta, name)
	if hdr.Typeflag != tar.TypeReg {
		if known {
			return requireRegular(hdr)
		}
		a.cp.Skipped = append(a.cp.Skipped, name)
		return nil
	}
	if hdr.Size > a.opts.MaxMeta {
		if known {
			return fmt.Errorf("metadata file of %d bytes is over %d (Options.MaxMeta): %w", hdr.Size, a.opts.MaxMeta, ErrTooBig)
		}
		a.cp.Skipped = append(a.cp.Skipped, name)
		return a.skip(tr)
	}
	b, err := readMember(tr, hdr.Size)
	if err != nil {
		return err
	}
	a.cp.Meta[name] = b
	if name == deletedFiles {
		deleted, err := parseDeleted(b)
		if err != nil {
			return err
		}
		a.diff().Deleted = deleted
	}
	return nil
}

func (a *archiveReader) diff() *RootfsDiff {
	if a.cp.Diff == nil {
		a.cp.Diff = &RootfsDiff{Entries: map[string]DiffEntry{}}
	}
	return a.cp.Diff
}

// skip passes over the rest of the current member. A plain tar file is
// left to archive/tar, which seeks; a compressed stream is read through in
// big chunks (the meter looks at ctx on the way).
func (a *archiveReader) skip(r io.Reader) error {
	if a.seekable {
		return nil
	}
	for {
		_, err := r.Read(a.buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return truncated(err)
		}
	}
}

// readMember reads a member whose header size was checked against a cap.
func readMember(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, truncated(err)
	}
	return b, nil
}

// truncated explains an error met inside a member: an early end is a
// truncated archive; a cap or a cancellation is passed on as it is.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("archive is truncated inside it (copy it again): %w", io.ErrUnexpectedEOF)
	}
	return err
}

// requireRegular refuses a member that is not a regular file: a symlink or
// hard link is never followed (it could name another member, or a host
// path), a device or FIFO has no content.
func requireRegular(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg:
		return nil
	case tar.TypeSymlink, tar.TypeLink:
		return fmt.Errorf("a %s to %q where a regular file belongs; links are never followed: %w", typeName(hdr.Typeflag), hdr.Linkname, ErrUnsafe)
	}
	return fmt.Errorf("a %s where a regular file belongs: %w", typeName(hdr.Typeflag), ErrUnsafe)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "regular file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("member of tar type %q", t)
}

// parseDeleted decodes deleted.files, a JSON list of container paths.
func parseDeleted(b []byte) ([]string, error) {
	var raw []string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON list of paths: %w", err)
	}
	out := make([]string, 0, len(raw))
	for i, p := range raw {
		c, err := containerPath(p)
		if err != nil {
			return nil, fmt.Errorf("entry %d %q: %w", i, p, err)
		}
		if c == "/" {
			return nil, fmt.Errorf("entry %d %q deletes the root: %w", i, p, ErrUnsafe)
		}
		out = append(out, c)
	}
	return out, nil
}
