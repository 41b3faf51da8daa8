package dump_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/resolve"
)

// tabwriterText is WriteText as it was (commit 962d02e): every row through
// text/tabwriter(0, 4, 2, ' ', 0). WriteText must write exactly its bytes.
func tabwriterText(rep *dump.Report, out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range rep.Processes {
		fmt.Fprintf(tw, "pid %d comm %s files_id %d mnt_ns %d\n", p.PID, quote.String(p.Comm), p.FilesID, p.MntNS)
		fmt.Fprintln(tw, "  OBJECT\tKIND\tPATH\tMNT_ID\tMOUNTPOINT\tFS\tVERDICT\tNOTE")
		for _, o := range p.Objects {
			mnt := "-"
			if o.MntID >= 0 {
				mnt = fmt.Sprint(o.MntID)
				if o.KernelMntID >= 0 && o.KernelMntID != o.MntID {
					mnt = fmt.Sprintf("%d (kernel: %d)", o.MntID, o.KernelMntID)
				}
			}
			note := o.Reason
			if o.Error != "" && note == "" {
				note = o.Error
			}
			label := o.Kind
			switch {
			case o.Kind == "fd":
				label = fmt.Sprintf("fd %d", o.FD)
			case o.WD != nil:
				label = fmt.Sprintf("fd %d wd %d", o.FD, *o.WD)
			case o.Range != "":
				label = o.Range
			}
			path := "-"
			for _, b := range [][]byte{o.RawPath, []byte(o.Path), o.RawLink, []byte(o.Link)} {
				if len(b) > 0 {
					path = quote.Bytes(b)
					break
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", label, o.Kind, path, mnt,
				quote.OrDash(o.Mountpoint), quote.OrDash(o.FSType), o.Verdict, quote.OrDash(note))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
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
	fmt.Fprintf(w, "summary: %s\n", strings.Join(parts, ", "))
	return w.Flush()
}

// sameTextAsTabwriter fails t when WriteText and tabwriterText differ on
// rep, showing the first differing line.
func sameTextAsTabwriter(t *testing.T, what string, rep *dump.Report) {
	t.Helper()
	var got, want bytes.Buffer
	if err := rep.WriteText(&got); err != nil {
		t.Fatalf("%s: WriteText: %v", what, err)
	}
	if err := tabwriterText(rep, &want); err != nil {
		t.Fatalf("%s: tabwriter: %v", what, err)
	}
	if bytes.Equal(got.Bytes(), want.Bytes()) {
		return
	}
	g, w := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("%s: line %d differs from tabwriter's:\n got  %q\n want %q", what, i+1, gl, wl)
		}
	}
	t.Fatalf("%s: output differs from tabwriter's", what)
}

// TestWriteTextMatchesTabwriterLive: the text report of this test process,
// holding files whose names are long, multi-byte, not UTF-8 and hold
// control characters, is byte for byte what tabwriter wrote; so is the
// text of the report decoded from its JSON.
func TestWriteTextMatchesTabwriterLive(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"plain", "ünïcödé 名前", "bad\xff\xfeutf8", "tab\tnew\nline", strings.Repeat("long", 50)} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	d, err := dump.Run(os.Getpid(), dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := d.Report(nil)
	t.Logf("%d objects", len(rep.Processes[0].Objects))
	sameTextAsTabwriter(t, "live report", rep)

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back dump.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	sameTextAsTabwriter(t, "report decoded from JSON", &back)
}

// TestWriteTextMatchesTabwriterRandom: random reports (several file
// tables, empty ones, cells of every width, multi-byte and invalid UTF-8,
// control characters, watches, mappings, kernel mount ids that differ,
// left-out tasks) and forged ones whose unquoted cells hold tabwriter's
// control bytes are written byte for byte as tabwriter wrote them.
func TestWriteTextMatchesTabwriterRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "a", "/", "ü", "名", "\xff", "\x00", "\n", "\t", "\"", "\\", "\u202e", "x", "/some/longer/path/component"}
	str := func(n int) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	kinds := []string{"fd", "cwd", "root", "exe", "map", "watch"}
	verdicts := []string{"ok", "fixed", "ambiguous", "unresolved", "skipped"}
	for iter := range 300 {
		forged := iter%10 == 9
		rep := &dump.Report{Counts: map[string]int{}}
		for range rng.IntN(4) {
			p := dump.ProcessReport{PID: rng.IntN(1 << 22), Comm: str(3), FilesID: uint32(rng.IntN(9)), MntNS: uint32(rng.IntN(9))}
			for range rng.IntN(40) {
				o := dump.ObjectReport{Kind: kinds[rng.IntN(len(kinds))], FD: rng.IntN(200000) - 1,
					Verdict: verdicts[rng.IntN(len(verdicts))], MntID: rng.IntN(3000) - 1, KernelMntID: rng.IntN(3000) - 1,
					Mountpoint: str(4), FSType: str(1), Reason: str(3), Error: str(2)}
				switch o.Kind {
				case "watch":
					wd := int32(rng.IntN(100))
					o.WD = &wd
				case "map":
					o.Range = fmt.Sprintf("%x-%x", rng.Uint64(), rng.Uint64())
				}
				switch rng.IntN(5) {
				case 0:
					o.RawPath = []byte(str(8))
				case 1:
					o.Path = str(8)
				case 2:
					o.RawLink = []byte(str(8))
				case 3:
					o.Link = str(8)
				}
				if forged && rng.IntN(8) == 0 {
					bad := []string{"\t", "\n", "\v", "\f", "\xff"}[rng.IntN(5)]
					switch rng.IntN(3) {
					case 0:
						o.Kind += bad
					case 1:
						o.Verdict = bad + o.Verdict
					case 2:
						o.Range = "1-2" + bad + "3"
					}
				}
				rep.Counts[o.Verdict]++
				p.Objects = append(p.Objects, o)
			}
			rep.Processes = append(rep.Processes, p)
		}
		if rng.IntN(3) == 0 {
			rep.LeftOut = append(rep.LeftOut, dump.LeftOutTask{PID: 7, TGID: 7, Reason: str(3)})
		}
		sameTextAsTabwriter(t, fmt.Sprintf("random report %d", iter), rep)
	}
}
