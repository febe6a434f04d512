/* FNV-1a, 64 bits (Fowler, Noll, Vo; the offset basis and prime from
 * http://www.isthe.com/chongo/tech/comp/fnv/): the key hash of the memory
 * tiers' tables and the chunk hash of the retrieval store.
 * fnv1a(FNV1A_BASIS, ...) starts a hash; passing a previous result
 * continues it over more bytes. */
#ifndef HRT_FNV_H
#define HRT_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_BASIS 1469598103934665603ull

static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

#endif
