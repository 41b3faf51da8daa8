package hook

import (
	"bytes"
	"fmt"
	"io"
)

// LogPrefix starts every line the hook writes: CRIU copies the script's
// stderr into its log, where the prefix tells ovlfix's lines apart.
const LogPrefix = "ovlfix-hook: "

// ImageDirLabel stands for CRTOOLS_IMAGE_DIR in log lines. That variable
// is a /proc/<criu-pid>/fd/N link, a way to open the directory, not its
// name; post-dump logs the link's target once, quoted and labelled.
const ImageDirLabel = "<images dir>"

// Logger writes prefixed lines to an underlying writer. It is also an
// io.Writer for packages that log whole or partial lines (fixup): every
// line gets the prefix; a partial last line waits for Flush.
//
// Callers quote every untrusted string they log (internal/quote), so a
// line is always one line of the hook's own; the Logger adds the prefix
// and writes the images-dir link as ImageDirLabel (hideDir).
type Logger struct {
	w       io.Writer
	partial []byte
	hide    []byte // the images-dir link, or nil
	label   []byte
}

// NewLogger returns a Logger on w (nil: discard).
func NewLogger(w io.Writer) *Logger {
	if w == nil {
		w = io.Discard
	}
	return &Logger{w: w}
}

// hideDir makes every later line show label for dir ("" disables). dir
// is replaced only as a whole path component run: "/proc/1/fd/3" in
// "/proc/1/fd/3/files.img" but not in "/proc/1/fd/31".
func (l *Logger) hideDir(dir, label string) {
	l.hide, l.label = nil, nil
	if dir != "" {
		l.hide, l.label = []byte(dir), []byte(label)
	}
}

// Printf writes one prefixed line (a trailing newline is added).
func (l *Logger) Printf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}

// Write prefixes each complete line of p and writes it.
func (l *Logger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			break
		}
		line := append(append([]byte(LogPrefix), l.partial...), p[:i+1]...)
		l.partial = l.partial[:0]
		if _, err := l.w.Write(l.hidden(line)); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

// hidden returns line with the hidden dir replaced by its label.
func (l *Logger) hidden(line []byte) []byte {
	if l.hide == nil {
		return line
	}
	var out []byte
	rest := line
	for {
		i := bytes.Index(rest, l.hide)
		if i < 0 {
			break
		}
		end := i + len(l.hide)
		if end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			out = append(out, rest[:end]...) // another fd's link
		} else {
			out = append(append(out, rest[:i]...), l.label...)
		}
		rest = rest[end:]
	}
	if out == nil {
		return line
	}
	return append(out, rest...)
}

// Flush writes a pending partial line, ended with a newline.
func (l *Logger) Flush() {
	if len(l.partial) > 0 {
		l.Write([]byte("\n"))
	}
}
