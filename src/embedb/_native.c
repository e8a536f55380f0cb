/*
 * embedb._native: the compiled parts of EmbeDB's search path (setup.py builds it; each caller has a Python fallback).
 *
 * Graph: HNSW search over a graph Faiss built, with the row filter in the kernel.
 * hits: the Milvus-shaped hit lists of a search, built without a Python loop.
 *
 * Faiss builds the graph (IndexHNSWFlat); this module only searches it. Per query it does
 * what the HNSW paper's search does: a greedy descent through the upper layers, then a
 * best-first search of layer 0 with a candidate heap and a result heap of size ef. A filter
 * does not change the walk (it is the unfiltered one at the same ef, as in Faiss): every
 * allowed row met on the way is kept in a heap of the k best, and only those are returned;
 * the search planner widens ef so that enough allowed rows are met. What makes it cheaper than Faiss's own search for one query at a time:
 *   - no allocation per query: the visited marks (epoch-stamped, so never cleared between
 *     queries) and both heaps live in per-thread scratch that grows once;
 *   - distances are inlined SIMD loops (one build per CPU level, picked at load time);
 *   - the next neighbour's vector is prefetched while the current one is scored.
 * The GIL is released for the whole search; a batch is split over `threads` threads.
 *
 * The graph arrays are Faiss's own (read through buffers, never copied): `levels[i]` is the
 * number of layers node i is in, its neighbours in layer l are
 * neighbors[offsets[i] + cum[l] .. offsets[i] + cum[l + 1]), -1 marking unused slots.
 * `labels[i]` (optional) is the segment row of node i: the graph may be built in any order.
 * Scores come back higher-is-closer: the inner product, or the negated squared L2 distance.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what a search may ask for (EmbeDB asks at most 16,384 and 32,768) and on a layer's width (Faiss's
   M is at most 2,048, so layer 0 holds at most 4,096 neighbours): every size below fits its type and the stack. */
#define MAX_K (1 << 20)
#define MAX_EF (1 << 20)
#define MAX_WIDTH (1 << 16)

typedef struct {
    float distance; /* lower is closer */
    int32_t node;
} Pair;

/* ------------------------------------------------------------------ scratch, per thread */

typedef struct {
    uint16_t *visited;
    size_t visited_size;
    uint16_t epoch;
    Pair *candidates;
    size_t candidates_capacity;
    Pair *results;
    size_t results_capacity;
    Pair *kept; /* the allowed rows among the visited ones, when a filter is given */
    size_t kept_capacity;
    float *query; /* a normalised copy of the query (COSINE) */
    size_t query_capacity;
} Scratch;

static pthread_key_t scratch_key;

static void scratch_free(void *pointer) {
    Scratch *scratch = (Scratch *)pointer;
    if (scratch == NULL) return;
    free(scratch->visited);
    free(scratch->candidates);
    free(scratch->results);
    free(scratch->kept);
    free(scratch->query);
    free(scratch);
}

/* This thread's scratch for `nodes` nodes, `ef` results, `k` kept rows and a query of `dim`; NULL when out of memory. */
static Scratch *scratch_for(size_t nodes, size_t ef, size_t k, size_t dim) {
    Scratch *scratch = (Scratch *)pthread_getspecific(scratch_key);
    if (scratch == NULL) {
        scratch = (Scratch *)calloc(1, sizeof(Scratch));
        if (scratch == NULL || pthread_setspecific(scratch_key, scratch) != 0) {
            free(scratch);
            return NULL;
        }
    }
    if (scratch->visited_size < nodes) {
        uint16_t *grown = (uint16_t *)calloc(nodes, sizeof(uint16_t));
        if (grown == NULL) return NULL;
        free(scratch->visited);
        scratch->visited = grown;
        scratch->visited_size = nodes;
        scratch->epoch = 0;
    }
    if (scratch->results_capacity < ef + 1) {
        Pair *grown = (Pair *)realloc(scratch->results, (ef + 1) * sizeof(Pair));
        if (grown == NULL) return NULL;
        scratch->results = grown;
        scratch->results_capacity = ef + 1;
    }
    if (scratch->candidates_capacity < 2 * ef + 64) {
        size_t capacity = 2 * ef + 64;
        Pair *grown = (Pair *)realloc(scratch->candidates, capacity * sizeof(Pair));
        if (grown == NULL) return NULL;
        scratch->candidates = grown;
        scratch->candidates_capacity = capacity;
    }
    if (scratch->kept_capacity < k + 1) {
        Pair *grown = (Pair *)realloc(scratch->kept, (k + 1) * sizeof(Pair));
        if (grown == NULL) return NULL;
        scratch->kept = grown;
        scratch->kept_capacity = k + 1;
    }
    if (scratch->query_capacity < dim) {
        float *grown = (float *)realloc(scratch->query, dim * sizeof(float));
        if (grown == NULL) return NULL;
        scratch->query = grown;
        scratch->query_capacity = dim;
    }
    /* A new epoch marks nothing visited; after 65,535 queries the marks are cleared once. */
    scratch->epoch++;
    if (scratch->epoch == 0) {
        memset(scratch->visited, 0, scratch->visited_size * sizeof(uint16_t));
        scratch->epoch = 1;
    }
    return scratch;
}

