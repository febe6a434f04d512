// The FAISS C API functions hrt calls, implemented over Debian's libfaiss.
//
// Debian's libfaiss-dev ships the C API headers (<faiss/c_api/...>) and the
// C++ library, but not the compiled C API library (libfaiss_c). This file
// is the part of that library hrt needs, written against the same headers
// so that the signatures are checked by the compiler; the rest of hrt is C
// and sees only the headers. Each function catches every exception and
// returns nonzero, keeping the message for faiss_get_last_error() (the
// C API's convention: 0 ok, -2 a FAISS error, -4 another exception).
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <exception>
#include <string>

extern "C" {
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
} // namespace

extern "C" {

const char *faiss_get_last_error() { return last_error.empty() ? nullptr : last_error.c_str(); }

int faiss_index_factory(FaissIndex **p_index, int d, const char *description, FaissMetricType metric)
{
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndex *>(
            faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric)));
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
    return guarded([&] { ix(index)->search(n, x, k, distances, labels); });
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
    return guarded([&] { *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(fname, io_flags)); });
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
