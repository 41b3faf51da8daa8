/* holder: the container's process for scripts/bench-downtime.sh. It opens
 * N files DIR/f0 .. DIR/f<N-1> read-only (files of the overlay rootfs's
 * lower layer) and holds them, closes its stdio, writes "ready <pid>\n"
 * to READY and sleeps until killed. Built static (gcc -static): the
 * container has nothing but it.
 *	holder DIR N READY */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[4096], line[64];
	long n, i;
	int fd;

	if (argc != 4)
		return 2;
	n = strtol(argv[2], NULL, 10);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%ld", argv[1], i);
		if (open(path, O_RDONLY) < 0)
			return 3;
	}
	close(0);
	close(1);
	close(2);
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 4;
	snprintf(line, sizeof(line), "ready %d\n", (int)getpid());
	write(fd, line, strlen(line));
	close(fd);
	for (;;)
		pause();
}
