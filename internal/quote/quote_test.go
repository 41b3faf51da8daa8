package quote

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// Every input comes back from strconv.Unquote byte for byte, and the shown
// form is one line of printable runes starting and ending with '"'.
func TestQuoteIsOneLosslessToken(t *testing.T) {
	inputs := []string{
		"",
		"/plain/path",
		"/tmp/x\nfd 99  fd  \"/etc/shadow\"  1  \"/\"  \"ext4\"  ok  -",
		"tab\there",
		"cr\rlf\r\n",
		"esc \x1b[31mred\x1b[0m",
		"nul \x00 del \x7f",
		"c1 \u0085 ls \u2028 ps \u2029",
		"bidi \u202e\u2066",
		"bad utf8 \xff\xfe\xc3",
		"quote \" backslash \\",
		"ünïcödé 名前",
	}
	for _, in := range inputs {
		for _, got := range []string{String(in), Bytes([]byte(in))} {
			back, err := strconv.Unquote(got)
			if err != nil || back != in {
				t.Errorf("%q shown as %s, which unquotes to %q (%v)", in, got, back, err)
			}
			if len(got) < 2 || got[0] != '"' || got[len(got)-1] != '"' {
				t.Errorf("%q shown as %s: not in double quotes", in, got)
			}
			for _, r := range got {
				if r == unicode.ReplacementChar && !strings.ContainsRune(in, r) || !unicode.IsPrint(r) && r != ' ' {
					t.Errorf("%q shown as %s: holds %U", in, got, r)
				}
			}
			if n, err := strconv.QuotedPrefix(got); err != nil || n != got {
				t.Errorf("%q shown as %s: its first token is %q (%v), not all of it", in, got, n, err)
			}
		}
	}
}

func TestOrDashAndError(t *testing.T) {
	if OrDash("") != "-" || OrDash("-") != `"-"` {
		t.Errorf("OrDash: %s %s", OrDash(""), OrDash("-"))
	}
	if Error(nil) != `""` || Error(strconv.ErrSyntax) != `"invalid syntax"` {
		t.Errorf("Error: %s", Error(strconv.ErrSyntax))
	}
}

func TestJSONForms(t *testing.T) {
	b := []byte("a\n\xffb")
	if got := Readable(b); got != "a\n\uFFFDb" {
		t.Errorf("Readable = %q", got)
	}
	if got := Base64(b); got != "YQr/Yg==" {
		t.Errorf("Base64 = %q", got)
	}
}
