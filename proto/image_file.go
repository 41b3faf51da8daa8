package proto

import (
	"os"
	"path/filepath"
)

// ReadImageFile reads the image at path; errors name the file by its base name.
func ReadImageFile(path string, opts ...ReadOption) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadImage(f, filepath.Base(path), opts...)
}
