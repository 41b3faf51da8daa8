package manifest

import (
	"crypto/sha256"
	"encoding/hex"
)

// Digest is the value of Manifest.FilesImgSHA256 for the bytes of a
// files.img: SHA-256, lower-case hex.
func Digest(filesImg []byte) string {
	sum := sha256.Sum256(filesImg)
	return hex.EncodeToString(sum[:])
}
