/* libFuzzer harness for the cold tier's readers. An input whose first byte
 * is even becomes a segment file, which is opened (scanned, repaired) and
 * read back. An odd one becomes the index file of a sealed segment, with
 * its magic, version, segment size and CRC made right so that the entries
 * themselves get parsed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HRT_WITH_MEMORY
#include <sys/stat.h>

#include "cold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/hrt_fuzz_cold_%d", (int)getpid());
        snprintf(path, sizeof path, "%s/seg-00000001.hcs", dir);
    }
    cold_store *c = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -f %s/seg-*", dir);
    if (system(cmd)) return 0;
    if (cold_open(dir, NULL, &c) == 0) cold_close(c); /* makes the directory */
    if (size && (data[0] & 1)) {
        /* segment 1 holds one block (a, b, key), segment 2 is empty: 1 is sealed */
        if (cold_open(dir, NULL, &c)) return 0;
        cold_record r[3] = {{"a", 1, "x", 1}, {"b", 1, "yy", 2}, {"key", 3, "zzz", 3}};
        cold_put(c, r, 3);
        cold_close(c);
        struct stat sb;
        if (stat(path, &sb)) return 0;
        snprintf(cmd, sizeof cmd, "%s/seg-00000002.hcs", dir);
        FILE *g = fopen(cmd, "wb");
        if (!g) return 0;
        fwrite("HRTCOLD\0\1\0\0\0\0\0\0\0", 1, 16, g);
        fclose(g);
        size_t n = size - 1 + 4;
        uint8_t *b = calloc(n < 44 ? 44 : n, 1);
        if (!b) return 0;
        memcpy(b, data + 1, size - 1);
        if (n < 44) n = 44;
        memcpy(b, "HRTCIDX\0\1\0\0\0", 12);
        uint64_t seg_size = (uint64_t)sb.st_size;
        memcpy(b + 16, &seg_size, 8);
        uint32_t crc = crc32c(0, b, n - 4);
        memcpy(b + n - 4, &crc, 4);
        snprintf(cmd, sizeof cmd, "%s/seg-00000001.hci", dir);
        g = fopen(cmd, "wb");
        if (g) fwrite(b, 1, n, g), fclose(g);
        free(b);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) return 0;
        fwrite(data, 1, size, f);
        fclose(f);
    }
    if (cold_open(dir, NULL, &c)) return 0;
    const char *keys[] = {"a", "b", "key", ""};
    for (int i = 0; i < 4; i++) {
        void *v = NULL;
        size_t n;
        if (cold_get(c, keys[i], strlen(keys[i]), &v, &n) == 0) free(v);
    }
    cold_stats s;
    cold_get_stats(c, &s);
    cold_close(c);
    return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data, (void)size;
    return 0;
}
#endif
