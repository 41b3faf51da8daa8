package hookroute

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// Marker ends the config line install adds. CRIU's config parser
// (criu/config.c, parse_statement) ends a statement at a word starting
// with '#', so the marker is a comment to CRIU; uninstall removes only
// lines that carry it. In a CRLF file the '\r' falls into the comment too.
const Marker = "# added by ovlfix hook install"

// ConfigLine is the line install adds for the hook at hookPath.
func ConfigLine(hookPath string) string { return "action-script " + hookPath + "  " + Marker }

// Edit is what an edit of a config file did, or would do with dry run.
type Edit struct {
	Path    string
	Changed bool
	// What says it for people: "added line 3: ...", "already has ...".
	What string
	// Foreign are the lines naming the hook that install did not add
	// ("line N \"...\""), which RemoveLine leaves.
	Foreign []string
}

// configWords returns the words of a config line up to a comment, as
// CRIU splits them (space, tab; '\r' is not a separator to CRIU, but a
// line whose last word ends in '\r' is not ours to judge, so it is cut).
func configWords(line string) []string {
	var words []string
	for _, w := range strings.FieldsFunc(strings.TrimRight(line, "\r\n"), func(r rune) bool { return r == ' ' || r == '\t' }) {
		if strings.HasPrefix(w, "#") {
			break
		}
		words = append(words, w)
	}
	return words
}

// isOurs reports whether line is the marked line of install.
func isOurs(line string) bool {
	return strings.HasSuffix(strings.TrimRight(line, "\r\n"), Marker) && len(configWords(line)) == 2 && configWords(line)[0] == "action-script"
}

// equivalent reports whether line names the hook at hookPath as action
// script: the same path, or a path that stats to the same file.
func equivalent(line, hookPath string) bool {
	w := configWords(line)
	if len(w) != 2 || (w[0] != "action-script" && w[0] != "--action-script") {
		return false
	}
	if w[1] == hookPath {
		return true
	}
	a, errA := os.Stat(w[1])
	b, errB := os.Stat(hookPath)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// splitLines splits content into lines with their endings.
func splitLines(content []byte) []string {
	var lines []string
	for len(content) > 0 {
		i := bytes.IndexByte(content, '\n')
		if i < 0 {
			lines = append(lines, string(content))
			break
		}
		lines = append(lines, string(content[:i+1]))
		content = content[i+1:]
	}
	return lines
}

// readConfig reads a config file that install may edit: a regular file,
// not a symlink (the link's target may belong to a package or a
// configuration manager; ovlfix edits only the file it was told about).
// A missing file gives exists == false.
func readConfig(path string) (content []byte, info fs.FileInfo, exists bool, err error) {
	info, err = os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return nil, nil, true, fmt.Errorf("%s is a symlink to %s: ovlfix edits only a regular file, not a link's target; add the line to the target yourself or give --config-dir of the real file", quote.String(path), quote.String(target))
	case !info.Mode().IsRegular():
		return nil, nil, true, fmt.Errorf("%s is not a regular file (%s)", quote.String(path), info.Mode().Type())
	}
	content, err = os.ReadFile(path)
	return content, info, true, err
}

// AddLine adds ConfigLine(hookPath) to the end of the config file at path
// (created, with its directory, if missing) unless the file already names
// the hook. Nothing else in the file changes, except that a last line
// without a newline gets one; a CRLF file gets a CRLF line. dryRun writes
// nothing and says what it would do.
func AddLine(path, hookPath string, dryRun bool) (Edit, error) {
	e := Edit{Path: path}
	content, info, exists, err := readConfig(path)
	if err != nil {
		return e, err
	}
	lines := splitLines(content)
	for i, l := range lines {
		if equivalent(l, hookPath) {
			e.What = fmt.Sprintf("%s line %d already names the hook: %s", quote.String(path), i+1, quote.String(strings.TrimRight(l, "\r\n")))
			if !isOurs(l) {
				e.What += " (not marked by ovlfix: uninstall leaves it)"
			}
			return e, nil
		}
	}
	eol := "\n"
	if len(lines) > 0 && strings.HasSuffix(lines[0], "\r\n") {
		eol = "\r\n"
	}
	var b bytes.Buffer
	b.Write(content)
	if len(content) > 0 && content[len(content)-1] != '\n' {
		b.WriteString(eol)
	}
	b.WriteString(ConfigLine(hookPath) + eol)
	e.Changed = true
	verb := "added"
	if dryRun {
		verb = "would add"
	}
	if !exists {
		e.What = fmt.Sprintf("%s %s (new file): %s", verb, quote.String(path), quote.String(ConfigLine(hookPath)))
	} else {
		e.What = fmt.Sprintf("%s line %d to %s: %s", verb, len(lines)+1, quote.String(path), quote.String(ConfigLine(hookPath)))
	}
	if dryRun {
		return e, nil
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return e, err
		}
	}
	return e, replaceFile(path, b.Bytes(), info)
}

// RemoveLine removes every line of install (marked with Marker) from the
// config file at path; other lines stay byte for byte. A missing file is
// no change. Unmarked lines naming the hook are reported, never removed.
func RemoveLine(path, hookPath string, dryRun bool) (Edit, error) {
	e := Edit{Path: path}
	content, info, exists, err := readConfig(path)
	if err != nil || !exists {
		if err == nil {
			e.What = fmt.Sprintf("%s does not exist: nothing to remove", quote.String(path))
		}
		return e, err
	}
	var kept bytes.Buffer
	var removed, foreign []string
	for i, l := range splitLines(content) {
		switch {
		case isOurs(l):
			removed = append(removed, fmt.Sprintf("line %d %s", i+1, quote.String(strings.TrimRight(l, "\r\n"))))
			continue
		case equivalent(l, hookPath):
			foreign = append(foreign, fmt.Sprintf("line %d %s", i+1, quote.String(strings.TrimRight(l, "\r\n"))))
		}
		kept.WriteString(l)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	switch {
	case len(removed) == 0:
		e.What = fmt.Sprintf("%s has no line of ovlfix hook install", quote.String(path))
	default:
		e.Changed = true
		e.What = fmt.Sprintf("%s from %s: %s", verb, quote.String(path), strings.Join(removed, ", "))
	}
	e.Foreign = foreign
	if len(foreign) > 0 {
		e.What += fmt.Sprintf("; left alone (not marked by ovlfix, remove by hand if it is ovlfix's): %s", strings.Join(foreign, ", "))
	}
	if !e.Changed || dryRun {
		return e, nil
	}
	return e, replaceFile(path, kept.Bytes(), info)
}

// replaceFile writes content to a temporary file beside path (mode and
// owner of info, 0644 root-owned for a new file), fsyncs it, renames it
// over path and fsyncs the directory: readers see the old file or the new
// one, never a partial one.
func replaceFile(path string, content []byte, info fs.FileInfo) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".ovlfix-tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := fs.FileMode(0o644)
	if info != nil {
		mode = info.Mode().Perm()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if err = tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
				return fmt.Errorf("keeping the owner of %s: %w", quote.String(path), err)
			}
		}
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(content); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
