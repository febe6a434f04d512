#include "hot.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fnv.h"

#define KIN_PCT 25   /* A1in's share of the budget (the paper's Kin) */
#define GHOST_PCT 50 /* A1out's key bytes, as a share of the budget (the paper's Kout) */
#define OVERHEAD 64  /* bytes charged per entry for its bookkeeping */

enum { L_NONE, L_A1IN, L_A1OUT, L_AM };

typedef struct node {
    struct node *prev, *next; /* list links */
    struct node *chain;       /* hash chain */
    uint64_t hash;
    int list;
    size_t key_len, value_len;
    char *key, *value;        /* value NULL in A1out */
} node;

typedef struct {
    node head; /* sentinel: head.next is the newest */
    size_t bytes;
} list;

struct hot_cache {
    pthread_mutex_t mu;
    size_t budget;
    node **buckets;
    size_t n_buckets, n_nodes, n_ghosts; /* n_ghosts: nodes in A1out */
    list a1in, a1out, am;
    hot_stats st;
};

static size_t cost(const node *x) { return OVERHEAD + x->key_len + (x->value ? x->value_len : 0); }

static void list_init(list *l)
{
    l->head.next = l->head.prev = &l->head;
    l->bytes = 0;
}

static list *list_of(hot_cache *h, int which)
{
    return which == L_A1IN ? &h->a1in : which == L_A1OUT ? &h->a1out : &h->am;
}

static void unlink_node(hot_cache *h, node *x)
{
    list *l = list_of(h, x->list);
    x->prev->next = x->next;
    x->next->prev = x->prev;
    l->bytes -= cost(x);
    h->n_ghosts -= x->list == L_A1OUT;
    x->list = L_NONE;
}

static void push_front(hot_cache *h, node *x, int which)
{
    list *l = list_of(h, which);
    x->next = l->head.next;
    x->prev = &l->head;
    l->head.next->prev = x;
    l->head.next = x;
    l->bytes += cost(x);
    h->n_ghosts += which == L_A1OUT;
    x->list = which;
}

static node **find(hot_cache *h, const void *key, size_t n, uint64_t hash)
{
    node **p = &h->buckets[hash & (h->n_buckets - 1)];
    while (*p && !((*p)->hash == hash && (*p)->key_len == n && !memcmp((*p)->key, key, n))) p = &(*p)->chain;
    return p;
}

static void destroy(hot_cache *h, node *x)
{
    node **p = find(h, x->key, x->key_len, x->hash);
    *p = x->chain;
    if (x->list != L_NONE) unlink_node(h, x);
    h->n_nodes--;
    free(x->key);
    free(x->value);
    free(x);
}

static int rehash(hot_cache *h)
{
    size_t n = h->n_buckets ? h->n_buckets * 2 : 1024;
    node **b = calloc(n, sizeof *b);
    if (!b) return HRT_E_NOMEM;
    for (size_t i = 0; i < h->n_buckets; i++)
        for (node *x = h->buckets[i], *next; x; x = next) {
            next = x->chain;
            x->chain = b[x->hash & (n - 1)];
            b[x->hash & (n - 1)] = x;
        }
    free(h->buckets);
    h->buckets = b;
    h->n_buckets = n;
    return 0;
}

hot_cache *hot_new(size_t budget)
{
    hot_cache *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->mu, NULL);
    h->budget = budget;
    h->st.budget = budget;
    list_init(&h->a1in);
    list_init(&h->a1out);
    list_init(&h->am);
    if (rehash(h)) {
        hot_free(h);
        return NULL;
    }
    return h;
}

void hot_free(hot_cache *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n_buckets; i++)
        for (node *x = h->buckets[i], *next; x; x = next) {
            next = x->chain;
            free(x->key);
            free(x->value);
            free(x);
        }
    free(h->buckets);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Evicts until the resident lists fit the budget and A1out its share:
 * from A1in while it is over its share (its keys go to A1out), else the
 * least recently used of Am. */
