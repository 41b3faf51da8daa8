// Package podman holds end-to-end tests of ovlfix with real Podman
// checkpoint archives: Podman 4.3.1 with runc 1.1.5 and CRIU 4.2
// (../shared/criu/4.2 beside the repository first in PATH; OVLFIX_CRIU42
// names another binary), ovlfix reached by one of two routes: the
// `ovlfix hook` enabled per container through the org.criu.config
// annotation (a CRIU config file with one `action-script` line), or the
// proxy `ovlfix criu`: a directory first in Podman's PATH (Podman passes it
// to conmon, so runc finds it on checkpoint and restore alike) holding
// only `criu -> ovlfix`, with OVLFIX_REAL_CRIU naming CRIU 4.2 and no
// config file. It has no code of its own: everything is in its _test.go
// files.
//
// Every test uses its own Podman storage (--root, --runroot, --tmpdir and
// runc's --root under a temporary directory): nothing is pulled (there is
// no registry), nothing lands in the machine's default storage, and the
// test's containers, images, mounts and directories are removed when it
// ends, also when it fails. The image is imported from a rootfs tarball
// the test writes: Debian's static busybox, testdata/holder.c built with
// `gcc -static` (it holds the files below, or a fanotify mark, or one
// held file), and the files under /data the holder opens.
//
// What the tests show:
//
//   - with the hook, a container holding a lower-layer file, a copied-up
//     file, an upper-only file, an unlinked file, a mapping of a lower
//     file and an inotify watch on a lower file is exported (zstd, gzip,
//     uncompressed) and restored with `podman container restore --import`:
//     the restored holder has the same fds with the same names and
//     contents, the mapping, and the watch fires;
//   - without the hook the checkpoint fails (`Can't dump that handle`);
//   - through the proxy, with no config file, the same container is
//     exported (the hook's pre-dump and post-dump once each) and imported
//     into a new container whose watch fires (proxy_test.go);
//   - a fanotify inode mark on a lower file: CRIU 4.2 alone fails (`Can't
//     dump that handle`), through the proxy or the annotation the imported
//     process has the mark and gets an event (fanotify_test.go);
//   - a held lower file of a `-v SRC:/vol:O` volume (SRC a tmpfs): CRIU 4.2
//     records the root overlay's mnt_id for it, the hook's post-dump the
//     /vol overlay's; both restore the right file (CRIU opens it by path
//     from the namespace root), in place and by --import, once the test
//     has mounted the :O overlay again, which Podman 4.3.1 does not do on a
//     restore (nested_test.go);
//   - a held lower file whose size changed in the image layer after the
//     export, an upper file removed from the archive's rootfs-diff.tar,
//     and a copied-up file the holder appended to (Podman 4.3.1 puts only
//     added files in rootfs-diff.tar, never modified ones) each make the
//     restore fail, with CRIU's message in the restore log.
//
// The `ovlfix inspect` / `ovlfix verify` checks of the same archives (issue
// 9) are in ovlfix_checks_test.go; they log that they are pending while
// the ovlfix binary has no such command.
//
// Needs root, podman, runc, busybox-static, gcc with a static libc and
// CRIU 4.2 (scripts/setup.sh installs them). It skips with the reason when
// one is missing, and fails instead under CI=true.
package podman
