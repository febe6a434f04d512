/* The cold tier: append-only segment files of zstd-compressed blocks, the
 * archive under the hot (in-process) and warm (SQLite) tiers.
 *
 * A store is a directory of segments seg-NNNNNNNN.hcs. Layout (version 1):
 *   segment: "HRTCOLD\0" (8 bytes), u32 version, u32 zero, then blocks;
 *   block:   u32 magic "HBLK", u32 compressed length, u32 raw length,
 *            u32 record count, u32 CRC-32C of the compressed payload,
 *            u32 CRC-32C of these first 20 header bytes, then the payload;
 *   payload: zstd frame of records, each u64 sequence number, u32 key
 *            length, u32 value length, u8 flags (1 = deleted), key, value.
 * All integers little-endian.
 *
 * Invariants:
 *   1. Blocks are only ever appended. cold_put() returns after its block
 *      and the file are fsync'd: an acknowledged record survives kill -9.
 *   2. The index (key -> segment, block, sequence) lives in memory. At open
 *      it is loaded from the index files of sealed segments (seg-N.hci, see
 *      cold.c) and by scanning the rest, or any segment whose index file is
 *      missing or damaged; the highest sequence number of a key wins, and a
 *      deletion is a record too.
 *   3. A block whose header or payload checksum fails is reported (log,
 *      counter) and skipped: the scan resynchronises at the next block
 *      header whose own checksum holds, so the rest stays readable. A get
 *      never returns bytes that failed their checksum.
 *   4. A torn block at the end of the newest segment (a crash during an
 *      append) is cut off at open, before anything is appended after it.
 *   5. Compaction goes segment by segment: it copies a sealed segment's
 *      live records (keeping their sequence numbers) into the newest
 *      segment, fsyncs, then removes the old segment; a crash in between
 *      leaves duplicates, which the sequence numbers resolve. Only sealed
 *      segments (not the newest) are compacted, so readers and writers
 *      wait for at most one block's worth of work.
 * Thread safety: one mutex per store; an operation holds it for at most one
 * block write or read. */
#ifndef HRT_COLD_H
#define HRT_COLD_H

#include <stddef.h>
#include <stdint.h>

#define COLD_FORMAT_VERSION 1

typedef struct cold_store cold_store;

typedef struct {
    size_t segment_bytes;   /* start a new segment past this size (0: 64 MiB) */
    int zstd_level;         /* 0: 3 */
} cold_params;

typedef struct {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} cold_record;

typedef struct {
    uint64_t entries;        /* live keys */
    uint64_t segments, blocks;
    uint64_t corrupt_blocks; /* skipped since open */
    uint64_t bytes_on_disk, bytes_raw; /* of the blocks read or written since open */
    uint64_t disk_bytes;     /* size of all segments now */
    uint64_t compactions;    /* segments compacted away since open */
} cold_stats;

/* Opens (creating the directory if needed) and indexes a store. Returns 0,
 * HRT_E_IO, or HRT_E_FORMAT for a segment of a newer format version. */
int cold_open(const char *dir, const cold_params *params, cold_store **out);
void cold_close(cold_store *c);

/* Appends n records as one block and makes it durable. */
int cold_put(cold_store *c, const cold_record *recs, size_t n);
/* Records a deletion (durable like a put). HRT_E_RANGE when absent. */
int cold_del(cold_store *c, const void *key, size_t key_len);
/* The value of key: *value malloc'd (caller frees), *value_len its length.
 * HRT_E_RANGE when absent or deleted; HRT_E_FORMAT when its block no longer
 * passes its checksum (the key is then dropped from the index). */
int cold_get(cold_store *c, const void *key, size_t key_len, void **value, size_t *value_len);
/* 1 when the index holds a live record of key, else 0 (no disk access). */
int cold_has(cold_store *c, const void *key, size_t key_len);
/* Compaction keeps a live record when keep returns nonzero (keep NULL:
 * every live record); the records it does not keep are deleted. */
typedef int (*cold_keep_fn)(void *ud, const void *key, size_t key_len, const void *value, size_t value_len);
/* Compacts every sealed segment in which at least min_dead of the records
 * are dead (overwritten, deleted, or not kept). min_dead <= 0 seals the
 * newest segment first and compacts them all. *dropped (optional): live
 * records not kept or lost to damage. */
int cold_compact(cold_store *c, double min_dead, cold_keep_fn keep, void *ud, uint64_t *dropped);
void cold_get_stats(cold_store *c, cold_stats *out);

/* CRC-32C (Castagnoli), as used by the block checksums. */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

#endif
