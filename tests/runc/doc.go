// Package runc holds the end-to-end tests of `ovlfix criu`, the CRIU RPC
// proxy, with Debian's runc (1.1.5) and CRIU 4.2 and 4.1.1
// (../shared/criu/{4.2,4.1.1}/criu beside the repository; OVLFIX_CRIU42 and
// OVLFIX_CRIU411 name other binaries) on this project's 6.18 host, one
// subtest per CRIU release. It has no code of its own: everything is in its
// _test.go files.
//
// The container: an OCI bundle whose rootfs is an overlay (lower: a static
// busybox from /bin/busybox and testdata/watcher.c built with gcc -static),
// with process.rlimits set (runc cannot raise rlimits here), running
// `watcher /lowerfile /tmp/events`: an inotify watch on a lower-layer file
// and no other fd on it; each event appends a line to /tmp/events. The
// other tests change the process, its capabilities and the mounts
// (bundle in container_test.go).
//
// TestRuncCheckpointThroughProxy asserts, in one container's life:
//  1. `runc --criu <CRIU 4.2> checkpoint --leave-running` fails, CRIU's
//     dump.log saying "Can't dump that handle" (it cannot open an overlay
//     file handle), and the container goes on;
//  2. `runc --criu <ovlfix-criu> checkpoint` (OVLFIX_REAL_CRIU = CRIU 4.2)
//     succeeds; CRIU's log has the hook's irmap-cache entry and found the
//     watch's path in it, and the hook's pre-dump and post-dump work ran
//     once each (4.1.1 runs a config-file script twice; the proxy uses none);
//  3. `runc --criu <ovlfix-criu> restore -d` brings the container back,
//     and a write to /lowerfile wakes the restored process (a new "event"
//     line in /tmp/events): the watch was restored;
//  4. a second checkpoint through the proxy, restored in the foreground
//     (`runc restore` without -d): the watch fires again, and when the
//     container is killed runc exits with its status (137), although CRIU
//     restored it as the proxy's child (runc, a child subreaper, inherits
//     it when the proxy exits).
//
// TestRuncFanotifyThroughProxy: the same container running `watcher
// fanotify /lowerfile /tmp/events` (a FAN_CLASS_NOTIF group with a
// FAN_MODIFY inode mark on the lower-layer file; CAP_SYS_ADMIN added to
// the container's capabilities for fanotify_init):
//  1. CRIU alone fails as for inotify (criu/fsnotify.c dumps an inode mark
//     through the same file handle: "Handle 0x27:… cannot be opened",
//     "Can't dump that handle"), and the container goes on;
//  2. through the proxy the dump succeeds, the hook's pre-dump adds the
//     mark's irmap entry and CRIU's log says "Found /lowerfile in cache";
//  3. after `runc restore -d` the restored process's fdinfo has one
//     FAN_MODIFY mark (mask:2) on the lower file's inode, and a write to
//     /lowerfile is a new "event" line.
//
// TestRuncNestedOverlayThroughProxy, the repair case: a bundle mount of
// type overlay at /data (lowerdir a tmpfs mounted in the test's
// namespace, upperdir and workdir on the filesystem of the test's
// temporary directory, xino=off; a decoy /data/lowerfile in the root
// overlay under the mount point), the container running `watcher open
// /data/lowerfile /tmp/events` (the fd held; on SIGUSR1 it logs what it
// reads from it):
//  1. CRIU alone dumps, but files.img (read with package proto) gives
//     /data/lowerfile the root overlay's mnt_id, while fdinfo said /data's
//     (the test fails if that premise goes). Its restore is right all the
//     same on this layout: CRIU opens the path from the mount namespace's
//     root, which crosses /data;
//  2. through the proxy the hook's post-dump repairs that one entry ("1
//     repaired in files.img"; CRIU's original kept as
//     files.img.ovlfix-orig, with the root overlay's mnt_id) to /data's;
//  3. after each restore (CRIU alone, and through the proxy) the held fd
//     is /data/lowerfile, its fdinfo mnt_id is the restored /data mount,
//     it is the inode the container's /data/lowerfile names, and the
//     restored process reads the nested lower layer's content.
//
// Everything (the overlay mounts, runc, CRIU) runs in one private mount
// namespace (an anchor process started with unshare -m; commands through
// nsenter), with runc's state in a temporary --root: nothing is mounted
// on the host and no host container is touched. The container is deleted
// and the anchor killed when the test ends, also on failure; the test is a
// child subreaper, so a container restored with -d (orphaned when runc and
// the proxy exit) is its child and is reaped.
//
// Needs root, runc, gcc with a static libc, unshare and nsenter, busybox
// (static), and CRIU 4.2 and 4.1.1 with the shared libraries of Debian's criu
// package. It skips with the reason when one is missing, and fails
// instead under CI=true.
package runc
