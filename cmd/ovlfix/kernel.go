package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// requireOverlay fails with exit code 7 when the running kernel has no
// overlay filesystem: then no process can hold an overlay file and ovlfix
// has nothing to correct. A module that is not loaded yet does not show in
// /proc/filesystems either; loading it is the administrator's call.
func requireOverlay() error {
	ok, err := kernelHasOverlay("/proc/filesystems")
	if err != nil {
		return err
	}
	if !ok {
		return withCode(exitNoOverlay, errors.New("this kernel has no overlay filesystem (not in /proc/filesystems); nothing for ovlfix to correct. If overlay is a module, load it with: modprobe overlay"))
	}
	return nil
}

func kernelHasOverlay(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[len(fields)-1] == "overlay" {
			return true, nil
		}
	}
	return false, sc.Err()
}
