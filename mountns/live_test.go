package mountns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// A process in another mount namespace has a tmpfs on dir with a file x
// that the host cannot see at dir/x; through OpenRoot and ReadTable we see
// what the process sees.
func TestOpenRootOtherMountNamespace(t *testing.T) {
	dir := t.TempDir()
	pid, ready := startHelper(t, "tmpfs-file", dir)
	var dev, ino uint64
	if _, err := fmt.Sscanf(ready, "%d %d", &dev, &ino); err != nil {
		t.Fatalf("helper said %q: %v", ready, err)
	}
	if _, err := os.Lstat(dir + "/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("host sees %s/x (err %v): the helper's mount leaked", dir, err)
	}

	// With openat2, and with the fallback walk, whose final check compares
	// d_path results that are relative to the helper's namespace here.
	for _, walk := range []bool{false, true} {
		r, err := OpenRoot(pid)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if walk {
			r.openat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, unix.ENOSYS }
		}
		st, err := r.Stat(dir + "/x")
		if err != nil {
			t.Fatalf("Stat through the helper's root (walk %v): %v", walk, err)
		}
		if st.Dev != dev || st.Ino != ino {
			t.Errorf("Stat (walk %v) = dev %d ino %d, the helper saw dev %d ino %d", walk, st.Dev, st.Ino, dev, ino)
		}
		if walk && !r.noOpenat2.Load() {
			t.Errorf("the walk was not used")
		}
	}

	tab, err := ReadTable(pid)
	if err != nil {
		t.Fatal(err)
	}
	m := tab.Covering(dir + "/x")
	if m == nil || m.FSType != "tmpfs" || m.Source != "ovlfix-test" || m.Mountpoint != dir {
		t.Fatalf("Covering(%s/x) = %+v", dir, m)
	}
	if uint64(unix.Mkdev(uint32(m.Major), uint32(m.Minor))) != dev {
		t.Errorf("mount dev %d:%d, file dev %d", m.Major, m.Minor, dev)
	}
	if got := tab.ByDev(uint32(m.Major), uint32(m.Minor)); len(got) != 1 || got[0] != m {
		t.Errorf("ByDev = %v", got)
	}
}

func TestReadTableAndOpenRootGonePid(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid // reaped: the pid is free (reuse within the test is unlikely)
	if _, err := ReadTable(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTable(%d) err %v, want fs.ErrNotExist", pid, err)
	}
	if _, err := OpenRoot(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenRoot(%d) err %v, want fs.ErrNotExist", pid, err)
	}
	if err := noSuchProcess(unix.ESRCH); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.ESRCH) {
		t.Errorf("noSuchProcess(ESRCH) = %v", err)
	}
}

func TestReadTableSelf(t *testing.T) {
	tab, err := ReadTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	m := tab.Covering("/")
	if m == nil || uint64(unix.Mkdev(uint32(m.Major), uint32(m.Minor))) != st.Dev {
		t.Errorf("Covering(/) = %+v, stat(/) dev %d", m, st.Dev)
	}
}
