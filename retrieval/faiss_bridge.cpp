// The FAISS C API functions hrt calls, implemented over Debian's libfaiss.
//
// Debian's libfaiss-dev ships the C API headers (<faiss/c_api/...>) and the
// C++ library, but not the compiled C API library (libfaiss_c). This file
// is the part of that library hrt needs, written against the same headers
// so that the signatures are checked by the compiler; the rest of hrt is C
// and sees only the headers. Each function catches every exception and
// returns nonzero, keeping the message for faiss_get_last_error() (the
// C API's convention: 0 ok, -2 a FAISS error, -4 another exception).
//
// One more thing lives here: the inner product of flat float storage.
// Debian builds libfaiss for baseline x86-64, where its fvec_inner_product
// is the scalar reference loop (35% of HNSW search time at 100k chunks,
// measured with perf). Every flat inner-product index the bridge creates or
// reads gets storage whose distance computer and single-query search use
// hrt's dot product instead (cpu_dot_f32: AVX2+FMA when the CPU has them,
// chosen at run time). The stored codes and the file format are FAISS's
// own, unchanged.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <exception>
#include <string>
#include <typeinfo>


extern "C" {
#include "cpu/ops.h"
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
}

namespace {
thread_local std::string last_error;

template <typename F>
int guarded(F f)
{
    try {
        f();
        return 0;
    } catch (const faiss::FaissException &e) {
        last_error = e.what();
        return -2;
    } catch (const std::exception &e) {
        last_error = e.what();
        return -4;
    } catch (...) {
        last_error = "unknown error";
        return -1;
    }
}

faiss::Index *ix(FaissIndex *p) { return reinterpret_cast<faiss::Index *>(p); }
const faiss::Index *ix(const FaissIndex *p) { return reinterpret_cast<const faiss::Index *>(p); }

float inner_product(const float *a, const float *b, size_t d) { return cpu_dot_f32(a, b, (int)d); }

struct IPComputer final : faiss::FlatCodesDistanceComputer {
    const float *xb;
    size_t d;
    const float *q = nullptr;

    IPComputer(const float *xb, size_t d)
        : faiss::FlatCodesDistanceComputer(reinterpret_cast<const uint8_t *>(xb), d * sizeof(float)), xb(xb), d(d)
    {
    }
    void set_query(const float *x) override { q = x; }
    float distance_to_code(const uint8_t *code) override
    {
        return inner_product(q, reinterpret_cast<const float *>(code), d);
    }
    float symmetric_dis(idx_t i, idx_t j) override { return inner_product(xb + i * d, xb + j * d, d); }
};

// IndexFlatIP with hrt's inner product. FAISS writes it as the IndexFlat it
// is (write_index tests for IndexFlat), so files stay plain FAISS files.
struct FlatIP final : faiss::IndexFlatIP {
    explicit FlatIP(idx_t d) : faiss::IndexFlatIP(d) {}

    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override
    {
        return new IPComputer(get_xb(), (size_t)d);
    }

    // A few queries at a time (hrt searches one): a scan with a heap. From
    // FAISS's BLAS threshold up, and with search parameters, FAISS's own.
    void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
                const faiss::SearchParameters *params) const override
    {
        if (params || n >= (idx_t)faiss::distance_compute_blas_threshold || k <= 0) {
            faiss::IndexFlatIP::search(n, x, k, distances, labels, params);
            return;
        }
        typedef faiss::CMin<float, idx_t> C;
        const float *xb = get_xb();
        for (idx_t q = 0; q < n; q++) {
            float *D = distances + q * k;
            idx_t *I = labels + q * k;
            faiss::heap_heapify<C>((size_t)k, D, I);
            for (idx_t j = 0; j < ntotal; j++) {
                float v = inner_product(x + q * d, xb + j * d, (size_t)d);
                if (C::cmp(D[0], v)) faiss::heap_replace_top<C>((size_t)k, D, I, v, j);
            }
            faiss::heap_reorder<C>((size_t)k, D, I);
        }
    }
};

