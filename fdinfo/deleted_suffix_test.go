package fdinfo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestDeletedSuffixIsDPath: the link of an fd whose file was unlinked is
// its path and DeletedSuffix, and CutDeleted gives the path back.
func TestDeletedSuffixIsDPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if link != path+DeletedSuffix {
		t.Fatalf("link %q, want %q", link, path+DeletedSuffix)
	}
	if got, ok := CutDeleted([]byte(link)); !ok || string(got) != path {
		t.Errorf("CutDeleted(%q) = %q, %v; want %q, true", link, got, ok, path)
	}
}

func TestCutDeleted(t *testing.T) {
	for _, c := range []struct {
		in, want string
		found    bool
	}{
		{"/a (deleted)", "/a", true},
		{"/a (deleted) (deleted)", "/a (deleted)", true},
		{"/a", "/a", false},
		{" (deleted)", " (deleted)", false}, // nothing before it: no d_path of an unlinked file
		{"", "", false},
		{"/a (deleted)x", "/a (deleted)x", false},
	} {
		got, found := CutDeleted([]byte(c.in))
		if !bytes.Equal(got, []byte(c.want)) || found != c.found {
			t.Errorf("CutDeleted(%q) = %q, %v; want %q, %v", c.in, got, found, c.want, c.found)
		}
	}
}
