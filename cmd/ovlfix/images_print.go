package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
)

// printImages decodes every image in dir with ovlfix's own reader and
// prints its entries, then has CRIU's own reader, crit, decode each one.
func printImages(out io.Writer, dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.img"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	crit, critErr := exec.LookPath("crit")
	for _, path := range names {
		name := filepath.Base(path)
		f, err := proto.OpenImageFile(path, proto.MaxImageFileSize)
		if err != nil {
			return err
		}
		lines, err := describeImage(f, name)
		f.Close()
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		fmt.Fprintf(out, "%s (%d entries)\n", name, len(lines))
		for _, l := range lines {
			fmt.Fprintf(out, "  %s\n", l)
		}
		if critErr != nil {
			fmt.Fprintf(out, "  crit decode: not run (crit not installed: apt-get install criu)\n")
			continue
		}
		var stderr bytes.Buffer
		cmd := exec.Command(crit, "decode", "-i", path, "-o", os.DevNull)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("crit decode -i %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
		}
		fmt.Fprintf(out, "  crit decode: ok\n")
	}
	return nil
}

// describeImage decodes the image types dump writes into one line per
// entry; names, sources and mountpoints are quoted (internal/quote).
func describeImage(r io.Reader, name string) ([]string, error) {
	var lines []string
	switch {
	case name == proto.FilesImg:
		es, err := proto.ReadFiles(r, name)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			reg := e.GetReg()
			if reg == nil {
				lines = append(lines, fmt.Sprintf("id %d type %s", e.GetId(), e.GetType()))
				continue
			}
			lines = append(lines, fmt.Sprintf("id %-3d REG  mnt_id %-4d flags %#o pos %d mode %#o name %s",
				e.GetId(), reg.GetMntId(), reg.GetFlags(), reg.GetPos(), reg.GetMode(), quote.String(reg.GetName())))
		}
	case strings.HasPrefix(name, "fdinfo-"):
		es, err := proto.ReadFdinfo(r, name)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			lines = append(lines, fmt.Sprintf("fd %-3d -> file id %d (%s, flags %#x)", e.GetFd(), e.GetId(), e.GetType(), e.GetFlags()))
		}
	case strings.HasPrefix(name, "mountpoints-"):
		es, err := proto.ReadMountpoints(r, name)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			lines = append(lines, fmt.Sprintf("mnt_id %-4d parent %-4d fstype %-2d %s on %s", e.GetMntId(), e.GetParentMntId(), e.GetFstype(), quote.String(e.GetSource()), quote.String(e.GetMountpoint())))
		}
	default:
		return nil, errors.New("not an image ovlfix writes")
	}
	return lines, nil
}
