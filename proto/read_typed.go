package proto

import "io"

// Readers for the images ovlfix needs. Each checks the image's magics, so a file of the
// wrong kind is an error, not a silently misdecoded message. name is for error messages.

// ReadFiles reads files.img.
func ReadFiles(r io.Reader, name string, opts ...ReadOption) ([]*FileEntry, error) {
	return readAs[FileEntry](r, name, KindFiles, opts)
}

// ReadFdinfo reads fdinfo-N.img.
func ReadFdinfo(r io.Reader, name string, opts ...ReadOption) ([]*FdinfoEntry, error) {
	return readAs[FdinfoEntry](r, name, KindFdinfo, opts)
}

// ReadMountpoints reads mountpoints-N.img.
func ReadMountpoints(r io.Reader, name string, opts ...ReadOption) ([]*MntEntry, error) {
	return readAs[MntEntry](r, name, KindMnts, opts)
}

// ReadIrmapCache reads irmap-cache.
func ReadIrmapCache(r io.Reader, name string, opts ...ReadOption) ([]*IrmapCacheEntry, error) {
	return readAs[IrmapCacheEntry](r, name, KindIrmapCache, opts)
}

// ReadPstree reads pstree.img.
func ReadPstree(r io.Reader, name string, opts ...ReadOption) ([]*PstreeEntry, error) {
	return readAs[PstreeEntry](r, name, KindPstree, opts)
}

// ReadIds reads ids-N.img (one entry).
func ReadIds(r io.Reader, name string, opts ...ReadOption) ([]*TaskKobjIdsEntry, error) {
	return readAs[TaskKobjIdsEntry](r, name, KindIds, opts)
}

// ReadFs reads fs-N.img (one entry).
func ReadFs(r io.Reader, name string, opts ...ReadOption) ([]*FsEntry, error) {
	return readAs[FsEntry](r, name, KindFs, opts)
}

// ReadMm reads mm-N.img (one entry).
func ReadMm(r io.Reader, name string, opts ...ReadOption) ([]*MmEntry, error) {
	return readAs[MmEntry](r, name, KindMm, opts)
}

// ReadInventory reads inventory.img (one entry, no head magic).
func ReadInventory(r io.Reader, name string, opts ...ReadOption) ([]*InventoryEntry, error) {
	return readAs[InventoryEntry](r, name, KindInventory, opts)
}

func readAs[M any, PM interface {
	*M
	protoMessage
}](r io.Reader, name string, kind Kind, opts []ReadOption) ([]PM, error) {
	img, err := ReadImage(r, name, append(opts[:len(opts):len(opts)], WantKind(kind))...)
	if err != nil {
		return nil, err
	}
	return decodeAll[M, PM](img)
}
