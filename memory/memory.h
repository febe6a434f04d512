/* Internals of the memory handle, shared by the files of memory/ and the tests. */
#ifndef HRT_MEMORY_H
#define HRT_MEMORY_H

#include <pthread.h>
#include <stdint.h>

#include "hrt.h"

/* Replaces the wall clock (unix seconds) that expiry and ageing read; NULL
 * restores it. For tests. */
void memory_set_clock(hrt_memory *m, int64_t (*clock)(void));
int64_t memory_now(hrt_memory *m);
/* Serialises the numbering of conversation turns. */
pthread_mutex_t *memory_turn_lock(hrt_memory *m);

#endif
