/* libFuzzer harness for the cold tier's segment reader: the input becomes a
 * segment file, which is opened (scanned, repaired) and read back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HRT_WITH_MEMORY
#include "cold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/hrt_fuzz_cold_%d", (int)getpid());
        snprintf(path, sizeof path, "%s/seg-00000001.hcs", dir);
    }
    cold_store *c = NULL;
    if (cold_open(dir, NULL, &c) == 0) cold_close(c); /* makes the directory */
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
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
