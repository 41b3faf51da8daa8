package dump

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/resolve"
)

// WriteText writes a table a person can read: a header line per file
// table, then one line per object. Every untrusted string (the task name,
// paths, mountpoints, filesystem types, notes) is one quoted token
// (internal/quote), so no name can add a line or a field; "-" is an absent
// value. Paths are shown from their exact bytes (RawPath, RawLink), as the
// JSON report's path_b64 and link_b64 carry them.
//
// The columns of each file table are aligned as text/tabwriter aligns them
// (minwidth 0, tabwidth 4, padding 2, padchar ' ', no flags): every cell
// but a row's last is padded with spaces to the widest cell of its column
// (in runes) plus 2. tabwriter kept every cell of the whole report until
// its Flush (6 MB per 10,000 rows); this writer goes over each file
// table twice, computing the widths, then writing the padded rows, and
// keeps nothing but the widths (docs/benchmarks.md). The output is byte for byte tabwriter's
// (report_text_table_test.go compares them). A report decoded from a
// forged JSON file can hold tabwriter's control bytes in its unquoted
// cells (kind, verdict, range); such a report still goes through
// tabwriter, so that it too reads exactly as before.
func (rep *Report) WriteText(out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	if rep.hasTabwriterControl() {
		if err := rep.writeTablesTabwriter(w); err != nil {
			return err
		}
	} else {
		var t textTable
		for i := range rep.Processes {
			if err := t.write(w, &rep.Processes[i]); err != nil {
				return err
			}
		}
	}
	for _, t := range rep.LeftOut {
		fmt.Fprintf(w, "left out: pid %d (thread group %d): %s\n", t.PID, t.TGID, quote.String(t.Reason))
	}
	var parts []string
	for _, v := range []resolve.Verdict{resolve.OK, resolve.Fixed, resolve.Ambiguous, resolve.Unresolved, resolve.Skipped} {
		if n := rep.Counts[string(v)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	if _, err := fmt.Fprintf(w, "summary: %s\n", strings.Join(parts, ", ")); err != nil {
		return err
	}
	return w.Flush()
}

// textColumns is the number of padded cells of a table row: all but the
// last (NOTE), which tabwriter leaves as it is.
const textColumns = 7

// textHeader is the column line of every file table.
var textHeader = [textColumns + 1]string{"  OBJECT", "KIND", "PATH", "MNT_ID", "MOUNTPOINT", "FS", "VERDICT", "NOTE"}

// textRow is one row's cells, built in a buffer reused from row to row:
// the bytes and each cell's end.
type textRow struct {
	buf  []byte
	ends [textColumns + 1]int
}

// textTable writes file tables. Each table takes two passes over its
// rows: the first builds every row to find the widest cell of each column
// (in runes, as tabwriter counts them), the second builds each row again
// and writes it padded. Building a row twice costs less than keeping all
// of them: nothing of a table is kept but the widths.
type textTable struct {
	row    textRow
	widths [textColumns]int
}

// write writes p's header line, its column line and one line per object.
func (t *textTable) write(w *bufio.Writer, p *ProcessReport) error {
	t.widths = [textColumns]int{}
	for i := -1; i < len(p.Objects); i++ {
		t.build(p, i)
		start := 0
		for j := range textColumns {
			t.widths[j] = max(t.widths[j], utf8.RuneCount(t.row.buf[start:t.row.ends[j]]))
			start = t.row.ends[j]
		}
	}
	fmt.Fprintf(w, "pid %d comm %s files_id %d mnt_ns %d\n", p.PID, quote.String(p.Comm), p.FilesID, p.MntNS)
	for i := -1; i < len(p.Objects); i++ {
		t.build(p, i)
		start := 0
		for j := range textColumns {
			cell := t.row.buf[start:t.row.ends[j]]
			w.Write(cell)
			writeSpaces(w, t.widths[j]+2-utf8.RuneCount(cell))
			start = t.row.ends[j]
		}
		w.Write(t.row.buf[start:t.row.ends[textColumns]])
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

// build builds row i of p into t.row: the column line for -1, else the
// row of object i.
func (t *textTable) build(p *ProcessReport, i int) {
	r := &t.row
	r.buf = r.buf[:0]
	if i < 0 {
		for j, h := range textHeader {
			r.buf = append(r.buf, h...)
			r.ends[j] = len(r.buf)
		}
		return
	}
	r.appendObject(&p.Objects[i])
}

// appendObject builds o's row: OBJECT KIND PATH MNT_ID MOUNTPOINT FS
// VERDICT NOTE.
func (r *textRow) appendObject(o *ObjectReport) {
	a := append(r.buf, "  "...)
	switch {
	case o.Kind == fdinfo.KindFD.String():
		a = strconv.AppendInt(append(a, "fd "...), int64(o.FD), 10)
	case o.WD != nil:
		a = strconv.AppendInt(append(a, "fd "...), int64(o.FD), 10)
		a = strconv.AppendInt(append(a, " wd "...), int64(*o.WD), 10)
	case o.Range != "":
		a = append(a, o.Range...)
	default:
		a = append(a, o.Kind...)
	}
	r.ends[0] = len(a)
	a = append(a, o.Kind...)
	r.ends[1] = len(a)
	a = appendShownPath(a, o)
	r.ends[2] = len(a)
	a = appendMntID(a, o)
	r.ends[3] = len(a)
	a = appendOrDash(a, o.Mountpoint)
	r.ends[4] = len(a)
	a = appendOrDash(a, o.FSType)
	r.ends[5] = len(a)
	a = append(a, o.Verdict...)
	r.ends[6] = len(a)
	a = appendOrDash(a, objectNote(o))
	r.ends[7] = len(a)
	r.buf = a
}

// spaces is a run of padding written at once.
const spaces = "                                                                "

func writeSpaces(w *bufio.Writer, n int) {
	for n > 0 {
		k := min(n, len(spaces))
		w.WriteString(spaces[:k])
		n -= k
	}
}

// appendShownPath appends shownPath(o) without building the string.
func appendShownPath(a []byte, o *ObjectReport) []byte {
	switch {
	case len(o.RawPath) > 0:
		return appendQuoted(a, o.RawPath)
	case o.Path != "":
		return appendQuoted(a, o.Path)
	case len(o.RawLink) > 0:
		return appendQuoted(a, o.RawLink)
	case o.Link != "":
		return appendQuoted(a, o.Link)
	}
	return append(a, '-')
}

// appendMntID appends the MNT_ID cell: the true mount id, with the
// kernel's when they differ; "-" when there is none.
func appendMntID(a []byte, o *ObjectReport) []byte {
	if o.MntID < 0 {
		return append(a, '-')
	}
	a = strconv.AppendInt(a, int64(o.MntID), 10)
	if o.KernelMntID >= 0 && o.KernelMntID != o.MntID {
		a = strconv.AppendInt(append(a, " (kernel: "...), int64(o.KernelMntID), 10)
		a = append(a, ')')
	}
	return a
}

// appendOrDash appends quote.OrDash(s).
func appendOrDash(a []byte, s string) []byte {
	if s == "" {
		return append(a, '-')
	}
	return appendQuoted(a, s)
}

// appendQuoted appends quote.Bytes(s) (strconv.Quote). Most paths are
// printable ASCII without '"' or a backslash, which strconv.Quote leaves
// as they are: those are copied between quotes, without strconv's
// rune-by-rune escaping (two thirds of the text writer's time); any other
// goes through strconv.AppendQuote.
func appendQuoted[S string | []byte](a []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.AppendQuote(a, string(s))
		}
	}
	a = append(a, '"')
	a = append(a, s...)
	return append(a, '"')
}

// objectNote is the NOTE cell's text: the reason, else the error.
func objectNote(o *ObjectReport) string {
	if o.Error != "" && o.Reason == "" {
		return o.Error
	}
	return o.Reason
}

// hasTabwriterControl reports whether an unquoted cell of the table
// (kind, verdict, range: only a report decoded from JSON can hold anything
// but what ovlfix writes there) holds a byte text/tabwriter acts on: a
// tab, vertical tab, newline, form feed or its escape byte 0xff.
func (rep *Report) hasTabwriterControl() bool {
	for _, p := range rep.Processes {
		for i := range p.Objects {
			o := &p.Objects[i]
			if hasTabwriterByte(o.Kind) || hasTabwriterByte(o.Verdict) || hasTabwriterByte(o.Range) {
				return true
			}
		}
	}
	return false
}

func hasTabwriterByte(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\v', '\n', '\f', tabwriter.Escape:
			return true
		}
	}
	return false
}

