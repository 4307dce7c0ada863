/*
 * maint_file.c: the maintenance switch's file driver: the flag is a JSON
 * file the application reads, replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maint.h"

static int file_read(struct mctx *m, struct mflag *f)
{
	const char *path = res_str(m->r, "path");
	char *text = NULL;
	size_t len = 0;
	if (read_file(path, 1 << 20, &text, &len) != 0) {
		if (errno == ENOENT) {
			char *dir = xstrdup(path);
			struct stat st;
			int dir_ok = stat(dirname(dir), &st) == 0 && S_ISDIR(st.st_mode);
			free(dir);
			if (dir_ok) {
				f->on = 0; /* never set */
				return M_OK;
			}
		}
		maint_seterr(m, "cannot read the flag file '%s': %s", path, strerror(errno));
		return M_DOWN;
	}
	json_error_t je;
	json_t *doc = json_loadb(text, len, 0, &je);
	free(text);
	if (!doc) {
		maint_seterr(m, "the flag file '%s' is not JSON (line %d: %s)", path, je.line, je.text);
		return M_DOWN;
	}
	char what[600];
	snprintf(what, sizeof(what), "the flag file '%s'", path);
	int st = maint_parse_doc(m, doc, what, f);
	json_decref(doc);
	return st;
}

/* Replaces the file atomically: a temporary beside it, fsync, rename, fsync
 * of the directory, so a reader sees the old or the new flag, never half. */
static int file_write(struct mctx *m, const struct mflag *f)
{
	const char *path = res_str(m->r, "path");
	json_t *doc = maint_flag_doc(m, f);
	char *s = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	char *tmp = xasprintf("%s.drplay-%ld.tmp", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = M_OK;
	if (fd < 0 || write_all(fd, s, strlen(s)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		maint_seterr(m, "cannot write the flag file '%s': %s", tmp, strerror(errno));
		rc = M_DOWN;
	}
	if (fd >= 0)
		close(fd);
	if (rc == M_OK && rename(tmp, path) != 0) {
		maint_seterr(m, "cannot replace the flag file '%s': %s", path, strerror(errno));
		rc = M_DOWN;
	}
	if (rc != M_OK)
		unlink(tmp);
	else {
		char *d = xstrdup(path);
		int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(d);
	}
	free(tmp);
	free(s);
	return rc;
}

static const char *file_where(struct mctx *m)
{
	return res_str(m->r, "path");
}

static const struct param_spec file_fields[] = {
	{ .name = "path", .type = T_STRING, .flags = P_REQUIRED, .doc = "the JSON file the application reads" },
	{ .name = NULL },
};

static const struct maint_ops file_ops = {
	.read = file_read,
	.write = file_write,
	.where = file_where,
};

static const struct driver_def maint_file_driver = {
	.kind = MAINT_KIND,
	.name = "file",
	.doc = "a JSON file, replaced atomically (a temporary file, fsync, rename)",
	.fields = file_fields,
	.ops = &file_ops,
};
DRIVER_REGISTER(maint_file_driver)
