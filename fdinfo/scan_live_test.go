package fdinfo_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	maybeRunHolder()
	scenario.MaybeRunChild()
	os.Exit(m.Run())
}

// TestScanLive checks what the scanner reads from a real process holding
// real overlay files against what that process itself saw.
func TestScanLive(t *testing.T) {
	c := scenariotest.StartT(t, "", scenario.Demo)
	for _, workers := range []int{1, 2} {
		s := fdinfo.Scanner{Workers: workers}
		p, err := s.Scan(c.PID)
		if err != nil {
			t.Fatal(err)
		}
		if p.PID != c.PID || p.TGID != c.PID || p.Comm == "" {
			t.Errorf("process header %+v", p)
		}
		byFD := map[int]*fdinfo.Object{}
		var maps []*fdinfo.Object
		watches := map[int32]*fdinfo.Object{}
		var cwd *fdinfo.Object
		for i := range p.Objects {
			o := &p.Objects[i]
			switch o.Kind {
			case fdinfo.KindFD:
				byFD[o.FD] = o
			case fdinfo.KindMap:
				maps = append(maps, o)
			case fdinfo.KindWatch:
				watches[o.Watch.WD] = o
			case fdinfo.KindCwd:
				cwd = o
			}
		}
		sdev := c.DevMaj<<20 | c.DevMin
		for _, h := range c.Held {
			switch h.Kind {
			case "fd":
				o := byFD[h.FD]
				if o == nil {
					t.Fatalf("fd %d missing", h.FD)
				}
				if !bytes.Equal(o.Link, h.Path) || o.Stat == nil || o.Stat.Ino != h.Ino || o.Stat.Dev != h.Dev {
					t.Errorf("fd %d: link %q stat %+v, want %q %d:%d", h.FD, o.Link, o.Stat, h.Path, h.Dev, h.Ino)
				}
				if o.Info == nil || o.Info.MntID != c.MntID || !o.Info.HasIno || o.Info.Ino != h.Ino {
					t.Errorf("fd %d: fdinfo %+v, want mnt_id %d ino %d", h.FD, o.Info, c.MntID, h.Ino)
				}
			case "map":
				var o *fdinfo.Object
				for _, m := range maps {
					if m.Map.Start == h.Addr {
						o = m
					}
				}
				if o == nil {
					t.Fatalf("mapping at %#x missing", h.Addr)
				}
				if !bytes.Equal(o.Map.Path, h.Path) || !bytes.Equal(o.Link, h.Path) {
					t.Errorf("map %#x: maps path %q map_files %q, want %q", h.Addr, o.Map.Path, o.Link, h.Path)
				}
				if o.Map.MapFiles == nil || o.Map.MapFiles.Ino != h.Ino || o.Map.MapFilesMntID != c.MntID {
					t.Errorf("map %#x: map_files %+v mnt %d, want ino %d mnt %d", h.Addr, o.Map.MapFiles, o.Map.MapFilesMntID, h.Ino, c.MntID)
				}
			case "watch":
				o := watches[int32(h.WD)]
				if o == nil {
					t.Fatalf("watch wd %d missing", h.WD)
				}
				if o.FD != h.FD || o.Watch.Ino != h.Ino || o.Watch.Sdev != sdev {
					t.Errorf("watch %d: fd %d ino %d sdev %#x, want fd %d ino %d sdev %#x", h.WD, o.FD, o.Watch.Ino, o.Watch.Sdev, h.FD, h.Ino, sdev)
				}
			case "cwd":
				if cwd == nil || !bytes.Equal(cwd.Link, h.Path) || cwd.Stat.Ino != h.Ino {
					t.Errorf("cwd %+v, want %q", cwd, h.Path)
				}
			}
		}
		// The read-write fd must carry O_RDWR in its octal fdinfo flags.
		for _, h := range c.Held {
			if h.Kind == "fd" && bytes.HasSuffix(h.Path, []byte("upper-only.log")) {
				if f := byFD[h.FD].Info.Flags; f&unix.O_ACCMODE != unix.O_RDWR {
					t.Errorf("fd %d flags %#o: not O_RDWR", h.FD, f)
				}
			}
		}
	}
}

// TestScanNoProcess: a pid that does not exist is ErrNoProcess.
func TestScanNoProcess(t *testing.T) {
	pid := 1 << 22 // above pid_max's ceiling: never a process
	var s fdinfo.Scanner
	_, err := s.Scan(pid)
	if !errorsIs(err, fdinfo.ErrNoProcess) {
		t.Fatalf("Scan(%d) = %v, want ErrNoProcess", pid, err)
	}
}
