package verify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// TestRootChangingDuringVerify: the container renames under verify. Its
// root's app/ flips (renameat2 RENAME_EXCHANGE, atomically) between a
// directory whose data is 9 bytes and a symlink to a host directory whose
// data has the recorded 10 bytes; app/data itself flips between a 9-byte
// file and a symlink to the host file. Only the host has the file CRIU
// would accept: a "restorable" verdict at any moment would mean a lookup
// left the root. Each run is also a Check with build-ID reads racing the
// swaps (the inode check of readBuildID).
func TestRootChangingDuringVerify(t *testing.T) {
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "data"), []byte("0123456789"), 0o644)
	os.Chmod(filepath.Join(host, "data"), 0o644)
	root := t.TempDir()
	mkdata := func(dir string) {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "data"), []byte("012345678"), 0o644)
		os.Chmod(filepath.Join(dir, "data"), 0o644)
	}
	mkdata(filepath.Join(root, "app"))
	os.Symlink(host, filepath.Join(root, "app-link"))
	os.Symlink(filepath.Join(host, "data"), filepath.Join(root, "app", "data-link"))

	r, err := mountns.OpenRootPath(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f := held("/app/data", 10, 0o644, bid)
	l := &inspect.Listing{Files: []*inspect.File{f}}

	var stop atomic.Bool
	swaps := make(chan int)
	go func() {
		n := 0
		for !stop.Load() {
			unix.Renameat2(unix.AT_FDCWD, filepath.Join(root, "app"), unix.AT_FDCWD, filepath.Join(root, "app-link"), unix.RENAME_EXCHANGE)
			unix.Renameat2(unix.AT_FDCWD, filepath.Join(root, "app", "data"), unix.AT_FDCWD, filepath.Join(root, "app", "data-link"), unix.RENAME_EXCHANGE)
			n++
		}
		swaps <- n
	}()
	outcomes := map[string]int{}
	const runs = 3000
	for range runs {
		res, err := Check(context.Background(), l, r, root, nil, Options{})
		if err != nil {
			if !errors.Is(err, errChanged) {
				t.Errorf("error that does not say the root changed: %v", err)
			}
			outcomes["root changed"]++
			continue
		}
		if res.Restorable() {
			stop.Store(true)
			<-swaps
			t.Fatalf("restorable while only the host has the file: %+v", res)
		}
		outcomes[res.Problems[0].CRIU]++
	}
	stop.Store(true)
	t.Logf("%d runs during %d swaps: %v", runs, <-swaps, outcomes)
	for o := range outcomes {
		switch o {
		case "File app/data has bad size 9 (expect 10)", "Can't open file app/data on restore: No such file or directory", "root changed":
		default:
			t.Errorf("unexpected outcome %q", o)
		}
	}
}
