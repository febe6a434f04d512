#include "cold.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "error.h"
#include "file.h"
#include "fnv.h"
#include "strbuf.h"

#define SEG_MAGIC "HRTCOLD"
#define SEG_HEADER 16
#define BLK_MAGIC 0x4b4c4248u /* "HBLK" */
#define BLK_HEADER 24
#define REC_HEADER 17
#define COMPACT_BLOCK (64u << 10)
#define MAX_KEY (1u << 20)
#define MAX_BLOCK_RAW (256u << 20)

/* ---- CRC-32C ------------------------------------------------------------ */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* SSE4.2's crc32 instruction computes the same CRC-32C, 8 bytes a step:
 * about ten times the table's speed, which matters on every block read. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

static int crc_hw;

static void crc_init_all(void)
{
    crc_init();
#if defined(__x86_64__) && defined(__GNUC__)
    crc_hw = __builtin_cpu_supports("sse4.2") && !getenv("HRT_CRC32C_TABLE");
#endif
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init_all);
    const uint8_t *p = data;
#if defined(__x86_64__) && defined(__GNUC__)
    if (crc_hw) return ~crc32c_hw(~crc, p, n);
#endif
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ---- the index: open addressing, keys copied ------------------------------- */
typedef struct {
    char *key;          /* NULL: empty slot */
    uint32_t key_len;
    uint32_t seg;       /* segment number (seg-NNNNNNNN); 0: none, the record was dropped */
    uint64_t off;       /* block offset in the segment */
    uint64_t seq;
    int deleted;        /* a deletion is kept, so that older puts stay dead */
} slot;

typedef struct {
    uint32_t num;       /* seg-NNNNNNNN */
    int fd;
    uint64_t size;
    uint64_t recs;      /* records (puts and deletions) in its intact blocks */
    int indexed;        /* its index file is known to be written (sealed segments) */
} segment;

struct cold_store {
    char *dir;
    cold_params p;
    pthread_mutex_t mu;
    pthread_mutex_t compact_mu; /* one compaction at a time */
    segment *segs;
    int n_segs, cap_segs;
    slot *slots;
    size_t n_slots, n_used, n_live;
    uint64_t next_seq;
    cold_stats st;
};

static slot *find_slot(cold_store *c, const void *key, size_t n)
{
    size_t mask = c->n_slots - 1, i = fnv1a(FNV1A_BASIS, key, n) & mask;
    for (;; i = (i + 1) & mask) {
        slot *s = &c->slots[i];
        if (!s->key || (s->key_len == n && !memcmp(s->key, key, n))) return s;
    }
}

static int grow(cold_store *c)
{
    size_t old_n = c->n_slots, n = old_n ? old_n * 2 : 1024;
    slot *old = c->slots, *ns = calloc(n, sizeof *ns);
    if (!ns) return hrt_err(HRT_E_NOMEM, "out of memory growing the cold index");
    c->slots = ns;
    c->n_slots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].key) *find_slot(c, old[i].key, old[i].key_len) = old[i];
    free(old);
    return 0;
}

/* Notes that key has a record of sequence seq in block off of segment seg. */
static int index_put(cold_store *c, const void *key, size_t n, uint32_t seg, uint64_t off, uint64_t seq, int deleted)
{
    int st;
    if ((c->n_used + 1) * 4 > c->n_slots * 3 && (st = grow(c))) return st;
    slot *s = find_slot(c, key, n);
    if (s->key) {
        if (seq < s->seq) return 0; /* an older record: the newer one stands */
        if (!s->deleted) c->n_live--;
    } else {
        if (!(s->key = malloc(n ? n : 1))) return hrt_err(HRT_E_NOMEM, "out of memory");
        memcpy(s->key, key, n);
        s->key_len = (uint32_t)n;
        c->n_used++;
    }
    s->seg = seg;
    s->off = off;
    s->seq = seq;
    s->deleted = deleted;
    if (!deleted) c->n_live++;
    if (seq >= c->next_seq) c->next_seq = seq + 1;
    return 0;
}

/* ---- blocks --------------------------------------------------------------------- */
/* Checks a block header at p (len bytes available from it); returns 1 when its
 * magic and own checksum hold. */
static int header_ok(const uint8_t *p, size_t len)
{
    return len >= BLK_HEADER && rd32(p) == BLK_MAGIC && crc32c(0, p, 20) == rd32(p + 20);
}

/* Decompresses and checks the payload of the block whose header is at p
 * (the payload follows it). *raw is malloc'd. */
static int block_open(const uint8_t *p, uint8_t **raw, uint32_t *raw_len, uint32_t *n_rec)
{
    uint32_t clen = rd32(p + 4), rlen = rd32(p + 8);
    if (crc32c(0, p + BLK_HEADER, clen) != rd32(p + 16) || rlen > MAX_BLOCK_RAW) return HRT_E_FORMAT;
    uint8_t *r = malloc(rlen ? rlen : 1);
    if (!r) return HRT_E_NOMEM;
    size_t got = ZSTD_decompress(r, rlen, p + BLK_HEADER, clen);
    if (ZSTD_isError(got) || got != rlen) {
        free(r);
        return HRT_E_FORMAT;
    }
    *raw = r;
    *raw_len = rlen;
    *n_rec = rd32(p + 12);
    return 0;
}

