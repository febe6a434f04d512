/* hrt_memory_* for a libhrt built without zstd or SQLite: every call says
 * so (HRT_E_UNSUPPORTED), so that programs link and report it clearly. */
#include <string.h>

#include "error.h"

static int off(void) { return hrt_err(HRT_E_UNSUPPORTED, "this libhrt was built without the memory tiers (zstd and SQLite were not found)"); }

hrt_memory_params hrt_memory_default_params(void) { hrt_memory_params p; memset(&p, 0, sizeof p); return p; }
int hrt_memory_open(const char *d, const hrt_memory_params *p, hrt_memory **o) { (void)d, (void)p; if (o) *o = NULL; return off(); }
void hrt_memory_free(hrt_memory *m) { (void)m; }
int hrt_memory_put(hrt_memory *m, const hrt_memory_record *r, size_t n) { (void)m, (void)r, (void)n; return off(); }
int hrt_memory_get(hrt_memory *m, const void *k, size_t kl, void **v, size_t *vl, int *t) { (void)m, (void)k, (void)kl, (void)vl, (void)t; if (v) *v = NULL; return off(); }
int hrt_memory_delete(hrt_memory *m, const void *k, size_t kl) { (void)m, (void)k, (void)kl; return off(); }
int hrt_memory_query(hrt_memory *m, const void *p, size_t pl, const float *v, int d, size_t k, float s, hrt_memory_hit *h) { (void)m, (void)p, (void)pl, (void)v, (void)d, (void)k, (void)s, (void)h; return off(); }
void hrt_memory_hits_free(hrt_memory_hit *h, size_t n) { (void)h, (void)n; }
int hrt_memory_maintain(hrt_memory *m, int f, hrt_memory_report *r) { (void)m, (void)f, (void)r; return off(); }
int hrt_memory_stats_get(hrt_memory *m, hrt_memory_stats *o) { (void)m, (void)o; return off(); }
int hrt_memory_turn_add(hrt_memory *m, const char *s, const char *r, const char *t, size_t l, uint64_t *i) { (void)m, (void)s, (void)r, (void)t, (void)l, (void)i; return off(); }
int hrt_memory_turns(hrt_memory *m, const char *s, size_t n, hrt_chat_msg **o, size_t *no) { (void)m, (void)s, (void)n; if (o) *o = NULL; if (no) *no = 0; return off(); }
void hrt_memory_turns_free(hrt_chat_msg *m, size_t n) { (void)m, (void)n; }
int hrt_memory_answer_put(hrt_memory *m, const float *q, int d, const hrt_answer *a, int64_t t) { (void)m, (void)q, (void)d, (void)a, (void)t; return off(); }
int hrt_memory_answer_lookup(hrt_memory *m, const float *q, int d, const char *mo, const char *pv, float th, hrt_answer *o, float *s) { (void)m, (void)q, (void)d, (void)mo, (void)pv, (void)th, (void)o, (void)s; return off(); }
void hrt_answer_clear(hrt_answer *a) { (void)a; }
