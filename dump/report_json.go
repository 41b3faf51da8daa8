package dump

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteJSON writes the report as indented JSON: byte for byte what
// json.Encoder with SetIndent("", "  ") makes of the Report, but streamed
// one object at a time. Encoding the whole Report at once built it twice
// in memory (compact, then indented, each grown by doubling), which for a
// 10,000-fd process was 60 MB and a quarter of the command's CPU
// (docs/benchmarks.md). The few values outside the objects go through
// encoding/json and json.Indent at their depth; each ObjectReport is
// appended by hand (appendObjectReport), with the same escaping.
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
	buf      []byte       // one object, appended by hand
	err      error
}

func (jw *jsonWriter) raw(s string) {
	if jw.err == nil {
		_, jw.err = jw.w.WriteString(s)
	}
}

func (jw *jsonWriter) indent(depth int) { jw.raw(jsonIndent(depth)) }

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
	if jw.err = json.Indent(&jw.indented, bytes.TrimSuffix(jw.compact.Bytes(), []byte("\n")), jsonIndent(depth), "  "); jw.err != nil {
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
		jw.object(fields, depth)
	})
}

func (jw *jsonWriter) objects(os []ObjectReport, depth int) {
	if os == nil {
		jw.raw("null")
		return
	}
	jw.array(len(os), depth, func(i, depth int) {
		if jw.err == nil {
			jw.buf = appendObjectReport(jw.buf[:0], &os[i], depth)
			_, jw.err = jw.w.Write(jw.buf)
		}
	})
}

// appendObjectReport appends o as encoding/json writes it at depth with
// two-space indentation (its first line indented by the caller). It is
// written out because marshalling and indenting each of 10,000 objects
// through reflection was 65 ms, more than the rest of the report; the
// tests compare it with encoding/json on every member.
func appendObjectReport(b []byte, o *ObjectReport, depth int) []byte {
	in := jsonIndent(depth + 1)
	first := true
	key := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '\n')
		b = append(b, in...)
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `": `...)
	}
	str := func(name, v string) {
		key(name)
		b = appendJSONString(b, v)
	}
	num := func(name string, v int64) {
		key(name)
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, '{')
	str("kind", o.Kind)
	num("fd", int64(o.FD))
	if o.WD != nil {
		num("wd", int64(*o.WD))
	}
	if o.Range != "" {
		str("range", o.Range)
	}
	str("link", o.Link)
	str("link_b64", o.LinkB64)
	num("kernel_mnt_id", int64(o.KernelMntID))
	str("verdict", o.Verdict)
	str("path", o.Path)
	str("path_b64", o.PathB64)
	num("mnt_id", int64(o.MntID))
	if o.Mountpoint != "" {
		str("mountpoint", o.Mountpoint)
	}
	if o.FSType != "" {
		str("fstype", o.FSType)
	}
	if o.Dev != "" {
		str("dev", o.Dev)
	}
	if o.Ino != 0 {
		key("ino")
		b = strconv.AppendUint(b, o.Ino, 10)
	}
	if o.Deleted {
		key("deleted")
		b = append(b, "true"...)
	}
	if o.Reason != "" {
		str("reason", o.Reason)
	}
	if len(o.Evidence) > 0 {
		key("evidence")
		b = append(b, '[')
		for i, e := range o.Evidence {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '\n')
			b = append(b, in...)
			b = append(b, "  "...)
			b = appendJSONString(b, e)
		}
		b = append(b, '\n')
		b = append(b, in...)
		b = append(b, ']')
	}
	if o.Error != "" {
		str("error", o.Error)
	}
	if o.FileID != 0 {
		key("file_id")
		b = strconv.AppendUint(b, uint64(o.FileID), 10)
	}
	b = append(b, '\n')
	b = append(b, in[:len(in)-2]...)
	return append(b, '}')
}

// jsonIndent is depth levels of two-space indentation.
func jsonIndent(depth int) string { return strings.Repeat("  ", depth) }

// appendJSONString appends s quoted exactly as encoding/json quotes a
// string with HTML escaping on (its default, and json.Encoder's): \", \\,
// \b \f \n \r \t, other control bytes and < > & as \u00XX, invalid UTF-8
// bytes as \ufffd, U+2028 and U+2029 as \u2028 and \u2029.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
