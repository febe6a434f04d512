#include "dense.h"

#include <errno.h>
#include <fcntl.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "file.h"

#define FLAT_LIMIT 50000
#define HNSW_EF_SEARCH 64

struct dense_index {
    FaissIndex *ix;
    char type[64];
    int dim;
};

static int faiss_err(int code, const char *what)
{
    const char *m = faiss_get_last_error();
    return hrt_err(code, "%s: %s", what, m ? m : "FAISS failed");
}

const char *dense_default_type(uint64_t n) { return n < FLAT_LIMIT ? "IDMap2,Flat" : "IDMap2,HNSW32,Flat"; }

/* Search-time parameters the factory string does not carry. */
static void tune(dense_index *d)
{
    if (!strstr(d->type, "HNSW")) return;
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps) == 0) {
        if (faiss_ParameterSpace_set_index_parameter(ps, d->ix, "efSearch", HNSW_EF_SEARCH))
            hrt_log(HRT_LOG_WARN, "dense index: cannot set efSearch: %s", faiss_get_last_error());
        faiss_ParameterSpace_free(ps);
    }
}

static int wrap(FaissIndex *ix, const char *type, int dim, dense_index **out)
{
    dense_index *d = calloc(1, sizeof *d);
    if (!d) {
        faiss_Index_free(ix);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    d->ix = ix;
    d->dim = dim;
    snprintf(d->type, sizeof d->type, "%s", type);
    tune(d);
    *out = d;
    return 0;
}

int dense_create(int dim, const char *type, dense_index **out)
{
    *out = NULL;
    if (dim <= 0 || !type || strlen(type) >= 64) return hrt_err(HRT_E_INVALID, "dense index: bad dimension or type");
    FaissIndex *ix = NULL;
    if (faiss_index_factory(&ix, dim, type, METRIC_INNER_PRODUCT))
        return faiss_err(HRT_E_INVALID, "dense index: index_factory refused the type");
    return wrap(ix, type, dim, out);
}

int dense_load(const char *path, const char *type, int dim, dense_index **out)
{
    *out = NULL;
    if (access(path, R_OK)) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    FaissIndex *ix = NULL;
    char what[4200];
    snprintf(what, sizeof what, "%s: not a FAISS index FAISS can read", path);
    if (faiss_read_index_fname(path, 0, &ix)) return faiss_err(HRT_E_FORMAT, what);
    if (faiss_Index_d(ix) != dim) {
        int got = faiss_Index_d(ix);
        faiss_Index_free(ix);
        return hrt_err(HRT_E_FORMAT, "%s: vectors of dimension %d, the knowledge base's are %d", path, got, dim);
    }
    return wrap(ix, type, dim, out);
}

int dense_save(dense_index *d, const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (faiss_write_index_fname(d->ix, tmp)) {
        unlink(tmp);
        char what[4300];
        snprintf(what, sizeof what, "%s: writing the index", tmp);
        return faiss_err(HRT_E_IO, what);
    }
    return file_commit(tmp, path);
}

void dense_free(dense_index *d)
{
    if (!d) return;
    faiss_Index_free(d->ix);
    free(d);
}

int dense_add(dense_index *d, size_t n, const float *vecs, const int64_t *ids)
{
    if (!n) return 0;
    if (faiss_Index_add_with_ids(d->ix, (idx_t)n, vecs, ids)) return faiss_err(HRT_E_NOMEM, "dense index: add");
    return 0;
}

int dense_remove(dense_index *d, size_t n, const int64_t *ids, size_t *removed)
{
    if (removed) *removed = 0;
    if (!n || strstr(d->type, "HNSW")) return 0; /* HNSW: left stale (see dense.h) */
    FaissIDSelectorBatch *sel = NULL;
    if (faiss_IDSelectorBatch_new(&sel, n, ids)) return faiss_err(HRT_E_NOMEM, "dense index: remove");
    size_t got = 0;
    int st = faiss_Index_remove_ids(d->ix, (const FaissIDSelector *)sel, &got);
    faiss_IDSelector_free((FaissIDSelector *)sel);
    if (st) return faiss_err(HRT_E_INVALID, "dense index: remove");
    if (removed) *removed = got;
    return 0;
}

int dense_search(dense_index *d, const float *q, size_t k, float *scores, int64_t *ids)
{
    if (!k) return 0;
    if (faiss_Index_search(d->ix, 1, q, (idx_t)k, scores, (idx_t *)ids)) return faiss_err(HRT_E_NOMEM, "dense index: search");
    return 0;
}

uint64_t dense_count(dense_index *d) { return (uint64_t)faiss_Index_ntotal(d->ix); }
int dense_dim(dense_index *d) { return d->dim; }
const char *dense_type(dense_index *d) { return d->type; }
