package dump

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// WriteJSON writes the report as indented JSON: byte for byte what
// json.Encoder with SetIndent("", "  ") makes of the Report, but streamed
// one object at a time. Encoding the whole Report at once builds it twice
// in memory (compact, then indented, each grown by doubling), which for a
// 10,000-fd process was 60 MB and a quarter of the command's CPU
// (docs/benchmarks.md). Each value is marshalled by encoding/json (same
// escaping, including HTML) and indented at its depth; only the
// punctuation between them is written here.
func (rep *Report) WriteJSON(w io.Writer) error {
	jw := &jsonWriter{w: bufio.NewWriterSize(w, 64<<10)}
	jw.enc = json.NewEncoder(&jw.compact)
	top := []jsonField{
		{name: "version", v: rep.Version},
		{name: "kernel", v: rep.Kernel},
		{name: "root_pid", v: rep.RootPID},
	}
	if rep.Images != "" {
		top = append(top, jsonField{name: "images_dir", v: rep.Images})
	}
	top = append(top,
		jsonField{name: "counts", v: rep.Counts},
		jsonField{name: "processes", stream: func(depth int) { jw.processes(rep.Processes, depth) }})
	if len(rep.LeftOut) > 0 {
		top = append(top, jsonField{name: "left_out", v: rep.LeftOut})
	}
	jw.object(top, 0)
	jw.raw("\n")
	if jw.err != nil {
		return jw.err
	}
	return jw.w.Flush()
}

// jsonField is one member of an object being streamed: a value marshalled
// whole, or (stream set) one written piece by piece.
type jsonField struct {
	name   string
	v      any
	stream func(depth int)
}

// jsonWriter streams indented JSON; the first error sticks.
type jsonWriter struct {
	w        *bufio.Writer
	enc      *json.Encoder
	compact  bytes.Buffer // one value as the encoder wrote it
	indented bytes.Buffer // the same, indented at its depth
	err      error
}

func (jw *jsonWriter) raw(s string) {
	if jw.err == nil {
		_, jw.err = jw.w.WriteString(s)
	}
}

func (jw *jsonWriter) indent(depth int) { jw.raw(strings.Repeat("  ", depth)) }

// value writes v as encoding/json indents it when it sits at depth (its
// first line already indented by the caller).
func (jw *jsonWriter) value(v any, depth int) {
	if jw.err != nil {
		return
	}
	jw.compact.Reset()
	if jw.err = jw.enc.Encode(v); jw.err != nil {
		return
	}
	jw.indented.Reset()
	if jw.err = json.Indent(&jw.indented, bytes.TrimSuffix(jw.compact.Bytes(), []byte("\n")), strings.Repeat("  ", depth), "  "); jw.err != nil {
		return
	}
	_, jw.err = jw.w.Write(jw.indented.Bytes())
}

// object writes the members of an object at depth (its "{" not yet
// written).
func (jw *jsonWriter) object(fields []jsonField, depth int) {
	jw.raw("{\n")
	for i, f := range fields {
		jw.indent(depth + 1)
		jw.raw(`"` + f.name + `": `)
		if f.stream != nil {
			f.stream(depth + 1)
		} else {
			jw.value(f.v, depth+1)
		}
		if i < len(fields)-1 {
			jw.raw(",")
		}
		jw.raw("\n")
	}
	jw.indent(depth)
	jw.raw("}")
}

// array writes n elements at depth with elem, as encoding/json does: "[]"
// when empty.
func (jw *jsonWriter) array(n, depth int, elem func(i, depth int)) {
	if n == 0 {
		jw.raw("[]")
		return
	}
	jw.raw("[\n")
	for i := range n {
		jw.indent(depth + 1)
		elem(i, depth+1)
		if i < n-1 {
			jw.raw(",")
		}
		jw.raw("\n")
	}
	jw.indent(depth)
	jw.raw("]")
}

func (jw *jsonWriter) processes(ps []ProcessReport, depth int) {
	if ps == nil {
		jw.raw("null")
		return
	}
	jw.array(len(ps), depth, func(i, depth int) {
		p := &ps[i]
		fields := []jsonField{
			{name: "pid", v: p.PID},
			{name: "tgid", v: p.TGID},
			{name: "ppid", v: p.PPID},
			{name: "comm", v: p.Comm},
			{name: "files_id", v: p.FilesID},
			{name: "mnt_ns", v: p.MntNS},
			{name: "mnt_ns_inode", v: p.MntNSIno},
			{name: "objects", stream: func(depth int) { jw.objects(p.Objects, depth) }},
		}
		if p.ImagesFds != "" {
			fields = append(fields, jsonField{name: "fdinfo_image", v: p.ImagesFds})
		}
		jw.object(fields, depth)
	})
}

func (jw *jsonWriter) objects(os []ObjectReport, depth int) {
	if os == nil {
		jw.raw("null")
		return
	}
	jw.array(len(os), depth, func(i, depth int) { jw.value(&os[i], depth) })
}
