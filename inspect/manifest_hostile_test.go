package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// TestLoadHostileManifest: a manifest travels in archives from other
// hosts. Whatever it holds, Load does not fail or panic, says what is
// wrong (Manifest.Problem for a document it refuses, a note for a record
// it does not use), and both outputs stay valid.
func TestLoadHostileManifest(t *testing.T) {
	files := []*proto.FileEntry{regEntry(1, "/a", 20, 1, 0o100644), regEntry(2, "/b", 20, 1, 0o100644)}
	rec := func(s string) []byte { return []byte(`{"version":1,"files":[` + s + `]}`) }
	cases := []struct {
		name    string
		doc     []byte
		problem string // in Manifest.Problem; "" when the document is read
		note    string // in a note
		used    int    // records attached
	}{
		{name: "deep nesting", doc: []byte(`{"version":1,"files":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`), problem: "exceeded max depth"},
		{name: "over MaxSize", doc: append([]byte(`{"version":1,"files":[]}`), bytes.Repeat([]byte(" "), manifest.MaxSize)...), problem: "larger than"},
		{name: "version as a string", doc: []byte(`{"version":"1","files":[]}`), problem: "not a manifest"},
		{name: "version fractional", doc: []byte(`{"version":1.5,"files":[]}`), problem: "not a manifest"},
		{name: "version huge", doc: []byte(`{"version":1e400,"files":[]}`), problem: "not a manifest"},
		{name: "no version", doc: []byte(`{"files":[]}`), problem: "no \"version\""},
		{name: "duplicate version keys, last wins in both reads", doc: []byte(`{"version":1,"version":2,"files":[]}`), problem: "version 2"},
		{name: "files not a list", doc: []byte(`{"version":1,"files":{"id":1}}`), problem: "cannot unmarshal"},
		{name: "id negative", doc: rec(`{"id":-1,"name":"/a"}`), problem: "cannot unmarshal"},
		{name: "id beyond uint32", doc: rec(`{"id":4294967297,"name":"/a"}`), problem: "cannot unmarshal"},
		{name: "trailing data", doc: append(rec(``), `{"version":1}`...), problem: "not a manifest"},
		{name: "null", doc: []byte(`null`), problem: "no \"version\""},
		{name: "name differs after a NUL", doc: rec(`{"id":1,"name":"/a\u0000/etc/shadow"}`), note: `named "/a\x00/etc/shadow" there`},
		{name: "unknown id", doc: rec(`{"id":99,"name":"/a"}`), note: "file id 99 is not"},
		{name: "listed twice", doc: rec(`{"id":1,"name":"/a"},{"id":1,"name":"/a","overlay":{"where":"upper","layer":-1}}`), note: "listed twice", used: 1},
		{name: "layer index negative", doc: rec(`{"id":1,"name":"/a","overlay":{"where":"lower","layer":-7}}`), used: 1},
		{name: "layer index beyond any layer", doc: rec(`{"id":1,"name":"/a","overlay":{"where":"lower","layer":9223372036854775807}}`), used: 1},
		{name: "unknown where, hostile notes", doc: rec(`{"id":1,"name":"/a","overlay":{"where":"\u001b[2Jrestorable\n","layer":0,"notes":["\n"]}}`), used: 1},
		{name: "duplicate name keys", doc: rec(`{"id":1,"name":"/etc/shadow","name":"/a"}`), used: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := oneTask(t, files)
			m[manifest.FileName] = tc.doc
			l := load(t, m)
			if !l.Manifest.Present || !strings.Contains(l.Manifest.Problem, tc.problem) || (tc.problem == "") != (l.Manifest.Problem == "") {
				t.Errorf("manifest %+v, want problem %q", l.Manifest, tc.problem)
			}
			if tc.note != "" && !strings.Contains(strings.Join(l.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", l.Notes, tc.note)
			}
			used := 0
			for _, f := range l.Files {
				if f.Provenance != nil {
					used++
					if f.Provenance.Name != f.Name {
						t.Errorf("record named %q attached to %q", f.Provenance.Name, f.Name)
					}
				}
			}
			if used != tc.used {
				t.Errorf("%d records attached, want %d", used, tc.used)
			}
			var text, js bytes.Buffer
			if err := WriteText(&text, l); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text.String(), "\x1b") || strings.Contains(text.String(), "restorable\n") {
				t.Errorf("text carries a raw manifest string:\n%q", text.String())
			}
			if err := WriteJSON(&js, l); err != nil || !json.Valid(js.Bytes()) {
				t.Errorf("json: %v\n%s", err, js.String())
			}
		})
	}
}

// TestLoadManifestOfAnotherFilesImg: a manifest names the files.img it
// describes by digest; one left from another dump in a reused images
// directory (same ids and names: the same container dumped again) is not
// used, and says why. One without a digest (an older ovlfix) is used.
func TestLoadManifestOfAnotherFilesImg(t *testing.T) {
	files := []*proto.FileEntry{regEntry(1, "/a", 20, 1, 0o100644)}
	m := oneTask(t, files)
	doc := func(digest string) []byte {
		b, _ := json.Marshal(manifest.Manifest{Version: 1, FilesImgSHA256: digest, Files: []manifest.File{{ID: 1, Name: "/a"}}})
		return b
	}
	for name, tc := range map[string]struct {
		digest  string
		used    bool
		problem string
	}{
		"this files.img":    {manifest.Digest(m[proto.FilesImg]), true, ""},
		"another files.img": {manifest.Digest([]byte("an earlier dump's files.img")), false, "another files.img"},
		"no digest":         {"", true, ""},
	} {
		m[manifest.FileName] = doc(tc.digest)
		l := load(t, m)
		if used := l.Files[0].Provenance != nil; used != tc.used || !strings.Contains(l.Manifest.Problem, tc.problem) || (tc.problem == "") != (l.Manifest.Problem == "") {
			t.Errorf("%s: used %v, problem %q; want used %v, problem %q", name, used, l.Manifest.Problem, tc.used, tc.problem)
		}
	}
}
