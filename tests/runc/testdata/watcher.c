/* watcher: the container's process for tests/runc, one of three modes.
 *
 *   watcher PATH LOG              (or: watcher inotify PATH LOG)
 *	an inotify watch on PATH (IN_MODIFY) and no other fd on it;
 *   watcher fanotify PATH LOG
 *	a fanotify group (FAN_CLASS_NOTIF; needs CAP_SYS_ADMIN) with an
 *	inode mark on PATH (FAN_MODIFY) and no other fd on it (the fd each
 *	event carries is closed at once);
 *   watcher open PATH LOG
 *	PATH held open read-only (its number logged as "fd <pid> <n>");
 *	on SIGUSR1 it preads the fd and logs "content <pid> <first line>".
 *
 * It closes its stdio and for each event appends "event <pid>\n" to LOG
 * (opened and closed each time, so it holds no other file). First line:
 * "ready <pid>". Built static (gcc -static): the container has nothing
 * but busybox. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <unistd.h>

static void say(const char *log, const char *what, const char *arg)
{
	char line[256];
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (arg)
		snprintf(line, sizeof(line), "%s %d %s\n", what, (int)getpid(), arg);
	else
		snprintf(line, sizeof(line), "%s %d\n", what, (int)getpid());
	write(fd, line, strlen(line));
	close(fd);
}

static void closestdio(void)
{
	close(0);
	close(1);
	close(2);
}

static int inotify(const char *path, const char *log)
{
	char buf[4096];
	int in = inotify_init1(IN_CLOEXEC);

	if (in < 0 || inotify_add_watch(in, path, IN_MODIFY) < 0)
		return 3;
	closestdio();
	say(log, "ready", NULL);
	for (;;) {
		if (read(in, buf, sizeof(buf)) > 0)
			say(log, "event", NULL);
	}
}

static int fanotify(const char *path, const char *log)
{
	char buf[4096];
	int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);

	if (fan < 0 || fanotify_mark(fan, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, path) < 0)
		return 3;
	closestdio();
	say(log, "ready", NULL);
	for (;;) {
		ssize_t n = read(fan, buf, sizeof(buf));
		struct fanotify_event_metadata *m = (void *)buf;

		for (; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			if (m->fd >= 0)
				close(m->fd);
			say(log, "event", NULL);
		}
	}
}

static volatile sig_atomic_t usr1;

static void onusr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static int holdopen(const char *path, const char *log)
{
	char buf[200], num[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	sigset_t none;

	if (fd < 0)
		return 3;
	signal(SIGUSR1, onusr1);
	closestdio();
	snprintf(num, sizeof(num), "%d", fd);
	say(log, "ready", NULL);
	say(log, "fd", num);
	sigemptyset(&none);
	for (;;) {
		ssize_t n;

		while (!usr1)
			sigsuspend(&none);
		usr1 = 0;
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			n = 0;
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		say(log, "content", buf);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3)
		return inotify(argv[1], argv[2]);
	if (argc != 4)
		return 2;
	if (!strcmp(argv[1], "inotify"))
		return inotify(argv[2], argv[3]);
	if (!strcmp(argv[1], "fanotify"))
		return fanotify(argv[2], argv[3]);
	if (!strcmp(argv[1], "open"))
		return holdopen(argv[2], argv[3]);
	return 2;
}