/* Walks the records of a raw block; calls fn for each; HRT_E_FORMAT when
 * a record runs past the block. */
typedef int (*rec_fn)(void *ud, uint64_t seq, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen,
                      int deleted);

static int for_records(const uint8_t *raw, uint32_t len, uint32_t n, rec_fn fn, void *ud)
{
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (len - off < REC_HEADER) return HRT_E_FORMAT;
        const uint8_t *r = raw + off;
        uint64_t seq = rd64(r);
        uint32_t kl = rd32(r + 8), vl = rd32(r + 12);
        int del = r[16] & 1;
        if (kl > len - off - REC_HEADER || vl > len - off - REC_HEADER - kl) return HRT_E_FORMAT;
        int st = fn(ud, seq, r + REC_HEADER, kl, r + REC_HEADER + kl, vl, del);
        if (st) return st;
        off += REC_HEADER + (size_t)kl + vl;
    }
    return off == len ? 0 : HRT_E_FORMAT;
}

/* Finds the segment numbered num: its position in c->segs, or -1. */
static int seg_at(const cold_store *c, uint32_t num)
{
    int lo = 0, hi = c->n_segs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c->segs[mid].num == num) return mid;
        if (c->segs[mid].num < num) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* Walks the blocks of a mapped segment from its header on, calling fn with
 * the offset of each block whose header holds (its payload is fn's to
 * check). Damaged bytes are skipped up to the next intact header (counted
 * when count is set); *good_end is where the last intact block ends. */
typedef int (*block_fn)(void *ud, uint64_t off, const uint8_t *block);

static int walk_blocks(cold_store *c, const segment *g, const uint8_t *map, int count, block_fn fn, void *ud,
                       uint64_t *good_end)
{
    uint64_t off = SEG_HEADER;
    *good_end = SEG_HEADER;
    while (off < g->size) {
        if (!header_ok(map + off, g->size - off) || rd32(map + off + 4) > g->size - off - BLK_HEADER) {
            uint64_t next = off + 1;
            while (next + BLK_HEADER <= g->size &&
                   !(header_ok(map + next, g->size - next) && rd32(map + next + 4) <= g->size - next - BLK_HEADER))
                next++;
            if (next + BLK_HEADER > g->size) break; /* none: a torn tail */
            if (count) {
                c->st.corrupt_blocks++;
                hrt_log(HRT_LOG_WARN, "%s: segment %u: damaged bytes at offset %llu skipped", c->dir, g->num,
                        (unsigned long long)off);
            }
            off = next;
            continue;
        }
        int st = fn(ud, off, map + off);
        if (st) return st;
        off += BLK_HEADER + (uint64_t)rd32(map + off + 4);
        *good_end = off;
    }
    return 0;
}

typedef struct {
    cold_store *c;
    segment *g;
    uint64_t off;
} scan_ctx;

static int index_record(void *ud, uint64_t seq, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen,
                        int del)
{
    scan_ctx *s = ud;
    (void)val, (void)vlen;
    s->g->recs++;
    return index_put(s->c, key, klen, s->g->num, s->off, seq, del);
}

