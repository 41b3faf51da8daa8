package inspect

import (
	"strconv"
	"strings"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/proto"
)

// readMounts reads every mountpoints-N.img of the set (one per mount
// namespace of the dump) and gives each file the mount its mnt_id names.
// A file whose mnt_id is in none of them is left without a Mount; verify
// reports it (CRIU's restore BUG()s on it).
func (l *Listing) readMounts(imgs checkpoint.Images) error {
	mounts := map[int]*Mount{}
	for _, name := range imgs.Names() {
		if !isMountpointsImage(name) {
			continue
		}
		ents, _, err := readImage(imgs, name, proto.ReadMountpoints)
		if err != nil {
			return err
		}
		for _, m := range ents {
			id := int(m.GetMntId())
			if _, dup := mounts[id]; dup {
				l.note("%s: mount id %d is also in another mountpoints image; the first is used", name, id)
				continue
			}
			mounts[id] = &Mount{ID: id, Mountpoint: m.GetMountpoint(), Root: m.GetRoot(), FSType: fstypeName(m), Source: m.GetSource(), Image: name}
		}
	}
	for _, f := range l.Files {
		if f.MntID >= 0 {
			f.Mount = mounts[f.MntID]
		}
	}
	return nil
}

// isMountpointsImage matches "mountpoints-<decimal>.img".
func isMountpointsImage(name string) bool {
	n, ok := strings.CutPrefix(name, "mountpoints-")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, ".img")
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 32)
	return err == nil
}

// fstypeName is the fstype enum's name in lower case ("overlayfs",
// "tmpfs"), or the recorded fsname for AUTO and values this build does not
// know (protobuf's String gives those as their number).
func fstypeName(m *proto.MntEntry) string {
	t := proto.Fstype(m.GetFstype())
	name := t.String()
	if _, numeric := strconv.Atoi(name); t != proto.FstypeAuto && numeric != nil {
		return strings.ToLower(name)
	}
	if fs := m.GetFsname(); fs != "" {
		return fs
	}
	if t == proto.FstypeAuto {
		return "auto"
	}
	return "fstype-" + name
}
