// Package hookroute decides how ovlfix's CRIU hook reaches a runtime's
// checkpoints (the route) for a CRIU version and a runtime, and edits the
// CRIU config files that route needs without touching other lines.
//
// Threat model: the config files (/etc/criu/default.conf, runc.conf) are
// shared with other tools and with the administrator; a wrong line there
// breaks every checkpoint on the machine (CRIU ≤ 3.18 aborts an RPC dump
// that meets an action script from any config file: BUG at
// criu/action-scripts.c in add_rpc_notify). So the decision refuses what
// would break checkpoints, and an edit changes exactly one line, ours,
// marked, replacing the file atomically with its mode and owner kept.
// The version table is from CRIU's history and the runs recorded in
// docs/hook.md ("Which route, by CRIU version and runtime").
package hookroute
