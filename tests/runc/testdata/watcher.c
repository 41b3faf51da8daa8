/* watcher: the container's process for tests/runc. It holds an inotify
 * watch on WATCHED (IN_MODIFY) and no other fd on it, closes its stdio,
 * and for each event appends "event <pid>\n" to LOG (opened and closed
 * each time, so it holds no other file). First line: "ready <pid>".
 * Built static (gcc -static): the container has nothing but busybox. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static void say(const char *log, const char *what)
{
	char line[64];
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	snprintf(line, sizeof(line), "%s %d\n", what, (int)getpid());
	write(fd, line, strlen(line));
	close(fd);
}

int main(int argc, char **argv)
{
	char buf[4096];
	int in;

	if (argc != 3)
		return 2;
	in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, argv[1], IN_MODIFY) < 0)
		return 3;
	close(0);
	close(1);
	close(2);
	say(argv[2], "ready");
	for (;;) {
		if (read(in, buf, sizeof(buf)) > 0)
			say(argv[2], "event");
	}
}
