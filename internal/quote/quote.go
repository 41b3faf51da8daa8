// Package quote is ovlfix's one rule for showing untrusted text: every
// string that comes from a target, an image file or the kernel (paths,
// link bytes, mountpoints, filesystem types, mount sources and options,
// task names, and the messages and evidence that embed them) appears in
// text output (the dump report, the fixup diff, the hook's log lines,
// `ovlfix check`) only as quote.Bytes or quote.String gives it.
//
// The rule is Go's %q (strconv.Quote): always in double quotes; a '"' or
// '\' inside is escaped; a newline, tab, carriage return, escape or any
// other control or non-printable rune (C0, DEL, C1, U+2028, bidi controls)
// is a backslash escape; a byte that is not UTF-8 is \xNN. Printable UTF-8
// stays as it is, so names in any script remain readable. The result is one
// line without control characters and one token a reader can find the end
// of, so a hostile name can neither forge a row or log line nor pass for
// another field of its own row; strconv.Unquote gives the exact bytes back.
//
// Threat model: the input is fully attacker-controlled (a container chooses
// its file names, mountpoints, fuse subtypes and task names); the output is
// read by people and by scripts that split it into lines and fields.
package quote

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Bytes shows b, exactly, as one double-quoted Go string literal.
func Bytes(b []byte) string { return strconv.Quote(string(b)) }

// String shows s, exactly, as one double-quoted Go string literal.
func String(s string) string { return strconv.Quote(s) }

// Error shows err's message by the same rule ("" quoted for nil).
func Error(err error) string {
	if err == nil {
		return String("")
	}
	return String(err.Error())
}

// OrDash is String(s), or "-" for an empty s: a table cell that is absent
// rather than empty. "-" cannot be mistaken for a value, which is always
// quoted.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return String(s)
}

// The JSON reports (docs/report.md, docs/fixup.md) carry every byte string
// twice: Readable for people and Base64 for programs, the exact bytes.

// Readable is b as JSON text for reading: invalid UTF-8 replaced by U+FFFD
// (encoding/json escapes control characters itself). Lossy: programs use
// Base64.
func Readable(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// Base64 is b exactly, in standard base64.
func Base64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
