package podman

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Magic numbers of the archive formats Podman writes.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// archiveFormat tells an archive's format by its first bytes: "zstd",
// "gzip" or "tar" (ustar magic at offset 257).
func archiveFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		return "zstd", nil
	case bytes.HasPrefix(head, gzipMagic):
		return "gzip", nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "tar", nil
	}
	return "", fmt.Errorf("%s: neither zstd, gzip nor tar (first bytes % x)", path, head[:min(8, len(head))])
}

// openTar returns a reader of the archive's tar stream; zstd goes through
// the zstd command (the module has no zstd decoder).
func openTar(path string) (io.ReadCloser, error) {
	format, err := archiveFormat(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	switch format {
	case "gzip":
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return readCloser{zr, func() error { zr.Close(); return f.Close() }}, nil
	case "zstd":
		f.Close()
		if _, err := exec.LookPath("zstd"); err != nil {
			return nil, fmt.Errorf("%s is zstd-compressed and the zstd command is not installed (Debian package zstd)", path)
		}
		raw, err := exec.Command("zstd", "-dc", "--", path).Output()
		if err != nil {
			return nil, fmt.Errorf("zstd -dc %s: %w", path, err)
		}
		return io.NopCloser(bytes.NewReader(raw)), nil
	}
	return f, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// members reads every member of an archive (they are small: the tests'
// archives are tens of KiB) by name.
func members(path string) (map[string][]byte, []*tar.Header, error) {
	r, err := openTar(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	return readTar(r, 16<<20)
}

// readTar reads a tar stream, refusing more than max bytes of content.
func readTar(r io.Reader, max int64) (map[string][]byte, []*tar.Header, error) {
	tr := tar.NewReader(r)
	files := map[string][]byte{}
	var hdrs []*tar.Header
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, hdrs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		total += h.Size
		if total > max {
			return nil, nil, fmt.Errorf("more than %d bytes of content", max)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, fmt.Errorf("member %q: %w", h.Name, err)
		}
		files[h.Name] = data
		hdrs = append(hdrs, h)
	}
}

// writeTar writes members in the order of hdrs, with the content of files.
func writeTar(w io.Writer, hdrs []*tar.Header, files map[string][]byte) error {
	tw := tar.NewWriter(w)
	for _, h := range hdrs {
		h2 := *h
		h2.Size = int64(len(files[h.Name]))
		if h.Typeflag != tar.TypeReg {
			h2.Size = 0
		}
		if err := tw.WriteHeader(&h2); err != nil {
			return err
		}
		if h2.Size > 0 {
			if _, err := tw.Write(files[h.Name]); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// withoutDiffMember rewrites an uncompressed checkpoint archive with
// member drop removed from its rootfs-diff.tar.
func withoutDiffMember(src, dst, drop string) error {
	files, hdrs, err := members(src)
	if err != nil {
		return err
	}
	diff, ok := files["rootfs-diff.tar"]
	if !ok {
		return fmt.Errorf("%s has no rootfs-diff.tar", src)
	}
	dfiles, dhdrs, err := readTar(bytes.NewReader(diff), 16<<20)
	if err != nil {
		return fmt.Errorf("%s: rootfs-diff.tar: %w", src, err)
	}
	var kept []*tar.Header
	for _, h := range dhdrs {
		if h.Name != drop {
			kept = append(kept, h)
		}
	}
	if len(kept) == len(dhdrs) {
		return fmt.Errorf("%s: rootfs-diff.tar has no member %q", src, drop)
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, kept, dfiles); err != nil {
		return err
	}
	files["rootfs-diff.tar"] = buf.Bytes()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := writeTar(out, hdrs, files); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// diffNames lists the members of an archive's rootfs-diff.tar.
func diffNames(path string) ([]string, error) {
	files, _, err := members(path)
	if err != nil {
		return nil, err
	}
	_, hdrs, err := readTar(bytes.NewReader(files["rootfs-diff.tar"]), 16<<20)
	if err != nil {
		return nil, fmt.Errorf("%s: rootfs-diff.tar: %w", path, err)
	}
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
	}
	return names, nil
}
