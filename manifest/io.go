package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ovlfix/ovlfix/proto"
)

// MaxSize caps the manifest a reader accepts: 64 MiB, enough for a
// million held files. A manifest travels inside archives from other
// hosts, so it is untrusted input like the images next to it.
const MaxSize = 64 << 20

// ErrVersion means the manifest's major version is not one this package
// knows; nothing else of it was read.
var ErrVersion = errors.New("unknown manifest version")

// Write writes m into dir as FileName, atomically (proto.WriteFileAtomic:
// a temporary file, fsynced, renamed over the old one, the directory
// fsynced): a reader sees the old manifest or the whole new one. Version
// is set to Version when zero. dir may be a /proc/<pid>/fd/N link
// (CRIU's CRTOOLS_IMAGE_DIR).
func Write(dir string, m *Manifest) error {
	if m.Version == 0 {
		m.Version = Version
	}
	return proto.WriteFileAtomic(dir, FileName, 0o644, m.Encode)
}

// Encode writes m as compact JSON, one line ended by a newline: indenting
// cost most of the write at 10,000 files, inside CRIU's freeze; readers
// must not depend on the layout. Every string is JSON-escaped
// (encoding/json: quotes, control characters, newlines; invalid UTF-8
// becomes U+FFFD), so a container-chosen file name cannot break the
// document. A nil Files is written as [].
func (m *Manifest) Encode(w io.Writer) error {
	out := *m
	if out.Files == nil {
		out.Files = []File{}
	}
	return json.NewEncoder(w).Encode(&out)
}

// Read reads a manifest from r: at most MaxSize bytes (more is an error),
// JSON with unknown fields ignored (a newer minor version), a version
// this package knows (else an error wrapping ErrVersion).
func Read(r io.Reader) (*Manifest, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileName, err)
	}
	return ReadFile(b)
}

// ReadFile is Read of a manifest already in memory.
func ReadFile(b []byte) (*Manifest, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not read", FileName, MaxSize)
	}
	// json.Unmarshal refuses data after the document. The version
	// first, alone: a manifest of another major version may
	// give the other fields other types, and its error must say so.
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: not a manifest: %w", FileName, err)
	}
	if head.Version == nil {
		return nil, fmt.Errorf("%s: no \"version\": not a manifest", FileName)
	}
	if *head.Version != Version {
		return nil, fmt.Errorf("%s: %w %d (this ovlfix reads version %d; a newer ovlfix wrote it?)", FileName, ErrVersion, *head.Version, Version)
	}
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: %w", FileName, err)
	}
	return m, nil
}
