// Package criuproxy is `ovlfix criu`: a CRIU RPC proxy that a container
// runtime runs in place of CRIU (`runc --criu /usr/local/bin/ovlfix-criu`,
// containerd's runc option CriuPath, or first in PATH for Podman), so that
// the work of `ovlfix hook` (pre-dump: seed irmap-cache; post-dump: repair
// files.img) reaches runtime checkpoints without any CRIU config file.
//
// How CRIU's swrk mode works (criu/cr-service.c, 3.17 to 4.2): the runtime
// makes an AF_UNIX SOCK_SEQPACKET socketpair, runs `criu swrk <fd>` with one
// end, and sends one CriuReq per packet; CRIU answers with CriuResp packets.
// With opts.notify_scripts CRIU sends a CriuResp{type: NOTIFY, notify{script}}
// at every action-script point and waits for CriuReq{type: NOTIFY,
// notify_success}; some notifications carry an fd (SCM_RIGHTS, e.g.
// "orphan-pts-master"). CRIU resolves images_dir_fd, work_dir_fd, status_fd
// and pidfd_store_sk as /proc/<peer>/fd/<n>, where <peer> is SO_PEERCRED of
// its socket: the process that created the socketpair. inherit_fd and the
// page server fd are numbers in CRIU's own table (passed by inheritance).
//
// What Run does: it makes a new socketpair, starts the real `criu swrk <fd>`
// with every fd it inherited (but the runtime's socket) at the same number
// and its end of the pair at the runtime's socket number, and relays every
// packet both ways byte for byte with the fds attached to it. It parses a
// packet only to read its type and notification, and re-encodes a request
// only where it must change it:
//   - a peer-relative fd number (images_dir_fd, ...) that does not name the
//     runtime's file in the proxy's own table: the proxy takes the runtime's
//     file (pidfd_getfd) at the same number when that number is free in it,
//     else at another number, which it then writes into the request;
//   - a DUMP request without notify_scripts: the proxy sets it, and answers
//     every notification itself (notify_success = true) instead of passing
//     it to a runtime that did not ask for them;
//   - a DUMP without pid (self-dump): pid is set to the runtime's pid, which
//     CRIU would have used (its peer is now the proxy).
//
// Unknown fields survive a re-encoding (protobuf-go keeps them).
//
// On CRIU's "pre-dump" and "post-dump" notifications of a DUMP the proxy runs
// hook.Run (Options.Hook) with CRIU's images directory fd, the request's
// pid and CRIU's cwd (its work dir) before it answers; then it passes the
// notification on to the runtime if the runtime asked for notifications,
// else answers CRIU itself. The failure policy is the hook's: only an
// unrepairable dump (hook.Run's error) is answered notify_success = false,
// which makes CRIU fail the dump. The hook's time is bounded (Budget, then
// Grace for a call that does not return): a hook that overruns is left
// behind and CRIU is answered as if it had not run.
//
// Threat model: the runtime is trusted as much as CRIU trusts it (the proxy
// passes nothing on that CRIU would not have got); the dumped tasks and
// their files are untrusted, and everything the hook reads of them is
// treated as package hook does. A packet that does not parse is relayed
// unchanged. SIGINT and SIGTERM are forwarded to the real CRIU; the proxy
// exits with CRIU's exit status (or dies of CRIU's signal).
//
// Restored tasks: a runtime asks CRIU to restore as its sibling
// (rst_sibling, CLONE_PARENT), so through the proxy the restored tree's root
// is the proxy's child; when the proxy exits it is re-parented to the
// nearest child subreaper (runc is one unless --no-subreaper) or init. The
// proxy never waits for any process but CRIU.
package criuproxy
