//go:build 386 || arm || mips || mipsle

package fdinfo

import "golang.org/x/sys/unix"

// sysFstatat is the fstatat(2) that fills a unix.Stat_t: on 32-bit
// architectures that is fstatat64 (struct stat64, 64-bit inode numbers
// and sizes), as golang.org/x/sys/unix's own Fstatat uses there.
const sysFstatat = unix.SYS_FSTATAT64