/* ------------------------------------------------------------------ heaps of (distance, node) */

/* Min-heap on distance (the candidates: closest first). */
static inline void min_push(Pair *heap, size_t *size, Pair item) {
    size_t i = (*size)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent].distance <= item.distance) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = item;
}

static inline Pair min_pop(Pair *heap, size_t *size) {
    Pair top = heap[0];
    Pair last = heap[--(*size)];
    size_t n = *size, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap[child + 1].distance < heap[child].distance) child++;
        if (last.distance <= heap[child].distance) break;
        heap[i] = heap[child];
        i = child;
    }
    if (n > 0) heap[i] = last;
    return top;
}

/* Max-heap on distance (the results: the worst of the best ef on top). */
static inline void max_push(Pair *heap, size_t *size, Pair item) {
    size_t i = (*size)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent].distance >= item.distance) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = item;
}

static inline void max_pop(Pair *heap, size_t *size) {
    Pair last = heap[--(*size)];
    size_t n = *size, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap[child + 1].distance > heap[child].distance) child++;
        if (last.distance >= heap[child].distance) break;
        heap[i] = heap[child];
        i = child;
    }
    if (n > 0) heap[i] = last;
}

static int pair_order(const void *a, const void *b) {
    const Pair *x = (const Pair *)a, *y = (const Pair *)b;
    if (x->distance < y->distance) return -1;
    if (x->distance > y->distance) return 1;
    return (x->node > y->node) - (x->node < y->node);
}

/* ------------------------------------------------------------------ distances */

typedef float Lanes __attribute__((vector_size(32), aligned(4), may_alias));

/* -(x . y): lower is closer, like a distance. */
static inline __attribute__((always_inline)) float negative_dot(const float *x, const float *y, size_t dim) {
    Lanes a0 = {0}, a1 = {0};
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        a0 += *(const Lanes *)(x + i) * *(const Lanes *)(y + i);
        a1 += *(const Lanes *)(x + i + 8) * *(const Lanes *)(y + i + 8);
    }
    for (; i + 8 <= dim; i += 8) a0 += *(const Lanes *)(x + i) * *(const Lanes *)(y + i);
    a0 += a1;
    float sum = a0[0] + a0[1] + a0[2] + a0[3] + a0[4] + a0[5] + a0[6] + a0[7];
    for (; i < dim; i++) sum += x[i] * y[i];
    return -sum;
}

static inline __attribute__((always_inline)) float squared_l2(const float *x, const float *y, size_t dim) {
    Lanes a0 = {0}, a1 = {0};
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        Lanes d0 = *(const Lanes *)(x + i) - *(const Lanes *)(y + i);
        Lanes d1 = *(const Lanes *)(x + i + 8) - *(const Lanes *)(y + i + 8);
        a0 += d0 * d0;
        a1 += d1 * d1;
    }
    for (; i + 8 <= dim; i += 8) {
        Lanes d0 = *(const Lanes *)(x + i) - *(const Lanes *)(y + i);
        a0 += d0 * d0;
    }
    a0 += a1;
    float sum = a0[0] + a0[1] + a0[2] + a0[3] + a0[4] + a0[5] + a0[6] + a0[7];
    for (; i < dim; i++) {
        float d = x[i] - y[i];
        sum += d * d;
    }
    return sum;
}

