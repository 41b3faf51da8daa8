package fixup

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// TestProveWrongDeadProcessFile: a task holding /proc/<pid>/status of a
// process that has since died holds a file whose name no longer exists,
// with nlink 1. CRIU dumps it with a dead-process remap (check_path_remap:
// procfs names are special, as devpts ones are) and restores it through a
// helper task of that pid, so the name not existing proves nothing; taken
// for "restore would fail", it made the post-dump hook fail the dump
// whenever no probe cache let the resolver accept the fd without a stat.
// Real kernel objects: a child that is started, opened, killed and reaped.
func TestProveWrongDeadProcessFile(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd.Process.Kill()
	cmd.Wait()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		t.Fatal(err)
	}
	st := &fdinfo.Stat{Dev: fst.Dev, Ino: fst.Ino, Mode: fst.Mode, Size: fst.Size, Nlink: uint64(fst.Nlink)}
	table, err := mountns.ReadTable(unix.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	root, err := mountns.OpenRootPath("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	proc := table.Covering("/proc")
	if proc == nil || proc.FSType != "proc" {
		t.Fatalf("no proc mount on /proc: %+v", proc)
	}
	if _, err := root.Stat(name); err == nil || st.Nlink == 0 {
		t.Fatalf("%s: stat %v, nlink %d: want a name that is gone, of a file with links", name, err, st.Nlink)
	}
	id := int32(proc.ID)
	why, fatal := proveWrong(regEntry(name, &id), table, nil, root, fdinfo.KindFD, proc.ID, st)
	if why != "" || fatal {
		t.Errorf("%s of a dead process on mount %d (proc): proof %q fatal %v, want none (CRIU's dead-process remap restores it)", name, proc.ID, why, fatal)
	}
}
