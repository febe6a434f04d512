#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

int file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int file_commit(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    int ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return hrt_err(HRT_E_IO, "%s: cannot write: %s", path, strerror(e));
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) > 0 ? (int)(slash - path) : 1, path);
    else snprintf(dir, sizeof dir, ".");
    if (file_fsync_dir(dir)) return hrt_err(HRT_E_IO, "%s: cannot sync its directory: %s", path, strerror(errno));
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return hrt_err(HRT_E_IO, "%s: cannot write: %s", tmp, strerror(errno));
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return hrt_err(HRT_E_IO, "%s: cannot write: %s", tmp, w < 0 ? strerror(e) : "short write");
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return file_commit(tmp, path);
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return hrt_err(HRT_E_IO, "%s: cannot open", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *q = realloc(buf, cap);
            if (!q) {
                free(buf);
                fclose(f);
                return hrt_err(HRT_E_NOMEM, "%s: out of memory", path);
            }
            buf = q;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (max && n > max) {
            free(buf);
            fclose(f);
            return hrt_err(HRT_E_RANGE, "%s: larger than %zu bytes", path, max);
        }
        if (r < 65536) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return hrt_err(HRT_E_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}
