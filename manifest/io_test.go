package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sample() *Manifest {
	return &Manifest{Version: Version, Tool: "ovlfix test", Writer: "dump", Kernel: "6.18.0",
		Files: []File{{ID: 3, Name: "/etc/\n\"quoted\"\x00\xff", MntID: 40, Mountpoint: "/", FSType: "overlay", Source: "overlay",
			Size: 5, Mode: 0o100644, Dev: "0:77", Ino: 12,
			Holders: []Holder{{PID: 1, Kind: "fd", FD: 3}, {PID: 1, Kind: "map", Map: "7f00-7f01"}},
			Overlay: &Overlay{Where: Lower, Layer: 1, LayerDir: "/var/lib/l1", UpperDir: "/var/lib/up"}}}}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := sample()
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte("\n\"quoted")) != 0 || !bytes.Contains(b, []byte(`\n\"quoted\"\u0000\ufffd`)) {
		t.Errorf("name not JSON-escaped:\n%s", b)
	}
	got, err := ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Files[0].Name = "/etc/\n\"quoted\"\x00\uFFFD" // invalid UTF-8 is replaced
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
	}
	// Idempotent: a second write replaces the file, leaves no temp file.
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries after two writes, want 1", len(ents))
	}
}

func TestWriteRefusesMissingDir(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "nope"), sample())
	if err == nil || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("err = %v, want one naming %s", err, FileName)
	}
}

func TestReadFile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantErr  string // "" : ok
		isVer    bool
		files    int
	}{
		{name: "v1", in: `{"version":1,"files":[{"id":1,"name":"/a","holders":[],"mnt_id":2,"size":0,"mode":0,"dev":"0:1","ino":1}]}`, files: 1},
		{name: "unknown fields ignored", in: `{"version":1,"future":{"x":[1,2]},"files":[{"id":1,"new_field":"x","overlay":{"where":"lower","layer":0,"more":true}}]}`, files: 1},
		{name: "version 2 refused", in: `{"version":2,"files":"another shape"}`, wantErr: "unknown manifest version 2", isVer: true},
		{name: "version 0 refused", in: `{"version":0}`, wantErr: "unknown manifest version 0", isVer: true},
		{name: "no version", in: `{"files":[]}`, wantErr: `no "version"`},
		{name: "not json", in: `hello`, wantErr: "not a manifest"},
		{name: "not an object", in: `[1]`, wantErr: "not a manifest"},
		{name: "wrong type", in: `{"version":1,"files":[{"id":"x"}]}`, wantErr: "cannot unmarshal"},
		{name: "trailing data", in: `{"version":1} {"version":1}`, wantErr: "after top-level value"},
		{name: "empty", in: ``, wantErr: "not a manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadFile([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Files) != tc.files {
					t.Errorf("%d files, want %d", len(m.Files), tc.files)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), FileName) {
				t.Fatalf("err = %v, want one naming %s and %q", err, FileName, tc.wantErr)
			}
			if errors.Is(err, ErrVersion) != tc.isVer {
				t.Errorf("errors.Is(err, ErrVersion) = %v, want %v", !tc.isVer, tc.isVer)
			}
		})
	}
}

func TestReadCapsSize(t *testing.T) {
	// A reader that never ends: Read must stop at the cap, not read on.
	r := &endless{}
	_, err := Read(r)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want the size cap", err)
	}
	if r.n > MaxSize+1 {
		t.Errorf("read %d bytes, cap is %d", r.n, MaxSize)
	}
}

type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	e.n += len(p)
	return len(p), nil
}

// TestHolderFDZero: fd 0 is written for a holder of kind "fd" (stdin on an
// overlay file is common) and no "fd" for other kinds; both read back.
func TestHolderFDZero(t *testing.T) {
	for _, tc := range []struct {
		h    Holder
		want string
	}{
		{Holder{PID: 7, Kind: "fd", FD: 0}, `{"pid":7,"kind":"fd","fd":0}`},
		{Holder{PID: 7, Kind: "fd", FD: 12}, `{"pid":7,"kind":"fd","fd":12}`},
		{Holder{PID: 7, Kind: "cwd"}, `{"pid":7,"kind":"cwd"}`},
		{Holder{PID: 7, Kind: "map", Map: "1000-2000"}, `{"pid":7,"kind":"map","map":"1000-2000"}`},
	} {
		b, err := json.Marshal(tc.h)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v: %s, %v; want %s", tc.h, b, err, tc.want)
			continue
		}
		var back Holder
		if err := json.Unmarshal(b, &back); err != nil || back != tc.h {
			t.Errorf("%s read back as %+v, %v", b, back, err)
		}
	}
}

// TestEncodeIsCompact: one line ended by a newline (a name holding a
// newline is escaped), the same document as json.Marshal of it; indenting
// was most of post-dump's manifest write at 10,000 files.
func TestEncodeIsCompact(t *testing.T) {
	var b bytes.Buffer
	m := sample()
	if err := m.Encode(&b); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), append(want, '\n')) || bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Errorf("Encode wrote %q, want the compact %q and one newline", b.Bytes(), want)
	}
}
