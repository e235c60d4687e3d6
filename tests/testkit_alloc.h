/* testkit_alloc.h — a failing, counting allocator for tests (header only).
 *
 * Proves that every allocation failure is handled (nghttp2/ngtcp2 practice): run a
 * scenario once to count its allocations, then once per allocation with exactly that
 * one failing, and check each run returns an error and leaks nothing.
 *
 *     testkit_alloc t;
 *     testkit_alloc_init(&t);
 *     thing_new(&x, &t.a);                 // pass &t.a as the sluice_allocator
 *     assert_int_equal(testkit_alloc_live(&t), 0);
 *
 *     char why[256];
 *     if (!testkit_alloc_sweep(scenario, &ctx, 0, why, sizeof why)) fail_msg("%s", why);
 *
 * For long runs (a whole simulated connection), testkit_alloc_fail_random() refuses a
 * seeded random share of the allocations instead.
 *
 * A testkit_alloc must not be copied or moved after testkit_alloc_init() (a.user points
 * at it). Not thread-safe, like everything in sluice. */
#ifndef SLUICE_TESTKIT_ALLOC_H
#define SLUICE_TESTKIT_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#define TESTKIT_ALLOC_NEVER UINT64_MAX
#define TESTKIT_ALLOC_MAGIC 0x511CEA110C0FFEEull

/* Header in front of every block: a doubly linked list of live blocks for leak reports. */
typedef struct testkit_block {
    struct testkit_block *prev, *next;
    uint64_t magic;
    uint64_t index; /* which allocation made it (0-based), for leak reports */
    size_t size;
} testkit_block;

