// Package hook is ovlfix as a CRIU action script ("ovlfix hook", or a
// symlink named ovlfix-hook): `criu dump --action-script
// /usr/local/bin/ovlfix-hook` on the command line; for runtimes, which talk
// to CRIU over RPC, the `ovlfix criu` proxy (package criuproxy) runs the
// same work on CRIU's notifications, on every CRIU version. An action
// script named in a config file (runc.conf, default.conf, the
// org.criu.config annotation) is safe only on CRIU ≥ 3.19, and runs twice
// per action on 3.19–4.1; on CRIU ≤ 3.18 it aborts every runc/Podman
// checkpoint (BUG_ON in add_rpc_notify). docs/hook.md has the matrix.
//
// CRIU runs each action script with the action in CRTOOLS_SCRIPT_ACTION,
// the images directory as a /proc/<criu-pid>/fd/N path in
// CRTOOLS_IMAGE_DIR, the root task's host pid in CRTOOLS_INIT_PID, its own
// work dir as cwd, stdin closed and stdout/stderr on its log (criu/
// action-scripts.c, util.c cr_system). Two actions matter here:
//
//   - pre-dump (cr_dump_tasks runs it before irmap_load_cache, with the
//     tasks still running): SeedIrmap writes CRIU's irmap-cache into the work
//     dir with the path of every inotify/fanotify inode watch on an overlay,
//     so CRIU need not open the watch's file handle (impossible for overlay
//     handles before nfs_export, docs/kernel-quirks.md §5) nor scan for it.
//   - post-dump (images written, tasks still frozen): Run runs fixup.Run
//     on the images directory and logs its diff.
//
// Every other action returns at once.
//
// Exit policy: a hook that fails makes CRIU fail the dump (tasks resume,
// criu exits non-zero). So Run returns an error only when fixup says the
// dump is wrong and cannot be repaired (fixup.ErrUnrepairable); when ovlfix
// simply cannot help (no overlay watch, unreadable /proc, a cache it does
// not understand, images it cannot read) it logs why and returns nil.
//
// Side effects: none but the files named above. Neither action probes the
// kernel (no mounts, no child process, no temporary directory, no write to
// the quirks cache): post-dump reads the per-boot probe cache read-only
// (quirks.LoadCached) and, without one, confirms every object by stat.
//
// Interrupts: a cancelled ctx (SIGINT/SIGTERM in `ovlfix hook`) stops the
// scan; Run logs what is left and returns nil. Every file the hook writes
// is replaced by one atomic rename, so at any instant it is the old or the
// complete new one (LeftIfStopped says so for a process that must exit
// without Run returning).
//
// Log lines quote every untrusted string (internal/quote) and show the
// images directory link as ImageDirLabel.
//
// Threat model: the target's files, names and mount table are untrusted
// (package resolve confirms every path by stat inside the target's root);
// the environment comes from CRIU, and a work dir that is not CRIU's (own
// cwd differs from the cwd of the CRIU process) is never written to. An
// existing irmap-cache is never clobbered: its entries are kept, and ours
// replace one only where it would be rejected by CRIU's own revalidation.
package hook
