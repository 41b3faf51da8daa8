package proto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"os/exec"
	"strconv"
	"testing"
	"unicode/utf8"
)

// requireCrit returns the path of CRIU's crit tool (Debian package criu):
// a missing crit skips the test, and fails it in CI.
func requireCrit(t *testing.T) string {
	t.Helper()
	return testenv.RequireTool(t, "crit", "criu")
}

// critDecode runs `crit decode -i path` (not --pretty: numbers stay numbers) and returns
// the "entries" array. crit logs a libprotobuf ERROR on stderr for a string field with
// invalid UTF-8 but still exits 0; stderr is returned for such checks.
func critDecode(t *testing.T, crit, path string) (magic string, entries []map[string]any, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(crit, "decode", "-i", path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("crit decode -i %s: %v\n%s", path, err, errb.String())
	}
	var doc struct {
		Magic   string           `json:"magic"`
		Entries []map[string]any `json:"entries"`
	}
	dec := json.NewDecoder(&out)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("crit decode -i %s: bad JSON: %v", path, err)
	}
	return doc.Magic, doc.Entries, errb.String()
}

// critEncode runs `crit decode -i path | crit encode` and returns the bytes.
func critReencode(t *testing.T, crit, path string) []byte {
	t.Helper()
	dec := exec.Command(crit, "decode", "-i", path)
	enc := exec.Command(crit, "encode")
	pipe, err := dec.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	enc.Stdin, enc.Stdout, enc.Stderr, dec.Stderr = pipe, &out, &errb, &errb
	if err := dec.Start(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Run(); err != nil {
		t.Fatalf("crit encode: %v\n%s", err, errb.String())
	}
	if err := dec.Wait(); err != nil {
		t.Fatalf("crit decode: %v\n%s", err, errb.String())
	}
	return out.Bytes()
}

// critString is how crit shows a proto2 string field: as is when it is valid UTF-8;
// otherwise python-protobuf (C++ implementation) hands pycriu a bytes object, which
// pb2dict turns into its Python repr with str(): "b'/tmp/raw\\xff\\xfename'".
func critString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return pyBytesRepr([]byte(s))
}

// pyBytesRepr is Python 3's repr() of a bytes object.
func pyBytesRepr(b []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	out := []byte{'b', quote}
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, `\t`...)
		case c == '\n':
			out = append(out, `\n`...)
		case c == '\r':
			out = append(out, `\r`...)
		case c < ' ' || c >= 0x7f:
			out = append(out, fmt.Sprintf(`\x%02x`, c)...)
		default:
			out = append(out, c)
		}
	}
	return string(append(out, quote))
}

// field returns the value at a path of keys in a crit JSON object, formatted as a string
// ("" if absent): numbers as decimal, strings as is.
func field(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = obj[k]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case json.Number:
		return x.String()
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }
func i(v int64) string  { return strconv.FormatInt(v, 10) }
