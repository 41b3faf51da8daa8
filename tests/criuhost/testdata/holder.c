/*
 * holder - the process CRIU dumps in the criuhost tests.
 *
 * A tiny interpreter of its arguments: each operation is a word followed by
 * a fixed number of paths, performed in order. It first closes every fd
 * above 2 it inherited, and at the end closes fds 0 and 2, prints
 * "ready <pid>" on stdout and closes that too: when the reader of stdout
 * sees EOF, the process holds exactly what the operations left open (which
 * is what CRIU dumps). Then it waits forever; with an inotify watch it
 * appends one line to the "events" file for every read(2) of the inotify fd.
 *
 * Built with `gcc -static` so that it also runs inside a pivot_root'ed
 * "container" whose root holds nothing but a copy of it.
 *
 *   mkdir P | write P TEXT | tmpfs P | overlay P LOWER UPPER WORK OPTS("-": none)
 *   unshare-mnt | pivot P | exec P (re-exec P with the remaining operations:
 *   fds opened before are closed)
 *   open P | openrw P | mmap P | watch P | events P | chdir P
 *   chroot P (chroot(2) into P, then chdir("/"): later paths are the jail's)
 *   fork (the parent closes every fd and waits: it is the tree's root, whose
 *   pid "ready" prints; the child, killed with it, does the rest)
 *   unlink P | link OLD NEW | exit (exit 0 at once: a setup command)
 *
 * Any failure prints "holder: OP ARG: error" on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *op, const char *arg)
{
	fprintf(stderr, "holder: %s %s: %s\n", op, arg ? arg : "", strerror(errno));
	exit(1);
}

static int nargs(const char *op)
{
	static const struct { const char *op; int n; } ops[] = {
		{"mkdir", 1}, {"write", 2}, {"tmpfs", 1}, {"overlay", 5},
		{"unshare-mnt", 0}, {"pivot", 1}, {"exec", 1},
		{"open", 1}, {"openrw", 1}, {"mmap", 1}, {"watch", 1},
		{"events", 1}, {"chdir", 1}, {"chroot", 1}, {"unlink", 1}, {"link", 2},
		{"exit", 0}, {"fork", 0},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].op, op) == 0)
			return ops[i].n;
	return -1;
}

int main(int argc, char **argv)
{
	pid_t root_pid = 0; /* after "fork": the parent, the tree's root */
	int ifd = -1;
	const char *events = NULL;

	if (close_range(3, ~0U, 0)) {
		perror("holder: close_range");
		return 1;
	}
	for (int i = 1; i < argc;) {
		const char *op = argv[i];
		int n = nargs(op);
		if (n < 0 || i + n >= argc) {
			errno = EINVAL;
			die("bad operation", op);
		}
		char **a = argv + i + 1;
		i += 1 + n;
		if (!strcmp(op, "mkdir")) {
			if (mkdir(a[0], 0755) && errno != EEXIST)
				die(op, a[0]);
		} else if (!strcmp(op, "write")) {
			int fd = open(a[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, a[1], strlen(a[1])) != (ssize_t)strlen(a[1]) || close(fd))
				die(op, a[0]);
		} else if (!strcmp(op, "tmpfs")) {
			if (mount("tmpfs", a[0], "tmpfs", 0, "mode=0755"))
				die(op, a[0]);
		} else if (!strcmp(op, "overlay")) {
			char opts[4096];
			snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s%s%s",
				 a[1], a[2], a[3], strcmp(a[4], "-") ? "," : "", strcmp(a[4], "-") ? a[4] : "");
			if (mount("overlay", a[0], "overlay", 0, opts))
				die(op, opts);
		} else if (!strcmp(op, "unshare-mnt")) {
			if (unshare(CLONE_NEWNS) || mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL))
				die(op, NULL);
		} else if (!strcmp(op, "pivot")) {
			if (chdir(a[0]) || syscall(SYS_pivot_root, ".", ".") ||
			    umount2(".", MNT_DETACH) || chdir("/"))
				die(op, a[0]);
		} else if (!strcmp(op, "exec")) {
			/* argv[i-1] becomes the new argv[0]: the rest follows it */
			argv[i - 1] = a[0];
			execv(a[0], argv + i - 1);
			die(op, a[0]);
		} else if (!strcmp(op, "open") || !strcmp(op, "openrw")) {
			if (open(a[0], op[4] ? O_RDWR : O_RDONLY) < 0)
				die(op, a[0]);
		} else if (!strcmp(op, "mmap")) {
			int fd = open(a[0], O_RDONLY | O_CLOEXEC);
			if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
				die(op, a[0]);
			close(fd);
		} else if (!strcmp(op, "watch")) {
			if (ifd < 0 && (ifd = inotify_init1(0)) < 0)
				die(op, "inotify_init1");
			if (inotify_add_watch(ifd, a[0], IN_MODIFY) < 0)
				die(op, a[0]);
		} else if (!strcmp(op, "events")) {
			events = a[0];
		} else if (!strcmp(op, "chdir")) {
			if (chdir(a[0]))
				die(op, a[0]);
		} else if (!strcmp(op, "chroot")) {
			if (chroot(a[0]) || chdir("/"))
				die(op, a[0]);
		} else if (!strcmp(op, "unlink")) {
			if (unlink(a[0]))
				die(op, a[0]);
		} else if (!strcmp(op, "exit")) {
			exit(0);
		} else if (!strcmp(op, "fork")) {
			pid_t parent = getpid(), child = fork();
			if (child < 0)
				die(op, NULL);
			if (child > 0) { /* the tree's root: holds nothing, waits */
				close_range(0, ~0U, 0);
				for (;;)
					pause();
			}
			if (prctl(PR_SET_PDEATHSIG, SIGKILL))
				die(op, NULL);
			root_pid = parent;
		} else if (!strcmp(op, "link")) {
			if (link(a[0], a[1]))
				die(op, a[0]);
		}
	}
	close(0);
	close(2);
	printf("ready %d\n", root_pid ? root_pid : getpid());
	fflush(stdout);
	close(1);
	if (ifd < 0 || !events)
		for (;;)
			pause();
	for (;;) {
		char buf[4096];
		if (read(ifd, buf, sizeof(buf)) <= 0)
			continue; /* EINTR, e.g. around a dump or restore */
		int fd = open(events, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			(void)!write(fd, "event\n", 6);
			close(fd);
		}
	}
}