/* Four distances at once: four independent chains, and four vectors' loads in flight together. */
static inline __attribute__((always_inline)) void distances4(const float *q, const float *const *y, size_t dim, int inner_product,
                                                             float *out) {
    Lanes a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    size_t i = 0;
    if (inner_product) {
        for (; i + 8 <= dim; i += 8) {
            Lanes x = *(const Lanes *)(q + i);
            a0 += x * *(const Lanes *)(y[0] + i);
            a1 += x * *(const Lanes *)(y[1] + i);
            a2 += x * *(const Lanes *)(y[2] + i);
            a3 += x * *(const Lanes *)(y[3] + i);
        }
    } else {
        for (; i + 8 <= dim; i += 8) {
            Lanes x = *(const Lanes *)(q + i);
            Lanes d0 = x - *(const Lanes *)(y[0] + i), d1 = x - *(const Lanes *)(y[1] + i);
            Lanes d2 = x - *(const Lanes *)(y[2] + i), d3 = x - *(const Lanes *)(y[3] + i);
            a0 += d0 * d0;
            a1 += d1 * d1;
            a2 += d2 * d2;
            a3 += d3 * d3;
        }
    }
    Lanes *sums[4] = {&a0, &a1, &a2, &a3};
    for (int j = 0; j < 4; j++) {
        Lanes a = *sums[j];
        float sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
        for (size_t t = i; t < dim; t++) {
            float d = inner_product ? q[t] * y[j][t] : (q[t] - y[j][t]) * (q[t] - y[j][t]);
            sum += d;
        }
        out[j] = inner_product ? -sum : sum;
    }
}

/* ------------------------------------------------------------------ the graph */

typedef struct {
    PyObject_HEAD
    Py_buffer vectors, levels, offsets, neighbors, cum, labels;
    int has_labels;
    PyObject *owner; /* keeps the memory the buffers point into alive (the Faiss index) */
    size_t dim, nodes;
    int max_level;
    int32_t entry_point;
    int inner_product;
} Graph;

typedef struct {
    const Graph *graph;
    const float *queries;
    size_t k, ef, nq;
    const uint8_t *allowed; /* bitmap over labels (rows), little-endian bit order; NULL: every row */
    size_t allowed_bits;
    int normalize; /* scale each query to unit length first (COSINE) */
    float *scores;
    int64_t *rows;
    size_t next; /* the next query to take (batches over threads) */
    pthread_mutex_t lock;
    int failed;
} Job;

#define DISTANCE(graph, query, node)                                                                         \
    ((graph)->inner_product ? negative_dot((query), vectors + (size_t)(node) * dim, dim)                      \
                            : squared_l2((query), vectors + (size_t)(node) * dim, dim))

static inline int row_allowed(const Job *job, int64_t row) {
    if (job->allowed == NULL) return 1;
    if (row < 0 || (size_t)row >= job->allowed_bits) return 0;
    return (job->allowed[row >> 3] >> (row & 7)) & 1;
}

