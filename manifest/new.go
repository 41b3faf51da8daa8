package manifest

import (
	"encoding/base64"
	"fmt"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// Writers of a manifest (Manifest.Writer).
const (
	WriterDump     = "dump"
	WriterPostDump = "hook post-dump"
)

// New is an empty manifest of this Version, stamped with the tool's
// version, the writer and this host's kernel release.
func New(writer string) *Manifest {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	return &Manifest{Version: Version, Tool: tool(), Writer: writer, Kernel: unix.ByteSliceToString(uts.Release[:]), Files: []File{}}
}

// tool is "ovlfix" and the main module's version from the build info.
func tool() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "ovlfix " + bi.Main.Version
	}
	return "ovlfix"
}

// SetName sets Name and NameB64 from the raw bytes of a name.
func (f *File) SetName(name []byte) {
	f.Name, f.NameB64 = string(name), base64.StdEncoding.EncodeToString(name)
}

// DevString is st_dev as File.Dev has it: "major:minor".
func DevString(dev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
}

// MapRange is Holder.Map of a VMA: "start-end" in hex.
func MapRange(start, end uint64) string { return fmt.Sprintf("%x-%x", start, end) }
