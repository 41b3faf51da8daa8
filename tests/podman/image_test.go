package podman

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// imageFiles are the files of the image's /data the holder opens
// (testdata/holder.c), with their content.
var imageFiles = map[string]string{
	"data/lower.txt":   "lower data\n",
	"data/copied.txt":  "copied data\n",
	"data/watched.txt": "watched data\n",
	"data/mapped.txt":  "mapped data\n",
}

// image imports a one-layer image: static busybox (bin/busybox, bin/sh),
// the holder (/holder) and imageFiles. It returns the image's name.
func (w *world) image() string {
	w.t.Helper()
	tarPath := filepath.Join(w.dir, "rootfs.tar")
	if err := writeRootfs(tarPath, map[string]string{"bin/busybox": "/bin/busybox", "holder": built.holder}); err != nil {
		w.t.Fatal(err)
	}
	name := "localhost/" + w.name("holder") + ":test"
	w.must("import", tarPath, name)
	return name
}

// writeRootfs writes a rootfs tarball: the directories a container needs,
// the host files of copies (rootfs path: host path), bin/sh -> busybox
// when busybox is there, and imageFiles.
func writeRootfs(path string, copies map[string]string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	now := time.Now()
	for _, d := range []string{"bin/", "data/", "dev/", "etc/", "proc/", "sys/", "tmp/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
	}
	if _, ok := copies["bin/busybox"]; ok {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "busybox",
			Mode: 0o777, ModTime: now}); err != nil {
			return err
		}
	}
	add := func(name string, data []byte, mode int64) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)),
			Mode: mode, ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, name := range sortedKeys(copies) {
		data, err := os.ReadFile(copies[name])
		if err != nil {
			return err
		}
		if err := add(name, data, 0o755); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(imageFiles) {
		if err := add(name, []byte(imageFiles[name]), 0o644); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layerDir is the image's (only) layer directory on disk.
func (w *world) layerDir(image string) string {
	w.t.Helper()
	dir := strings.TrimSpace(w.must("image", "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", image))
	if !strings.HasPrefix(dir, w.dir+"/") {
		w.t.Fatalf("image %s: layer dir %q is not in the test's storage %s", image, dir, w.dir)
	}
	return dir
}