// writeTablesTabwriter writes the file tables through text/tabwriter, for
// a report whose unquoted cells hold its control bytes.
func (rep *Report) writeTablesTabwriter(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range rep.Processes {
		fmt.Fprintf(tw, "pid %d comm %s files_id %d mnt_ns %d\n", p.PID, quote.String(p.Comm), p.FilesID, p.MntNS)
		fmt.Fprintln(tw, strings.Join(textHeader[:], "\t"))
		for i := range p.Objects {
			o := &p.Objects[i]
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", objectLabel(o), o.Kind, shownPath(o), string(appendMntID(nil, o)),
				quote.OrDash(o.Mountpoint), quote.OrDash(o.FSType), o.Verdict, quote.OrDash(objectNote(o)))
		}
	}
	return tw.Flush()
}

func objectLabel(o *ObjectReport) string {
	switch {
	case o.Kind == fdinfo.KindFD.String():
		return fmt.Sprintf("fd %d", o.FD)
	case o.WD != nil:
		return fmt.Sprintf("fd %d wd %d", o.FD, *o.WD)
	case o.Range != "":
		return o.Range
	}
	return o.Kind
}

// shownPath is the object's true path (else the kernel's link), quoted
// from its exact bytes; "-" when there is neither. A Report decoded from
// its JSON has no exact bytes: the readable strings are shown then (invalid
// UTF-8 already replaced), never the base64 decoded back.
func shownPath(o *ObjectReport) string { return string(appendShownPath(nil, o)) }
