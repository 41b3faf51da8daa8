/*
 * holder - the container process the Podman tests checkpoint and restore.
 *
 * "holder hold [append]" (the container's command, pid 1) opens, in this order,
 * files of the image (the test's rootfs puts them under /data):
 *
 *   fd 3  /data/lower.txt     O_RDONLY: stays in the image's lower layer
 *   fd 4  /data/copied.txt    O_RDWR|O_APPEND: copied up (the open copies it
 *                             up); with "hold append" also "appended\n" written
 *   fd 5  /data/upper.txt     created, "upper data\n": upper layer only
 *   fd 6  /data/unlinked.txt  created, "unlinked data\n", unlinked: a ghost
 *   fd 7  inotify             IN_MODIFY on /data/watched.txt (lower, no other fd)
 *   map   /data/mapped.txt    mmap'ed MAP_SHARED read-only, its fd closed
 *
 * Every inotify event read from fd 7 appends "event\n" to /data/events (an
 * upper file, opened per event).
 *
 * "holder fanotify PATH" (pid 1, with CAP_SYS_ADMIN): fd 3 is a fanotify
 * group (FAN_CLASS_NOTIF) with one inode mark, FAN_MODIFY on PATH; no other
 * fd holds PATH. Every event read appends "event\n" to /tmp/events (the
 * event's fd is closed).
 *
 * "holder open PATH" (pid 1): fd 3 is PATH, opened O_RDONLY, held.
 *
 * All three print "READY" on stdout and wait.
 *
 * "holder report [PATH]" (run with `podman exec`; PATH default
 * /data/watched.txt) prints what pid 1 holds, one line each, so the
 * restored state can be compared:
 *
 *   fd N LINK content=QUOTED   (read through /proc/1/fd/N from offset 0)
 *   fd N LINK watch=ino:HEX    (an inotify fd: the watched inode, from fdinfo)
 *   fd N LINK fanotify=ino:HEX sdev:HEX mask:HEX
 *                              (a fanotify fd: each inode mark of its fdinfo)
 *   fd N LINK                  (other fds that are not files: no content)
 *   map PATH                   (a file mapping under /data in /proc/1/maps)
 *   ino PATH HEX               (PATH's inode number now, to compare with
 *                              watch= or fanotify=)
 *   events N                   (lines in /data/events and /tmp/events)
 *
 * Static (gcc -static) and small: the image holds busybox and this.
 * Any failure prints "holder: WHAT: error" on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "holder: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int must_open(const char *path, int flags)
{
	int fd = open(path, flags, 0644);
	if (fd < 0)
		die(path);
	return fd;
}

static void must_write(int fd, const char *s, const char *what)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die(what);
}

static void ready(void)
{
	printf("READY\n");
	fflush(stdout);
}

/* note appends "event\n" to the events file path, opened per event */
static void note(const char *path)
{
	int e = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (e >= 0) {
		(void)!write(e, "event\n", 6);
		close(e);
	}
}

static _Noreturn void hold(int append)
{
	if (close_range(3, ~0U, 0))
		die("close_range");
	must_open("/data/lower.txt", O_RDONLY);
	int c = must_open("/data/copied.txt", O_RDWR | O_APPEND);
	if (append)
		must_write(c, "appended\n", "/data/copied.txt");
	int u = must_open("/data/upper.txt", O_RDWR | O_CREAT | O_TRUNC);
	must_write(u, "upper data\n", "/data/upper.txt");
	int g = must_open("/data/unlinked.txt", O_RDWR | O_CREAT | O_TRUNC);
	must_write(g, "unlinked data\n", "/data/unlinked.txt");
	if (unlink("/data/unlinked.txt"))
		die("unlink /data/unlinked.txt");
	int in = inotify_init1(0);
	if (in < 0)
		die("inotify_init1");
	if (inotify_add_watch(in, "/data/watched.txt", IN_MODIFY) < 0)
		die("inotify_add_watch /data/watched.txt");
	int m = must_open("/data/mapped.txt", O_RDONLY);
	if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, m, 0) == MAP_FAILED)
		die("mmap /data/mapped.txt");
	close(m);
	ready();
	for (;;) {
		char buf[4096];
		if (read(in, buf, sizeof(buf)) <= 0)
			continue; /* EINTR, e.g. around a checkpoint or restore */
		note("/data/events");
	}
}