// Plain flat inner-product storage (the factory makes an IndexFlat, reading
// a file an IndexFlatIP) → FlatIP holding the same codes; other indexes are
// returned as they are.
faiss::Index *faster_flat(faiss::Index *p)
{
    if (!p || (typeid(*p) != typeid(faiss::IndexFlatIP) && typeid(*p) != typeid(faiss::IndexFlat)) ||
        p->metric_type != faiss::METRIC_INNER_PRODUCT)
        return p;
    auto *old = static_cast<faiss::IndexFlat *>(p);
    auto *f = new FlatIP(old->d);
    f->codes.swap(old->codes);
    f->ntotal = old->ntotal;
    f->verbose = old->verbose;
    delete old;
    return f;
}

// The flat storage under hrt's index types: IDMap(2) over Flat or over
// HNSW,Flat, and HNSW,Flat alone. Only storage the parent owns is replaced.
void adopt_flat(faiss::Index *root)
{
    faiss::Index *p = root;
    if (auto *m = dynamic_cast<faiss::IndexIDMap *>(p)) {
        if (m->own_fields) m->index = faster_flat(m->index);
        p = m->index;
    }
    if (auto *h = dynamic_cast<faiss::IndexHNSW *>(p))
        if (h->own_fields) h->storage = faster_flat(h->storage);
}
} // namespace

extern "C" {

const char *faiss_get_last_error() { return last_error.empty() ? nullptr : last_error.c_str(); }

int faiss_index_factory(FaissIndex **p_index, int d, const char *description, FaissMetricType metric)
{
    return guarded([&] {
        faiss::Index *p = faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric));
        adopt_flat(p);
        *p_index = reinterpret_cast<FaissIndex *>(p);
    });
}

void faiss_Index_free(FaissIndex *obj) { delete ix(obj); }
int faiss_Index_d(const FaissIndex *index) { return ix(index)->d; }
int faiss_Index_is_trained(const FaissIndex *index) { return ix(index)->is_trained; }
idx_t faiss_Index_ntotal(const FaissIndex *index) { return ix(index)->ntotal; }

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x)
{
    return guarded([&] { ix(index)->train(n, x); });
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x, const idx_t *xids)
{
    return guarded([&] { ix(index)->add_with_ids(n, x, xids); });
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k, float *distances, idx_t *labels)
{
    // FAISS 1.7.3 opens an OpenMP team for an HNSW search whatever the
    // number of queries: each thread of the team allocates a visited table
    // of ntotal bytes, then waits, spinning, on the one thread with work,
    // taking the cores of the caller's other threads (a hybrid search's BM25
    // helper). hrt searches one query at a time: it runs on this thread
    // alone (the setting is this thread's, restored after).
    int prev = n == 1 ? omp_get_max_threads() : 0;
    if (prev > 1) omp_set_num_threads(1);
    int st = guarded([&] { ix(index)->search(n, x, k, distances, labels); });
    if (prev > 1) omp_set_num_threads(prev);
    return st;
}

int faiss_Index_remove_ids(FaissIndex *index, const FaissIDSelector *sel, size_t *n_removed)
{
    return guarded([&] {
        size_t n = ix(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector *>(sel));
        if (n_removed) *n_removed = n;
    });
}

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch **p_sel, size_t n, const idx_t *indices)
{
    return guarded([&] {
        *p_sel = reinterpret_cast<FaissIDSelectorBatch *>(new faiss::IDSelectorBatch(n, indices));
    });
}

void faiss_IDSelector_free(FaissIDSelector *obj) { delete reinterpret_cast<faiss::IDSelector *>(obj); }

int faiss_write_index_fname(const FaissIndex *idx, const char *fname)
{
    return guarded([&] { faiss::write_index(ix(idx), fname); });
}

int faiss_read_index_fname(const char *fname, int io_flags, FaissIndex **p_out)
{
    return guarded([&] {
        faiss::Index *p = faiss::read_index(fname, io_flags);
        adopt_flat(p);
        *p_out = reinterpret_cast<FaissIndex *>(p);
    });
}

int faiss_ParameterSpace_new(FaissParameterSpace **space)
{
    return guarded([&] { *space = reinterpret_cast<FaissParameterSpace *>(new faiss::ParameterSpace()); });
}

void faiss_ParameterSpace_free(FaissParameterSpace *obj) { delete reinterpret_cast<faiss::ParameterSpace *>(obj); }

int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space, FaissIndex *index, const char *name,
                                             double value)
{
    return guarded([&] {
        reinterpret_cast<const faiss::ParameterSpace *>(space)->set_index_parameter(ix(index), name, value);
    });
}

} // extern "C"