static int index_block(void *ud, uint64_t off, const uint8_t *block)
{
    scan_ctx *sc = ud;
    uint32_t rlen, n;
    uint8_t *raw = NULL;
    int st = block_open(block, &raw, &rlen, &n);
    if (st == HRT_E_NOMEM) return hrt_err(HRT_E_NOMEM, "out of memory");
    sc->off = off;
    if (!st && (st = for_records(raw, rlen, n, index_record, sc)) == HRT_E_NOMEM) {
        free(raw);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    free(raw);
    if (st) {
        sc->c->st.corrupt_blocks++;
        hrt_log(HRT_LOG_WARN, "%s: segment %u: block at offset %llu fails its checksum; skipped", sc->c->dir,
                sc->g->num, (unsigned long long)off);
    } else {
        sc->c->st.blocks++;
    }
    return 0;
}

/* Indexes every intact block of segment si. A torn tail of the newest
 * segment is cut off; corrupt blocks elsewhere are counted and skipped. */
static int scan_segment(cold_store *c, int si, int newest)
{
    segment *g = &c->segs[si];
    if (g->size < SEG_HEADER) goto torn_header;
    uint8_t *map = mmap(NULL, g->size, PROT_READ, MAP_SHARED, g->fd, 0);
    if (map == MAP_FAILED) return hrt_err(HRT_E_IO, "%s: cannot map segment %u: %s", c->dir, g->num, strerror(errno));
    int st = 0;
    if (memcmp(map, SEG_MAGIC, 8)) {
        st = hrt_err(HRT_E_FORMAT, "%s: segment %u: not a cold segment (bad magic)", c->dir, g->num);
    } else if (rd32(map + 8) > COLD_FORMAT_VERSION) {
        st = hrt_err(HRT_E_FORMAT, "%s: segment %u: format version %u is newer than this hrt (%d)", c->dir, g->num,
                     rd32(map + 8), COLD_FORMAT_VERSION);
    }
    uint64_t good_end = SEG_HEADER;
    scan_ctx sc = {c, g, 0};
    if (!st) st = walk_blocks(c, g, map, 1, index_block, &sc, &good_end);
    munmap(map, g->size);
    if (st) return st;
    if (newest && good_end < g->size) {
        hrt_log(HRT_LOG_WARN, "%s: segment %u: %llu torn bytes at the end (an interrupted append) cut off", c->dir,
                g->num, (unsigned long long)(g->size - good_end));
        if (ftruncate(g->fd, (off_t)good_end) || fsync(g->fd))
            return hrt_err(HRT_E_IO, "%s: segment %u: cannot cut the torn tail: %s", c->dir, g->num, strerror(errno));
        g->size = good_end;
    }
    return 0;
torn_header:
    if (!newest) return hrt_err(HRT_E_FORMAT, "%s: segment %u is shorter than its header", c->dir, g->num);
    /* an interrupted segment creation: write the header again */
    {
        uint8_t h[SEG_HEADER] = {0};
        memcpy(h, SEG_MAGIC, 8);
        wr32(h + 8, COLD_FORMAT_VERSION);
        if (pwrite(g->fd, h, SEG_HEADER, 0) != SEG_HEADER || ftruncate(g->fd, SEG_HEADER) || fsync(g->fd))
            return hrt_err(HRT_E_IO, "%s: segment %u: cannot rewrite its header: %s", c->dir, g->num, strerror(errno));
        g->size = SEG_HEADER;
    }
    return 0;
}

/* ---- segments -------------------------------------------------------------------- */
static int add_segment(cold_store *c, uint32_t num, int create)
{
    if (c->n_segs == c->cap_segs) {
        int cap = c->cap_segs ? 2 * c->cap_segs : 8;
        segment *s = realloc(c->segs, (size_t)cap * sizeof *s);
        if (!s) return hrt_err(HRT_E_NOMEM, "out of memory");
        c->segs = s;
        c->cap_segs = cap;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/seg-%08u.hcs", c->dir, num);
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    fstat(fd, &sb);
    segment *g = &c->segs[c->n_segs++];
    *g = (segment){num, fd, (uint64_t)sb.st_size, 0, 0};
    if (create) {
        uint8_t h[SEG_HEADER] = {0};
        memcpy(h, SEG_MAGIC, 8);
        wr32(h + 8, COLD_FORMAT_VERSION);
        if (pwrite(fd, h, SEG_HEADER, 0) != SEG_HEADER || fsync(fd) || file_fsync_dir(c->dir))
            return hrt_err(HRT_E_IO, "%s: cannot create: %s", path, strerror(errno));
        g->size = SEG_HEADER;
        c->st.segments++;
    }
    return 0;
}

/* ---- index files ---------------------------------------------------------------- */
/* seg-NNNNNNNN.hci lists the records of a sealed segment so that opening
 * need not decompress it. Layout (version 1), little-endian:
 *   "HRTCIDX\0", u32 version, u32 damaged stretches skipped when written,
 *   u64 segment size, u64 intact blocks, u64 records, then per record
 *   u64 seq, u64 block offset, u32 key length, u8 flags (1 = deleted), key;
 *   then u32 CRC-32C of all that precedes.
 * It is a cache of what a scan finds: written to a temporary name, fsync'd
 * and renamed, for sealed segments at open, at maintenance and at close.
 * A missing or damaged file, or one for another segment size, is ignored:
 * the segment is scanned and the file written again. */
#define IDX_MAGIC "HRTCIDX"
#define IDX_HEADER 40
#define IDX_VERSION 1

typedef struct {
    strbuf out; /* the index file being assembled */
    uint64_t blocks, corrupt, recs;
    uint64_t off;
} idx_build;

static int idx_record(void *ud, uint64_t seq, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen,
                      int del)
{
    idx_build *b = ud;
    uint8_t e[21];
    (void)val, (void)vlen;
    wr64(e, seq);
    wr64(e + 8, b->off);
    wr32(e + 16, klen);
    e[20] = (uint8_t)(del ? 1 : 0);
    b->recs++;
    return strbuf_put(&b->out, e, sizeof e) || strbuf_put(&b->out, key, klen) ? HRT_E_NOMEM : 0;
}

static int idx_block(void *ud, uint64_t off, const uint8_t *block)
{
    idx_build *b = ud;
    uint32_t rlen, n;
    uint8_t *raw = NULL;
    int st = block_open(block, &raw, &rlen, &n);
    if (st == HRT_E_NOMEM) return st;
    if (!st) {
        size_t len0 = b->out.len;
        uint64_t recs0 = b->recs;
        b->off = off;
        st = for_records(raw, rlen, n, idx_record, b);
        if (st == HRT_E_FORMAT) strbuf_cut(&b->out, len0), b->recs = recs0; /* the scan skips such a block whole */
    }
    free(raw);
    if (st == HRT_E_NOMEM) return st;
    if (st) b->corrupt++;
    else b->blocks++;
    return 0;
}

static void seg_path(const cold_store *c, uint32_t num, const char *ext, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/seg-%08u.%s", c->dir, num, ext);
}

/* Writes the index file of sealed segment g (which does not change). */
static int write_index(cold_store *c, const segment *g)
{
    uint8_t *map = mmap(NULL, g->size, PROT_READ, MAP_SHARED, g->fd, 0);
    if (map == MAP_FAILED) return hrt_err(HRT_E_IO, "%s: cannot map segment %u: %s", c->dir, g->num, strerror(errno));
    idx_build b = {0};
    uint8_t h[IDX_HEADER] = {0};
    int st = strbuf_put(&b.out, h, IDX_HEADER);
    uint64_t good_end;
    if (!st) st = walk_blocks(c, g, map, 0, idx_block, &b, &good_end);
    munmap(map, g->size);
    if (!st) {
        memcpy(b.out.p, IDX_MAGIC, 8);
        wr32((uint8_t *)b.out.p + 8, IDX_VERSION);
        wr32((uint8_t *)b.out.p + 12, (uint32_t)b.corrupt);
        wr64((uint8_t *)b.out.p + 16, g->size);
        wr64((uint8_t *)b.out.p + 24, b.blocks);
        wr64((uint8_t *)b.out.p + 32, b.recs);
        uint8_t crc[4];
        wr32(crc, crc32c(0, (uint8_t *)b.out.p, b.out.len));
        st = strbuf_put(&b.out, crc, 4);
    }
    if (st) {
        free(b.out.p);
        return hrt_err(HRT_E_NOMEM, "out of memory indexing %s", c->dir);
    }
    char path[4096];
    seg_path(c, g->num, "hci", path, sizeof path);
    st = file_write_atomic(path, b.out.p, b.out.len);
    free(b.out.p);
    return st;
}

/* Loads the index file of segment si into the index: 0 when it did, 1 when
 * the file is absent or unusable (scan instead), or HRT_E_NOMEM. */
static int load_index(cold_store *c, int si)
{
    segment *g = &c->segs[si];
    char path[4096];
    seg_path(c, g->num, "hci", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    struct stat sb;
    uint8_t *b = NULL;
    size_t len = 0;
    if (fstat(fd, &sb) == 0 && sb.st_size >= IDX_HEADER + 4 && (uint64_t)sb.st_size < ((uint64_t)1 << 40)) {
        len = (size_t)sb.st_size;
        b = malloc(len);
        if (b && pread(fd, b, len, 0) != (ssize_t)len) free(b), b = NULL;
    }
    close(fd);
    if (!b) return 1;
    int bad = memcmp(b, IDX_MAGIC, 8) || rd32(b + 8) != IDX_VERSION || rd64(b + 16) != g->size ||
              crc32c(0, b, len - 4) != rd32(b + len - 4);
    /* a first pass checks every entry, so that a bad file changes nothing */
    uint64_t n = bad ? 0 : rd64(b + 32);
    size_t off = IDX_HEADER, end = len - 4;
    for (uint64_t i = 0; !bad && i < n; i++) {
        if (end - off < 21 || rd32(b + off + 16) > end - off - 21) bad = 1;
        else off += 21 + rd32(b + off + 16);
    }
    if (bad || off != end) {
        hrt_log(HRT_LOG_WARN, "%s: damaged or stale; segment %u is scanned instead", path, g->num);
        free(b);
        return 1;
    }
    int st = 0;
    off = IDX_HEADER;
    for (uint64_t i = 0; !st && i < n; i++) {
        uint32_t kl = rd32(b + off + 16);
        st = index_put(c, b + off + 21, kl, g->num, rd64(b + off + 8), rd64(b + off), b[off + 20] & 1);
        off += 21 + kl;
    }
    if (!st) {
        g->recs = n;
        g->indexed = 1;
        c->st.blocks += rd64(b + 24);
        c->st.corrupt_blocks += rd32(b + 12);
    }
    free(b);
    return st;
}

/* Writes the index files that sealed segments lack; a failure only costs
 * a scan at the next open, so it is logged, not returned. */
static void write_missing_indexes(cold_store *c)
{
    for (int i = 0; i + 1 < c->n_segs; i++) {
        if (c->segs[i].indexed) continue;
        if (write_index(c, &c->segs[i])) hrt_log(HRT_LOG_WARN, "%s", hrt_last_error());
        else c->segs[i].indexed = 1;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void free_index(cold_store *c)
{
    for (size_t i = 0; i < c->n_slots; i++) free(c->slots[i].key);
    free(c->slots);
    c->slots = NULL;
    c->n_slots = c->n_used = c->n_live = 0;
}

static void close_segments(cold_store *c)
{
    for (int i = 0; i < c->n_segs; i++) close(c->segs[i].fd);
    c->n_segs = 0;
}

/* Opens every segment of the directory in order and indexes it. */
static int load(cold_store *c)
{
    DIR *d = opendir(c->dir);
    if (!d) return hrt_err(HRT_E_IO, "%s: cannot open: %s", c->dir, strerror(errno));
    uint32_t *nums = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int st = 0;
    while ((e = readdir(d))) {
        unsigned num;
        char tail[8];
        size_t nl = strlen(e->d_name);
        if (nl > 4 && !strcmp(e->d_name + nl - 4, ".tmp") && !strncmp(e->d_name, "seg-", 4)) {
            unlinkat(dirfd(d), e->d_name, 0); /* an index write that did not finish */
            continue;
        }
        if (sscanf(e->d_name, "seg-%8u.hc%1[s]%1s", &num, tail, tail + 2) != 2 || nl != 16) continue;
        if (n == cap) {
            uint32_t *nn = realloc(nums, (cap = cap ? 2 * cap : 16) * sizeof *nn);
            if (!nn) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
            nums = nn;
        }
        nums[n++] = num;
    }
    closedir(d);
    if (!st && n) qsort(nums, n, sizeof *nums, cmp_u32);
    for (size_t i = 0; !st && i < n; i++) st = add_segment(c, nums[i], 0);
    for (int i = 0; !st && i < c->n_segs; i++) {
        int newest = i == c->n_segs - 1;
        if (!newest && (st = load_index(c, i)) <= 0) continue; /* loaded, or out of memory */
        st = scan_segment(c, i, newest);
    }
    free(nums);
    if (!st && c->n_segs == 0) st = add_segment(c, 1, 1);
    c->st.segments = (uint64_t)c->n_segs;
    if (!st) write_missing_indexes(c);
    return st;
}

int cold_open(const char *dir, const cold_params *params, cold_store **out)
{
    *out = NULL;
    if (mkdir(dir, 0755) && errno != EEXIST) return hrt_err(HRT_E_IO, "%s: cannot create: %s", dir, strerror(errno));
    cold_store *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    if (params) c->p = *params;
    if (!c->p.segment_bytes) c->p.segment_bytes = (size_t)64 << 20;
    if (!c->p.zstd_level) c->p.zstd_level = 3;
    c->next_seq = 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->compact_mu, NULL);
    int st = grow(c);
    if (!st) st = load(c);
    if (st) {
        cold_close(c);
        return st;
    }
    *out = c;
    return 0;
}

void cold_close(cold_store *c)
{
    if (!c) return;
    write_missing_indexes(c);
    close_segments(c);
    free_index(c);
    free(c->segs);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->compact_mu);
    free(c->dir);
    free(c);
}

/* ---- writes ------------------------------------------------------------------------ */
/* Builds, compresses and appends one block of n records (del: deletions,
 * values ignored), fsync'd. Records keep seqs[i] when seqs is given. */
static int append_block(cold_store *c, const cold_record *recs, size_t n, const uint64_t *seqs, int del)
{
    size_t raw_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].key_len > MAX_KEY) return hrt_err(HRT_E_INVALID, "cold: a key of %zu bytes (at most %u)", recs[i].key_len, MAX_KEY);
        raw_len += REC_HEADER + recs[i].key_len + (del ? 0 : recs[i].value_len);
    }
    if (raw_len > MAX_BLOCK_RAW) return hrt_err(HRT_E_INVALID, "cold: a block of %zu bytes (at most %u)", raw_len, MAX_BLOCK_RAW);
    segment *g = &c->segs[c->n_segs - 1];
    if (g->size > SEG_HEADER && g->size + raw_len > c->p.segment_bytes) {
        int st = add_segment(c, g->num + 1, 1);
        if (st) return st;
        g = &c->segs[c->n_segs - 1];
    }
    size_t bound = ZSTD_compressBound(raw_len);
    uint8_t *raw = malloc(raw_len ? raw_len : 1), *blk = malloc(BLK_HEADER + bound);
    if (!raw || !blk) {
        free(raw);
        free(blk);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    uint64_t first_seq = c->next_seq;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = raw + off;
        size_t vl = del ? 0 : recs[i].value_len;
        wr64(r, seqs ? seqs[i] : first_seq + i);
        wr32(r + 8, (uint32_t)recs[i].key_len);
        wr32(r + 12, (uint32_t)vl);
        r[16] = (uint8_t)(del ? 1 : 0);
        if (recs[i].key_len) memcpy(r + REC_HEADER, recs[i].key, recs[i].key_len);
        if (vl) memcpy(r + REC_HEADER + recs[i].key_len, recs[i].value, vl);
        off += REC_HEADER + recs[i].key_len + vl;
    }
    size_t clen = ZSTD_compress(blk + BLK_HEADER, bound, raw, raw_len, c->p.zstd_level);
    int st = 0;
    if (ZSTD_isError(clen)) {
        st = hrt_err(HRT_E_NOMEM, "cold: zstd: %s", ZSTD_getErrorName(clen));
    } else {
        wr32(blk, BLK_MAGIC);
        wr32(blk + 4, (uint32_t)clen);
        wr32(blk + 8, (uint32_t)raw_len);
        wr32(blk + 12, (uint32_t)n);
        wr32(blk + 16, crc32c(0, blk + BLK_HEADER, clen));
        wr32(blk + 20, crc32c(0, blk, 20));
        size_t total = BLK_HEADER + clen;
        ssize_t w = pwrite(g->fd, blk, total, (off_t)g->size);
        if (w != (ssize_t)total || fsync(g->fd)) {
            st = hrt_err(HRT_E_IO, "%s: appending to segment %u failed: %s", c->dir, g->num,
                         w < 0 ? strerror(errno) : "short write");
            /* leave no half block behind the last good one */
            if (ftruncate(g->fd, (off_t)g->size)) { /* the torn tail is cut at the next open */ }
        } else {
            uint64_t at = g->size;
            g->size += total;
            c->st.blocks++;
            c->st.bytes_on_disk += total;
            c->st.bytes_raw += raw_len;
            g->recs += n;
            for (size_t i = 0; !st && i < n; i++)
                st = index_put(c, recs[i].key, recs[i].key_len, g->num, at,
                               seqs ? seqs[i] : first_seq + i, del);
            if (!seqs && first_seq + n > c->next_seq) c->next_seq = first_seq + n;
        }
    }
    free(raw);
    free(blk);
    return st;
}

