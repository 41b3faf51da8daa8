/*
 * criu-3.17.1-holder.c - the process tree checkpointed into the criu-3.17.1-*
 * archives (tests/lab/make-archive-317.sh; built static by
 * scripts/make-archive-fixtures-lab.sh). It runs as the container's init with
 * /data from the image's (lower) layer and holds, at fixed fds:
 *   fd 3  /data/lower.txt    opened read-only: stays in the lower layer
 *   fd 4  /data/copied.txt   opened O_RDWR, written at its end: copied up;
 *                            CRIU records (and checks) its size
 *   fd 5  /data/upper.txt    created: upper layer only
 *   fd 6  /data/removed.txt  opened, then unlinked: a whiteout in the upper
 *                            layer, the open inode a deleted lower file
 *         /data/mapped.bin   mmap(MAP_SHARED) of a lower file, fd closed
 *   fd 7  inotify, a watch (IN_MODIFY) on /data/watched.txt (a lower file);
 *         only with argv[1] == "watch": CRIU 3.17.1 cannot dump that watch
 *         without the ovlfix hook, and the hook cannot run under runc there
 *   fd 8  /data/append.log   opened O_WRONLY|O_APPEND and written: copied
 *                            up; CRIU records no size for such fds
 *                            (should_check_size, criu/files-reg.c)
 * plus a forked child (the tree's second task) holding fd 3. When all is
 * held it closes 0-2 (they may name files outside the container's mounts),
 * writes "PID CHILD" to /ready (an upper-only file nobody holds) and sleeps.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* at puts fd (just opened for what) on the fd number want. */
static void at(int want, int fd, const char *what)
{
	if (fd < 0)
		die(what);
	if (fd == want)
		return;
	if (dup2(fd, want) < 0)
		die("dup2");
	close(fd);
}

int main(int argc, char **argv)
{
	int watch = argc > 1 && strcmp(argv[1], "watch") == 0;
	int fd;

	if (chdir("/data") < 0)
		die("chdir /data");
	at(3, open("lower.txt", O_RDONLY), "open lower.txt");
	fd = open("copied.txt", O_RDWR);
	if (fd < 0 || lseek(fd, 0, SEEK_END) < 0 || write(fd, "appended in the container\n", 26) != 26)
		die("copy-up copied.txt");
	at(4, fd, "copied.txt");
	fd = open("upper.txt", O_CREAT | O_RDWR | O_TRUNC, 0640);
	if (fd < 0 || write(fd, "created in the container\n", 25) != 25)
		die("upper.txt");
	at(5, fd, "upper.txt");
	at(6, open("removed.txt", O_RDONLY), "open removed.txt");
	if (unlink("removed.txt") < 0)
		die("unlink removed.txt");
	fd = open("mapped.bin", O_RDONLY);
	if (fd < 0)
		die("open mapped.bin");
	if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		die("mmap mapped.bin");
	close(fd);
	if (watch) {
		at(7, inotify_init1(0), "inotify_init1");
		if (inotify_add_watch(7, "/data/watched.txt", IN_MODIFY) < 0)
			die("inotify_add_watch /data/watched.txt");
	}
	fd = open("append.log", O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "logged in the container\n", 24) != 24)
		die("copy-up append.log");
	at(8, fd, "append.log");
	close(0);
	close(1);
	close(2);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(4);
		close(5);
		close(6);
		close(8);
		for (;;)
			pause();
	}
	fd = open("/ready", O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		die("/ready");
	dprintf(fd, "%d %d\n", getpid(), child);
	close(fd);
	for (;;)
		pause();
}