static _Noreturn void fanotify(const char *path)
{
	if (close_range(3, ~0U, 0))
		die("close_range");
	int fan = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
	if (fan < 0)
		die("fanotify_init");
	if (fanotify_mark(fan, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, path))
		die(path);
	ready();
	for (;;) {
		char buf[4096];
		ssize_t n = read(fan, buf, sizeof(buf));
		if (n <= 0)
			continue; /* EINTR, e.g. around a checkpoint or restore */
		struct fanotify_event_metadata *m = (void *)buf;
		for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			if (m->fd >= 0)
				close(m->fd);
			note("/tmp/events");
		}
	}
}

static _Noreturn void hold_open(const char *path)
{
	if (close_range(3, ~0U, 0))
		die("close_range");
	if (open(path, O_RDONLY) != 3)
		die(path);
	ready();
	for (;;)
		pause();
}

/* quoted prints s as one token: printable ASCII as is, the rest \xNN */
static void quoted(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			printf("\\n");
		else if (ch >= 0x20 && ch < 0x7f)
			putchar(ch);
		else
			printf("\\x%02x", ch);
	}
	putchar('"');
}

/*
 * marks prints " TAG=KEY:VALUE KEY:VALUE..." (keys in this order) for each
 * line of fd's fdinfo that starts with prefix and has all of keys (at most
 * 4, NULL-terminated): an inotify fd's watches, a fanotify fd's inode marks.
 */
static void marks(const char *fd, const char *prefix, const char *tag, const char *const *keys)
{
	char path[512], line[1024];
	snprintf(path, sizeof(path), "/proc/1/fdinfo/%s", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		const char *at[4];
		size_t n = 0;
		if (strncmp(line, prefix, strlen(prefix)))
			continue;
		for (; keys[n] && n < 4; n++) {
			char key[32];
			snprintf(key, sizeof(key), " %s:", keys[n]);
			if (!(at[n] = strstr(line, key)))
				break;
			at[n]++;
		}
		if (keys[n])
			continue;
		printf(" %s=", tag);
		for (size_t i = 0; i < n; i++)
			printf("%s%.*s", i ? " " : "", (int)strcspn(at[i], " \n"), at[i]);
	}
	fclose(f);
}

/* lines counts the lines of the file at path, 0 when there is none */
static int lines(const char *path)
{
	int n = 0, ch;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static int report(const char *inode)
{
	char path[512], link[4096], buf[4096];
	DIR *d = opendir("/proc/1/fd");
	if (!d)
		die("/proc/1/fd");
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/1/fd/%s", de->d_name);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			die(path);
		link[n] = 0;
		printf("fd %s ", de->d_name);
		quoted(link, n);
		if (link[0] == '/') {
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				die(path);
			ssize_t r = pread(fd, buf, sizeof(buf), 0);
			if (r < 0)
				die(path);
			close(fd);
			printf(" content=");
			quoted(buf, r);
		} else if (!strcmp(link, "anon_inode:inotify")) {
			marks(de->d_name, "inotify ", "watch", (const char *const[]){"ino", NULL});
		} else if (!strcmp(link, "anon_inode:[fanotify]")) {
			marks(de->d_name, "fanotify ", "fanotify", (const char *const[]){"ino", "sdev", "mask", NULL});
		}
		putchar('\n');
	}
	closedir(d);
	FILE *f = fopen("/proc/1/maps", "r");
	if (!f)
		die("/proc/1/maps");
	while (fgets(link, sizeof(link), f)) {
		char *p = strchr(link, '/');
		if (p && !strncmp(p, "/data/", 6)) {
			p[strcspn(p, "\n")] = 0;
			printf("map %s\n", p);
		}
	}
	fclose(f);
	struct stat st;
	if (stat(inode, &st))
		die(inode);
	printf("ino %s %lx\n", inode, (unsigned long)st.st_ino);
	printf("events %d\n", lines("/data/events") + lines("/tmp/events"));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "hold"))
		hold(0);
	if (argc == 3 && !strcmp(argv[1], "hold") && !strcmp(argv[2], "append"))
		hold(1);
	if (argc == 3 && !strcmp(argv[1], "fanotify"))
		fanotify(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "open"))
		hold_open(argv[2]);
	if ((argc == 2 || argc == 3) && !strcmp(argv[1], "report"))
		return report(argc == 3 ? argv[2] : "/data/watched.txt");
	fprintf(stderr, "usage: holder hold [append] | holder fanotify PATH | holder open PATH | holder report [PATH]\n");
	return 2;
}
