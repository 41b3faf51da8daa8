// Package runc holds the end-to-end test of `ovlfix criu`, the CRIU RPC
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
// and no other fd on it; each event appends a line to /tmp/events.
//
// What it asserts, in one container's life:
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
// Everything (the overlay mount, runc, CRIU) runs in one private mount
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
