/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_results.c - result files under DATA_DIR/files (see ops_results.h).
 * Durable state changes are explicit steps: temp file, fsync, rename, fsync
 * of the directory, so a crash leaves the old state or the new, never a
 * half-written file under the final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/ops_results.h"

int ops_results_name(const char *op_id, char *out, size_t cap)
{
    size_t j = 0;

    for (const char *p = op_id; *p; p++) {
        if (*p == '_')
            continue;
        if (j + 1 >= cap)
            return -1;
        out[j++] = *p;
    }
    out[j] = '\0';
    return j > 0 ? 0 : -1;
}

int ops_results_op_id(const char *name, char *out, size_t cap)
{
    size_t len = strlen(name);

    if (len <= IDS_BODY_LEN || len + 2 > cap)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return -1;
    memcpy(out, name, len - IDS_BODY_LEN);
    out[len - IDS_BODY_LEN] = '_';
    memcpy(out + len - IDS_BODY_LEN + 1, name + len - IDS_BODY_LEN, IDS_BODY_LEN + 1);
    return 0;
}

/* data_dir/files[/name] into out. Returns 0, or -1 when it does not fit. */
static int results_path(const char *data_dir, const char *name, char *out, size_t cap)
{
    int n = name ? snprintf(out, cap, "%s/files/%s", data_dir, name)
                 : snprintf(out, cap, "%s/files", data_dir);

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ops_results_write(const char *data_dir, const char *name, const void *data, size_t len,
                      char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
    int fd, dfd, n;

    if (results_path(data_dir, NULL, dir, sizeof dir) != 0 ||
        results_path(data_dir, name, path, sizeof path) != 0) {
        snprintf(err, errlen, "result path too long");
        return -1;
    }
    n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "result path too long");
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto fail_fd;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto fail_tmp;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        goto fail_tmp;
    }
    /* The rename is durable only once the directory is. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;

fail_fd:
    close(fd);
fail_tmp:
    unlink(tmp);
    return -1;
}

int ops_results_read(const char *data_dir, const char *name, size_t max, char **out,
                     size_t *len, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct stat sb;
    size_t got = 0;
    char *buf;
    int fd;

    *out = NULL;
    *len = 0;
    if (results_path(data_dir, name, path, sizeof path) != 0) {
        snprintf(err, errlen, "result path too long");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
        snprintf(err, errlen, "%s is not a readable file of at most %zu bytes", path, max);
        close(fd);
        return -1;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != (size_t)sb.st_size) {
        snprintf(err, errlen, "cannot read %s", path);
        free(buf);
        return -1;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

void ops_results_remove(const char *data_dir, const char *name)
{
    char path[PATH_MAX];

    if (results_path(data_dir, name, path, sizeof path) == 0)
        unlink(path);
}
