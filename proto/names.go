package proto

import "strconv"

// Image file names, as CRIU's criu/image-desc.c formats them. The N in fdinfo-N is a
// files_id (from ids-<pid>.img), in mountpoints-N a mount namespace id, in ids/fs/mm/core
// a virtual pid (from pstree.img).
const (
	FilesImg     = "files.img"
	PstreeImg    = "pstree.img"
	InventoryImg = "inventory.img"
	// IrmapCache has no ".img" suffix; CRIU reads it from its work dir at dump time.
	IrmapCache = "irmap-cache"
)

func numbered(prefix string, n uint32) string {
	return prefix + strconv.FormatUint(uint64(n), 10) + ".img"
}

// FdinfoImg is the name of the fd table image with files_id id.
func FdinfoImg(id uint32) string { return numbered("fdinfo-", id) }

// MountpointsImg is the name of the mount table image of mount namespace id.
func MountpointsImg(id uint32) string { return numbered("mountpoints-", id) }

// IdsImg is the name of the kernel object ids image of task vpid.
func IdsImg(vpid uint32) string { return numbered("ids-", vpid) }

// FsImg is the name of the cwd/root image of task vpid.
func FsImg(vpid uint32) string { return numbered("fs-", vpid) }

// MmImg is the name of the memory map image of task vpid.
func MmImg(vpid uint32) string { return numbered("mm-", vpid) }
