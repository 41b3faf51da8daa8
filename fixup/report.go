package fixup

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// changeJSON is the wire form of a Change: every byte string twice, "x"
// for reading (invalid UTF-8 replaced by U+FFFD) and "x_b64", the exact
// bytes, as in ovlfix's dump report (docs/report.md).
type changeJSON struct {
	FileID      uint32   `json:"file_id"`
	VPID        uint32   `json:"vpid"`
	HostPID     int      `json:"host_pid"`
	Object      string   `json:"object"`
	OldName     string   `json:"old_name"`
	OldNameB64  string   `json:"old_name_b64"`
	NewName     string   `json:"new_name"`
	NewNameB64  string   `json:"new_name_b64"`
	NameChanged bool     `json:"name_changed"`
	OldMntID    int32    `json:"old_mnt_id"`
	NewMntID    int32    `json:"new_mnt_id"`
	Verdict     string   `json:"verdict"`
	Reason      string   `json:"reason"`
	Evidence    []string `json:"evidence,omitempty"`
}

// MarshalJSON writes the documented wire form.
func (c Change) MarshalJSON() ([]byte, error) {
	return json.Marshal(changeJSON{
		FileID: c.FileID, VPID: c.VPID, HostPID: c.HostPID, Object: c.Object,
		OldName: quote.Readable(c.OldName), OldNameB64: quote.Base64(c.OldName),
		NewName: quote.Readable(c.NewName), NewNameB64: quote.Base64(c.NewName),
		NameChanged: !bytes.Equal(c.OldName, c.NewName),
		OldMntID:    c.OldMntID, NewMntID: c.NewMntID,
		Verdict: c.Verdict, Reason: c.Reason, Evidence: c.Evidence,
	})
}

// UnmarshalJSON reads the wire form back (names from the _b64 fields).
func (c *Change) UnmarshalJSON(b []byte) error {
	var w changeJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	oldName, err := base64.StdEncoding.DecodeString(w.OldNameB64)
	if err != nil {
		return fmt.Errorf("old_name_b64: %w", err)
	}
	newName, err := base64.StdEncoding.DecodeString(w.NewNameB64)
	if err != nil {
		return fmt.Errorf("new_name_b64: %w", err)
	}
	*c = Change{FileID: w.FileID, VPID: w.VPID, HostPID: w.HostPID, Object: w.Object,
		OldName: oldName, NewName: newName, OldMntID: w.OldMntID, NewMntID: w.NewMntID,
		Verdict: w.Verdict, Reason: w.Reason, Evidence: w.Evidence}
	return nil
}

// WriteJSON writes the report as indented JSON (docs/fixup.md). Empty
// lists are written as [], never null.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	if out.Changes == nil {
		out.Changes = []Change{}
	}
	if out.Problems == nil {
		out.Problems = []Problem{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// WriteDiff writes one line per change, then one per problem and note:
//
//	files.img id 7 (pid 1 fd 3): mnt_id 23 -> 31, name unchanged
//
// pid is the task's pid in the dump (host pid in brackets when it
// differs). Names, problems and notes are untrusted (they come from the
// images and the target, or embed what does) and are each one quoted token
// (internal/quote), so none can add a line to the diff or to the hook's
// log it is copied into.
func (r *Report) WriteDiff(w io.Writer) error {
	var b strings.Builder
	verb := ""
	if r.DryRun {
		verb = " (dry run: not written)"
	}
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "files.img id %d (%s %s): ", c.FileID, pidLabel(c.VPID, c.HostPID), c.Object)
		var parts []string
		if c.OldMntID != c.NewMntID {
			parts = append(parts, fmt.Sprintf("mnt_id %d -> %d", c.OldMntID, c.NewMntID))
		} else {
			parts = append(parts, fmt.Sprintf("mnt_id %d unchanged", c.OldMntID))
		}
		if bytes.Equal(c.OldName, c.NewName) {
			parts = append(parts, "name unchanged")
		} else {
			parts = append(parts, fmt.Sprintf("name %s -> %s", quote.Bytes(c.OldName), quote.Bytes(c.NewName)))
		}
		fmt.Fprintf(&b, "%s%s\n", strings.Join(parts, ", "), verb)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: files.img id %d (%s): %s\n", p.FileID, p.Object, quote.String(p.What))
	}
	for _, p := range r.Notes {
		fmt.Fprintf(&b, "note: files.img id %d (%s): %s\n", p.FileID, p.Object, quote.String(p.What))
	}
	fmt.Fprintf(&b, "checked %d entries: %d changed, %d problems", r.Checked, len(r.Changes), len(r.Problems))
	if r.Backup != "" {
		// The images dir may be CRIU's /proc/<pid>/fd/N: name the file only.
		fmt.Fprintf(&b, "; original kept as %s next to files.img", filepath.Base(r.Backup))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func pidLabel(vpid uint32, host int) string {
	if host > 0 && uint32(host) != vpid {
		return fmt.Sprintf("pid %d [host %d]", vpid, host)
	}
	return fmt.Sprintf("pid %d", vpid)
}
