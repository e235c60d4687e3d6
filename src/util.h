/* Internal utilities shared by every module: memory, bounded byte cursors, growable
 * buffers with a cap, logging, randomness, clock, timers-as-data helpers. */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H

#include "sluice.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SLUICE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SLUICE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SLUICE_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define SLUICE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SLUICE_UNUSED __attribute__((unused))
#else
#define SLUICE_PRINTF(f, a)
#define SLUICE_UNUSED
#endif

/* ---- memory: every allocation of the library goes through these ---------------- */

/** `a` may be NULL (C library). Return NULL on failure or size 0 (malloc). */
void *sluice_mem_alloc(const sluice_allocator *a, size_t size);
void *sluice_mem_calloc(const sluice_allocator *a, size_t n, size_t size);
void *sluice_mem_realloc(const sluice_allocator *a, void *ptr, size_t size);
void sluice_mem_free(const sluice_allocator *a, void *ptr);
/** Copy of `s` (NULL → copy of ""); NULL on allocation failure. */
char *sluice_mem_strdup(const sluice_allocator *a, const char *s);
char *sluice_mem_strndup(const sluice_allocator *a, const char *s, size_t n);

/* ---- big-endian loads/stores on raw pointers (caller checked the bounds) -------- */

static inline uint16_t sluice_load_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sluice_load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t sluice_load_be64(const uint8_t *p) {
    return ((uint64_t)sluice_load_be32(p) << 32) | sluice_load_be32(p + 4);
}
static inline void sluice_store_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sluice_store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sluice_store_be64(uint8_t *p, uint64_t v) {
    sluice_store_be32(p, (uint32_t)(v >> 32)); sluice_store_be32(p + 4, (uint32_t)v);
}

/* ---- bounded reader: a cursor with an end pointer and a sticky error flag -------
 * Every read past the end sets `err`, returns 0 / copies nothing, and leaves the
 * cursor at the end, so a decoder may read a whole structure and check `err` once. */

typedef struct sluice_rd {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
} sluice_rd;

static inline sluice_rd sluice_rd_make(const uint8_t *data, size_t len) {
    sluice_rd r = {data, data + len, false};
    return r;
}
static inline size_t sluice_rd_left(const sluice_rd *r) { return (size_t)(r->end - r->p); }
static inline bool sluice_rd_need(sluice_rd *r, size_t n) {
    if (r->err || sluice_rd_left(r) < n) { r->err = true; r->p = r->end; return false; }
    return true;
}
static inline uint8_t sluice_rd_u8(sluice_rd *r) { return sluice_rd_need(r, 1) ? *r->p++ : 0; }
static inline uint16_t sluice_rd_u16(sluice_rd *r) {
    if (!sluice_rd_need(r, 2)) return 0;
    uint16_t v = sluice_load_be16(r->p); r->p += 2; return v;
}
static inline uint32_t sluice_rd_u32(sluice_rd *r) {
    if (!sluice_rd_need(r, 4)) return 0;
    uint32_t v = sluice_load_be32(r->p); r->p += 4; return v;
}
static inline uint64_t sluice_rd_u64(sluice_rd *r) {
    if (!sluice_rd_need(r, 8)) return 0;
    uint64_t v = sluice_load_be64(r->p); r->p += 8; return v;
}
/** Returns a pointer to `n` bytes inside the input (not copied), or NULL with err set. */
static inline const uint8_t *sluice_rd_bytes(sluice_rd *r, size_t n) {
    if (!sluice_rd_need(r, n)) return NULL;
    const uint8_t *p = r->p; r->p += n; return p;
}
static inline void sluice_rd_skip(sluice_rd *r, size_t n) { (void)sluice_rd_bytes(r, n); }

/* ---- bounded writer into a caller buffer, sticky error on overflow -------------- */

typedef struct sluice_wr {
    uint8_t *start;
    uint8_t *p;
    uint8_t *end;
    bool err;
} sluice_wr;

static inline sluice_wr sluice_wr_make(uint8_t *buf, size_t cap) {
    sluice_wr w = {buf, buf, buf + cap, false};
    return w;
}
static inline size_t sluice_wr_len(const sluice_wr *w) { return (size_t)(w->p - w->start); }
static inline size_t sluice_wr_left(const sluice_wr *w) { return (size_t)(w->end - w->p); }
static inline bool sluice_wr_need(sluice_wr *w, size_t n) {
    if (w->err || sluice_wr_left(w) < n) { w->err = true; return false; }
    return true;
}
static inline void sluice_wr_u8(sluice_wr *w, uint8_t v) { if (sluice_wr_need(w, 1)) *w->p++ = v; }
static inline void sluice_wr_u16(sluice_wr *w, uint16_t v) {
    if (sluice_wr_need(w, 2)) { sluice_store_be16(w->p, v); w->p += 2; }
}
static inline void sluice_wr_u32(sluice_wr *w, uint32_t v) {
    if (sluice_wr_need(w, 4)) { sluice_store_be32(w->p, v); w->p += 4; }
}
static inline void sluice_wr_u64(sluice_wr *w, uint64_t v) {
    if (sluice_wr_need(w, 8)) { sluice_store_be64(w->p, v); w->p += 8; }
}
static inline void sluice_wr_bytes(sluice_wr *w, const void *src, size_t n) {
    if (n && sluice_wr_need(w, n)) { memcpy(w->p, src, n); w->p += n; }
}
static inline void sluice_wr_zeros(sluice_wr *w, size_t n) {
    if (n && sluice_wr_need(w, n)) { memset(w->p, 0, n); w->p += n; }
}