/* One query: fill k scores and rows (padded with -inf / -1). Returns 0, or -1 when out of memory. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
static int search_one(const Job *job, size_t q) {
    const Graph *graph = job->graph;
    const size_t dim = graph->dim, k = job->k, ef = job->ef;
    const float *vectors = (const float *)graph->vectors.buf;
    const int32_t *levels = (const int32_t *)graph->levels.buf;
    const uint64_t *offsets = (const uint64_t *)graph->offsets.buf;
    const int32_t *neighbors = (const int32_t *)graph->neighbors.buf;
    const int32_t *cum = (const int32_t *)graph->cum.buf;
    const int64_t *labels = graph->has_labels ? (const int64_t *)graph->labels.buf : NULL;
    const float *query = job->queries + q * dim;
    float *scores = job->scores + q * k;
    int64_t *rows = job->rows + q * k;
    for (size_t i = 0; i < k; i++) {
        scores[i] = -INFINITY;
        rows[i] = -1;
    }
    if (graph->nodes == 0 || graph->entry_point < 0) return 0;
    Scratch *scratch = scratch_for(graph->nodes, ef, k, dim);
    if (scratch == NULL) return -1;
    if (job->normalize) { /* in double: a float32 sum of squares overflows from about 1e19 and underflows below 1e-23 */
        double squared = 0;
        for (size_t i = 0; i < dim; i++) squared += (double)query[i] * (double)query[i];
        double norm = squared > 0 ? sqrt(squared) : 1.0;
        for (size_t i = 0; i < dim; i++) scratch->query[i] = (float)((double)query[i] / norm);
        query = scratch->query;
    }

    /* Upper layers: greedy, filter ignored. */
    int32_t entry = graph->entry_point;
    float entry_distance = DISTANCE(graph, query, entry);
    for (int level = graph->max_level; level > 0; level--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            if (levels[entry] <= level) break;
            const int32_t *slot = neighbors + offsets[entry] + cum[level];
            const int32_t *end = neighbors + offsets[entry] + cum[level + 1];
            for (; slot < end && *slot >= 0; slot++) {
                float d = DISTANCE(graph, query, *slot);
                if (d < entry_distance) {
                    entry_distance = d;
                    entry = *slot;
                    changed = 1;
                }
            }
        }
    }

    /* Layer 0: best-first with ef results. */
    uint16_t *visited = scratch->visited;
    const uint16_t epoch = scratch->epoch;
    Pair *candidates = scratch->candidates;
    Pair *results = scratch->results;
    Pair *kept = scratch->kept;
    size_t candidate_count = 0, result_count = 0, kept_count = 0;
    const int filtered = job->allowed != NULL;
    visited[entry] = epoch;
    min_push(candidates, &candidate_count, (Pair){entry_distance, entry});
    max_push(results, &result_count, (Pair){entry_distance, entry});
    if (filtered && row_allowed(job, labels ? labels[entry] : entry)) max_push(kept, &kept_count, (Pair){entry_distance, entry});
    const size_t width = (size_t)(cum[1] - cum[0]);
    int32_t fresh[width + 3];
    float fresh_distances[width + 3];
    const float *fresh_vectors[4];
    while (candidate_count > 0) {
        if (result_count >= ef && candidates[0].distance > results[0].distance) break;
        Pair current = min_pop(candidates, &candidate_count);
        /* The neighbours not seen yet, their vectors fetched together, scored four at a time. */
        const int32_t *slot = neighbors + offsets[current.node] + cum[0];
        size_t count = 0;
        for (size_t i = 0; i < width && slot[i] >= 0; i++) {
            int32_t node = slot[i];
            if (visited[node] == epoch) continue;
            visited[node] = epoch;
            __builtin_prefetch(vectors + (size_t)node * dim);
            fresh[count++] = node;
        }
        for (size_t i = 0; i < count; i += 4) {
            for (size_t j = 0; j < 4; j++) fresh_vectors[j] = vectors + (size_t)fresh[i + j < count ? i + j : i] * dim;
            distances4(query, fresh_vectors, dim, graph->inner_product, fresh_distances + i);
        }
        for (size_t i = 0; i < count; i++) {
            int32_t node = fresh[i];
            float d = fresh_distances[i];
            if (result_count < ef || d < results[0].distance) {
                if (candidate_count == scratch->candidates_capacity) {
                    size_t capacity = 2 * scratch->candidates_capacity;
                    Pair *grown = (Pair *)realloc(scratch->candidates, capacity * sizeof(Pair));
                    if (grown == NULL) return -1;
                    scratch->candidates = candidates = grown;
                    scratch->candidates_capacity = capacity;
                }
                min_push(candidates, &candidate_count, (Pair){d, node});
                max_push(results, &result_count, (Pair){d, node});
                if (result_count > ef) max_pop(results, &result_count);
            }
            /* A filter changes what is kept, not where the search goes: the walk is the unfiltered one at this
               ef (the planner widens ef so that about WIDEN * k allowed rows lie inside it). */
            if (filtered && (kept_count < k || d < kept[0].distance) && row_allowed(job, labels ? labels[node] : node)) {
                max_push(kept, &kept_count, (Pair){d, node});
                if (kept_count > k) max_pop(kept, &kept_count);
            }
        }
    }
    Pair *best = filtered ? kept : results;
    size_t best_count = filtered ? kept_count : result_count;
    qsort(best, best_count, sizeof(Pair), pair_order);
    size_t found = best_count < k ? best_count : k;
    for (size_t i = 0; i < found; i++) {
        scores[i] = -best[i].distance;
        rows[i] = labels ? labels[best[i].node] : best[i].node;
    }
    return 0;
}

