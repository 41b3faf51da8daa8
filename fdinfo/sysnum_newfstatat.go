//go:build !(386 || arm || mips || mipsle)

package fdinfo

import "golang.org/x/sys/unix"

// sysFstatat is the fstatat(2) that fills a unix.Stat_t: newfstatat on
// 64-bit architectures (arm64, riscv64 and loong64 call it fstatat in
// their headers; the number is the same).
const sysFstatat = unix.SYS_NEWFSTATAT
