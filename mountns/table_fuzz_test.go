package mountns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParseTable(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "linux-*", "*.mountinfo"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		tab, err := ParseTable(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, m := range tab.Mounts() {
			if tab.ByID(m.ID) == nil || tab.ByMountpoint(m.Mountpoint) == nil {
				t.Fatalf("mount %d on %q not indexed", m.ID, m.Mountpoint)
			}
			if (m.FSType == "overlay") != (m.Overlay != nil) {
				t.Fatalf("mount %d: fstype %q overlay %v", m.ID, m.FSType, m.Overlay)
			}
			tab.Covering(m.Mountpoint + "/x")
		}
	})
}
