package dump

import (
	"bytes"
	"fmt"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// ReportVersion is the version of the JSON report schema (docs/report.md).
// It changes only when a field changes meaning or disappears.
const ReportVersion = 1

// Report is the stable, documented JSON form of a Dump.
type Report struct {
	Version   int             `json:"version"`
	Kernel    string          `json:"kernel"`
	RootPID   int             `json:"root_pid"`
	Images    string          `json:"images_dir,omitempty"`
	Counts    map[string]int  `json:"counts"`
	Processes []ProcessReport `json:"processes"`
	// LeftOut are the tasks of a --tree dump that were zombies or exited
	// during the run, with why.
	LeftOut []LeftOutTask `json:"left_out,omitempty"`
}

// LeftOutTask is one task a --tree dump left out.
type LeftOutTask struct {
	PID    int    `json:"pid"`
	TGID   int    `json:"tgid"`
	Reason string `json:"reason"`
}

// ProcessReport is one file table.
type ProcessReport struct {
	PID      int            `json:"pid"`
	TGID     int            `json:"tgid"`
	PPID     int            `json:"ppid"`
	Comm     string         `json:"comm"`
	FilesID  uint32         `json:"files_id"`
	MntNS    uint32         `json:"mnt_ns"`
	MntNSIno uint64         `json:"mnt_ns_inode"`
	Objects  []ObjectReport `json:"objects"`
}

// ObjectReport is one file reference: what the kernel said, what is true,
// and the verdict. Every byte-string comes twice: "x" for reading (invalid
// UTF-8 replaced by U+FFFD) and "x_b64", the exact bytes, base64.
type ObjectReport struct {
	Kind  string `json:"kind"`
	FD    int    `json:"fd"`              // -1 when not an fd
	WD    *int32 `json:"wd,omitempty"`    // watches
	Range string `json:"range,omitempty"` // mappings: start-end (hex)

	Link        string `json:"link"`
	LinkB64     string `json:"link_b64"`
	KernelMntID int    `json:"kernel_mnt_id"` // fdinfo/map_files mnt_id, -1 if none

	Verdict    string `json:"verdict"`
	Path       string `json:"path"`
	PathB64    string `json:"path_b64"`
	MntID      int    `json:"mnt_id"`
	Mountpoint string `json:"mountpoint,omitempty"`
	FSType     string `json:"fstype,omitempty"`
	Dev        string `json:"dev,omitempty"` // major:minor of the true st_dev
	Ino        uint64 `json:"ino,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
	Reason     string `json:"reason,omitempty"`

	Evidence []string `json:"evidence,omitempty"`
	Error    string   `json:"error,omitempty"`
	FileID   uint32   `json:"file_id,omitempty"` // id in files.img, 0 if none

	// RawLink and RawPath are the exact bytes of Link and Path, which
	// WriteText shows. Not in the JSON: link_b64 and path_b64 carry them.
	RawLink []byte `json:"-"`
	RawPath []byte `json:"-"`
}

// Report builds the JSON form. ids maps results to files.img ids (may be
// nil when no images were written).
func (d *Dump) Report(ids map[*resolve.Result]uint32) *Report {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	rep := &Report{Version: ReportVersion, Kernel: unix.ByteSliceToString(uts.Release[:]), RootPID: d.RootPID, Counts: map[string]int{}}
	for v, n := range d.Counts() {
		rep.Counts[string(v)] = n
	}
	for _, p := range d.Processes {
		pr := ProcessReport{PID: p.PID, TGID: p.TGID, PPID: p.PPID, Comm: p.Comm, FilesID: p.FilesID,
			MntNS: p.Namespace.ID, MntNSIno: p.Namespace.Inode, Objects: make([]ObjectReport, 0, len(p.Results))}
		for i := range p.Results {
			r := &p.Results[i]
			pr.Objects = append(pr.Objects, objectReport(r, ids[r]))
		}
		rep.Processes = append(rep.Processes, pr)
	}
	for _, t := range d.LeftOut {
		rep.LeftOut = append(rep.LeftOut, LeftOutTask{PID: t.PID, TGID: t.TGID, Reason: t.Err.Error()})
	}
	return rep
}

func objectReport(r *resolve.Result, fileID uint32) ObjectReport {
	o := r.Object
	or := ObjectReport{
		Kind: o.Kind.String(), FD: o.FD, KernelMntID: -1,
		Link: quote.Readable(o.Link), LinkB64: quote.Base64(o.Link), RawLink: o.Link,
		Verdict: string(r.Verdict), RawPath: r.Path, MntID: r.MntID,
		Deleted: r.Deleted, Reason: r.Reason, Evidence: r.Evidence, FileID: fileID,
	}
	if bytes.Equal(r.Path, o.Link) {
		// Most objects' true path is their link: the same strings, made
		// once (a third of Report's allocations for 10,000 fds).
		or.Path, or.PathB64 = or.Link, or.LinkB64
	} else {
		or.Path, or.PathB64 = quote.Readable(r.Path), quote.Base64(r.Path)
	}
	if o.Info != nil {
		or.KernelMntID = o.Info.MntID
	}
	if o.Map != nil {
		or.Range = o.Map.Range()
		or.KernelMntID = o.Map.MapFilesMntID
	}
	if o.Watch != nil {
		wd := o.Watch.WD
		or.WD = &wd
	}
	if r.Mount != nil {
		or.Mountpoint, or.FSType = r.Mount.Mountpoint, r.Mount.FSType
	}
	if r.Dev != 0 || r.Ino != 0 {
		or.Dev = fmt.Sprintf("%d:%d", unix.Major(r.Dev), unix.Minor(r.Dev))
		or.Ino = r.Ino
	}
	if o.Err != nil {
		or.Error = o.Err.Error()
	}
	return or
}