/* Header size rounded up so the user pointer keeps malloc's alignment. */
#define TESTKIT_ALLOC_HDR \
    ((sizeof(testkit_block) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

typedef struct testkit_alloc {
    sluice_allocator a;  /**< hand &t->a to the code under test */
    uint64_t calls;      /**< allocation attempts so far (malloc + realloc), failed ones included */
    uint64_t fail_at;    /**< index of the attempt to refuse (TESTKIT_ALLOC_NEVER = none) */
    bool fail_sticky;    /**< refuse every attempt from fail_at on, not only that one */
    uint32_t fail_one_in; /**< > 0: also refuse each attempt with probability 1/fail_one_in */
    uint64_t rng;        /**< xorshift64 state for fail_one_in (seeded, never 0) */
    uint64_t failures;   /**< attempts refused */
    size_t max_size;     /**< requests above this are refused (keeps ASan away from huge sizes) */
    size_t live;         /**< blocks allocated and not freed */
    size_t live_bytes, peak_bytes;
    uint64_t frees;
    testkit_block *first; /**< live blocks, newest first */
} testkit_alloc;

static inline void *testkit_payload(testkit_block *b) { return (uint8_t *)b + TESTKIT_ALLOC_HDR; }

static inline testkit_block *testkit_block_of(void *p) {
    testkit_block *b = (testkit_block *)(void *)((uint8_t *)p - TESTKIT_ALLOC_HDR);
    if (b->magic != TESTKIT_ALLOC_MAGIC) {
        fprintf(stderr, "testkit_alloc: %p was not allocated by this allocator (or freed twice)\n", p);
        abort();
    }
    return b;
}

static inline void testkit_link(testkit_alloc *t, testkit_block *b) {
    b->prev = NULL;
    b->next = t->first;
    if (t->first) t->first->prev = b;
    t->first = b;
}

static inline void testkit_unlink(testkit_alloc *t, testkit_block *b) {
    if (b->prev) b->prev->next = b->next;
    else t->first = b->next;
    if (b->next) b->next->prev = b->prev;
}

/* Decide whether this attempt fails; counts it either way. */
static inline bool testkit_refuse(testkit_alloc *t, size_t size) {
    uint64_t i = t->calls++;
    bool refuse = size > t->max_size || i == t->fail_at || (t->fail_sticky && i >= t->fail_at);
    if (t->fail_one_in) {
        t->rng ^= t->rng << 13;
        t->rng ^= t->rng >> 7;
        t->rng ^= t->rng << 17;
        if (t->rng % t->fail_one_in == 0) refuse = true;
    }
    if (refuse) t->failures++;
    return refuse;
}

static inline void testkit_account(testkit_alloc *t, size_t add, size_t remove) {
    t->live_bytes = t->live_bytes - remove + add;
    if (t->live_bytes > t->peak_bytes) t->peak_bytes = t->live_bytes;
}

static inline void *testkit_malloc_hook(size_t size, void *user) {
    testkit_alloc *t = user;
    uint64_t index = t->calls;
    if (testkit_refuse(t, size)) return NULL;
    testkit_block *b = malloc(TESTKIT_ALLOC_HDR + size);
    if (!b) return NULL;
    b->magic = TESTKIT_ALLOC_MAGIC;
    b->index = index;
    b->size = size;
    testkit_link(t, b);
    t->live++;
    testkit_account(t, size, 0);
    return testkit_payload(b);
}

static inline void *testkit_realloc_hook(void *ptr, size_t size, void *user) {
    testkit_alloc *t = user;
    if (!ptr) return testkit_malloc_hook(size, user);
    testkit_block *old = testkit_block_of(ptr);
    if (testkit_refuse(t, size)) return NULL; /* the old block stays valid, as with realloc */
    size_t old_size = old->size;
    testkit_unlink(t, old);
    testkit_block *b = realloc(old, TESTKIT_ALLOC_HDR + size);
    if (!b) {
        testkit_link(t, old);
        return NULL;
    }
    b->size = size;
    testkit_link(t, b);
    testkit_account(t, size, old_size);
    return testkit_payload(b);
}

static inline void testkit_free_hook(void *ptr, void *user) {
    testkit_alloc *t = user;
    if (!ptr) return;
    testkit_block *b = testkit_block_of(ptr);
    testkit_unlink(t, b);
    t->live--;
    t->frees++;
    testkit_account(t, 0, b->size);
    b->magic = 0;
    free(b);
}

/** Ready to use: nothing fails, requests up to 1 GiB are served. */
static inline void testkit_alloc_init(testkit_alloc *t) {
    memset(t, 0, sizeof *t);
    t->a.malloc = testkit_malloc_hook;
    t->a.realloc = testkit_realloc_hook;
    t->a.free = testkit_free_hook;
    t->a.user = t;
    t->fail_at = TESTKIT_ALLOC_NEVER;
    t->max_size = (size_t)1 << 30;
}

/** Refuse the `n`-th allocation attempt from now (0 = the next one); `sticky`: and all after it. */
static inline void testkit_alloc_fail_nth(testkit_alloc *t, uint64_t n, bool sticky) {
    t->fail_at = t->calls + n;
    t->fail_sticky = sticky;
}

/** Refuse each attempt with probability 1/one_in (0 = off), reproducibly from `seed`. */
static inline void testkit_alloc_fail_random(testkit_alloc *t, uint64_t seed, uint32_t one_in) {
    t->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    t->fail_one_in = one_in;
}

/** Stop refusing (max_size still applies). */
static inline void testkit_alloc_fail_never(testkit_alloc *t) {
    t->fail_at = TESTKIT_ALLOC_NEVER;
    t->fail_sticky = false;
    t->fail_one_in = 0;
}

/** Live (leaked, at the end of a test) blocks. */
static inline size_t testkit_alloc_live(const testkit_alloc *t) { return t->live; }

/** Print one line per live block to `f` (may be NULL: count only). Returns the count. */
static inline size_t testkit_alloc_report(const testkit_alloc *t, FILE *f) {
    size_t n = 0;
    for (const testkit_block *b = t->first; b; b = b->next, n++)
        if (f) fprintf(f, "testkit_alloc: leak of %zu bytes from allocation #%llu\n", b->size,
                       (unsigned long long)b->index);
    return n;
}

/** Free every live block (after a reported leak, so the sanitizer does not report it twice). */
static inline void testkit_alloc_release_all(testkit_alloc *t) {
    while (t->first) testkit_free_hook(testkit_payload(t->first), t);
}

/**
 * A scenario allocates only through `t->a`, releases everything it allocated before
 * returning, and returns 0 on success or a negative sluice_err when an operation failed.
 */
typedef int (*testkit_alloc_scenario)(testkit_alloc *t, void *user);

/** Sweep flags. */
#define TESTKIT_SWEEP_STICKY 1u   /**< refuse attempt N and every later one */
#define TESTKIT_SWEEP_ALLOW_OK 2u /**< the scenario may absorb a failure and still return 0
                                       (e.g. a datagram dropped and counted): only leaks fail */

/**
 * Run `fn` once without failures (it must return 0 and leak nothing), then once per
 * allocation attempt N of that run with attempt N refused (with TESTKIT_SWEEP_STICKY,
 * every later one too). Each of those runs must return a negative code (unless
 * TESTKIT_SWEEP_ALLOW_OK) and leak nothing. Returns true when all runs pass; otherwise
 * false with a reason in `why` (leaks printed to stderr).
 */
static inline bool testkit_alloc_sweep(testkit_alloc_scenario fn, void *user, unsigned flags, char *why,
                                       size_t cap) {
    testkit_alloc t;
    testkit_alloc_init(&t);
    int rc = fn(&t, user);
    uint64_t points = t.calls;
    if (rc != 0 || t.live) {
        snprintf(why, cap, "clean run: rc %d, %zu leaked blocks", rc, testkit_alloc_report(&t, stderr));
        testkit_alloc_release_all(&t);
        return false;
    }
    for (uint64_t i = 0; i < points; i++) {
        testkit_alloc_init(&t);
        testkit_alloc_fail_nth(&t, i, (flags & TESTKIT_SWEEP_STICKY) != 0);
        rc = fn(&t, user);
        const char *problem = NULL;
        if (t.failures == 0) problem = "the refused allocation was never attempted (scenario not deterministic?)";
        else if (rc >= 0 && !(flags & TESTKIT_SWEEP_ALLOW_OK)) problem = "allocation failure not reported as an error";
        else if (rc > 0) problem = "positive return code";
        else if (t.live) problem = "leak after allocation failure";
        if (problem) {
            snprintf(why, cap, "allocation #%llu of %llu refused: %s (rc %d, %zu leaked blocks)",
                     (unsigned long long)i, (unsigned long long)points, problem, rc,
                     testkit_alloc_report(&t, stderr));
            testkit_alloc_release_all(&t);
            return false;
        }
    }
    if (cap) snprintf(why, cap, "%llu allocation points", (unsigned long long)points);
    return true;
}

#endif /* SLUICE_TESTKIT_ALLOC_H */
