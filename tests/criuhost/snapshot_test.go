package criuhost

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// fdState is what a process's fd shows through /proc.
type fdState struct {
	FD      int
	Link    string // readlink /proc/PID/fd/N
	Mount   string // mountpoint of fdinfo's mnt_id in the process's mountinfo
	Content string // the first bytes read back through the fd, regular files only
	Inotify []string
}

// snapshot is the part of a process that the runs compare.
type snapshot struct {
	FDs  []fdState
	Maps []string // paths of the file mappings, sorted, once each
	Cwd  string
}

const contentBytes = 64

func takeSnapshot(pid int) (snapshot, error) {
	var s snapshot
	proc := fmt.Sprintf("/proc/%d", pid)
	mounts, err := mountpoints(proc)
	if err != nil {
		return s, err
	}
	ents, err := os.ReadDir(proc + "/fd")
	if err != nil {
		return s, err
	}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st := fdState{FD: n}
		if st.Link, err = os.Readlink(fmt.Sprintf("%s/fd/%d", proc, n)); err != nil {
			return s, err
		}
		info, err := os.ReadFile(fmt.Sprintf("%s/fdinfo/%d", proc, n))
		if err != nil {
			return s, err
		}
		for _, l := range strings.Split(string(info), "\n") {
			if id, ok := strings.CutPrefix(l, "mnt_id:"); ok {
				st.Mount = mounts[strings.TrimSpace(id)]
			} else if w, ok := strings.CutPrefix(l, "inotify "); ok {
				st.Inotify = append(st.Inotify, w)
			}
		}
		if strings.HasPrefix(st.Link, "/") {
			if st.Content, err = readBack(fmt.Sprintf("%s/fd/%d", proc, n)); err != nil {
				return s, fmt.Errorf("pid %d fd %d (%s): %w", pid, n, st.Link, err)
			}
		}
		s.FDs = append(s.FDs, st)
	}
	sort.Slice(s.FDs, func(i, j int) bool { return s.FDs[i].FD < s.FDs[j].FD })
	if s.Maps, err = mappedFiles(proc); err != nil {
		return s, err
	}
	s.Cwd, err = os.Readlink(proc + "/cwd")
	return s, err
}

// readBack opens a file again through its /proc fd link (a magic link: no
// path lookup, a deleted file too) and reads its first bytes.
func readBack(link string) (string, error) {
	f, err := os.OpenFile(link, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, contentBytes))
	return string(b), err
}

// mountpoints maps mount ids to mountpoints in a process's mountinfo.
func mountpoints(proc string) (map[string]string, error) {
	raw, err := os.ReadFile(proc + "/mountinfo")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			m[f[0]] = f[4]
		}
	}
	return m, nil
}

// mappedFiles lists the paths of a process's file mappings.
func mappedFiles(proc string) ([]string, error) {
	raw, err := os.ReadFile(proc + "/maps")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// start-end perms offset dev inode path (the path may hold spaces)
		f := strings.SplitN(sc.Text(), " ", 6)
		if len(f) < 6 {
			continue
		}
		p := strings.TrimLeft(f[5], " ")
		if strings.HasPrefix(p, "/") && !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths, nil
}

func (f fdState) String() string {
	s := fmt.Sprintf("%d -> %s", f.FD, f.Link)
	if f.Content != "" {
		s += fmt.Sprintf(" %q", f.Content)
	}
	if f.Mount != "" {
		s += " on " + f.Mount
	}
	for _, w := range f.Inotify {
		s += " {inotify " + w + "}"
	}
	return s
}

func (s snapshot) String() string {
	fds := make([]string, len(s.FDs))
	for i, f := range s.FDs {
		fds[i] = f.String()
	}
	return fmt.Sprintf("fds [%s] maps %q cwd %s", strings.Join(fds, "; "), s.Maps, s.Cwd)
}

// diffRestores lists how the hook run's restored process differs from
// CRIU's own: fds (link, content, mount), mappings, cwd. The mounts of the
// fds in exempt are not compared (the scenario expects the hook to repair
// them, and checks them itself).
func diffRestores(plain, hooked snapshot, exempt map[int]string) []string {
	var d []string
	byFD := func(s snapshot) map[int]fdState {
		m := map[int]fdState{}
		for _, f := range s.FDs {
			m[f.FD] = f
		}
		return m
	}
	p, h := byFD(plain), byFD(hooked)
	for _, f := range plain.FDs {
		g, have := h[f.FD]
		switch {
		case !have:
			d = append(d, fmt.Sprintf("fd %d: CRIU alone restores %s, the hook's restore has no fd %d", f.FD, f, f.FD))
		case g.Link != f.Link:
			d = append(d, fmt.Sprintf("fd %d: CRIU alone restores %q, with the hook %q", f.FD, f.Link, g.Link))
		case g.Content != f.Content:
			d = append(d, fmt.Sprintf("fd %d (%s): CRIU alone reads back %q, with the hook %q", f.FD, f.Link, f.Content, g.Content))
		}
		if _, skip := exempt[f.FD]; have && !skip && g.Mount != f.Mount {
			d = append(d, fmt.Sprintf("fd %d (%s): CRIU alone restores it on mount %q, with the hook on %q", f.FD, f.Link, f.Mount, g.Mount))
		}
	}
	for _, g := range hooked.FDs {
		if _, ok := p[g.FD]; !ok {
			d = append(d, fmt.Sprintf("fd %d: the hook's restore has %s, CRIU alone has no fd %d", g.FD, g, g.FD))
		}
	}
	if fmt.Sprint(plain.Maps) != fmt.Sprint(hooked.Maps) {
		d = append(d, fmt.Sprintf("mappings: CRIU alone %q, with the hook %q", plain.Maps, hooked.Maps))
	}
	if plain.Cwd != hooked.Cwd {
		d = append(d, fmt.Sprintf("cwd: CRIU alone %q, with the hook %q", plain.Cwd, hooked.Cwd))
	}
	return d
}
