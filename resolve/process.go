package resolve

import (
	"fmt"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
)

// ResolveProcess resolves the objects of live process pid the way every
// ovlfix command does: paths are resolved inside pid's root, overlay layer
// directories are looked up through that root and then through host (our
// own root; nil: the target's only), fds are accepted without a stat when
// trustFdLinks (a probe showed 4.2+ behaviour), and the mount ids of its
// fds are checked against the unique ids where the kernel has them.
// table is pid's mount table (one per mount namespace, read by the caller).
func ResolveProcess(pid int, table *mountns.Table, host *mountns.Root, trustFdLinks bool, objs []fdinfo.Object) ([]Result, error) {
	root, err := mountns.OpenRoot(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	defer root.Close()
	layers := NewLayers(root, host)
	defer layers.Close()
	r := &Resolver{Table: table, Root: root, Layers: layers, TrustFdLinks: trustFdLinks}
	r.Identity = r.CheckMountIdentity(pid, objs)
	return r.ResolveAll(objs), nil
}
