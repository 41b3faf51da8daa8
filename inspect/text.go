package inspect

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/manifest"
)

// WriteText prints the listing for people: a header line, one aligned row
// per file in files.img order, then the notes. Every string from the
// images (names, mountpoints, fstypes, layer dirs, notes) is quoted
// (internal/quote), so no name can add a row or a column.
func WriteText(w io.Writer, l *Listing) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "checkpoint %s (%s): %d files to reopen, manifest: %s\n", quote.String(l.Path), l.Format, len(l.Files), manifestLine(l.Manifest))
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODE\tSIZE\tMNT\tFSTYPE\tREMAP\tLAYER\tHOLDERS\tNAME")
	for _, f := range l.Files {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, ModeText(f.Mode, f.HasMode), sizeText(f), mntText(f),
			fstypeText(f), remapText(f), layerText(f), HoldersText(f.Holders), quote.String(f.Name))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range l.Notes {
		fmt.Fprintf(bw, "note: %s\n", quote.String(n))
	}
	return bw.Flush()
}

func manifestLine(m ManifestStatus) string {
	switch {
	case !m.Present:
		return "none (layers not known; fstype from the mountpoints image)"
	case m.Problem != "":
		return "not used: " + quote.String(m.Problem)
	}
	return "written by " + quote.String(m.Writer) + " (" + quote.String(m.Tool) + ")"
}

// ModeText is st_mode in octal as CRIU prints it ("0100644"), "-" when
// not recorded.
func ModeText(mode uint32, has bool) string {
	if !has {
		return "-"
	}
	return "0" + strconv.FormatUint(uint64(mode), 8)
}

func sizeText(f *File) string {
	if !f.HasSize {
		return "-"
	}
	return strconv.FormatUint(f.Size, 10)
}

func mntText(f *File) string {
	if f.MntID < 0 {
		return "-"
	}
	s := strconv.Itoa(f.MntID)
	if f.Mount == nil {
		s += "(missing)"
	}
	return s
}

func fstypeText(f *File) string {
	if p := f.Provenance; p != nil && p.FSType != "" {
		return quote.String(p.FSType)
	}
	if f.Mount != nil {
		return quote.String(f.Mount.FSType)
	}
	return "-"
}

func remapText(f *File) string {
	var parts []string
	if r := f.Remap; r != nil {
		switch r.Type {
		case RemapGhost:
			state := "present"
			switch {
			case !r.ImagePresent:
				state = "MISSING"
			case r.Ghost == nil:
				state = "unreadable"
			}
			parts = append(parts, "ghost:"+r.Image+":"+state)
		case RemapLinked:
			parts = append(parts, "linked:"+strconv.FormatUint(uint64(r.RemapID), 10))
		case RemapProcfs:
			parts = append(parts, "procfs:pid"+strconv.FormatUint(uint64(r.RemapID), 10))
		default:
			parts = append(parts, r.Type)
		}
	}
	for _, id := range f.RemapTargetOf {
		parts = append(parts, "link-remap-of:"+strconv.FormatUint(uint64(id), 10))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// layerText is the manifest's overlay place: "lower:0", "upper",
// "copied-up:1", "whiteout:0"; "?" with a manifest that could not tell
// (Unresolved), "-" without a record.
func layerText(f *File) string {
	p := f.Provenance
	if p == nil {
		return "-"
	}
	o := p.Overlay
	if o == nil {
		if p.Unresolved != "" {
			return "?"
		}
		return "-"
	}
	where := o.Where // the schema's words as they are; anything else quoted
	switch where {
	case manifest.UpperOnly, manifest.CopiedUp, manifest.Lower, manifest.Metacopy, manifest.WhitedOut:
	default:
		where = quote.String(where)
	}
	if o.Layer >= 0 && o.Where != manifest.UpperOnly {
		return where + ":" + strconv.Itoa(o.Layer)
	}
	return where
}

// HoldersText is the holders for a table cell: fds, cwd, root and exe
// one by one ("12:fd3,12:cwd"), a task's mappings counted ("12:map*5").
func HoldersText(hs []manifest.Holder) string {
	if len(hs) == 0 {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(hs); i++ {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		h := hs[i]
		if h.Kind != "map" {
			b.WriteString(HolderText(h))
			continue
		}
		n := 1
		for i+1 < len(hs) && hs[i+1].Kind == "map" && hs[i+1].PID == h.PID {
			i++
			n++
		}
		if n == 1 {
			b.WriteString(HolderText(h))
		} else {
			fmt.Fprintf(&b, "%d:map*%d", h.PID, n)
		}
	}
	return b.String()
}

// HolderText names one holder: "12:fd3", "12:cwd", "12:map@7f00-7f10".
func HolderText(h manifest.Holder) string {
	s := strconv.Itoa(h.PID) + ":"
	switch h.Kind {
	case "fd":
		return s + "fd" + strconv.Itoa(h.FD)
	case "map":
		return s + "map@" + h.Map
	}
	return s + h.Kind
}
