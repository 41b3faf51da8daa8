// Package criuhost holds end-to-end tests of `ovlfix hook` with a real CRIU
// 4.2 (../shared/criu/4.2/criu beside the repository, which runs on this
// project's 6.18 host; OVLFIX_CRIU42 names another binary) on real overlays.
// It has no code of its own: everything is in its _test.go files.
//
// For every scenario the test dumps a holder process twice — `criu dump`
// alone, and `criu dump --action-script <ovlfix-hook>` — restores each dump
// with `criu restore -d`, and asserts the invariant the hook promises: its
// dump restores at least as well as CRIU's own. When CRIU alone dumps and
// restores, the hook's dump must restore too, with exactly the same fd link
// names, the same content read back through each fd, the same mappings and
// cwd (and each fd on the same mount, unless the scenario expects the hook
// to repair the mount). When CRIU alone fails (an inotify watch on an
// overlay file), the hook run must succeed.
//
// Scenarios (each one fresh overlay, in a private mount namespace):
//
//	a  a hard-linked upper file opened, then its opened name unlinked (nlink 1: link remap)
//	b  a lower-layer file opened, then removed through the overlay (a whiteout,
//	   nlink stays 1; CRIU's overlay fallback dumps it as a ghost file). This
//	   one runs in a pivot_root'ed "container" whose root is the overlay:
//	   CRIU falls back only when every parent of the file up to the mount
//	   namespace's root is on the overlay (criu/files-reg.c,
//	   create_link_remap: linkat fails with ENOENT all the way up); under a
//	   root on another filesystem the last linkat fails with EXDEV and the
//	   dump fails with or without the hook.
//	c  a fully unlinked file (nlink 0: ghost file)
//	d  lower-only, copied-up and upper-only files opened, a lower file mmapped
//	e  an inotify watch on a lower-layer file and no other fd on it (CRIU alone
//	   fails: "Can't dump that handle"; the hook's irmap-cache makes it work)
//	f  the nested case of tests/lab/hook-nested.sh: a container whose root is
//	   overlay A, overlay B on /data with lower and upper on two tmpfs
//	   (xino=off); CRIU writes A's mnt_id for /data/lowerfile, the hook
//	   repairs it. As in the lab, CRIU mounts B with its options verbatim,
//	   resolved in CRIU's own mount namespace, so the restore gets B's layer
//	   paths (same content) there.
//
// How: the test builds ovlfix (go build) and the static holder
// (testdata/holder.c, gcc -static) into a temporary directory. Each run
// starts an anchor process in a new mount namespace (CLONE_NEWNS, private
// propagation) with a tmpfs on the scenario's base directory; the overlay,
// the holder, `criu dump` and `criu restore` all run in that namespace
// through nsenter(1), so nothing is mounted on the host. All dumps use
// `--shell-job --link-remap -v4 -o dump.log`; restores `-d --shell-job
// -v4 -o restore.log --pidfile` (and `--root` for a container). The test
// process is a child subreaper, so restored processes become its children
// and are killed and reaped when a run ends, also on failure.
//
// Needs root, gcc with a static libc, nsenter, and CRIU 4.2 with the shared
// libraries of Debian's criu package (scripts/setup.sh installs them). It
// skips with the reason when one is missing, and fails instead under CI=true.
package criuhost
