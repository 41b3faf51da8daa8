package proto

// Builders for the per-task images CRIU writes (pstree.img, ids-, fs-,
// mm-<vpid>.img). ovlfix never writes them into a real dump; they exist so
// that tests and tools can lay out a complete images directory.

// PstreeImage builds pstree.img from entries (root task first).
func PstreeImage(entries []*PstreeEntry) (*Image, error) {
	return encodeAll(PstreeImg, KindPstree, entries)
}

// IdsImage builds ids-<vpid>.img (one entry).
func IdsImage(vpid uint32, e *TaskKobjIdsEntry) (*Image, error) {
	return encodeAll(IdsImg(vpid), KindIds, []*TaskKobjIdsEntry{e})
}

// FsImage builds fs-<vpid>.img (one entry).
func FsImage(vpid uint32, e *FsEntry) (*Image, error) {
	return encodeAll(FsImg(vpid), KindFs, []*FsEntry{e})
}

// MmImage builds mm-<vpid>.img (one entry).
func MmImage(vpid uint32, e *MmEntry) (*Image, error) {
	return encodeAll(MmImg(vpid), KindMm, []*MmEntry{e})
}
