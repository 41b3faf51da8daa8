package hook

import (
	"bytes"
	"fmt"
	"io"
)

// LogPrefix starts every line the hook writes: CRIU copies the script's
// stderr into its log, where the prefix tells ovlfix's lines apart.
const LogPrefix = "ovlfix-hook: "

// Logger writes prefixed lines to an underlying writer. It is also an
// io.Writer for packages that log whole or partial lines (fixup): every
// line gets the prefix; a partial last line waits for Flush.
type Logger struct {
	w       io.Writer
	partial []byte
}

// NewLogger returns a Logger on w (nil: discard).
func NewLogger(w io.Writer) *Logger {
	if w == nil {
		w = io.Discard
	}
	return &Logger{w: w}
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
		if _, err := l.w.Write(line); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

// Flush writes a pending partial line, ended with a newline.
func (l *Logger) Flush() {
	if len(l.partial) > 0 {
		l.Write([]byte("\n"))
	}
}
