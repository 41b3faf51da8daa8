/*
 * marker - the container process of the Podman tests of a fanotify mark and
 * of a file on a nested overlay (a `-v SRC:DST:O` volume).
 *
 * "marker fanotify PATH" (the container's command, pid 1): fd 3 is a
 * fanotify group (FAN_CLASS_NOTIF, needs CAP_SYS_ADMIN) with one inode mark,
 * FAN_MODIFY on PATH; no other fd holds PATH. Every event read appends
 * "event\n" to /tmp/events (the event's fd is closed).
 *
 * "marker open PATH": fd 3 is PATH, opened O_RDONLY, held.
 *
 * Both print "READY" on stdout and wait.
 *
 * "marker report PATH" (run with `podman exec`) prints what pid 1 holds,
 * one line each:
 *
 *   fd N LINK content=QUOTED      (a file: read through /proc/1/fd/N)
 *   fd N LINK fanotify=ino:HEX sdev:HEX mask:HEX  (a fanotify fd: each
 *                                  inode mark of its fdinfo)
 *   fd N LINK                     (other fds)
 *   ino PATH HEX                  (PATH's inode number now)
 *   events N                      (lines in /tmp/events)
 *
 * Static (gcc -static). Any failure prints "marker: WHAT: error" on stderr
 * and exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "marker: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ready(void)
{
	printf("READY\n");
	fflush(stdout);
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
			int e = open("/tmp/events", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			if (e >= 0) {
				(void)!write(e, "event\n", 6);
				close(e);
			}
		}
	}
}

static _Noreturn void hold(const char *path)
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

/* marks prints " fanotify=ino:HEX sdev:HEX mask:HEX" for each inode mark in fdinfo */
static void marks(const char *fd)
{
	char path[512], line[1024];
	snprintf(path, sizeof(path), "/proc/1/fdinfo/%s", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		char *ino = strstr(line, " ino:"), *sdev = strstr(line, " sdev:");
		char *mask = strstr(line, " mask:");
		if (strncmp(line, "fanotify ", 9) || !ino || !sdev || !mask)
			continue;
		printf(" fanotify=%.*s %.*s %.*s", (int)strcspn(ino + 1, " \n"), ino + 1,
		       (int)strcspn(sdev + 1, " \n"), sdev + 1, (int)strcspn(mask + 1, " \n"), mask + 1);
	}
	fclose(f);
}

static int report(const char *watched)
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
		} else if (!strcmp(link, "anon_inode:[fanotify]")) {
			marks(de->d_name);
		}
		putchar('\n');
	}
	closedir(d);
	struct stat st;
	if (stat(watched, &st))
		die(watched);
	printf("ino %s %lx\n", watched, (unsigned long)st.st_ino);
	int events = 0;
	FILE *f = fopen("/tmp/events", "r");
	if (f) {
		int ch;
		while ((ch = fgetc(f)) != EOF)
			events += ch == '\n';
		fclose(f);
	}
	printf("events %d\n", events);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "fanotify"))
		fanotify(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "open"))
		hold(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "report"))
		return report(argv[2]);
	fprintf(stderr, "usage: marker fanotify PATH | marker open PATH | marker report PATH\n");
	return 2;
}
