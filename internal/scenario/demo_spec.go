package scenario

// oddName is a file name with a space, a newline and bytes that are not
// UTF-8: it must come out of ovlfix byte-exact (images) and losslessly
// (JSON).
const oddName = "odd name\nwith newline \xff\xfe.txt"

// OddName returns a fresh copy of the demo's hostile file name.
func OddName() []byte { return []byte(oddName) }

// Demo is the built-in example of `ovlfix demo` and the foundation tests:
// a file only in lower, files copied up, a file only in upper, a file with
// a hostile name, a directory fd, two mappings, two inotify watches and a
// cwd on the overlay.
func Demo(base string) Spec {
	return Spec{
		Base: base,
		Files: []File{
			{Name: []byte("etc/app.conf"), Layer: "lower", Content: "setting=1"},
			{Name: []byte("lib/libdemo.so"), Layer: "lower", Content: "not really ELF"},
			{Name: []byte("data/journal"), Layer: "lower", Content: "entry 1", CopyUp: true},
			{Name: []byte("data/index"), Layer: "lower", Content: "idx", CopyUp: true},
			{Name: []byte("upper-only.log"), Layer: "upper", Content: "log line"},
			{Name: []byte("watched-lower.txt"), Layer: "lower", Content: "w"},
			{Name: OddName(), Layer: "lower", Content: "odd"},
		},
		Ops: []Op{
			{Kind: "open", Path: []byte("etc/app.conf")},
			{Kind: "open-rw", Path: []byte("data/journal")},
			{Kind: "open-rw", Path: []byte("upper-only.log")},
			{Kind: "open", Path: OddName()},
			{Kind: "open-dir", Path: []byte("data")},
			{Kind: "mmap", Path: []byte("lib/libdemo.so")},
			{Kind: "mmap", Path: []byte("data/index")},
			{Kind: "watch", Path: []byte("watched-lower.txt")},
			{Kind: "watch", Path: []byte("upper-only.log")},
			{Kind: "chdir", Path: []byte("data")},
		},
	}
}
