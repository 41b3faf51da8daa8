package fdinfo

import "golang.org/x/sys/unix"

// KernelDev encodes a userspace st_dev as the kernel's internal dev_t,
// MAJOR<<20|MINOR (include/linux/kdev_t.h: MINORBITS 20, MKDEV), which is
// not the userspace encoding of st_dev (new_encode_dev, unix.Mkdev). The
// kernel prints it where it prints s_dev raw: fsnotify fdinfo's "sdev:"
// (fs/notify/fdinfo.c, Mark.Sdev). CRIU keeps the same encoding (MKKDEV,
// criu/include/util.h) in its images: the dev of an irmap-cache entry
// (fh.proto irmap_cache_entry, criu/irmap.c, which revalidates an entry by
// MKKDEV(st_dev)) and a mount's root_dev (mnt.proto, from mountinfo in
// criu/proc_parse.c).
func KernelDev(stDev uint64) uint32 { return MakeKernelDev(unix.Major(stDev), unix.Minor(stDev)) }

// MakeKernelDev returns the kernel dev_t (KernelDev) of major:minor, as
// mountinfo's field 3 gives them. A minor of 2^20 or more is no kernel
// device number and overflows into the major.
func MakeKernelDev(major, minor uint32) uint32 { return major<<20 | minor }

// SplitKernelDev returns the major and minor of a kernel dev_t (KernelDev).
func SplitKernelDev(kdev uint32) (major, minor uint32) { return kdev >> 20, kdev & (1<<20 - 1) }
