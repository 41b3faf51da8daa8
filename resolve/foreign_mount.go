package resolve

import (
	"fmt"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
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
// overlays sharing a layer, and a 3.18–4.1 layer-relative link may also
// name some other file at the same path. If none matches, the same path
// inside the target's root is accepted when it is the held inode itself:
// then the mount that shows it there is the one to restore through.
//
// On a kernel probed to report true fd links (TrustFdLinks: 4.2+, no
// layer-relative links), an fd's link is its path, so the same-path check
// comes first and the candidates (a stat or more per overlay mount, for
// every such fd) are only its fallback. Runtimes hand containers fds from
// the host (/dev/null, log files), so this is a common case.
func (r *Resolver) resolveForeignMount(o *fdinfo.Object, path []byte, want *fdinfo.Stat, kernelID int, res *Result) {
	if r.TrustFdLinks && o.Kind == fdinfo.KindFD && !res.Deleted && r.samePath(path, want, kernelID, res) {
		return
	}
	r.resolveCandidates(o, path, want, res)
	if res.Verdict != Unresolved || res.Deleted {
		return
	}
	r.samePath(path, want, kernelID, res)
}

// samePath fixes res to path in the target's root, on the mount that shows
// it, when that is the held inode want.
func (r *Resolver) samePath(path []byte, want *fdinfo.Stat, kernelID int, res *Result) bool {
	vis := r.Table.Covering(string(path))
	if vis == nil {
		return false
	}
	got, err := r.Root.Stat(string(path))
	if err != nil || got.Dev != want.Dev || got.Ino != want.Ino {
		res.note("%s in the target root is not the held inode", quote.Bytes(path))
		return false
	}
	res.Verdict, res.Path, res.MntID, res.Mount = Fixed, path, vis.ID, vis
	res.Dev, res.Ino = got.Dev, got.Ino
	res.Reason = fmt.Sprintf("mount id %d is in no mountinfo of the target (opened in another mount namespace, or an Ubuntu SAUCE map_files id); the same file is %s on mount %d",
		kernelID, quote.Bytes(path), vis.ID)
	res.note("stat of %s in the target root is the held inode %s", quote.Bytes(path), devIno(got.Dev, got.Ino))
	return true
}
