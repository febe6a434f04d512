/* hrt_kb_* for a libhrt built without FAISS or SQLite: every call says so
 * (HRT_E_UNSUPPORTED), so that programs link and report it clearly. */
#include <string.h>

#include "error.h"

static int off(void) { return hrt_err(HRT_E_UNSUPPORTED, "this libhrt was built without retrieval (FAISS and SQLite were not found)"); }

hrt_kb_params hrt_kb_default_params(void) { hrt_kb_params p; memset(&p, 0, sizeof p); return p; }
hrt_kb_search_params hrt_kb_search_default_params(void) { hrt_kb_search_params p; memset(&p, 0, sizeof p); return p; }
int hrt_kb_open(const char *d, const hrt_kb_params *p, hrt_kb **o) { (void)d, (void)p; if (o) *o = NULL; return off(); }
void hrt_kb_free(hrt_kb *kb) { (void)kb; }
int hrt_kb_add(hrt_kb *kb, const char *p, hrt_kb_report *r) { (void)kb, (void)p; if (r) memset(r, 0, sizeof *r); return off(); }
int hrt_kb_remove(hrt_kb *kb, const char *p, uint64_t *n) { (void)kb, (void)p; if (n) *n = 0; return off(); }
int hrt_kb_search(hrt_kb *kb, const char *q, const hrt_kb_search_params *p, hrt_kb_hit *h) { (void)kb, (void)q, (void)p, (void)h; return off(); }
void hrt_kb_hits_free(hrt_kb_hit *h, size_t n) { (void)h, (void)n; }
int hrt_kb_stats_get(hrt_kb *kb, hrt_kb_stats *o) { (void)kb, (void)o; return off(); }
