package fdinfo

// fsnotify lines of fdinfo (fs/notify/fdinfo.c, since 3.8). All numbers are
// hex. One line per mark:
//
//	inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x f_handle:%s
//	fanotify flags:%x event-flags:%x                                   (the group, once)
//	fanotify ino:%lx sdev:%x mflags:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x f_handle:%s
//	fanotify mnt_id:%x mflags:%x mask:%x ignored_mask:%x                (mount mark)
//	fanotify sdev:%x mflags:%x mask:%x ignored_mask:%x                  (filesystem mark, 4.20+)
//
// The fhandle triple is missing when the kernel has no CONFIG_EXPORTFS or
// cannot encode the inode (show_mark_fhandle returns early); HandleType is
// then -1. sdev is the kernel's dev_t (MAJOR<<20|MINOR), not st_dev.
// 6.14+ adds "fanotify mnt_ns:%u ..." (later "mnt_ns_id:%llu" and
// "user_ns_id:%llu") marks; those name no file and are kept in Extra.

// parseInotifyLine decodes the part of an inotify line after "inotify ".
func parseInotifyLine(rest []byte, n int) (Mark, error) {
	m := Mark{Kind: MarkInotify, HandleType: -1}
	const need = haveWD | haveIno | haveSdev | haveMask
	have, err := m.parseFields(rest, n, "inotify")
	if err != nil {
		return m, err
	}
	if have&need != need {
		return m, lineErr("fdinfo", n, "inotify line needs wd, ino, sdev and mask: %w", errMissing)
	}
	return m, nil
}

// parseFanotifyLine decodes one "fanotify ..." line: the group flags or one
// mark. Mark kinds this package does not model go to Extra.
func (info *Info) parseFanotifyLine(line []byte, n int) error {
	rest := line[len("fanotify "):]
	first, _ := nextToken(rest)
	key := first
	for i, c := range first {
		if c == ':' {
			key = first[:i]
			break
		}
	}
	m := Mark{HandleType: -1}
	var need fieldSet
	switch string(key) {
	case "flags":
		if info.Fanotify != nil {
			break // a second group line is not the kernel's: keep it
		}
		f, err := parseFanotifyFlags(rest, n)
		if err != nil {
			return err
		}
		info.Fanotify = f
		return nil
	case "ino":
		m.Kind, need = MarkFanotifyInode, haveIno|haveSdev|haveMask
	case "mnt_id":
		m.Kind, need = MarkFanotifyMount, haveMntID|haveMask
	case "sdev":
		m.Kind, need = MarkFanotifySuper, haveSdev|haveMask
	}
	if need == 0 {
		info.Extra = append(info.Extra, string(line))
		return nil
	}
	have, err := m.parseFields(rest, n, "fanotify")
	if err != nil {
		return err
	}
	if have&need != need {
		return lineErr("fdinfo", n, "fanotify %s mark lacks a field: %w", key, errMissing)
	}
	info.Marks = append(info.Marks, m)
	return nil
}

// parseFanotifyFlags decodes "flags:%x event-flags:%x".
func parseFanotifyFlags(rest []byte, n int) (*FanotifyFlags, error) {
	f := &FanotifyFlags{}
	var have uint8
	s := kvScanner{rest: rest}
	for {
		key, val, ok := s.next()
		if !ok {
			break
		}
		var dst *uint32
		switch string(key) {
		case "flags":
			dst, have = &f.Flags, have|1
		case "event-flags":
			dst, have = &f.EventFlags, have|2
		default:
			continue
		}
		v, err := parseUint(val, 16, 32)
		if err != nil {
			return nil, fieldErr("fdinfo", n, "fanotify "+string(key), val, err)
		}
		*dst = uint32(v)
	}
	if have != 3 {
		return nil, lineErr("fdinfo", n, "fanotify flags line needs flags and event-flags: %w", errMissing)
	}
	return f, nil
}

// fieldSet records which mark fields a line had.
type fieldSet uint16

const (
	haveWD fieldSet = 1 << iota
	haveIno
	haveSdev
	haveMntID
	haveMask
	haveHandleBytes
	haveHandleType
	haveHandle
)

// parseFields decodes the key:value tokens shared by inotify and fanotify
// mark lines into m. Unknown keys are skipped (a future kernel may add some).
func (m *Mark) parseFields(rest []byte, n int, what string) (fieldSet, error) {
	var have fieldSet
	s := kvScanner{rest: rest}
	for {
		key, val, ok := s.next()
		if !ok {
			break
		}
		var err error
		var v uint64
		switch string(key) {
		case "wd":
			v, err = parseUint(val, 16, 32)
			m.WD, have = int32(v), have|haveWD
		case "ino":
			m.Ino, err = parseUint(val, 16, 64)
			have |= haveIno
		case "sdev":
			v, err = parseUint(val, 16, 32)
			m.Sdev, have = uint32(v), have|haveSdev
		case "mnt_id":
			v, err = parseUint(val, 16, 31)
			m.MntID, have = int(v), have|haveMntID
		case "mask":
			v, err = parseUint(val, 16, 32)
			m.Mask, have = uint32(v), have|haveMask
		case "ignored_mask":
			v, err = parseUint(val, 16, 32)
			m.IgnoredMask = uint32(v)
		case "mflags":
			v, err = parseUint(val, 16, 32)
			m.MFlags = uint32(v)
		case "fhandle-bytes":
			v, err = parseUint(val, 16, 32)
			m.HandleBytes, have = uint32(v), have|haveHandleBytes
		case "fhandle-type":
			v, err = parseUint(val, 16, 31)
			m.HandleType, have = int32(v), have|haveHandleType
		case "f_handle":
			m.Handle, err = parseHexBytes(val)
			have |= haveHandle
		}
		if err != nil {
			return have, fieldErr("fdinfo", n, what+" "+string(key), val, err)
		}
	}
	const handle = haveHandleBytes | haveHandleType | haveHandle
	switch have & handle {
	case 0:
		m.HandleType = -1
	case handle:
		if uint64(len(m.Handle)) != uint64(m.HandleBytes) {
			return have, lineErr("fdinfo", n, "%s fhandle-bytes:%x but %d handle bytes: %w",
				what, m.HandleBytes, len(m.Handle), errHandleSize)
		}
	default:
		return have, lineErr("fdinfo", n, "%s line has part of a file handle: %w", what, errMissing)
	}
	return have, nil
}
