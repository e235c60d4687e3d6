#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- errors and version ----------------------------------------------------------- */

const char *sluice_strerror(int err) {
    switch (err) {
    case SLUICE_OK: return "success";
    case SLUICE_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SLUICE_ERR_NOMEM: return "out of memory";
    case SLUICE_ERR_NOT_IMPLEMENTED: return "not implemented yet";
    case SLUICE_ERR_INVALID_STATE: return "not allowed in the current state";
    case SLUICE_ERR_MALFORMED: return "malformed input";
    case SLUICE_ERR_BUFFER_FULL: return "send buffer full";
    case SLUICE_ERR_TOO_LARGE: return "message too large (remote max-message-size or send buffer)";
    case SLUICE_ERR_NOT_FOUND: return "not found";
    case SLUICE_ERR_INTEGRITY: return "integrity check failed";
    case SLUICE_ERR_CONFIG: return "invalid configuration";
    case SLUICE_ERR_SDP: return "invalid session description";
    case SLUICE_ERR_CANDIDATE: return "invalid ICE candidate";
    case SLUICE_ERR_DTLS: return "DTLS failure";
    case SLUICE_ERR_FINGERPRINT: return "certificate fingerprint mismatch";
    case SLUICE_ERR_SCTP: return "SCTP failure";
    case SLUICE_ERR_IO: return "I/O error";
    case SLUICE_ERR_CLOSED: return "closed";
    case SLUICE_ERR_EXHAUSTED: return "resource exhausted";
    case SLUICE_ERR_TIMEOUT: return "timed out";
    case SLUICE_ERR_NOBUFS: return "output buffer too small";
    case SLUICE_ERR_UNSUPPORTED: return "unsupported";
    case SLUICE_ERR_ABORTED: return "aborted by the peer";
    case SLUICE_ERR_ID_IN_USE: return "stream id already in use";
    case SLUICE_ERR_CRYPTO: return "cryptographic primitive failed";
    case SLUICE_ERR_AGAIN: return "nothing available now";
    default: return "unknown error";
    }
}

const char *sluice_version(void) { return SLUICE_VERSION_STRING; }

/* ---- memory ----------------------------------------------------------------------- */

void *sluice_mem_alloc(const sluice_allocator *a, size_t size) {
    if (size == 0) size = 1;
    if (a && a->malloc) return a->malloc(size, a->user);
    return malloc(size);
}

void *sluice_mem_calloc(const sluice_allocator *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = sluice_mem_alloc(a, n * size);
    if (p && n * size != 0) memset(p, 0, n * size);
    return p;
}

void *sluice_mem_realloc(const sluice_allocator *a, void *ptr, size_t size) {
    if (size == 0) size = 1;
    if (a && a->realloc) return a->realloc(ptr, size, a->user);
    if (a && a->malloc) {
        /* malloc given without realloc: not supported as a combination; use malloc. */
        return NULL;
    }
    return realloc(ptr, size);
}

void sluice_mem_free(const sluice_allocator *a, void *ptr) {
    if (!ptr) return;
    if (a && a->free) a->free(ptr, a->user);
    else free(ptr);
}

char *sluice_mem_strndup(const sluice_allocator *a, const char *s, size_t n) {
    if (!s) { s = ""; n = 0; }
    char *d = sluice_mem_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *sluice_mem_strdup(const sluice_allocator *a, const char *s) {
    return sluice_mem_strndup(a, s, s ? strlen(s) : 0);
}

/* ---- buffer ----------------------------------------------------------------------- */

void sluice_buf_init(sluice_buf *b, const sluice_allocator *alloc, size_t limit) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
    b->alloc = alloc;
}

