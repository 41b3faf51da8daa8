package mountns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Helper modes that give the helper's mount namespace a hostile shape
// (table_shape_live_test.go). They run in the helper process, which is alone
// in its mount namespace (CLONE_NEWNS at exec, all threads).

// helperArgs splits "DIR:N:N..." into DIR and the numbers.
func helperArgs(arg string, n int) (string, []int, error) {
	parts := strings.Split(arg, ":")
	if len(parts) != n+1 {
		return "", nil, fmt.Errorf("helper argument %q: want DIR and %d numbers", arg, n)
	}
	nums := make([]int, n)
	for i, s := range parts[1:] {
		v, err := strconv.Atoi(s)
		if err != nil {
			return "", nil, fmt.Errorf("helper argument %q: %w", arg, err)
		}
		nums[i] = v
	}
	return parts[0], nums, nil
}

// helperHiddenChain mounts a chain of depth nested tmpfs mounts, chain0 on
// DIR/c, chain1 on DIR/c/n, ..., with a file f in the deepest, then a tmpfs
// "over" on DIR/c, which hides the whole chain.
func helperHiddenChain(arg string) (string, error) {
	dir, n, err := helperArgs(arg, 1)
	if err != nil {
		return "", err
	}
	p := dir + "/c"
	for i := range n[0] {
		if i > 0 {
			p += "/n"
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			return "", err
		}
		if err := unix.Mount("chain"+strconv.Itoa(i), p, "tmpfs", 0, "size=16k"); err != nil {
			return "", fmt.Errorf("mount chain%d on %s: %w", i, p, err)
		}
	}
	if err := os.WriteFile(p+"/f", nil, 0o644); err != nil {
		return "", err
	}
	if err := unix.Mount("over", dir+"/c", "tmpfs", 0, "size=16k"); err != nil {
		return "", fmt.Errorf("over-mount %s/c: %w", dir, err)
	}
	return "ready", nil
}

// moveMountBeneath is MOVE_MOUNT_BENEATH (include/uapi/linux/mount.h, 6.5+),
// which x/sys does not define yet.
const moveMountBeneath = 0x200

// detachedTmpfs makes a tmpfs mount that is attached nowhere yet (fsopen,
// fsmount: 5.2+) and returns its fd.
func detachedTmpfs(source string) (int, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "source", source); err != nil {
		return -1, fmt.Errorf("fsconfig source %s: %w", source, err)
	}
	if err := unix.FsconfigSetString(fs, "size", "4k"); err != nil {
		return -1, fmt.Errorf("fsconfig size: %w", err)
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("fsconfig create %s: %w", source, err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", source, err)
	}
	return fd, nil
}

// mountIn mounts a new tmpfs named source on directory name (created) of
// the mount whose root is the fd dir.
func mountIn(dir int, name, source string) error {
	if err := unix.Mkdirat(dir, name, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", name, err)
	}
	fd, err := detachedTmpfs(source)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", dir, name, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount %s on %s: %w", source, name, err)
	}
	return nil
}

// helperStack mounts a tmpfs "base" on DIR and stacks tmpfs mounts on
// DIR/s: p0 on the directory, p1..p(PLAIN-1) each on the root of the
// previous one, then BENEATH mounts b0, b1, ... each moved with
// MOVE_MOUNT_BENEATH under the top p(PLAIN-1) (so each lies on the previous
// b, and the top on the last). Each move names its target by fd, so it
// costs O(1), not a path walk through the stack. Three mounts hang off the
// stack: "hid" on p0's directory hid, "mid" on the middle b's directory
// mid (both hidden by the top), and "sub" on the top's directory sub. A
// kernel without MOVE_MOUNT_BENEATH (EINVAL, < 6.5) gets plain mounts
// instead, named p too. It reports how many of each it made.
func helperStack(arg string) (string, error) {
	dir, n, err := helperArgs(arg, 2)
	if err != nil {
		return "", err
	}
	plain, beneath := n[0], n[1]
	if plain < 2 {
		return "", fmt.Errorf("helper stack: want at least 2 plain mounts, not %d", plain)
	}
	if err := unix.Mount("base", dir, "tmpfs", 0, ""); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir+"/s", 0o755); err != nil {
		return "", err
	}
	top := -1 // the fd of the top of the stack
	defer func() {
		if top >= 0 {
			unix.Close(top)
		}
	}()
	stackPlain := func(i int) error {
		fd, err := detachedTmpfs("p" + strconv.Itoa(i))
		if err != nil {
			return err
		}
		if top < 0 {
			err = unix.MoveMount(fd, "", unix.AT_FDCWD, dir+"/s", unix.MOVE_MOUNT_F_EMPTY_PATH)
		} else {
			err = unix.MoveMount(fd, "", top, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
			unix.Close(top)
		}
		top = fd
		if err != nil {
			return fmt.Errorf("mount p%d: %w", i, err)
		}
		return nil
	}
	for i := range plain {
		if err := stackPlain(i); err != nil {
			return "", err
		}
		if i == 0 {
			if err := mountIn(top, "hid", "hid"); err != nil {
				return "", err
			}
		}
	}
	made := 0
	for j := range beneath {
		fd, err := detachedTmpfs("b" + strconv.Itoa(j))
		if err != nil {
			return "", err
		}
		err = unix.MoveMount(fd, "", top, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH|moveMountBeneath)
		if j == 0 && errors.Is(err, unix.EINVAL) {
			unix.Close(fd)
			break // no MOVE_MOUNT_BENEATH: plain mounts below
		}
		if err == nil && j == beneath/2 {
			err = mountIn(fd, "mid", "mid")
		}
		unix.Close(fd)
		if err != nil {
			return "", fmt.Errorf("mount b%d beneath the top: %w", j, err)
		}
		made++
	}
	// Whatever could not be tucked under is stacked on top: the top moves
	// up, and the beneath mounts (if any) stay under the old top.
	for i := plain; i < plain+beneath-made; i++ {
		if err := stackPlain(i); err != nil {
			return "", err
		}
	}
	if err := mountIn(top, "sub", "sub"); err != nil {
		return "", err
	}
	return fmt.Sprintf("plain=%d beneath=%d", plain+beneath-made, made), nil
}
