package quirks

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestTrustFdLinks(t *testing.T) {
	for _, tc := range []struct {
		s    *Set
		want bool
	}{
		{nil, false},
		{&Set{}, false},
		{&Set{Probed: true}, false},
		{&Set{FdPathOK: true}, false}, // a version-table guess is not enough
		{&Set{Probed: true, FdPathOK: true}, true},
	} {
		if got := tc.s.TrustFdLinks(); got != tc.want {
			t.Errorf("%+v.TrustFdLinks() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// TestSetJSONNames pins the JSON names: they are the interface of
// `ovlfix check -o json` and of the cache (docs/check.md).
func TestSetJSONNames(t *testing.T) {
	b, err := json.Marshal(&Set{Probed: true})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"boot_id", "evidence", "fd_path_ok", "fhandle_type", "fid_decodable", "kernel",
		"mapfiles_mntid_ok", "maps_dev_is_sbdev", "maps_ino_ok", "probed", "stat_dev_pseudo", "unique_mnt_id"}
	if !slices.Equal(keys, want) {
		t.Errorf("JSON keys %v, want %v (probed_at is omitted when zero)", keys, want)
	}
}

// TestFlagsNamesMatchJSON: every displayed flag but the derived
// trust_fd_links is a JSON field, so people and scripts use one name.
func TestFlagsNamesMatchJSON(t *testing.T) {
	b, _ := json.Marshal(&Set{})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	s := &Set{FhandleType: 0xf8}
	for _, f := range s.Flags() {
		if _, ok := m[f.Name]; !ok && f.Name != "trust_fd_links" {
			t.Errorf("flag %q is not a JSON field", f.Name)
		}
		if f.Name == "fhandle_type" && f.Value != "0xf8" {
			t.Errorf("fhandle_type shown as %q, want 0xf8", f.Value)
		}
	}
}
