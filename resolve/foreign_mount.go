package resolve

import (
	"fmt"

	"github.com/ovlfix/ovlfix/fdinfo"
)

// resolveForeignMount handles an object whose mount id is in no mountinfo
// of the target. Three kernels' worth of reasons lead here:
//   - the file was opened or mapped in another mount namespace, before the
//     process moved (unshare, setns, a runtime's inherited fds): its mount
//     is the old namespace's;
//   - 3.18–4.1: the fd is the layer file on a private layer mount, and its
//     link is layer-relative (resolveCandidates);
//   - Ubuntu SAUCE kernels: map_files opens report a foreign mount id for
//     the overlay path (CRIU #860).
//
// Overlay candidates come first, since they alone can see several
// overlays sharing a layer. If none matches, the same path inside the
// target's root is accepted when it is the held inode itself: then the
// mount that shows it there is the one to restore through.
func (r *Resolver) resolveForeignMount(o *fdinfo.Object, path []byte, want *fdinfo.Stat, kernelID int, res *Result) {
	r.resolveCandidates(o, path, want, res)
	if res.Verdict != Unresolved || res.Deleted {
		return
	}
	vis := r.Table.Covering(string(path))
	if vis == nil {
		return
	}
	got, err := r.Root.Stat(string(path))
	if err != nil || got.Dev != want.Dev || got.Ino != want.Ino {
		res.note("%s in the target root is not the held inode either", printable(path))
		return
	}
	res.Verdict, res.Path, res.MntID, res.Mount = Fixed, path, vis.ID, vis
	res.Dev, res.Ino = got.Dev, got.Ino
	res.Reason = fmt.Sprintf("mount id %d is in no mountinfo of the target (opened in another mount namespace, or an Ubuntu SAUCE map_files id); the same file is %s on mount %d",
		kernelID, printable(path), vis.ID)
	res.note("stat of %s in the target root is the held inode %s", printable(path), devIno(got.Dev, got.Ino))
}
