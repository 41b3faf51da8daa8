package mountns

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// TestNamespaceErrorReapedTask: proc_ns_get_link answers EACCES for a task
// reaped between lookup and link (6.1, TestTreeForkHeavyParent in the lab:
// "mount namespace of pid 2832: permission denied"). An EACCES whose /proc
// directory is gone is an exit; with the directory there it stays a denial.
func TestNamespaceErrorReapedTask(t *testing.T) {
	gone := namespaceError(1<<22, "/proc/4194304", unix.EACCES)
	if !errors.Is(gone, fs.ErrNotExist) || !errors.Is(gone, unix.EACCES) {
		t.Errorf("EACCES of a reaped task = %v, want fs.ErrNotExist wrapping EACCES", gone)
	}
	denied := namespaceError(os.Getpid(), "/proc/self", unix.EACCES)
	if errors.Is(denied, fs.ErrNotExist) || !errors.Is(denied, unix.EACCES) {
		t.Errorf("EACCES of a live task = %v, want a plain denial", denied)
	}
	if !strings.Contains(denied.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the pid", denied)
	}
	if other := namespaceError(1<<22, "/proc/4194304", unix.EPERM); errors.Is(other, fs.ErrNotExist) {
		t.Errorf("EPERM = %v: only EACCES means a reaped task", other)
	}
}
