/*
 * fileio.c: reading a whole file with a size limit and writing all of a
 * buffer, both retrying on EINTR. See fileio.h.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"

int read_fd(int fd, size_t max, char **out, size_t *len)
{
	struct strbuf sb;
	sb_init(&sb, max + 1);
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			sb_release(&sb);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		sb_add(&sb, buf, (size_t)r);
		if (sb.len > max) {
			sb_release(&sb);
			errno = EFBIG;
			return -1;
		}
	}
	if (len)
		*len = sb.len;
	*out = sb_detach(&sb);
	return 0;
}

int read_file(const char *path, size_t max, char **out, size_t *len)
{
	/* O_NONBLOCK for the open only: a named pipe nobody writes to then
	 * reads as empty instead of blocking forever; a pipe with a writer
	 * (`--journal <(ssh host cat ...)`) still reads whole. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return -1;
	}
	int rc = read_fd(fd, max, out, len);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
