package dump

import (
	"testing"

	"github.com/ovlfix/ovlfix/proto"
)

// criuFstypeNames is CRIU's table of fs names and their mnt.proto enum
// names (criu/filesystems.c fstypes, CRIU 3.17–4.2), without simfs and
// aufs, which ovlfix records as AUTO.
var criuFstypeNames = map[string]string{
	"proc": "PROC", "sysfs": "SYSFS", "devtmpfs": "DEVTMPFS", "binfmt_misc": "BINFMT_MISC",
	"tmpfs": "TMPFS", "devpts": "DEVPTS", "pstore": "PSTORE", "securityfs": "SECURITYFS",
	"fusectl": "FUSECTL", "debugfs": "DEBUGFS", "cgroup": "CGROUP", "mqueue": "MQUEUE",
	"fuse": "FUSE", "overlay": "OVERLAYFS", "autofs": "AUTOFS", "tracefs": "TRACEFS",
	"cgroup2": "CGROUP2",
}

// criuFstype gives each fs name of CRIU's table the enum value go-criu's
// mnt.proto descriptor names as CRIU does, and nothing else.
func TestCriuFstypeMatchesCRIUTable(t *testing.T) {
	for name, want := range criuFstypeNames {
		got, ok := criuFstype(name)
		if !ok || got.String() != want {
			t.Errorf("criuFstype(%q) = %v (%d), %v; want %s", name, got, got, ok, want)
		}
	}
	for _, name := range []string{"ext4", "xfs", "simfs", "aufs", "overlayfs", ""} {
		if got, ok := criuFstype(name); ok {
			t.Errorf("criuFstype(%q) = %v, want none (AUTO)", name, got)
		}
	}
}

// mntEntry records every mount of this process's own table (real kernel
// text) with CRIU's fstype, or as AUTO with its fs name.
func TestMntEntryFstypeOfLiveMounts(t *testing.T) {
	for _, m := range selfTable(t).Mounts() {
		e := mntEntry(m)
		got := proto.Fstype(e.GetFstype())
		if want, known := criuFstypeNames[m.FSType]; known {
			if got.String() != want || e.Fsname != nil {
				t.Errorf("mount %d (%s): fstype %v, fsname %q; want %s, no fsname", m.ID, m.FSType, got, e.GetFsname(), want)
			}
		} else if got != proto.FstypeAuto || e.GetFsname() != m.FSType {
			t.Errorf("mount %d (%s): fstype %v, fsname %q; want AUTO, fsname %q", m.ID, m.FSType, got, e.GetFsname(), m.FSType)
		}
	}
}
