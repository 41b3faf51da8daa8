package proto

// VMA status bits of CRIU's criu/include/image.h (vma_entry.status).
const (
	VMAFilePrivate = 1 << 6
	VMAFileShared  = 1 << 7
	VMASysVIPC     = 1 << 10
	VMASocket      = 1 << 11
	VMAMemfd       = 1 << 14
)

// MapsFile reports whether a VMA maps a file, so that its shmid is that
// file's files.img id: FILE_PRIVATE or FILE_SHARED, and not SysV IPC, a
// socket or a memfd (which use shmid otherwise).
func MapsFile(v *VmaEntry) bool {
	st := v.GetStatus()
	return st&(VMAFilePrivate|VMAFileShared) != 0 && st&(VMASysVIPC|VMASocket|VMAMemfd) == 0
}
