package quirks

import (
	"strings"
	"testing"
)

func TestParseRelease(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want version
		ok   bool
	}{
		{"6.1.0-56-amd64", version{6, 1}, true}, // Debian 12 (lab)
		{"6.12.117+deb12-amd64", version{6, 12}, true},
		{"6.18.44-fc-v595", version{6, 18}, true}, // this host
		{"5.15.0-1046-azure", version{5, 15}, true},
		{"3.18", version{3, 18}, true},
		{"", version{}, false},
		{"linux", version{}, false},
		{"6.x", version{}, false},
		{"99999999999999999999.1", version{}, false}, // Atoi overflow
	} {
		got, ok := parseRelease(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseRelease(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestFallback checks the version boundaries of docs/kernel-quirks.md §1:
// 4.2 (4bacc9c), 4.15 (a0c5ad307ac0), 6.6 (overlay FIDs), 6.8
// (3efdc78fdc21, STATX_MNT_ID_UNIQUE), and the Ubuntu map_files rows (§8).
func TestFallback(t *testing.T) {
	type flags struct {
		fdPath, mapsIno, mapsDev, pseudo, mapFiles, unique bool
		fhType                                             int
	}
	for _, tc := range []struct {
		release string
		want    flags
	}{
		{"3.18.140", flags{false, false, false, false, false, false, 1}},
		{"4.1.52", flags{false, false, false, false, false, false, 1}},
		{"4.2.0", flags{true, false, false, false, true, false, 1}},
		{"4.14.336", flags{true, false, false, false, true, false, 1}},
		{"4.15.18", flags{true, false, false, true, true, false, 1}},
		{"5.10.0-30-amd64", flags{true, false, false, true, true, false, 1}},
		{"6.1.0-56-amd64", flags{true, false, false, true, true, false, 1}},
		{"6.6.0", flags{true, false, false, true, true, false, 0xf8}},
		{"6.7.12", flags{true, false, false, true, true, false, 0xf8}},
		{"6.8.0", flags{true, true, true, true, true, true, 0xf8}},
		{"6.12.117+deb12-amd64", flags{true, true, true, true, true, true, 0xf8}},
		{"5.0.0-36-generic", flags{true, false, false, true, false, false, 1}},  // CRIU #860
		{"5.15.0-1046-azure", flags{true, false, false, true, false, false, 1}}, // CRIU PR #2268
		{"6.8.0-31-generic", flags{true, true, true, true, false, true, 0xf8}},  // Ubuntu 24.04
		{"nonsense", flags{false, false, false, false, false, false, -1}},
	} {
		s := Fallback(tc.release)
		got := flags{s.FdPathOK, s.MapsInoOK, s.MapsDevIsSbDev, s.StatDevPseudo, s.MapFilesMntIDOK, s.UniqueMntID, s.FhandleType}
		if got != tc.want {
			t.Errorf("Fallback(%q) = %+v, want %+v", tc.release, got, tc.want)
		}
		if s.Probed || s.FidDecodable || s.TrustFdLinks() {
			t.Errorf("Fallback(%q): probed %v, fid_decodable %v, trust %v; want all false", tc.release, s.Probed, s.FidDecodable, s.TrustFdLinks())
		}
		if s.Kernel != tc.release || len(s.Evidence) == 0 {
			t.Errorf("Fallback(%q): kernel %q, %d evidence lines", tc.release, s.Kernel, len(s.Evidence))
		}
		for _, e := range s.Evidence {
			if !strings.Contains(e, "unverified") {
				t.Errorf("Fallback(%q) evidence %q does not say unverified", tc.release, e)
			}
		}
	}
}

// FuzzFallback: any release string gives a set, never a panic, and never
// a trusted one.
func FuzzFallback(f *testing.F) {
	for _, s := range []string{"6.1.0-56-amd64", "4.2", "5.15.0-1046-azure", "", "6.", "1.2.3.4.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, release string) {
		s := Fallback(release)
		if s.Probed || s.TrustFdLinks() || len(s.Evidence) == 0 {
			t.Errorf("Fallback(%q) = %+v", release, s)
		}
	})
}
