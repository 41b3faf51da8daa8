package proto

// Builders for the images ovlfix writes. A message with an unset required field is an
// error naming the entry.

// FilesImage builds files.img from entries.
func FilesImage(entries []*FileEntry) (*Image, error) {
	return encodeAll(FilesImg, KindFiles, entries)
}

// FdinfoImage builds fdinfo-<filesID>.img from entries.
func FdinfoImage(filesID uint32, entries []*FdinfoEntry) (*Image, error) {
	return encodeAll(FdinfoImg(filesID), KindFdinfo, entries)
}

// MountpointsImage builds mountpoints-<nsID>.img from entries.
func MountpointsImage(nsID uint32, entries []*MntEntry) (*Image, error) {
	return encodeAll(MountpointsImg(nsID), KindMnts, entries)
}

// IrmapCacheImage builds irmap-cache from entries.
func IrmapCacheImage(entries []*IrmapCacheEntry) (*Image, error) {
	return encodeAll(IrmapCache, KindIrmapCache, entries)
}
