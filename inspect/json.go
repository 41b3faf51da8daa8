package inspect

import (
	"bufio"
	"encoding/json"
	"io"
)

// WriteJSON prints the listing as one JSON object (docs/inspect.md): the
// header fields first, then "files" with one file object per line, each
// encoded and written as it comes, so a consumer can stream it and a
// large listing is never held twice in memory.
func WriteJSON(w io.Writer, l *Listing) error {
	bw := bufio.NewWriter(w)
	head := struct {
		Path     string         `json:"path"`
		Format   string         `json:"format"`
		Manifest ManifestStatus `json:"manifest"`
		Notes    []string       `json:"notes"`
	}{l.Path, l.Format, l.Manifest, l.Notes}
	if head.Notes == nil {
		head.Notes = []string{}
	}
	b, err := json.Marshal(head)
	if err != nil {
		return err
	}
	bw.Write(b[:len(b)-1]) // without the closing brace
	bw.WriteString(`,"files":[`)
	for i, f := range l.Files {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		fb, err := json.Marshal(f)
		if err != nil {
			return err
		}
		bw.Write(fb)
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}
