package fdinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ParseMaps reads /proc/<pid>/maps text from r and calls fn once per
// file-backed line, in order. It stops at the first error: a read error or a
// malformed line (both prefixed "maps line N: "; only the latter matches
// ErrSyntax), or an error returned by fn, which is passed back unchanged. Each Mapping's Path
// is a fresh slice that fn may keep; nothing else is retained, so a 100k-line
// maps file costs no more memory than one line.
//
// Line format (fs/proc/task_mmu.c show_vma_header_prefix + show_map_vma):
//
//	%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu [padding] path
//
// start, end, offset and the device numbers are hex; the inode is decimal.
// After the inode the kernel writes one space, pads with spaces to column
// 25+6*sizeof(void*)-1 (seq_pad), and writes one more space before the name,
// so the name starts after a run of spaces; anonymous lines end there.
//
// Which lines are reported: those whose name starts with '/', i.e. a path
// printed by seq_path for vma->vm_file (file_user_path() since 6.7). That
// includes names the kernel invents with a leading slash for internal files:
// "/memfd:NAME (deleted)", "/SYSV%08x (deleted)" (SysV shm, ino = shmid),
// "/dev/zero (deleted)" (MAP_SHARED|MAP_ANONYMOUS memory, a shmem file) and
// "/anon_hugepage (deleted)"; the resolver decides what they are. Skipped:
// anonymous lines and pseudo names "[heap]", "[stack]", "[vdso]", "[vvar]",
// "[anon:NAME]", "[anon_shmem:NAME]", "anon_inode:..." and the like.
//
// The name, as the kernel prints it (seq_path(m, path, "\n") → mangle_path):
// only '\n' is escaped, as the four bytes `\012`; spaces, tabs, backslashes
// and invalid UTF-8 are raw. ParseMaps turns `\012` back into '\n'. d_path
// appends " (deleted)" to an unlinked file; ParseMaps strips it and sets
// Deleted. Both steps are ambiguous, and the maps text cannot be disambiguated:
//   - a name that really contains the four bytes `\012` comes back with a
//     newline;
//   - an existing file whose name really ends in " (deleted)" comes back with
//     Deleted set and the suffix stripped.
//
// The authority for the name is the raw readlink of
// /proc/<pid>/map_files/<start>-<end> (Object.Link), which the scanner reads
// when it may; the maps path is a fallback.
//
// Threat model: the path bytes are chosen by whoever named the file (they may
// hold spaces, " (deleted)", `\012`, invalid UTF-8); the other columns are
// kernel-formatted but parsed strictly anyway. Nothing panics on any input.
func ParseMaps(r io.Reader, fn func(Mapping) error) error {
	br := bufio.NewReaderSize(r, 4096)
	var long []byte // only for lines longer than the bufio buffer
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("maps line %d: %w", n, err)
		}
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		m, ok, perr := parseMapsLine(line, n)
		if perr != nil {
			return perr
		}
		if ok {
			if ferr := fn(m); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// parseMapsLine decodes one maps line; ok is false for a line that names no
// file (the columns are still checked).
func parseMapsLine(line []byte, n int) (m Mapping, ok bool, err error) {
	rest := line
	field := func(name string, sep byte, base uint64, bits uint) (uint64, error) {
		i := bytes.IndexByte(rest, sep)
		if i < 0 {
			if sep != ' ' {
				return 0, fieldErr("maps", n, name, rest, errTruncated)
			}
			i = len(rest) // the last column of an anonymous line without trailing space
		}
		v, e := parseUint(rest[:i], base, bits)
		if e != nil {
			return 0, fieldErr("maps", n, name, rest[:i], e)
		}
		rest = rest[min(i+1, len(rest)):]
		return v, nil
	}
	if m.Start, err = field("start", '-', 16, 64); err != nil {
		return m, false, err
	}
	if m.End, err = field("end", ' ', 16, 64); err != nil {
		return m, false, err
	}
	if len(rest) < 5 || rest[4] != ' ' {
		tok, _ := nextToken(rest)
		return m, false, fieldErr("maps", n, "perms", tok, errTruncated)
	}
	m.Perms = internPerms(rest[:4])
	rest = rest[5:]
	if m.Offset, err = field("offset", ' ', 16, 64); err != nil {
		return m, false, err
	}
	var v uint64
	if v, err = field("major", ':', 16, 32); err != nil {
		return m, false, err
	}
	m.DevMajor = uint32(v)
	if v, err = field("minor", ' ', 16, 32); err != nil {
		return m, false, err
	}
	m.DevMinor = uint32(v)
	if m.Ino, err = field("ino", ' ', 10, 64); err != nil {
		return m, false, err
	}
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	if len(rest) == 0 || rest[0] != '/' {
		return m, false, nil
	}
	rest, m.Deleted = CutDeleted(rest)
	m.Path = unescapeMapsPath(rest)
	m.MapFilesMntID = -1
	return m, true, nil
}

// unescapeMapsPath copies p with each `\012` turned into '\n' (the only
// escape mangle_path applies for maps).
func unescapeMapsPath(p []byte) []byte {
	esc := []byte(`\012`)
	k := bytes.Count(p, esc)
	out := make([]byte, 0, len(p)-3*k)
	for k > 0 {
		i := bytes.Index(p, esc)
		out = append(out, p[:i]...)
		out = append(out, '\n')
		p = p[i+len(esc):]
		k--
	}
	return append(out, p...)
}

// internPerms returns the perms column as a string without allocating for
// the combinations a kernel prints ([r-][w-][x-][ps], 'S' only on nommu).
func internPerms(b []byte) string {
	switch string(b) {
	case "r--p":
		return "r--p"
	case "r-xp":
		return "r-xp"
	case "rw-p":
		return "rw-p"
	case "rwxp":
		return "rwxp"
	case "---p":
		return "---p"
	case "--xp":
		return "--xp"
	case "r--s":
		return "r--s"
	case "rw-s":
		return "rw-s"
	case "r-xs":
		return "r-xs"
	case "rwxs":
		return "rwxs"
	case "---s":
		return "---s"
	}
	return string(b)
}
