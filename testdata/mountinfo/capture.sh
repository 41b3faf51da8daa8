#!/bin/sh
# capture.sh OUTDIR — capture real /proc/<pid>/mountinfo text with container-shaped
# overlay mounts, for the mountns package tests.
#
# Everything is mounted inside a private mount namespace (unshare -m --propagation private)
# on fresh tmpfs instances laid over /var/lib, /run and /home, so nothing is visible on
# the host and everything vanishes when the namespace ends. Must run as root.
#
# Writes OUTDIR/<scenario>.mountinfo (verbatim mountinfo, nothing added) and
# OUTDIR/uname.txt. The README next to this script says what each scenario contains.
# Run on the host:           sh capture.sh testdata/mountinfo/linux-6.18
# Run in the kernel lab:     run-kernel.sh -s DIR capture.sh 6.1 -- DIR/linux-6.1
set -eu

OUT=$(realpath "${1:?usage: capture.sh OUTDIR}")
mkdir -p "$OUT"
uname -r >"$OUT/uname.txt"
SELF=$(realpath "$0")

if [ "${CAPTURE_INNER:-}" = "" ]; then
	CAPTURE_INNER=1 exec unshare -m --propagation private sh "$SELF" "$OUT"
fi

# ---- inside the private mount namespace ----------------------------------------------
mount -t tmpfs varlib /var/lib
mount -t tmpfs run /run
mount -t tmpfs home /home

snap() { cat /proc/self/mountinfo >"$OUT/$1.mountinfo"; }
# id NAME: a stable 64-hex layer id; short NAME: a stable 26-char docker/podman link name.
id() { printf '%s' "$1" | sha256sum | cut -c1-64; }
short() { printf '%s' "$1" | sha256sum | tr 'a-f0-9' 'A-Z0-9A-Z' | cut -c1-26; }

# ---- docker: overlay2, two containers sharing lower layers ---------------------------
D=/var/lib/docker/overlay2
mkdir -p $D/l
for layer in base app; do
	mkdir -p $D/$(id $layer)/diff
	ln -s ../$(id $layer)/diff $D/l/$(short $layer)
	echo "l/$(short $layer)" >$D/$(id $layer)/link
done
mkdir -p $D/$(id base)/diff/app $D/$(id base)/diff/mnt/app
echo hello >$D/$(id base)/diff/app/hello
for c in c1 c2; do
	mkdir -p $D/$(id $c)/diff $D/$(id $c)/work $D/$(id $c)/merged
done
# c1: absolute short links, as dockerd normally mounts.
mount -t overlay overlay \
	-o "lowerdir=$D/l/$(short app):$D/l/$(short base),upperdir=$D/$(id c1)/diff,workdir=$D/$(id c1)/work" \
	$D/$(id c1)/merged
# c2: relative paths, as dockerd mounts when the absolute options exceed a page
# (it chdirs to $D and forks mountFrom); the kernel keeps the user's string.
(cd $D && mount -t overlay overlay \
	-o "lowerdir=l/$(short app):l/$(short base),upperdir=$(id c2)/diff,workdir=$(id c2)/work" \
	$D/$(id c2)/merged)
# a subtree of c1 bind-mounted into c2 (mountinfo root = /app, not /).
mount --bind $D/$(id c1)/merged/app $D/$(id c2)/merged/mnt/app
snap docker

# ---- docker, seen from inside a container (chrooted process) -------------------------
mkdir -p $D/$(id c1)/merged/usr $D/$(id c1)/merged/proc
ln -s usr/bin $D/$(id c1)/merged/bin
ln -s usr/lib $D/$(id c1)/merged/lib
ln -s usr/lib64 $D/$(id c1)/merged/lib64
mount --bind -o ro /usr $D/$(id c1)/merged/usr
mount -t proc proc $D/$(id c1)/merged/proc
chroot $D/$(id c1)/merged /bin/sleep 30 &
pid=$!
sleep 0.3
cat /proc/$pid/mountinfo >"$OUT/docker-container-view.mountinfo"
kill $pid
wait $pid 2>/dev/null || true
umount $D/$(id c1)/merged/proc $D/$(id c1)/merged/usr

# ---- containerd: snapshots + k8s task rootfs -----------------------------------------
S=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
T=/run/containerd/io.containerd.runtime.v2.task/k8s.io
for n in 1 2 3; do mkdir -p $S/$n/fs $S/$n/work; done
mkdir -p $T/$(id pod)/rootfs
mount -t overlay overlay -o "index=off,lowerdir=$S/2/fs:$S/1/fs,upperdir=$S/3/fs,workdir=$S/3/work" \
	$T/$(id pod)/rootfs
snap containerd

# ---- podman: metacopy=on, l/ short links ---------------------------------------------
P=/var/lib/containers/storage/overlay
mkdir -p $P/l
mkdir -p $P/$(id fedora)/diff
ln -s ../$(id fedora)/diff $P/l/$(short fedora)
mkdir -p $P/$(id pc)/diff $P/$(id pc)/work $P/$(id pc)/merged
mount -t overlay overlay \
	-o "lowerdir=$P/l/$(short fedora),upperdir=$P/$(id pc)/diff,workdir=$P/$(id pc)/work,metacopy=on" \
	$P/$(id pc)/merged
# the same container root over-mounted by a tmpfs (the overlay is hidden).
mkdir -p $P/$(id pc2)/diff $P/$(id pc2)/work $P/$(id pc2)/merged
mount -t overlay overlay \
	-o "lowerdir=$P/l/$(short fedora),upperdir=$P/$(id pc2)/diff,workdir=$P/$(id pc2)/work,metacopy=on" \
	$P/$(id pc2)/merged
mount -t tmpfs over $P/$(id pc2)/merged
snap podman

