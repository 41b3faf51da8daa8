package mountns

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

// TestTables: one read per namespace; a dead pid is fs.ErrNotExist.
func TestTables(t *testing.T) {
	ts := NewTables()
	t1, ino1, fresh1, err := ts.For(os.Getpid())
	if err != nil || !fresh1 || t1 == nil || ino1 == 0 {
		t.Fatalf("first For: %v %d %v %v", t1, ino1, fresh1, err)
	}
	want, err := NamespaceOf(os.Getpid())
	if err != nil || want != ino1 {
		t.Fatalf("NamespaceOf = %d, %v; want %d", want, err, ino1)
	}
	t2, ino2, fresh2, err := ts.For(os.Getpid())
	if err != nil || fresh2 || t2 != t1 || ino2 != ino1 {
		t.Fatalf("second For read again or differs: %v %v %v", fresh2, t2 == t1, err)
	}
	if _, _, _, err := ts.For(1 << 22); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("For(dead pid) = %v, want fs.ErrNotExist", err)
	}
}