/* ---- growable byte buffer with a hard cap ---------------------------------------- */

typedef struct sluice_buf {
    uint8_t *data;
    size_t len;
    size_t cap;   /**< allocated */
    size_t limit; /**< never grows beyond this (0 = SIZE_MAX) */
    const sluice_allocator *alloc;
} sluice_buf;

/** Embedded init: no allocation. */
void sluice_buf_init(sluice_buf *b, const sluice_allocator *alloc, size_t limit);
/** Release memory; the buffer is empty and reusable afterwards. */
void sluice_buf_clear(sluice_buf *b);
/** Ensure room for `extra` more bytes. Errors: NOMEM, BUFFER_FULL (over limit). */
int sluice_buf_reserve(sluice_buf *b, size_t extra);
/** Append bytes. Errors as sluice_buf_reserve; nothing appended on error. */
int sluice_buf_append(sluice_buf *b, const void *data, size_t len);
/** Append formatted text (not NUL-counted in len, but NUL-terminated in data). */
int sluice_buf_printf(sluice_buf *b, const char *fmt, ...) SLUICE_PRINTF(2, 3);
/** Drop the first `n` bytes. */
void sluice_buf_consume(sluice_buf *b, size_t n);
static inline void sluice_buf_reset(sluice_buf *b) { b->len = 0; }

/* ---- logging ---------------------------------------------------------------------- */

typedef struct sluice_logger {
    sluice_log_fn fn;
    void *user;
    sluice_log_level level;
} sluice_logger;

void sluice_log_write(const sluice_logger *lg, sluice_log_level level, const char *module,
                      const char *fmt, ...) SLUICE_PRINTF(4, 5);

/** Cheap when filtered: the format is evaluated only when the level is enabled. */
#define SLUICE_LOG(lg, lvl, module, ...)                                              \
    do {                                                                              \
        const sluice_logger *sluice_lg_ = (lg);                                       \
        if (sluice_lg_ && sluice_lg_->fn && (int)(lvl) <= (int)sluice_lg_->level)     \
            sluice_log_write(sluice_lg_, (lvl), (module), __VA_ARGS__);               \
    } while (0)

/** A log sink writing "[level] module: msg" lines to stderr (user ignored). */
void sluice_log_stderr(void *user, sluice_log_level level, const char *module, const char *msg);

/* ---- randomness ------------------------------------------------------------------- */

typedef struct sluice_rng {
    sluice_random_fn fn; /**< NULL: OpenSSL RAND_bytes */
    void *user;
} sluice_rng;

/** Errors: CRYPTO when the source fails (out is then zeroed). */
int sluice_rng_bytes(const sluice_rng *r, void *out, size_t len);
uint32_t sluice_rng_u32(const sluice_rng *r);
uint64_t sluice_rng_u64(const sluice_rng *r);
/** Uniform in [0, n) (n > 0). */
uint32_t sluice_rng_below(const sluice_rng *r, uint32_t n);
/** `len` characters from the ICE alphabet [A-Za-z0-9+/] into out (NUL-terminated, out[len]). */
int sluice_rng_ice_chars(const sluice_rng *r, char *out, size_t len);

/** Deterministic PRNG (xoshiro256**), for tests and the simulator. Seeded by splitmix64. */
typedef struct sluice_prng {
    uint64_t s[4];
} sluice_prng;

void sluice_prng_seed(sluice_prng *p, uint64_t seed);
uint64_t sluice_prng_next(sluice_prng *p);
/** Uniform double in [0, 1). */
double sluice_prng_unit(sluice_prng *p);
/** A sluice_random_fn reading from a sluice_prng passed as `user`. */
int sluice_prng_random_fn(void *user, uint8_t *out, size_t len);

/* ---- clock (only the I/O layer reads it; the core takes `now`) --------------------- */

/** CLOCK_MONOTONIC in microseconds. */
sluice_time sluice_clock_monotonic_us(void);

/** A replaceable clock: the I/O layer calls now(user). */
typedef struct sluice_clock {
    sluice_time (*now)(void *user);
    void *user;
} sluice_clock;

static inline sluice_time sluice_clock_now(const sluice_clock *c) {
    return (c && c->now) ? c->now(c->user) : sluice_clock_monotonic_us();
}

/** Earliest of two deadlines. */
static inline sluice_time sluice_time_min(sluice_time a, sluice_time b) { return a < b ? a : b; }

/* ---- hex ----------------------------------------------------------------------------- */

/** Lower/upper hex of `n` bytes with an optional separator (0 = none). Returns chars written or NOBUFS. */
int sluice_hex_encode(char *out, size_t cap, const uint8_t *in, size_t n, char sep, bool upper);
/** Decode hex with optional ':' separators into out. Returns bytes written, MALFORMED or NOBUFS. */
int sluice_hex_decode(uint8_t *out, size_t cap, const char *in, size_t inlen);

/** Case-insensitive ASCII compare of NUL-terminated strings. */
int sluice_strcasecmp(const char *a, const char *b);
int sluice_strncasecmp(const char *a, const char *b, size_t n);

#endif /* SLUICE_UTIL_H */