# ---- rootless podman: userxattr inside a user namespace ------------------------------
R=/home/user/.local/share/containers/storage/overlay
mkdir -p /home/user
unshare -Ur -m sh -c "
	set -e
	mount -t tmpfs rootless /home/user
	mkdir -p $R/$(id rl)/diff $R/$(id rlc)/diff $R/$(id rlc)/work $R/$(id rlc)/merged
	mount -t overlay overlay -o 'lowerdir=$R/$(id rl)/diff,upperdir=$R/$(id rlc)/diff,workdir=$R/$(id rlc)/work,userxattr' $R/$(id rlc)/merged
	cat /proc/self/mountinfo >'$OUT/rootless-userxattr.mountinfo'
"

# ---- special characters in layer paths and mountpoints -------------------------------
X=/run/esc
mkdir -p $X
mount -t tmpfs esc $X
cd $X
mkdir -p "lo space" "lo,comma" "lo:colon" 'lo\back' "$(printf 'lo\ttab')" "$(printf 'lo\nnl')" "lo=eq" \
	"up,per" work "mnt point"
# mount(8) option syntax: \, \: \\ are overlayfs escapes (ovl_unescape); the kernel
# shows the string as given, then seq_escape()s , space tab newline and backslash.
mount -t overlay overlay -o "lowerdir=$X/lo space:$X/lo\\,comma:$X/lo\\:colon:$X/lo\\\\back:$X/$(printf 'lo\ttab'):$X/$(printf 'lo\nnl'):$X/lo=eq,upperdir=$X/up\\,per,workdir=$X/work" \
	"$X/mnt point"
cd /
snap escapes

# ---- lowerdir+ / datadir+ (6.8+; fails on older kernels, kept going) -----------------
F=/run/fsconfig
mkdir -p $F
mount -t tmpfs fsconfig $F
mkdir -p $F/l1 "$F/l 2" "$F/d:1" "$F/d,2" "$F/$(printf 'nl\nx')" $F/u $F/w $F/m $F/m2 $F/u2 $F/w2
if mount -t overlay overlay -o "lowerdir+=$F/l1,lowerdir+=$F/l 2,datadir+=$F/d:1,upperdir=$F/u,workdir=$F/w,metacopy=on" $F/m; then
	# fsconfig(2) passes each value verbatim, so a comma and a newline need no escape.
	python3 - "$F" <<'EOF' || echo "fsconfig overlay failed" >&2
import ctypes, os, sys
F = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_move_mount = 430, 431, 432, 429
FSCONFIG_SET_STRING, FSCONFIG_SET_FLAG, FSCONFIG_CMD_CREATE = 1, 0, 6
MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 4, -100
def chk(r):
    if r < 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    return r
fd = chk(libc.syscall(SYS_fsopen, b"overlay", 1))
def s(k, v): chk(libc.syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING, k.encode(), v.encode(), 0))
s("lowerdir+", F + "/l1")
s("lowerdir+", F + "/nl\nx")
s("datadir+", F + "/d,2")
s("upperdir", F + "/u2")
s("workdir", F + "/w2")
s("metacopy", "on")
chk(libc.syscall(SYS_fsconfig, fd, FSCONFIG_CMD_CREATE, None, None, 0))
mfd = chk(libc.syscall(SYS_fsmount, fd, 1, 0))
chk(libc.syscall(SYS_move_mount, mfd, b"", AT_FDCWD, (F + "/m2").encode(), MOVE_MOUNT_F_EMPTY_PATH))
EOF
	snap lowerdir-plus
else
	echo "lowerdir+ not supported by $(uname -r); no lowerdir-plus fixture" >&2
	umount $F
fi

# ---- overlay features: xino, index+nfs_export, redirect_dir, data-only, nesting ------
A=/run/tmpfs-a
B=/run/tmpfs-b
O=/run/ovl
mkdir -p $A $B $O
mount -t tmpfs tmpfs-a $A
mount -t tmpfs tmpfs-b $B
mkdir -p $A/lower $A/lower2 $A/data $B/upper $B/work $B/upper2 $B/work2 $B/upper3 $B/work3 \
	$B/upper4 $B/work4 $O/xino $O/nfs $O/redirect $O/dataonly $O/nested $O/volatile
# lower on tmpfs-a, upper on tmpfs-b: layers on different filesystems.
mount -t overlay overlay -o "lowerdir=$A/lower,upperdir=$B/upper,workdir=$B/work,xino=on" $O/xino
mount -t overlay overlay -o "lowerdir=$A/lower,upperdir=$B/upper2,workdir=$B/work2,index=on,nfs_export=on" $O/nfs
mount -t overlay overlay -o "lowerdir=$A/lower2,upperdir=$B/upper3,workdir=$B/work3,redirect_dir=on,volatile" $O/redirect
mount -t overlay overlay -o "lowerdir=$A/lower:$A/lower2::$A/data,metacopy=on" $O/dataonly ||
	echo "data-only lower layers (6.5+) not supported by $(uname -r)" >&2
# nested: the lower layer is itself an overlay mount.
mount -t overlay overlay -o "lowerdir=$O/xino,upperdir=$B/upper4,workdir=$B/work4" $O/nested
snap features

# ---- a mount hidden by an over-mount of its parent directory -------------------------
H=/run/hide
mkdir -p $H
mount -t tmpfs hide-a $H
mkdir -p $H/sub
mount -t tmpfs hide-b $H/sub
mkdir -p $H/sub/m $H/sub/lower $H/sub/lower2
mount -t overlay overlay -o "lowerdir=$H/sub/lower:$H/sub/lower2" $H/sub/m
mount -t tmpfs hide-c $H
snap overmount-parent