static void reclaim(hot_cache *h)
{
    size_t kin = h->budget / 100 * KIN_PCT, ghost = h->budget / 100 * GHOST_PCT;
    while (h->a1in.bytes + h->am.bytes > h->budget) {
        node *x;
        if (h->a1in.bytes > kin || h->am.head.prev == &h->am.head) {
            x = h->a1in.head.prev;
            unlink_node(h, x);
            free(x->value);
            x->value = NULL;
            push_front(h, x, L_A1OUT);
        } else {
            destroy(h, h->am.head.prev);
        }
        h->st.evictions++;
    }
    while (h->a1out.bytes > ghost) destroy(h, h->a1out.head.prev);
}

int hot_put(hot_cache *h, const void *key, size_t key_len, const void *value, size_t value_len)
{
    if (!h || (!key && key_len) || (!value && value_len)) return hrt_err(HRT_E_INVALID, "hot_put: NULL argument");
    if (OVERHEAD + key_len + value_len > h->budget) return HRT_E_RANGE;
    char *v = malloc(value_len ? value_len : 1);
    if (!v) return hrt_err(HRT_E_NOMEM, "out of memory");
    if (value_len) memcpy(v, value, value_len);
    pthread_mutex_lock(&h->mu);
    uint64_t hash = fnv1a(FNV1A_BASIS, key, key_len);
    node **p = find(h, key, key_len, hash), *x = *p;
    int where = L_A1IN;
    if (x) {
        /* known: a resident entry keeps its list, a ghost comes back to Am */
        where = x->list == L_A1OUT ? L_AM : x->list;
        if (x->list == L_A1OUT) h->st.promotions++;
        unlink_node(h, x);
        free(x->value);
    } else {
        if ((h->n_nodes + 1) * 2 > h->n_buckets && rehash(h) == 0) p = find(h, key, key_len, hash);
        x = calloc(1, sizeof *x);
        char *k = x ? malloc(key_len ? key_len : 1) : NULL;
        if (!x || !k) {
            free(x);
            free(v);
            pthread_mutex_unlock(&h->mu);
            return hrt_err(HRT_E_NOMEM, "out of memory");
        }
        if (key_len) memcpy(k, key, key_len);
        x->key = k;
        x->key_len = key_len;
        x->hash = hash;
        x->chain = *p;
        *p = x;
        h->n_nodes++;
    }
    x->value = v;
    x->value_len = value_len;
    push_front(h, x, where);
    reclaim(h);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

int hot_get(hot_cache *h, const void *key, size_t key_len, void **value, size_t *value_len)
{
    if (!h || (!key && key_len) || !value) return hrt_err(HRT_E_INVALID, "hot_get: NULL argument");
    *value = NULL;
    pthread_mutex_lock(&h->mu);
    node *x = *find(h, key, key_len, fnv1a(FNV1A_BASIS, key, key_len));
    int st = 0;
    if (!x || x->list == L_A1OUT) {
        h->st.misses++;
        st = HRT_E_RANGE;
    } else {
        h->st.hits++;
        if (x->list == L_A1IN) h->st.promotions++; /* used again: into Am */
        unlink_node(h, x);
        push_front(h, x, L_AM);                    /* most recently used */
        *value = malloc(x->value_len ? x->value_len : 1);
        if (!*value) {
            st = hrt_err(HRT_E_NOMEM, "out of memory");
        } else {
            memcpy(*value, x->value, x->value_len);
            if (value_len) *value_len = x->value_len;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return st;
}

int hot_del(hot_cache *h, const void *key, size_t key_len)
{
    if (!h || (!key && key_len)) return hrt_err(HRT_E_INVALID, "hot_del: NULL argument");
    pthread_mutex_lock(&h->mu);
    node *x = *find(h, key, key_len, fnv1a(FNV1A_BASIS, key, key_len));
    int st = x && x->list != L_A1OUT ? 0 : HRT_E_RANGE;
    if (x) destroy(h, x);
    pthread_mutex_unlock(&h->mu);
    return st;
}

void hot_get_stats(hot_cache *h, hot_stats *out)
{
    pthread_mutex_lock(&h->mu);
    *out = h->st;
    out->bytes = h->a1in.bytes + h->am.bytes;
    out->entries = h->n_nodes - h->n_ghosts;
    pthread_mutex_unlock(&h->mu);
}
