// Package dump runs ovlfix's pipeline for one process (tree): scan what the
// kernel says (fdinfo), read each target's mount namespace (mountns),
// resolve every object (resolve), and produce a Report and CRIU images
// (proto). It is what `ovlfix dump` and `ovlfix demo` call, and what a
// migration pipeline imports.
package dump

import (
	"context"
	"errors"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/quirks"
	"github.com/ovlfix/ovlfix/resolve"
)

// Options tune a run. The zero value scans one process from /proc.
type Options struct {
	// Tree adds all threads with their own file tables and all descendants.
	Tree bool
	// Scanner is used as given (its zero value reads /proc).
	Scanner fdinfo.Scanner
	// Quirks is the probed behaviour of this kernel (quirks.Load). With a
	// probe showing 4.2+ fd behaviour, fds are accepted on their mountinfo
	// entry without a stat each. nil: every object is confirmed by stat.
	Quirks *quirks.Set
	// WatchBudget bounds the watch resolution of each process (zero:
	// resolve's defaults).
	WatchBudget resolve.WatchBudget
}

// Dump is the outcome of one run.
type Dump struct {
	RootPID   int
	Processes []*Process
	// Namespaces are the distinct mount namespaces met, numbered from 1
	// in the order met (mountpoints-<n>.img).
	Namespaces []*Namespace
	// LeftOut are the descendants and threads of a --tree dump that were
	// zombies or exited during the run (never the root task: its exit is
	// ErrExited). They have no files to restore.
	LeftOut []fdinfo.SkippedTask
}

// Process is one scanned file table with its resolved objects.
type Process struct {
	*fdinfo.Process
	Namespace *Namespace
	Results   []resolve.Result
	// Places are where each result's file lives in its overlay, index
	// for index with Results (resolve.Resolved.Places), for the manifest.
	Places []resolve.Place
}

// Namespace is one mount namespace as seen from the root of the first
// process met in it.
type Namespace struct {
	ID    uint32 // 1-based, for mountpoints-<ID>.img
	Inode uint64 // /proc/<pid>/ns/mnt inode, the kernel's identity
	Table *mountns.Table
}

// Run is RunContext without a context.
func Run(pid int, opts Options) (*Dump, error) { return RunContext(context.Background(), pid, opts) }

// RunContext scans pid (and its tree with opts.Tree), resolves everything
// through one resolve.Session and returns the result; ctx stops the
// watch walks. Errors wrap fdinfo.ErrNoProcess, ErrPermission or
// ErrExited where that is the cause.
func RunContext(ctx context.Context, pid int, opts Options) (*Dump, error) {
	s := opts.Scanner
	d := &Dump{RootPID: pid}
	var procs []*fdinfo.Process
	if opts.Tree {
		tree, err := s.ScanTreeReport(pid)
		if err != nil {
			return nil, err
		}
		procs, d.LeftOut = tree.Processes, tree.Skipped
	} else {
		p, err := s.Scan(pid)
		if err != nil {
			return nil, err
		}
		procs = []*fdinfo.Process{p}
	}
	sess, err := resolve.NewSession(resolve.SessionOptions{TrustFdLinks: opts.Quirks.TrustFdLinks(), WatchBudget: opts.WatchBudget, Provenance: true})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	for _, fp := range procs {
		r, err := sess.Resolve(ctx, fp.TGID, fp.Objects)
		if err != nil {
			err = fdinfo.Classify(err)
			if fp.TGID != pid && errors.Is(err, fdinfo.ErrExited) {
				// A descendant that exited between its scan and its
				// resolution (a fork-heavy parent's short-lived child) is
				// left out like one that exited during the scan; only the
				// root task's exit fails the dump.
				d.LeftOut = append(d.LeftOut, fdinfo.SkippedTask{PID: fp.PID, TGID: fp.TGID, Err: err})
				continue
			}
			return nil, err
		}
		d.Processes = append(d.Processes, &Process{Process: fp, Namespace: d.namespace(r), Results: r.Results, Places: r.Places})
	}
	return d, nil
}

// namespace returns the namespace of a resolved process, numbering a new
// one.
func (d *Dump) namespace(r *resolve.Resolved) *Namespace {
	for _, ns := range d.Namespaces {
		if ns.Inode == r.Namespace {
			return ns
		}
	}
	ns := &Namespace{ID: uint32(len(d.Namespaces) + 1), Inode: r.Namespace, Table: r.Table}
	d.Namespaces = append(d.Namespaces, ns)
	return ns
}

// Counts tallies verdicts over all processes.
func (d *Dump) Counts() map[resolve.Verdict]int {
	c := map[resolve.Verdict]int{}
	for _, p := range d.Processes {
		for _, r := range p.Results {
			c[r.Verdict]++
		}
	}
	return c
}
