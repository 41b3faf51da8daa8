package fdinfo

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestKernelDev(t *testing.T) {
	// 0:31 is 0x1f (the fixture's sdev); 8:1 is 0x800001 (proc_pid_fdinfo(5));
	// 259:3 (an nvme partition) needs glibc's split encoding of st_dev.
	for stDev, want := range map[uint64]uint32{0x1f: 0x1f, 0x801: 0x800001, unix.Mkdev(259, 3): 259<<20 | 3} {
		if got := KernelDev(stDev); got != want {
			t.Errorf("KernelDev(%#x) = %#x, want %#x", stDev, got, want)
		}
		maj, min := SplitKernelDev(KernelDev(stDev))
		if maj != unix.Major(stDev) || min != unix.Minor(stDev) {
			t.Errorf("SplitKernelDev(KernelDev(%#x)) = %d:%d, want %d:%d", stDev, maj, min, unix.Major(stDev), unix.Minor(stDev))
		}
		if got := MakeKernelDev(unix.Major(stDev), unix.Minor(stDev)); got != want {
			t.Errorf("MakeKernelDev(%d, %d) = %#x, want %#x", unix.Major(stDev), unix.Minor(stDev), got, want)
		}
	}
}

// TestKernelDevIsSdev: the sdev the kernel prints for an inotify watch on
// a directory is KernelDev of that directory's st_dev.
func TestKernelDevIsSdev(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseFdinfoBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Marks) != 1 {
		t.Fatalf("%d marks in %q, want 1", len(info.Marks), b)
	}
	if got, want := info.Marks[0].Sdev, KernelDev(st.Dev); got != want {
		t.Errorf("sdev %#x, KernelDev(st_dev %#x) = %#x", got, st.Dev, want)
	}
	if maj, min := SplitKernelDev(info.Marks[0].Sdev); maj != unix.Major(st.Dev) || min != unix.Minor(st.Dev) {
		t.Errorf("SplitKernelDev(%#x) = %d:%d, st_dev is %d:%d", info.Marks[0].Sdev, maj, min, unix.Major(st.Dev), unix.Minor(st.Dev))
	}
}
