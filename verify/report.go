package verify

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/internal/quote"
)

// WriteText prints the verdict for people: one summary line; for each
// problem a line with the check, file id, name and holders, then what the
// root has and the line CRIU will log, indented under it; then one line
// per skipped file. Strings from the images and the root are quoted
// (internal/quote).
func WriteText(w io.Writer, r *Result) error {
	bw := bufio.NewWriter(w)
	verdict := "restorable"
	if !r.Restorable() {
		verdict = "NOT restorable"
	}
	fmt.Fprintf(bw, "root %s: %d files checked, %d skipped, %d problems: %s\n", quote.String(r.Root), r.Checked, len(r.Skipped), len(r.Problems), verdict)
	for _, p := range r.Problems {
		fmt.Fprintf(bw, "%-13s id %d %s held by %s\n", p.Check, p.FileID, quote.String(p.Name), inspect.HoldersText(p.Holders))
		fmt.Fprintf(bw, "%13s found: %s\n", "", quote.String(p.Found))
		if p.CRIU != "" {
			fmt.Fprintf(bw, "%13s criu:  %s (%s)\n", "", quote.String(p.CRIU), p.CRIUSource)
		} else {
			fmt.Fprintf(bw, "%13s criu:  (no error line)\n", "")
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(bw, "skipped %d %s: %s\n", s.FileID, quote.String(s.Name), quote.String(s.Why))
	}
	return bw.Flush()
}

// WriteJSON prints the verdict as one JSON object (docs/verify.md):
// "root", "restorable", "checked", then "problems" and "skipped" with one
// object per line, each encoded as it is written.
func WriteJSON(w io.Writer, r *Result) error {
	bw := bufio.NewWriter(w)
	head, err := json.Marshal(struct {
		Root       string `json:"root"`
		Restorable bool   `json:"restorable"`
		Checked    int    `json:"checked"`
	}{r.Root, r.Restorable(), r.Checked})
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1])
	if err := writeArray(bw, "problems", r.Problems); err != nil {
		return err
	}
	if err := writeArray(bw, "skipped", r.Skipped); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

func writeArray[T any](bw *bufio.Writer, key string, items []T) error {
	fmt.Fprintf(bw, ",%q:[", key)
	for i := range items {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		b, err := json.Marshal(&items[i])
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	if len(items) > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteByte(']')
	return nil
}