void sluice_buf_clear(sluice_buf *b) {
    sluice_mem_free(b->alloc, b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int sluice_buf_reserve(sluice_buf *b, size_t extra) {
    if (extra > b->limit || b->len > b->limit - extra) return SLUICE_ERR_BUFFER_FULL;
    size_t need = b->len + extra;
    if (need <= b->cap) return SLUICE_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->limit) ncap = b->limit;
    uint8_t *n = sluice_mem_realloc(b->alloc, b->data, ncap);
    if (!n) return SLUICE_ERR_NOMEM;
    b->data = n;
    b->cap = ncap;
    return SLUICE_OK;
}

int sluice_buf_append(sluice_buf *b, const void *data, size_t len) {
    if (len == 0) return SLUICE_OK;
    int rc = sluice_buf_reserve(b, len);
    if (rc) return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return SLUICE_OK;
}

int sluice_buf_printf(sluice_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return SLUICE_ERR_INVALID_ARGUMENT;
    int rc = sluice_buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SLUICE_OK;
}

void sluice_buf_consume(sluice_buf *b, size_t n) {
    if (n >= b->len) { b->len = 0; return; }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---- logging ---------------------------------------------------------------------- */

void sluice_log_write(const sluice_logger *lg, sluice_log_level level, const char *module,
                      const char *fmt, ...) {
    if (!lg || !lg->fn || (int)level > (int)lg->level) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lg->fn(lg->user, level, module, line);
}

void sluice_log_stderr(void *user, sluice_log_level level, const char *module, const char *msg) {
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    (void)user;
    const char *n = (unsigned)level < 5 ? names[level] : "?";
    fprintf(stderr, "[%s] %s: %s\n", n, module ? module : "-", msg);
}

/* ---- randomness ------------------------------------------------------------------- */

int sluice_rng_bytes(const sluice_rng *r, void *out, size_t len) {
    if (len == 0) return SLUICE_OK;
    int ok;
    if (r && r->fn) ok = r->fn(r->user, out, len) == 0;
    else ok = len <= INT32_MAX && RAND_bytes(out, (int)len) == 1;
    if (!ok) { memset(out, 0, len); return SLUICE_ERR_CRYPTO; }
    return SLUICE_OK;
}

uint32_t sluice_rng_u32(const sluice_rng *r) {
    uint8_t b[4];
    sluice_rng_bytes(r, b, 4);
    return sluice_load_be32(b);
}

uint64_t sluice_rng_u64(const sluice_rng *r) {
    uint8_t b[8];
    sluice_rng_bytes(r, b, 8);
    return sluice_load_be64(b);
}

uint32_t sluice_rng_below(const sluice_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    /* Rejection sampling avoids modulo bias. */
    uint32_t limit = UINT32_MAX - (UINT32_MAX % n);
    for (;;) {
        uint32_t v = sluice_rng_u32(r);
        if (v < limit) return v % n;
    }
}

int sluice_rng_ice_chars(const sluice_rng *r, char *out, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t tmp[64];
    size_t done = 0;
    while (done < len) {
        size_t n = SLUICE_MIN(len - done, sizeof tmp);
        int rc = sluice_rng_bytes(r, tmp, n);
        if (rc) return rc;
        for (size_t i = 0; i < n; i++) out[done + i] = alphabet[tmp[i] & 63];
        done += n;
    }
    out[len] = '\0';
    return SLUICE_OK;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void sluice_prng_seed(sluice_prng *p, uint64_t seed) {
    for (int i = 0; i < 4; i++) p->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sluice_prng_next(sluice_prng *p) {
    uint64_t *s = p->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

double sluice_prng_unit(sluice_prng *p) { return (double)(sluice_prng_next(p) >> 11) * 0x1.0p-53; }

int sluice_prng_random_fn(void *user, uint8_t *out, size_t len) {
    sluice_prng *p = user;
    while (len) {
        uint64_t v = sluice_prng_next(p);
        size_t n = SLUICE_MIN(len, 8);
        memcpy(out, &v, n);
        out += n;
        len -= n;
    }
    return 0;
}

/* ---- clock -------------------------------------------------------------------------- */

sluice_time sluice_clock_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sluice_time)ts.tv_sec * 1000000u + (sluice_time)ts.tv_nsec / 1000u;
}

/* ---- hex ---------------------------------------------------------------------------- */

int sluice_hex_encode(char *out, size_t cap, const uint8_t *in, size_t n, char sep, bool upper) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    size_t need = n * 2 + (sep && n ? n - 1 : 0) + 1;
    if (cap < need) return SLUICE_ERR_NOBUFS;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (sep && i) out[o++] = sep;
        out[o++] = digits[in[i] >> 4];
        out[o++] = digits[in[i] & 15];
    }
    out[o] = '\0';
    return (int)o;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sluice_hex_decode(uint8_t *out, size_t cap, const char *in, size_t inlen) {
    size_t o = 0, i = 0;
    while (i < inlen) {
        if (in[i] == ':') {
            if (i == 0 || i + 1 == inlen || in[i + 1] == ':') return SLUICE_ERR_MALFORMED;
            i++;
            continue;
        }
        if (i + 1 >= inlen) return SLUICE_ERR_MALFORMED;
        int hi = hexval(in[i]), lo = hexval(in[i + 1]);
        if (hi < 0 || lo < 0) return SLUICE_ERR_MALFORMED;
        if (o >= cap) return SLUICE_ERR_NOBUFS;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return (int)o;
}

int sluice_strncasecmp(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        if (ca >= 'A' && ca <= 'Z') ca += 32;
        if (cb >= 'A' && cb <= 'Z') cb += 32;
        if (ca != cb) return ca - cb;
        if (!ca) return 0;
    }
    return 0;
}

int sluice_strcasecmp(const char *a, const char *b) { return sluice_strncasecmp(a, b, SIZE_MAX); }

/* ---- addresses -------------------------------------------------------------------- */

int sluice_addr_parse(sluice_addr *out, const char *ip, uint16_t port) {
    if (!out || !ip) return SLUICE_ERR_INVALID_ARGUMENT;
    char tmp[64];
    size_t n = strlen(ip);
    if (n >= sizeof tmp) return SLUICE_ERR_MALFORMED;
    bool bracketed = n >= 2 && ip[0] == '[' && ip[n - 1] == ']';
    if (bracketed) {
        memcpy(tmp, ip + 1, n - 2);
        tmp[n - 2] = '\0';
    } else {
        memcpy(tmp, ip, n + 1);
    }
    sluice_addr a;
    memset(&a, 0, sizeof a);
    /* RFC 3986 §3.2.2: brackets enclose IPv6 literals only. */
    if (!bracketed && inet_pton(AF_INET, tmp, a.ip) == 1) a.family = 4;
    else if (inet_pton(AF_INET6, tmp, a.ip) == 1) a.family = 6;
    else return SLUICE_ERR_MALFORMED;
    a.port = port;
    *out = a;
    return SLUICE_OK;
}

int sluice_addr_format(const sluice_addr *a, char *buf, size_t cap) {
    if (!a || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (a->family == 4) {
        inet_ntop(AF_INET, a->ip, ip, sizeof ip);
        n = snprintf(buf, cap, "%s:%u", ip, a->port);
    } else if (a->family == 6) {
        inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
        n = snprintf(buf, cap, "[%s]:%u", ip, a->port);
    } else {
        n = snprintf(buf, cap, "(unset)");
    }
    if (n < 0 || (size_t)n >= cap) return SLUICE_ERR_NOBUFS;
    return n;
}

bool sluice_addr_equal(const sluice_addr *a, const sluice_addr *b) {
    if (a->family != b->family || a->port != b->port) return false;
    return memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}