static void *run_job(void *argument) {
    Job *job = (Job *)argument;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t q = job->next++;
        pthread_mutex_unlock(&job->lock);
        if (q >= job->nq) break;
        if (search_one(job, q) != 0) {
            pthread_mutex_lock(&job->lock);
            job->failed = 1;
            pthread_mutex_unlock(&job->lock);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ Python type */

static int get_buffer(PyObject *object, Py_buffer *view, int writable, const char *name, Py_ssize_t item, Py_ssize_t count) {
    if (PyObject_GetBuffer(object, view, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return -1;
    if (view->itemsize != item || (count >= 0 && view->len < count * item)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes, got %zd bytes of items of %zd", name, count, item,
                     view->len, view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void Graph_dealloc(Graph *self) {
    PyBuffer_Release(&self->vectors);
    PyBuffer_Release(&self->levels);
    PyBuffer_Release(&self->offsets);
    PyBuffer_Release(&self->neighbors);
    PyBuffer_Release(&self->cum);
    if (self->has_labels) PyBuffer_Release(&self->labels);
    Py_XDECREF(self->owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Graph_init(Graph *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"vectors", "dim", "levels", "offsets", "neighbors", "cum", "entry_point", "max_level",
                               "inner_product", "labels", "owner", NULL};
    PyObject *vectors, *levels, *offsets, *neighbors, *cum, *labels = Py_None, *owner = Py_None;
    Py_ssize_t dim, entry_point;
    int max_level, inner_product;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnOOOOnip|OO", keywords, &vectors, &dim, &levels, &offsets, &neighbors,
                                     &cum, &entry_point, &max_level, &inner_product, &labels, &owner))
        return -1;
    if (self->owner != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Graph is initialised once");
        return -1;
    }
    if (dim < 1 || max_level < 0) {
        PyErr_SetString(PyExc_ValueError, "dim must be positive and max_level non-negative");
        return -1;
    }
    if (get_buffer(levels, &self->levels, 0, "levels", 4, -1) != 0) return -1;
    Py_ssize_t nodes = self->levels.len / 4;
    if (get_buffer(vectors, &self->vectors, 0, "vectors", 4, nodes * dim) != 0) goto fail_levels;
    if (get_buffer(offsets, &self->offsets, 0, "offsets", 8, nodes + 1) != 0) goto fail_vectors;
    if (get_buffer(neighbors, &self->neighbors, 0, "neighbors", 4, -1) != 0) goto fail_offsets;
    if (get_buffer(cum, &self->cum, 0, "cum", 4, max_level + 2) != 0) goto fail_neighbors;
    self->has_labels = labels != Py_None;
    if (self->has_labels && get_buffer(labels, &self->labels, 0, "labels", 8, nodes) != 0) goto fail_cum;
    /* Every slot the search may read must lie inside the neighbours array. */
    const uint64_t *offset = (const uint64_t *)self->offsets.buf;
    const int32_t *level = (const int32_t *)self->levels.buf;
    const int32_t *width = (const int32_t *)self->cum.buf;
    if (width[0] != 0 || width[1] < 1) {
        PyErr_SetString(PyExc_ValueError, "cum: layer 0 must start at 0 and hold at least one slot");
        goto fail_labels;
    }
    for (int l = 0; l <= max_level; l++) {
        if (width[l + 1] < width[l] || width[l + 1] - width[l] > MAX_WIDTH) {
            PyErr_Format(PyExc_ValueError, "cum: layer %d ends before it starts or holds more than %d slots", l, MAX_WIDTH);
            goto fail_labels;
        }
    }
    size_t slots = (size_t)(self->neighbors.len / 4);
    for (Py_ssize_t i = 0; i < nodes; i++) {
        if (level[i] < 1 || level[i] > max_level + 1 || offset[i] > slots || (uint64_t)width[level[i]] > slots - offset[i]) {
            PyErr_Format(PyExc_ValueError, "node %zd: level or neighbour offsets out of range", i);
            goto fail_labels;
        }
    }
    const int32_t *slot = (const int32_t *)self->neighbors.buf;
    for (size_t i = 0; i < slots; i++) {
        if (slot[i] >= nodes) {
            PyErr_Format(PyExc_ValueError, "neighbour slot %zu names node %d of %zd", i, slot[i], nodes);
            goto fail_labels;
        }
    }
    if (nodes > 0 && (entry_point < 0 || entry_point >= nodes || level[entry_point] != max_level + 1)) {
        PyErr_SetString(PyExc_ValueError, "entry_point is not a node of the top level");
        goto fail_labels;
    }
    self->dim = (size_t)dim;
    self->nodes = (size_t)nodes;
    self->entry_point = (int32_t)(nodes > 0 ? entry_point : -1);
    self->max_level = max_level;
    self->inner_product = inner_product;
    Py_INCREF(owner);
    self->owner = owner;
    return 0;
fail_labels:
    if (self->has_labels) PyBuffer_Release(&self->labels);
    self->has_labels = 0;
fail_cum:
    PyBuffer_Release(&self->cum);
fail_neighbors:
    PyBuffer_Release(&self->neighbors);
fail_offsets:
    PyBuffer_Release(&self->offsets);
fail_vectors:
    PyBuffer_Release(&self->vectors);
fail_levels:
    PyBuffer_Release(&self->levels);
    return -1;
}

static PyObject *Graph_search(Graph *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"queries", "k", "ef", "allowed", "scores", "rows", "threads", "normalize", NULL};
    PyObject *queries_object, *allowed_object, *scores_object, *rows_object;
    Py_ssize_t k, ef, threads = 1;
    int normalize = 0;
    if (self->owner == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Graph is not initialised");
        return NULL;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnnOOO|np", keywords, &queries_object, &k, &ef, &allowed_object,
                                     &scores_object, &rows_object, &threads, &normalize))
        return NULL;
    if (k < 1 || ef < 1 || k > MAX_K || ef > MAX_EF) {
        PyErr_Format(PyExc_ValueError, "k and ef must be positive and at most %d", MAX_K);
        return NULL;
    }
    Py_buffer queries, scores, rows, allowed;
    if (get_buffer(queries_object, &queries, 0, "queries", 4, -1) != 0) return NULL;
    Py_ssize_t nq = queries.len / 4 / (Py_ssize_t)self->dim;
    PyObject *result = NULL;
    int has_allowed = allowed_object != Py_None;
    if (queries.len != nq * (Py_ssize_t)self->dim * 4) {
        PyErr_SetString(PyExc_ValueError, "queries: length is not a multiple of dim");
        goto release_queries;
    }
    if (get_buffer(scores_object, &scores, 1, "scores", 4, nq * k) != 0) goto release_queries;
    if (get_buffer(rows_object, &rows, 1, "rows", 8, nq * k) != 0) goto release_scores;
    if (has_allowed && get_buffer(allowed_object, &allowed, 0, "allowed", 1, -1) != 0) goto release_rows;
    Job job = {
        .graph = self,
        .queries = (const float *)queries.buf,
        .k = (size_t)k,
        .ef = (size_t)(ef > k ? ef : k),
        .nq = (size_t)nq,
        .allowed = has_allowed ? (const uint8_t *)allowed.buf : NULL,
        .allowed_bits = has_allowed ? (size_t)allowed.len * 8 : 0,
        .scores = (float *)scores.buf,
        .rows = (int64_t *)rows.buf,
        .normalize = normalize,
        .next = 0,
        .failed = 0,
    };
    /* A NaN or an infinity in any query: nothing is searched, and -1 says so (the caller names the query). */
    const float *values = (const float *)queries.buf;
    for (Py_ssize_t i = 0; i < nq * (Py_ssize_t)self->dim; i++) {
        if (!isfinite(values[i])) {
            result = PyLong_FromLong(-1);
            goto release_allowed;
        }
    }
    pthread_mutex_init(&job.lock, NULL);
    size_t workers = threads > 1 ? (size_t)threads : 1;
    if (workers > job.nq) workers = job.nq > 0 ? job.nq : 1;
    Py_BEGIN_ALLOW_THREADS
    if (workers == 1) {
        for (size_t q = 0; q < job.nq; q++) {
            if (search_one(&job, q) != 0) job.failed = 1;
        }
    } else {
        pthread_t *helpers = (pthread_t *)malloc((workers - 1) * sizeof(pthread_t));
        size_t started = 0;
        if (helpers != NULL) {
            for (; started < workers - 1; started++) {
                if (pthread_create(&helpers[started], NULL, run_job, &job) != 0) break;
            }
        }
        run_job(&job);
        for (size_t i = 0; i < started; i++) pthread_join(helpers[i], NULL);
        free(helpers);
    }
    Py_END_ALLOW_THREADS
    pthread_mutex_destroy(&job.lock);
    if (job.failed) {
        PyErr_NoMemory();
    } else {
        Py_ssize_t missing = 0;
        for (Py_ssize_t i = 0; i < nq * k; i++) missing += job.rows[i] < 0;
        result = PyLong_FromSsize_t(missing);
    }
release_allowed:
    if (has_allowed) PyBuffer_Release(&allowed);
release_rows:
    PyBuffer_Release(&rows);
release_scores:
    PyBuffer_Release(&scores);
release_queries:
    PyBuffer_Release(&queries);
    return result;
}

static PyObject *Graph_nodes(Graph *self, void *closure) {
    (void)closure;
    return PyLong_FromSize_t(self->nodes);
}

static PyMethodDef Graph_methods[] = {
    {"search", (PyCFunction)(void (*)(void))Graph_search, METH_VARARGS | METH_KEYWORDS,
     "search(queries, k, ef, allowed, scores, rows, threads=1, normalize=False) -> slots left empty (-1: a query is not "
     "finite, nothing searched): top-k of float32 queries into scores and rows."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Graph_getset[] = {
    {"nodes", (getter)Graph_nodes, NULL, "number of nodes", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject GraphType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "embedb._native.Graph",
    .tp_basicsize = sizeof(Graph),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An HNSW graph (Faiss's arrays) that searches with the row filter in the kernel.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Graph_init,
    .tp_dealloc = (destructor)Graph_dealloc,
    .tp_methods = Graph_methods,
    .tp_getset = Graph_getset,
};

/* ------------------------------------------------------------------ hits */

static PyObject *key_id, *key_distance, *key_entity;

/* hits(keys, distances, k): per query a list of {"id": key, "distance": float, "entity": {}}. */
static PyObject *build_hits(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *keys, *distances_object;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "O!On", &PyList_Type, &keys, &distances_object, &k)) return NULL;
    Py_buffer distances;
    if (get_buffer(distances_object, &distances, 0, "distances", 4, -1) != 0) return NULL;
    Py_ssize_t count = distances.len / 4;
    if (k < 1 || count % k != 0 || PyList_GET_SIZE(keys) != count) {
        PyBuffer_Release(&distances);
        PyErr_SetString(PyExc_ValueError, "hits: keys and distances must hold nq * k items");
        return NULL;
    }
    const float *value = (const float *)distances.buf;
    Py_ssize_t nq = count / k;
    PyObject *out = PyList_New(nq);
    if (out == NULL) goto fail;
    for (Py_ssize_t q = 0; q < nq; q++) {
        PyObject *row = PyList_New(k);
        if (row == NULL) goto fail;
        PyList_SET_ITEM(out, q, row);
        for (Py_ssize_t i = 0; i < k; i++) {
            PyObject *hit = PyDict_New();
            if (hit == NULL) goto fail;
            PyList_SET_ITEM(row, i, hit);
            PyObject *distance = PyFloat_FromDouble((double)value[q * k + i]);
            PyObject *entity = PyDict_New();
            int failed = distance == NULL || entity == NULL || PyDict_SetItem(hit, key_id, PyList_GET_ITEM(keys, q * k + i)) != 0 ||
                         PyDict_SetItem(hit, key_distance, distance) != 0 || PyDict_SetItem(hit, key_entity, entity) != 0;
            Py_XDECREF(distance);
            Py_XDECREF(entity);
            if (failed) goto fail;
        }
    }
    PyBuffer_Release(&distances);
    return out;
fail:
    Py_XDECREF(out);
    PyBuffer_Release(&distances);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"hits", build_hits, METH_VARARGS, "hits(keys, distances, k): per query a list of {'id', 'distance', 'entity': {}}."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "embedb._native", "The compiled parts of EmbeDB's search path (see the C source).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (pthread_key_create(&scratch_key, scratch_free) != 0) return PyErr_NoMemory();
    if (PyType_Ready(&GraphType) < 0) return NULL;
    key_id = PyUnicode_InternFromString("id");
    key_distance = PyUnicode_InternFromString("distance");
    key_entity = PyUnicode_InternFromString("entity");
    if (key_id == NULL || key_distance == NULL || key_entity == NULL) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&GraphType);
    if (PyModule_AddObject(m, "Graph", (PyObject *)&GraphType) < 0) {
        Py_DECREF(&GraphType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