int cold_put(cold_store *c, const cold_record *recs, size_t n)
{
    if (!c || (n && !recs)) return hrt_err(HRT_E_INVALID, "cold_put: NULL argument");
    if (!n) return 0;
    pthread_mutex_lock(&c->mu);
    int st = append_block(c, recs, n, NULL, 0);
    pthread_mutex_unlock(&c->mu);
    return st;
}

int cold_del(cold_store *c, const void *key, size_t key_len)
{
    if (!c || (!key && key_len)) return hrt_err(HRT_E_INVALID, "cold_del: NULL argument");
    pthread_mutex_lock(&c->mu);
    slot *s = find_slot(c, key, key_len);
    int st;
    if (!s->key || s->deleted) {
        st = HRT_E_RANGE;
    } else {
        cold_record r = {key, key_len, NULL, 0};
        st = append_block(c, &r, 1, NULL, 1);
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

/* ---- reads ---------------------------------------------------------------------------- */
typedef struct {
    const void *key;
    size_t klen;
    uint64_t seq;
    void *val;
    size_t vlen;
    int found;
} get_ctx;

static int match_record(void *ud, uint64_t seq, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen,
                        int del)
{
    get_ctx *g = ud;
    if (seq != g->seq || klen != g->klen || memcmp(key, g->key, klen) || del) return 0;
    g->val = malloc(vlen ? vlen : 1);
    if (!g->val) return HRT_E_NOMEM;
    memcpy(g->val, val, vlen);
    g->vlen = vlen;
    g->found = 1;
    return 1; /* stop */
}

/* Reads the block at off of segment si (header checked) into *buf. */
static int read_block(cold_store *c, uint32_t num, uint64_t off, uint8_t **buf)
{
    int si = seg_at(c, num);
    if (si < 0) return HRT_E_FORMAT;
    segment *g = &c->segs[si];
    uint8_t h[BLK_HEADER];
    if (pread(g->fd, h, BLK_HEADER, (off_t)off) != BLK_HEADER || !header_ok(h, BLK_HEADER)) return HRT_E_FORMAT;
    uint32_t clen = rd32(h + 4);
    if (clen > g->size - off - BLK_HEADER) return HRT_E_FORMAT;
    uint8_t *b = malloc(BLK_HEADER + (size_t)clen);
    if (!b) return HRT_E_NOMEM;
    memcpy(b, h, BLK_HEADER);
    if (pread(g->fd, b + BLK_HEADER, clen, (off_t)(off + BLK_HEADER)) != (ssize_t)clen) {
        free(b);
        return HRT_E_FORMAT;
    }
    *buf = b;
    return 0;
}

/* Reads the value of the record that s points at into g (g->found set).
 * HRT_E_FORMAT when its block fails a check, HRT_E_NOMEM. */
static int fetch_value(cold_store *c, const slot *s, get_ctx *g)
{
    uint8_t *blk = NULL, *raw = NULL;
    uint32_t rlen, n;
    *g = (get_ctx){s->key, s->key_len, s->seq, NULL, 0, 0};
    int st = read_block(c, s->seg, s->off, &blk);
    if (!st) st = block_open(blk, &raw, &rlen, &n);
    if (!st && (st = for_records(raw, rlen, n, match_record, g)) == 1) st = 0;
    free(blk);
    free(raw);
    return st;
}

int cold_get(cold_store *c, const void *key, size_t key_len, void **value, size_t *value_len)
{
    if (!c || (!key && key_len) || !value) return hrt_err(HRT_E_INVALID, "cold_get: NULL argument");
    *value = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = find_slot(c, key, key_len);
    int st = 0;
    if (!s->key || s->deleted) {
        st = HRT_E_RANGE;
        goto done;
    }
    get_ctx g;
    st = fetch_value(c, s, &g);
    if (st == HRT_E_FORMAT || (!st && !g.found)) {
        /* The block changed under us (damaged on disk): report, forget it. */
        c->st.corrupt_blocks++;
        st = hrt_err(HRT_E_FORMAT, "%s: segment %u: the block holding this key fails its checksum", c->dir, s->seg);
        hrt_log(HRT_LOG_WARN, "%s", hrt_last_error());
        s->deleted = 1;
        c->n_live--;
        free(g.val);
        goto done;
    }
    if (st) {
        free(g.val);
        st = hrt_err(st, "cold_get: out of memory");
        goto done;
    }
    *value = g.val;
    if (value_len) *value_len = g.vlen;
    c->st.bytes_raw += g.vlen;
done:
    pthread_mutex_unlock(&c->mu);
    return st;
}

int cold_has(cold_store *c, const void *key, size_t key_len)
{
    pthread_mutex_lock(&c->mu);
    slot *s = find_slot(c, key, key_len);
    int has = s->key && !s->deleted;
    pthread_mutex_unlock(&c->mu);
    return has;
}

void cold_get_stats(cold_store *c, cold_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->entries = c->n_live;
    out->segments = (uint64_t)c->n_segs;
    out->disk_bytes = 0;
    for (int i = 0; i < c->n_segs; i++) out->disk_bytes += c->segs[i].size;
    pthread_mutex_unlock(&c->mu);
}

/* ---- compaction --------------------------------------------------------------------------- */
/* One segment is compacted block by block, with the store locked for one
 * block at a time: its live records are copied (with their sequence
 * numbers) into the newest segment, in blocks of about COMPACT_BLOCK raw
 * bytes, then it is removed. Deletions are copied too, under fresh
 * sequence numbers, unless the segment is the oldest: every record a
 * deletion shadows sits in its own segment or an older one, because
 * records are only ever placed in the newest segment and a record that is
 * dead is never copied. A copy that a newer write overtook while the lock
 * was released is dead on arrival: the index keeps the higher sequence. */
typedef struct {
    cold_store *c;
    uint32_t num;
    cold_keep_fn keep;
    void *ud;
    uint64_t off;
    cold_record *puts, *dels;
    uint64_t *seqs;
    size_t n_puts, n_dels, cap_puts, cap_dels, bytes;
    uint64_t dropped;
} compact_ctx;

static void pending_free(compact_ctx *x)
{
    for (size_t i = 0; i < x->n_puts; i++) free((void *)x->puts[i].key);
    for (size_t i = 0; i < x->n_dels; i++) free((void *)x->dels[i].key);
    x->n_puts = x->n_dels = x->bytes = 0;
}

/* Queues a copy of key (and value, for a put). */
static int pending_add(compact_ctx *x, int del, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t seq)
{
    size_t *n = del ? &x->n_dels : &x->n_puts, *cap = del ? &x->cap_dels : &x->cap_puts;
    cold_record **arr = del ? &x->dels : &x->puts;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        cold_record *na = realloc(*arr, nc * sizeof *na);
        if (!na) return HRT_E_NOMEM;
        *arr = na;
        if (!del) {
            uint64_t *ns = realloc(x->seqs, nc * sizeof *ns);
            if (!ns) return HRT_E_NOMEM;
            x->seqs = ns;
        }
        *cap = nc;
    }
    char *k = malloc(klen + vlen + 1); /* key and value in one allocation */
    if (!k) return HRT_E_NOMEM;
    memcpy(k, key, klen);
    if (vlen) memcpy(k + klen, val, vlen);
    (*arr)[*n] = (cold_record){k, klen, k + klen, del ? 0 : vlen};
    if (!del) x->seqs[*n] = seq;
    (*n)++;
    x->bytes += REC_HEADER + klen + vlen;
    return 0;
}

/* Appends the queued copies (c->mu held). */
static int pending_flush(compact_ctx *x)
{
    int st = 0;
    if (x->n_puts) st = append_block(x->c, x->puts, x->n_puts, x->seqs, 0);
    if (!st && x->n_dels) st = append_block(x->c, x->dels, x->n_dels, NULL, 1);
    pending_free(x);
    return st;
}

/* Forgets the record s points at (its segment is going away). */
static void drop_slot(cold_store *c, slot *s)
{
    if (!s->deleted) c->n_live--;
    s->deleted = 1;
    s->seg = 0;
}

static int compact_record(void *ud, uint64_t seq, const uint8_t *key, uint32_t klen, const uint8_t *val,
                          uint32_t vlen, int del)
{
    compact_ctx *x = ud;
    cold_store *c = x->c;
    slot *s = find_slot(c, key, klen);
    if (!s->key || s->seg != x->num || s->off != x->off || s->seq != seq) return 0; /* dead */
    int oldest = c->segs[0].num == x->num;
    if (!del && x->keep && !x->keep(x->ud, key, klen, val, vlen)) {
        x->dropped++;
        del = 1; /* dropped like a deletion: older records of the key must stay dead */
    }
    if (del) {
        if (oldest) {
            drop_slot(c, s);
            return 0;
        }
        return pending_add(x, 1, key, klen, NULL, 0, 0);
    }
    return pending_add(x, 0, key, klen, val, vlen, seq);
}

static int compact_block(void *ud, uint64_t off, const uint8_t *block)
{
    compact_ctx *x = ud;
    cold_store *c = x->c;
    pthread_mutex_lock(&c->mu);
    uint32_t rlen, n;
    uint8_t *raw = NULL;
    int st = block_open(block, &raw, &rlen, &n);
    if (!st) {
        x->off = off;
        st = for_records(raw, rlen, n, compact_record, x);
    }
    free(raw);
    if (st == HRT_E_FORMAT) st = 0; /* damaged: its records are dropped when the segment goes */
    if (!st && x->bytes >= COMPACT_BLOCK) st = pending_flush(x);
    pthread_mutex_unlock(&c->mu);
    return st == HRT_E_NOMEM ? hrt_err(HRT_E_NOMEM, "out of memory compacting %s", c->dir) : st;
}

/* Copies the live records of segment num out, then removes it. */
static int compact_segment(cold_store *c, uint32_t num, compact_ctx *x)
{
    pthread_mutex_lock(&c->mu);
    int si = seg_at(c, num);
    segment g = si >= 0 ? c->segs[si] : (segment){0};
    pthread_mutex_unlock(&c->mu);
    if (si < 0) return 0;
    /* a sealed segment never changes: it can be read without the lock */
    uint8_t *map = mmap(NULL, g.size, PROT_READ, MAP_SHARED, g.fd, 0);
    if (map == MAP_FAILED) return hrt_err(HRT_E_IO, "%s: cannot map segment %u: %s", c->dir, num, strerror(errno));
    x->num = num;
    uint64_t good_end;
    int st = walk_blocks(c, &g, map, 0, compact_block, x, &good_end);
    munmap(map, g.size);
    pthread_mutex_lock(&c->mu);
    if (!st) st = pending_flush(x); /* the copies first: then only the lost point here */
    /* What still points here was in a damaged block: lost; a deletion keeps
     * it from bringing an older record back unless nothing is older. */
    int oldest = c->segs[0].num == num;
    for (size_t i = 0; !st && i < c->n_slots; i++) {
        slot *s = &c->slots[i];
        if (!s->key || s->seg != num) continue;
        if (!s->deleted) x->dropped++; /* its block was counted as corrupt when read */
        if (oldest) drop_slot(c, s);
        else st = pending_add(x, 1, s->key, s->key_len, NULL, 0, 0);
    }
    if (st == HRT_E_NOMEM) st = hrt_err(HRT_E_NOMEM, "out of memory compacting %s", c->dir);
    if (!st) st = pending_flush(x); /* the deletions of the lost */
    pending_free(x);
    if (!st) { /* the copies are durable: the segment can go */
        char path[4096];
        seg_path(c, num, "hci", path, sizeof path);
        unlink(path); /* the index first: a segment without one is scanned */
        seg_path(c, num, "hcs", path, sizeof path);
        si = seg_at(c, num);
        close(c->segs[si].fd);
        memmove(c->segs + si, c->segs + si + 1, (size_t)(c->n_segs - si - 1) * sizeof *c->segs);
        c->n_segs--;
        if (unlink(path) || file_fsync_dir(c->dir))
            st = hrt_err(HRT_E_IO, "%s: removing a compacted segment: %s", path, strerror(errno));
        c->st.compactions++;
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

int cold_compact(cold_store *c, double min_dead, cold_keep_fn keep, void *ud, uint64_t *dropped)
{
    if (!c) return hrt_err(HRT_E_INVALID, "cold_compact: NULL argument");
    pthread_mutex_lock(&c->compact_mu);
    for (;;) { /* index files for segments sealed since open, one at a time */
        pthread_mutex_lock(&c->mu);
        segment g = {0};
        for (int i = 0; i + 1 < c->n_segs && !g.num; i++)
            if (!c->segs[i].indexed) g = c->segs[i];
        pthread_mutex_unlock(&c->mu);
        if (!g.num) break;
        int ist = write_index(c, &g); /* a sealed segment: no lock needed to read it */
        if (ist) hrt_log(HRT_LOG_WARN, "%s", hrt_last_error());
        pthread_mutex_lock(&c->mu);
        int si = seg_at(c, g.num);
        if (si >= 0) c->segs[si].indexed = 1; /* or failed: tried once per open */
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    int st = 0;
    segment *last = &c->segs[c->n_segs - 1];
    if (min_dead <= 0 && last->size > SEG_HEADER) st = add_segment(c, last->num + 1, 1); /* seal it too */
    /* Live records per sealed segment, from the index. */
    int n = c->n_segs - 1;
    uint64_t *live = calloc((size_t)n + 1, sizeof *live);
    uint32_t *todo = malloc(((size_t)n + 1) * sizeof *todo);
    if (!st && (!live || !todo)) st = hrt_err(HRT_E_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < c->n_slots; i++) {
        int si = c->slots[i].key && c->slots[i].seg ? seg_at(c, c->slots[i].seg) : -1;
        if (si >= 0 && si < n) live[si]++;
    }
    int n_todo = 0;
    for (int i = 0; !st && i < n; i++) {
        const segment *g = &c->segs[i];
        double dead = g->recs ? 1.0 - (double)live[i] / (double)g->recs : 1.0;
        if (min_dead <= 0 || dead >= min_dead) todo[n_todo++] = g->num;
    }
    pthread_mutex_unlock(&c->mu);
    compact_ctx x = {.c = c, .keep = keep, .ud = ud};
    for (int i = 0; !st && i < n_todo; i++) st = compact_segment(c, todo[i], &x);
    free(x.puts);
    free(x.dels);
    free(x.seqs);
    free(live);
    free(todo);
    if (dropped) *dropped = x.dropped;
    pthread_mutex_unlock(&c->compact_mu);
    return st;
}
