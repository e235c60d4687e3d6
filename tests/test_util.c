/* Tests of src/util.c and src/util.h: buffers, bounded reader/writer, hex, randomness,
 * addresses, error strings, allocator hooks, logging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testkit_alloc.h"
#include "util.h"

/* ---- sluice_buf ---------------------------------------------------------------- */

static void test_buf_grows_and_keeps_content(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    for (int i = 0; i < 1000; i++) {
        uint8_t chunk[7];
        for (int k = 0; k < 7; k++) chunk[k] = (uint8_t)(i * 7 + k);
        assert_int_equal(sluice_buf_append(&b, chunk, sizeof chunk), SLUICE_OK);
    }
    assert_int_equal(b.len, 7000);
    assert_true(b.cap >= b.len);
    for (size_t i = 0; i < b.len; i++) assert_int_equal(b.data[i], (uint8_t)i);
    sluice_buf_clear(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_buf_append_zero_bytes_allocates_nothing(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    assert_int_equal(sluice_buf_append(&b, NULL, 0), SLUICE_OK);
    assert_null(b.data);
    assert_int_equal(sluice_buf_reserve(&b, 0), SLUICE_OK);
    assert_null(b.data);
    sluice_buf_clear(&b);
}

static void test_buf_limit_gives_buffer_full_and_appends_nothing(void **state) {
    (void)state;
    sluice_buf b;
    uint8_t src[128];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i + 1);
    sluice_buf_init(&b, NULL, 100);
    assert_int_equal(sluice_buf_append(&b, src, 60), SLUICE_OK);
    assert_int_equal(sluice_buf_append(&b, src, 41), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(b.len, 60);
    assert_memory_equal(b.data, src, 60);
    assert_int_equal(sluice_buf_append(&b, src + 60, 40), SLUICE_OK);
    assert_int_equal(b.len, 100);
    assert_memory_equal(b.data, src, 100);
    assert_int_equal(sluice_buf_append(&b, src, 1), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_buf_reserve(&b, 1), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(b.len, 100);
    /* The allocation never exceeds the limit, even though growth doubles. */
    assert_true(b.cap <= 100);
    sluice_buf_clear(&b);
}

static void test_buf_reserve_rejects_size_overflow(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 1000);
    assert_int_equal(sluice_buf_append(&b, "abc", 3), SLUICE_OK);
    assert_int_equal(sluice_buf_reserve(&b, SIZE_MAX), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_buf_reserve(&b, SIZE_MAX - 1), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(b.len, 3);
    sluice_buf_clear(&b);
}

static void test_buf_printf_appends_nul_terminated_text(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    assert_int_equal(sluice_buf_printf(&b, "v=%d\r\n", 0), SLUICE_OK);
    assert_int_equal(b.len, 5);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(sluice_buf_printf(&b, "o=%s %u", "-", 42u), SLUICE_OK);
    assert_int_equal(b.len, 11);
    assert_string_equal((const char *)b.data, "v=0\r\no=- 42");
    /* Binary append overwrites the terminator: len never counts it. */
    assert_int_equal(sluice_buf_append(&b, "!", 1), SLUICE_OK);
    assert_memory_equal(b.data, "v=0\r\no=- 42!", 12);
    assert_int_equal(sluice_buf_printf(&b, "%s", ""), SLUICE_OK);
    assert_int_equal(b.len, 12);
    assert_string_equal((const char *)b.data, "v=0\r\no=- 42!");
    sluice_buf_clear(&b);
}

static void test_buf_printf_over_limit_appends_nothing(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 16);
    assert_int_equal(sluice_buf_printf(&b, "%s", "0123456789"), SLUICE_OK);
    assert_int_equal(sluice_buf_printf(&b, "%s", "abcdefgh"), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(b.len, 10);
    assert_string_equal((const char *)b.data, "0123456789");
    /* The terminator needs room too: 5 chars + NUL fill the 16-byte limit exactly. */
    assert_int_equal(sluice_buf_printf(&b, "%s", "abcdef"), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_buf_printf(&b, "%s", "abcde"), SLUICE_OK);
    assert_int_equal(b.len, 15);
    assert_string_equal((const char *)b.data, "0123456789abcde");
    sluice_buf_clear(&b);
}

static void test_buf_consume_drops_prefix(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    sluice_buf_consume(&b, 5); /* empty, never allocated */
    assert_int_equal(b.len, 0);
    assert_int_equal(sluice_buf_append(&b, "abcdef", 6), SLUICE_OK);
    sluice_buf_consume(&b, 0);
    assert_int_equal(b.len, 6);
    sluice_buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "cdef", 4);
    sluice_buf_consume(&b, 4);
    assert_int_equal(b.len, 0);
    assert_int_equal(sluice_buf_append(&b, "xy", 2), SLUICE_OK);
    sluice_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    sluice_buf_reset(&b);
    assert_int_equal(sluice_buf_append(&b, "z", 1), SLUICE_OK);
    assert_memory_equal(b.data, "z", 1);
    sluice_buf_clear(&b);
}

static void test_buf_clear_keeps_limit_and_is_reusable(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 8);
    assert_int_equal(sluice_buf_append(&b, "12345678", 8), SLUICE_OK);
    sluice_buf_clear(&b);
    assert_int_equal(sluice_buf_append(&b, "123456789", 9), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_buf_append(&b, "1234", 4), SLUICE_OK);
    assert_int_equal(b.len, 4);
    sluice_buf_clear(&b);
    sluice_buf_clear(&b); /* twice is harmless */
}

/* ---- sluice_rd ------------------------------------------------------------------- */

static void test_rd_reads_big_endian_values(void **state) {
    (void)state;
    static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                                 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11};
    sluice_rd r = sluice_rd_make(in, sizeof in);
    assert_int_equal(sluice_rd_u8(&r), 0x01);
    assert_int_equal(sluice_rd_u16(&r), 0x0203);
    assert_int_equal(sluice_rd_u32(&r), 0x04050607u);
    assert_true(sluice_rd_u64(&r) == 0x08090a0b0c0d0e0full);
    assert_int_equal(sluice_rd_left(&r), 2);
    assert_false(r.err);
    const uint8_t *p = sluice_rd_bytes(&r, 2);
    assert_ptr_equal(p, in + 15); /* points into the input, not a copy */
    assert_int_equal(sluice_rd_left(&r), 0);
    assert_false(r.err);
    /* Zero bytes at the end is not an error. */
    assert_non_null(sluice_rd_bytes(&r, 0));
    assert_false(r.err);
}

static void test_rd_past_end_sets_sticky_error(void **state) {
    (void)state;
    static const uint8_t in[] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    sluice_rd r = sluice_rd_make(in, sizeof in);
    assert_int_equal(sluice_rd_u32(&r), 0xaabbccddu);
    assert_int_equal(sluice_rd_u32(&r), 0); /* only 2 left */
    assert_true(r.err);
    assert_int_equal(sluice_rd_left(&r), 0);
    assert_ptr_equal(r.p, r.end);

    /* Once failed, even reads that would fit fail: a decoder checks err once at the end. */
    r = sluice_rd_make(in, sizeof in);
    assert_true(sluice_rd_u64(&r) == 0);
    assert_true(r.err);
    assert_int_equal(sluice_rd_u8(&r), 0);
    assert_int_equal(sluice_rd_u16(&r), 0);
    assert_null(sluice_rd_bytes(&r, 0));
    assert_true(r.err);

    r = sluice_rd_make(in, sizeof in);
    sluice_rd_skip(&r, 5);
    assert_false(r.err);
    assert_int_equal(sluice_rd_u8(&r), 0xff);
    assert_int_equal(sluice_rd_u8(&r), 0);
    assert_true(r.err);
}

static void test_rd_bytes_and_skip_past_end_fail(void **state) {
    (void)state;
    static const uint8_t in[] = {1, 2, 3};
    sluice_rd r = sluice_rd_make(in, sizeof in);
    assert_null(sluice_rd_bytes(&r, 4));
    assert_true(r.err);
    assert_int_equal(sluice_rd_left(&r), 0);

    r = sluice_rd_make(in, sizeof in);
    sluice_rd_skip(&r, SIZE_MAX); /* no pointer overflow */
    assert_true(r.err);
    assert_int_equal(sluice_rd_left(&r), 0);

    r = sluice_rd_make(in, 0);
    assert_int_equal(sluice_rd_u8(&r), 0);
    assert_true(r.err);
}

/* ---- sluice_wr ------------------------------------------------------------------- */

static void test_wr_writes_big_endian_values(void **state) {
    (void)state;
    uint8_t out[32];
    memset(out, 0x55, sizeof out);
    sluice_wr w = sluice_wr_make(out, sizeof out);
    sluice_wr_u8(&w, 0x01);
    sluice_wr_u16(&w, 0x0203);
    sluice_wr_u32(&w, 0x04050607u);
    sluice_wr_u64(&w, 0x08090a0b0c0d0e0full);
    sluice_wr_bytes(&w, "\x10\x11", 2);
    sluice_wr_zeros(&w, 3);
    sluice_wr_bytes(&w, NULL, 0);
    sluice_wr_zeros(&w, 0);
    assert_false(w.err);
    assert_int_equal(sluice_wr_len(&w), 20);
    assert_int_equal(sluice_wr_left(&w), 12);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 0, 0, 0x55};
    assert_memory_equal(out, want, sizeof want);
}

static void test_wr_overflow_is_sticky_and_writes_nothing(void **state) {
    (void)state;
    uint8_t out[8];
    memset(out, 0x55, sizeof out);
    sluice_wr w = sluice_wr_make(out, 5);
    sluice_wr_u32(&w, 0xdeadbeefu);
    assert_false(w.err);
    sluice_wr_u16(&w, 0x1234); /* one byte left: refused whole */
    assert_true(w.err);
    assert_int_equal(sluice_wr_len(&w), 4);
    sluice_wr_u8(&w, 0x99); /* would fit, but the error is sticky */
    assert_true(w.err);
    assert_int_equal(sluice_wr_len(&w), 4);
    assert_int_equal(out[4], 0x55);
    sluice_wr_bytes(&w, "x", 1);
    sluice_wr_zeros(&w, 1);
    sluice_wr_u64(&w, 1);
    assert_int_equal(sluice_wr_len(&w), 4);
    assert_int_equal(out[4], 0x55);

    uint8_t one[1];
    w = sluice_wr_make(one, 1);
    sluice_wr_bytes(&w, "ab", 2);
    assert_true(w.err);
    assert_int_equal(sluice_wr_len(&w), 0);
}

static void test_load_store_roundtrip(void **state) {
    (void)state;
    uint8_t b[8];
    sluice_store_be16(b, 0xbeef);
    assert_int_equal(b[0], 0xbe);
    assert_int_equal(sluice_load_be16(b), 0xbeef);
    sluice_store_be32(b, 0x80000001u);
    assert_int_equal(b[0], 0x80);
    assert_int_equal(b[3], 0x01);
    assert_int_equal(sluice_load_be32(b), 0x80000001u);
    sluice_store_be64(b, 0xfedcba9876543210ull);
    assert_int_equal(b[0], 0xfe);
    assert_int_equal(b[7], 0x10);
    assert_true(sluice_load_be64(b) == 0xfedcba9876543210ull);
}

/* ---- hex --------------------------------------------------------------------------- */

static void test_hex_encode_lower_upper_and_separator(void **state) {
    (void)state;
    static const uint8_t in[] = {0x00, 0xab, 0xff, 0x10};
    char out[32];
    assert_int_equal(sluice_hex_encode(out, sizeof out, in, 4, 0, false), 8);
    assert_string_equal(out, "00abff10");
    assert_int_equal(sluice_hex_encode(out, sizeof out, in, 4, ':', true), 11);
    assert_string_equal(out, "00:AB:FF:10");
    assert_int_equal(sluice_hex_encode(out, sizeof out, in, 1, ':', true), 2);
    assert_string_equal(out, "00");
    assert_int_equal(sluice_hex_encode(out, sizeof out, in, 0, ':', false), 0);
    assert_string_equal(out, "");
}

static void test_hex_encode_small_buffer_is_nobufs(void **state) {
    (void)state;
    static const uint8_t in[] = {1, 2, 3};
    char out[16];
    /* "01:02:03" is 8 chars + NUL. */
    assert_int_equal(sluice_hex_encode(out, 9, in, 3, ':', false), 8);
    assert_int_equal(sluice_hex_encode(out, 8, in, 3, ':', false), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_hex_encode(out, 6, in, 3, 0, false), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_hex_encode(out, 0, in, 0, 0, false), SLUICE_ERR_NOBUFS);
}

static void test_hex_decode_plain_and_colon_separated(void **state) {
    (void)state;
    uint8_t out[8];
    assert_int_equal(sluice_hex_decode(out, sizeof out, "00abFF10", 8), 4);
    assert_memory_equal(out, "\x00\xab\xff\x10", 4);
    assert_int_equal(sluice_hex_decode(out, sizeof out, "00:AB:ff:10", 11), 4);
    assert_memory_equal(out, "\x00\xab\xff\x10", 4);
    assert_int_equal(sluice_hex_decode(out, sizeof out, "", 0), 0);
    /* inlen bounds the input: no NUL needed, trailing bytes ignored. */
    assert_int_equal(sluice_hex_decode(out, sizeof out, "0102zz", 4), 2);
}

static void test_hex_decode_rejects_bad_input(void **state) {
    (void)state;
    static const char *const bad[] = {"0", "abc", "0g", "g0", ":00", "00:", "00::11", "0:0", "00 11",
                                      "-1", "0x00"};
    uint8_t out[8];
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(bad); i++)
        assert_int_equal(sluice_hex_decode(out, sizeof out, bad[i], strlen(bad[i])), SLUICE_ERR_MALFORMED);
}

static void test_hex_decode_small_buffer_is_nobufs(void **state) {
    (void)state;
    uint8_t out[2];
    assert_int_equal(sluice_hex_decode(out, 2, "0102", 4), 2);
    assert_int_equal(sluice_hex_decode(out, 2, "010203", 6), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_hex_decode(out, 0, "01", 2), SLUICE_ERR_NOBUFS);
}

static void test_hex_roundtrip_sha256_fingerprint(void **state) {
    (void)state;
    uint8_t fp[32], back[32];
    for (int i = 0; i < 32; i++) fp[i] = (uint8_t)(i * 37 + 11);
    char txt[32 * 3];
    assert_int_equal(sluice_hex_encode(txt, sizeof txt, fp, 32, ':', true), 95);
    assert_int_equal(sluice_hex_decode(back, sizeof back, txt, 95), 32);
    assert_memory_equal(fp, back, 32);
}

/* ---- strings ----------------------------------------------------------------------- */

static void test_strcasecmp_ignores_ascii_case_only(void **state) {
    (void)state;
    assert_int_equal(sluice_strcasecmp("STUN:Host", "stun:host"), 0);
    assert_true(sluice_strcasecmp("abc", "abd") < 0);
    assert_true(sluice_strcasecmp("abd", "ABC") > 0);
    assert_true(sluice_strcasecmp("ab", "abc") < 0);
    assert_int_equal(sluice_strcasecmp("", ""), 0);
    assert_int_equal(sluice_strncasecmp("TURN:x", "turn:y", 5), 0);
    assert_true(sluice_strncasecmp("TURN:x", "turn:y", 6) != 0);
    assert_int_equal(sluice_strncasecmp("ab", "AB", 10), 0);
    assert_true(sluice_strcasecmp("\xc3\x89", "\xc3\xa9") != 0); /* no Unicode folding */
    assert_true(sluice_strcasecmp("[", "{") != 0);                /* '[' is not 'A'-'Z' + 26 */
}

/* ---- randomness ---------------------------------------------------------------------- */

static void test_prng_matches_reference_xoshiro256starstar(void **state) {
    (void)state;
    /* Reference values: splitmix64 seeding, xoshiro256** (Blackman & Vigna). A change here
     * would silently change every simulated trace. */
    sluice_prng p;
    sluice_prng_seed(&p, 0);
    assert_true(sluice_prng_next(&p) == 0x99ec5f36cb75f2b4ull);
    assert_true(sluice_prng_next(&p) == 0xbf6e1f784956452aull);
    assert_true(sluice_prng_next(&p) == 0x1a5f849d4933e6e0ull);
    sluice_prng_seed(&p, 42);
    assert_true(sluice_prng_next(&p) == 0x15780b2e0c2ec716ull);
    assert_true(sluice_prng_next(&p) == 0x6104d9866d113a7eull);
    assert_true(sluice_prng_next(&p) == 0xae17533239e499a1ull);
}

static void test_prng_same_seed_same_sequence_different_seed_differs(void **state) {
    (void)state;
    sluice_prng a, b, c;
    sluice_prng_seed(&a, 1234);
    sluice_prng_seed(&b, 1234);
    sluice_prng_seed(&c, 1235);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t va = sluice_prng_next(&a);
        assert_true(va == sluice_prng_next(&b));
        if (va == sluice_prng_next(&c)) same_c++;
    }
    assert_int_equal(same_c, 0);

    uint8_t x[37], y[37];
    sluice_prng_seed(&a, 7);
    sluice_prng_seed(&b, 7);
    assert_int_equal(sluice_prng_random_fn(&a, x, sizeof x), 0);
    assert_int_equal(sluice_prng_random_fn(&b, y, sizeof y), 0);
    assert_memory_equal(x, y, sizeof x);
}

static void test_prng_unit_in_half_open_interval(void **state) {
    (void)state;
    sluice_prng p;
    sluice_prng_seed(&p, 99);
    double sum = 0, lo = 1, hi = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        double u = sluice_prng_unit(&p);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    assert_true(sum / n > 0.49 && sum / n < 0.51);
    assert_true(lo < 0.001 && hi > 0.999);
}

static void test_rng_below_is_uniform_and_in_bounds(void **state) {
    (void)state;
    sluice_prng p;
    sluice_prng_seed(&p, 5);
    sluice_rng r = {sluice_prng_random_fn, &p};
    enum { K = 6, N = 60000 };
    int count[K] = {0};
    for (int i = 0; i < N; i++) {
        uint32_t v = sluice_rng_below(&r, K);
        assert_true(v < K);
        count[v]++;
    }
    /* Expected 10000 each, sd ~91: +-500 is > 5 sd yet catches a modulo bias or a stuck value. */
    for (int k = 0; k < K; k++) assert_true(count[k] > 9500 && count[k] < 10500);

    assert_int_equal(sluice_rng_below(&r, 1), 0);
    assert_int_equal(sluice_rng_below(&r, 0), 0);
    for (int i = 0; i < 1000; i++) {
        assert_true(sluice_rng_below(&r, UINT32_MAX) < UINT32_MAX);
        assert_true(sluice_rng_below(&r, 0x80000001u) < 0x80000001u);
    }
}

/* A source that replays fixed 32-bit big-endian words, to drive rejection sampling. */
typedef struct script_rng {
    const uint32_t *words;
    size_t n, pos;
} script_rng;

static int script_fn(void *user, uint8_t *out, size_t len) {
    script_rng *s = user;
    if (len != 4 || s->pos >= s->n) return -1;
    sluice_store_be32(out, s->words[s->pos++]);
    return 0;
}

static void test_rng_below_rejects_values_in_biased_tail(void **state) {
    (void)state;
    /* n = 3: UINT32_MAX is a multiple of 3, so only UINT32_MAX itself is rejected. */
    static const uint32_t words[] = {UINT32_MAX, 5};
    script_rng s = {words, 2, 0};
    sluice_rng r = {script_fn, &s};
    assert_int_equal(sluice_rng_below(&r, 3), 2);
    assert_int_equal(s.pos, 2);
}

static int failing_fn(void *user, uint8_t *out, size_t len) {
    (void)user;
    memset(out, 0xaa, len);
    return -1;
}

static void test_rng_failing_source_gives_crypto_error_and_zeroes(void **state) {
    (void)state;
    sluice_rng r = {failing_fn, NULL};
    uint8_t b[16];
    assert_int_equal(sluice_rng_bytes(&r, b, sizeof b), SLUICE_ERR_CRYPTO);
    for (size_t i = 0; i < sizeof b; i++) assert_int_equal(b[i], 0);
    char ice[8];
    assert_int_equal(sluice_rng_ice_chars(&r, ice, 4), SLUICE_ERR_CRYPTO);
    assert_int_equal(sluice_rng_u32(&r), 0);
    assert_int_equal(sluice_rng_bytes(&r, b, 0), SLUICE_OK);
}

static void test_rng_default_source_is_openssl(void **state) {
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal(sluice_rng_bytes(NULL, a, sizeof a), SLUICE_OK);
    sluice_rng r = {NULL, NULL};
    assert_int_equal(sluice_rng_bytes(&r, b, sizeof b), SLUICE_OK);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_rng_ice_chars_use_the_ice_alphabet(void **state) {
    (void)state;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sluice_prng p;
    sluice_prng_seed(&p, 11);
    sluice_rng r = {sluice_prng_random_fn, &p};
    enum { LEN = 4096 };
    char *out = malloc(LEN + 1);
    assert_non_null(out);
    memset(out, '#', LEN + 1);
    assert_int_equal(sluice_rng_ice_chars(&r, out, LEN), SLUICE_OK);
    assert_int_equal(out[LEN], '\0');
    assert_int_equal(strlen(out), LEN);
    bool seen[64] = {false};
    for (size_t i = 0; i < LEN; i++) {
        const char *c = strchr(alphabet, out[i]);
        assert_non_null(c); /* RFC 8445 §5.3: ice-char = ALPHA / DIGIT / "+" / "/" */
        seen[c - alphabet] = true;
    }
    for (int i = 0; i < 64; i++) assert_true(seen[i]);
    /* ufrag of 4 chars (RFC 8839 §5.4 minimum), pwd of 22 (minimum 128 bits of randomness). */
    char small[23];
    assert_int_equal(sluice_rng_ice_chars(&r, small, 0), SLUICE_OK);
    assert_string_equal(small, "");
    assert_int_equal(sluice_rng_ice_chars(&r, small, 22), SLUICE_OK);
    assert_int_equal(strlen(small), 22);
    free(out);
}

/* ---- addresses --------------------------------------------------------------------- */

static void test_addr_parse_ipv4(void **state) {
    (void)state;
    sluice_addr a;
    assert_int_equal(sluice_addr_parse(&a, "192.0.2.7", 3478), SLUICE_OK);
    assert_int_equal(a.family, 4);
    assert_int_equal(a.port, 3478);
    assert_memory_equal(a.ip, "\xc0\x00\x02\x07", 4);
}

static void test_addr_parse_ipv6_plain_and_bracketed(void **state) {
    (void)state;
    sluice_addr a, b;
    assert_int_equal(sluice_addr_parse(&a, "2001:db8::1", 5), SLUICE_OK);
    assert_int_equal(a.family, 6);
    assert_int_equal(a.ip[0], 0x20);
    assert_int_equal(a.ip[1], 0x01);
    assert_int_equal(a.ip[15], 1);
    assert_int_equal(sluice_addr_parse(&b, "[2001:db8::1]", 5), SLUICE_OK);
    assert_true(sluice_addr_equal(&a, &b));
    assert_int_equal(sluice_addr_parse(&a, "::ffff:192.0.2.1", 1), SLUICE_OK);
    assert_int_equal(a.family, 6);
}

static void test_addr_parse_rejects_bad_input(void **state) {
    (void)state;
    static const char *const bad[] = {"", "1.2.3", "1.2.3.256", "1.2.3.4.5", "::g", "[::1", "::1]",
                                      "[]", "[", "[1.2.3.4]", "host.example", " 1.2.3.4", "1.2.3.4:80", "fe80::1%eth0",
                                      "0123456789012345678901234567890123456789012345678901234567890123456789"};
    sluice_addr a;
    a.family = 99;
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(bad); i++) {
        assert_int_equal(sluice_addr_parse(&a, bad[i], 1), SLUICE_ERR_MALFORMED);
        assert_int_equal(a.family, 99); /* untouched on error */
    }
    assert_int_equal(sluice_addr_parse(NULL, "1.2.3.4", 1), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_addr_parse(&a, NULL, 1), SLUICE_ERR_INVALID_ARGUMENT);
}

static void test_addr_format_v4_v6_unset_and_nobufs(void **state) {
    (void)state;
    sluice_addr a;
    char buf[64];
    assert_int_equal(sluice_addr_parse(&a, "10.0.0.1", 5), SLUICE_OK);
    assert_int_equal(sluice_addr_format(&a, buf, sizeof buf), 10);
    assert_string_equal(buf, "10.0.0.1:5");
    assert_int_equal(sluice_addr_format(&a, buf, 11), 10);
    assert_int_equal(sluice_addr_format(&a, buf, 10), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_addr_parse(&a, "[2001:DB8:0:0::1]", 65535), SLUICE_OK);
    assert_int_equal(sluice_addr_format(&a, buf, sizeof buf), 19);
    assert_string_equal(buf, "[2001:db8::1]:65535");
    memset(&a, 0, sizeof a);
    assert_true(sluice_addr_format(&a, buf, sizeof buf) > 0);
    assert_string_equal(buf, "(unset)");
    assert_int_equal(sluice_addr_format(NULL, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_addr_format(&a, NULL, 0), SLUICE_ERR_INVALID_ARGUMENT);
}

static void test_addr_format_parse_roundtrip(void **state) {
    (void)state;
    static const char *const ips[] = {"0.0.0.0", "255.255.255.255", "::", "::1", "fe80::1:2:3:4",
                                      "2001:db8:85a3::8a2e:370:7334"};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(ips); i++) {
        sluice_addr a, b;
        char buf[64];
        assert_int_equal(sluice_addr_parse(&a, ips[i], (uint16_t)(1000 + i)), SLUICE_OK);
        int n = sluice_addr_format(&a, buf, sizeof buf);
        assert_true(n > 0);
        char *colon = strrchr(buf, ':');
        assert_non_null(colon);
        *colon = '\0';
        assert_int_equal(sluice_addr_parse(&b, buf, (uint16_t)atoi(colon + 1)), SLUICE_OK);
        assert_true(sluice_addr_equal(&a, &b));
    }
}

static void test_addr_equal_compares_family_ip_port(void **state) {
    (void)state;
    sluice_addr a, b;
    assert_int_equal(sluice_addr_parse(&a, "1.2.3.4", 80), SLUICE_OK);
    b = a;
    assert_true(sluice_addr_equal(&a, &b));
    b.port = 81;
    assert_false(sluice_addr_equal(&a, &b));
    b = a;
    b.ip[3] = 5;
    assert_false(sluice_addr_equal(&a, &b));
    /* IPv4 compares only the 4 address bytes: garbage after them does not matter. */
    b = a;
    b.ip[10] = 0x77;
    assert_true(sluice_addr_equal(&a, &b));
    /* ::ffff:1.2.3.4 is a different family, so not equal to 1.2.3.4. */
    assert_int_equal(sluice_addr_parse(&b, "::ffff:1.2.3.4", 80), SLUICE_OK);
    assert_false(sluice_addr_equal(&a, &b));
}

/* ---- errors -------------------------------------------------------------------------- */

static void test_strerror_every_code_distinct_and_unknown_code(void **state) {
    (void)state;
    const char *seen[64];
    size_t n = 0;
    for (int code = SLUICE_OK; code >= SLUICE_ERR_AGAIN; code--) {
        const char *s = sluice_strerror(code);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        assert_string_not_equal(s, "unknown error");
        for (size_t i = 0; i < n; i++) assert_string_not_equal(s, seen[i]);
        seen[n++] = s;
    }
    assert_int_equal(n, 1 - SLUICE_ERR_AGAIN);
    static const int unknown[] = {1, 42, SLUICE_ERR_AGAIN - 1, -1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(unknown); i++)
        assert_string_equal(sluice_strerror(unknown[i]), "unknown error");
    assert_string_equal(sluice_version(), SLUICE_VERSION_STRING);
}

/* ---- allocator hooks ----------------------------------------------------------------- */

typedef struct hook_counts {
    int mallocs, reallocs, frees;
    size_t last_size;
} hook_counts;

static void *hook_malloc(size_t size, void *user) {
    hook_counts *c = user;
    c->mallocs++;
    c->last_size = size;
    return malloc(size);
}

static void *hook_realloc(void *ptr, size_t size, void *user) {
    hook_counts *c = user;
    c->reallocs++;
    c->last_size = size;
    return realloc(ptr, size);
}

static void hook_free(void *ptr, void *user) {
    hook_counts *c = user;
    c->frees++;
    free(ptr);
}

static void test_mem_custom_allocator_is_called(void **state) {
    (void)state;
    hook_counts c = {0, 0, 0, 0};
    sluice_allocator a = {hook_malloc, hook_realloc, hook_free, &c};
    void *p = sluice_mem_alloc(&a, 10);
    assert_non_null(p);
    assert_int_equal(c.mallocs, 1);
    assert_int_equal(c.last_size, 10);
    p = sluice_mem_realloc(&a, p, 100);
    assert_non_null(p);
    assert_int_equal(c.reallocs, 1);
    assert_int_equal(c.last_size, 100);
    sluice_mem_free(&a, p);
    assert_int_equal(c.frees, 1);
    sluice_mem_free(&a, NULL); /* the hook is never called with NULL */
    assert_int_equal(c.frees, 1);

    uint8_t *z = sluice_mem_calloc(&a, 4, 8);
    assert_non_null(z);
    for (int i = 0; i < 32; i++) assert_int_equal(z[i], 0);
    sluice_mem_free(&a, z);

    /* Size 0 still returns a unique, freeable block (malloc(0) may return NULL). */
    void *zero = sluice_mem_alloc(&a, 0);
    assert_non_null(zero);
    assert_int_equal(c.last_size, 1);
    sluice_mem_free(&a, zero);

    /* Buffers allocate through their allocator too. */
    int reallocs = c.reallocs, frees = c.frees;
    sluice_buf b;
    sluice_buf_init(&b, &a, 0);
    assert_int_equal(sluice_buf_append(&b, "hello", 5), SLUICE_OK);
    assert_int_equal(c.reallocs, reallocs + 1);
    sluice_buf_clear(&b);
    assert_int_equal(c.frees, frees + 1);
}

static void test_mem_calloc_overflow_returns_null_without_allocating(void **state) {
    (void)state;
    hook_counts c = {0, 0, 0, 0};
    sluice_allocator a = {hook_malloc, hook_realloc, hook_free, &c};
    assert_null(sluice_mem_calloc(&a, SIZE_MAX / 2, 3));
    assert_null(sluice_mem_calloc(NULL, SIZE_MAX, SIZE_MAX));
    assert_int_equal(c.mallocs, 0);
    void *p = sluice_mem_calloc(&a, 0, 16);
    assert_non_null(p);
    sluice_mem_free(&a, p);
}

static void test_mem_default_allocator_when_null(void **state) {
    (void)state;
    void *p = sluice_mem_alloc(NULL, 16);
    assert_non_null(p);
    p = sluice_mem_realloc(NULL, p, 32);
    assert_non_null(p);
    sluice_mem_free(NULL, p);
    sluice_allocator empty = {NULL, NULL, NULL, NULL};
    p = sluice_mem_alloc(&empty, 8);
    assert_non_null(p);
    sluice_mem_free(&empty, p);
}

static void test_mem_strdup_null_and_strndup(void **state) {
    (void)state;
    hook_counts c = {0, 0, 0, 0};
    sluice_allocator a = {hook_malloc, hook_realloc, hook_free, &c};
    char *s = sluice_mem_strdup(&a, NULL);
    assert_non_null(s);
    assert_string_equal(s, "");
    sluice_mem_free(&a, s);
    s = sluice_mem_strdup(&a, "sluice");
    assert_string_equal(s, "sluice");
    sluice_mem_free(&a, s);
    s = sluice_mem_strndup(&a, "abcdef", 3);
    assert_string_equal(s, "abc");
    sluice_mem_free(&a, s);
    s = sluice_mem_strndup(&a, NULL, 5);
    assert_string_equal(s, "");
    sluice_mem_free(&a, s);
    assert_int_equal(c.mallocs, c.frees);
}

/* ---- logging --------------------------------------------------------------------------- */

typedef struct log_capture {
    int calls;
    sluice_log_level level;
    char module[16];
    char msg[1024];
} log_capture;

static void capture_log(void *user, sluice_log_level level, const char *module, const char *msg) {
    log_capture *c = user;
    c->calls++;
    c->level = level;
    snprintf(c->module, sizeof c->module, "%s", module);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

static int side_effect(int *counter) { return ++*counter; }

static void test_log_filters_by_level_without_evaluating_arguments(void **state) {
    (void)state;
    log_capture c;
    memset(&c, 0, sizeof c);
    sluice_logger lg = {capture_log, &c, SLUICE_LOG_INFO};
    int evaluated = 0;
    SLUICE_LOG(&lg, SLUICE_LOG_DEBUG, "ice", "dropped %d", side_effect(&evaluated));
    assert_int_equal(c.calls, 0);
    assert_int_equal(evaluated, 0);
    SLUICE_LOG(&lg, SLUICE_LOG_WARN, "sctp", "value %d", side_effect(&evaluated));
    assert_int_equal(c.calls, 1);
    assert_int_equal(evaluated, 1);
    assert_int_equal(c.level, SLUICE_LOG_WARN);
    assert_string_equal(c.module, "sctp");
    assert_string_equal(c.msg, "value 1");
    SLUICE_LOG((const sluice_logger *)NULL, SLUICE_LOG_ERROR, "x", "%d", side_effect(&evaluated));
    sluice_logger off = {NULL, NULL, SLUICE_LOG_TRACE};
    SLUICE_LOG(&off, SLUICE_LOG_ERROR, "x", "%d", side_effect(&evaluated));
    sluice_log_write(&lg, SLUICE_LOG_TRACE, "x", "filtered");
    assert_int_equal(c.calls, 1);
}

static void test_log_truncates_long_lines(void **state) {
    (void)state;
    log_capture c;
    memset(&c, 0, sizeof c);
    sluice_logger lg = {capture_log, &c, SLUICE_LOG_TRACE};
    char big[800];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sluice_log_write(&lg, SLUICE_LOG_ERROR, "sdp", "%s", big);
    assert_int_equal(c.calls, 1);
    assert_int_equal(strlen(c.msg), 511);
}

/* ---- clock and time -------------------------------------------------------------------- */

static sluice_time fixed_now(void *user) { return *(const sluice_time *)user; }

static void test_clock_is_replaceable_and_time_min(void **state) {
    (void)state;
    sluice_time t = 123456789;
    sluice_clock c = {fixed_now, &t};
    assert_true(sluice_clock_now(&c) == 123456789);
    sluice_time a = sluice_clock_now(NULL), b = sluice_clock_monotonic_us();
    assert_true(b >= a);
    assert_true(sluice_time_min(5, SLUICE_TIME_NEVER) == 5);
    assert_true(sluice_time_min(SLUICE_TIME_NEVER, SLUICE_TIME_NEVER) == SLUICE_TIME_NEVER);
}

/* ---- failing allocator (tests/testkit_alloc.h) ----------------------------------------- */

static void test_testkit_alloc_counts_live_blocks_and_reports_leaks(void **state) {
    (void)state;
    testkit_alloc t;
    testkit_alloc_init(&t);
    void *a = sluice_mem_alloc(&t.a, 10);
    void *b = sluice_mem_alloc(&t.a, 20);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % _Alignof(max_align_t), 0);
    assert_int_equal(testkit_alloc_live(&t), 2);
    assert_int_equal(t.live_bytes, 30);
    b = sluice_mem_realloc(&t.a, b, 100);
    assert_non_null(b);
    assert_int_equal(testkit_alloc_live(&t), 2);
    assert_int_equal(t.live_bytes, 110);
    sluice_mem_free(&t.a, a);
    assert_int_equal(testkit_alloc_live(&t), 1);
    assert_int_equal(testkit_alloc_report(&t, NULL), 1); /* b is "leaked" */
    assert_int_equal(t.peak_bytes, 110);
    testkit_alloc_release_all(&t);
    assert_int_equal(testkit_alloc_live(&t), 0);
    assert_int_equal(t.live_bytes, 0);
    assert_int_equal(t.calls, 3);
}

static void test_testkit_alloc_fails_the_nth_allocation_once_or_sticky(void **state) {
    (void)state;
    testkit_alloc t;
    testkit_alloc_init(&t);
    testkit_alloc_fail_nth(&t, 1, false);
    void *p0 = sluice_mem_alloc(&t.a, 8);
    void *p1 = sluice_mem_alloc(&t.a, 8);
    void *p2 = sluice_mem_alloc(&t.a, 8);
    assert_non_null(p0);
    assert_null(p1);
    assert_non_null(p2);
    assert_int_equal(t.failures, 1);
    /* A refused realloc leaves the old block valid and counted. */
    testkit_alloc_fail_nth(&t, 0, true);
    memcpy(p0, "1234567", 8);
    assert_null(sluice_mem_realloc(&t.a, p0, 64));
    assert_null(sluice_mem_alloc(&t.a, 1));
    assert_string_equal(p0, "1234567");
    assert_int_equal(testkit_alloc_live(&t), 2);
    testkit_alloc_fail_never(&t);
    void *p3 = sluice_mem_alloc(&t.a, 8);
    assert_non_null(p3);
    /* Huge requests are refused instead of reaching the real allocator. */
    assert_null(sluice_mem_alloc(&t.a, SIZE_MAX - 4096));
    sluice_mem_free(&t.a, p0);
    sluice_mem_free(&t.a, p2);
    sluice_mem_free(&t.a, p3);
    assert_int_equal(testkit_alloc_live(&t), 0);
}

/* A scenario exercising every sluice_buf operation that allocates. After any failure
 * the buffer must be exactly as before the failed call. */
typedef struct buf_ctx {
    size_t limit;
    bool corrupted;
} buf_ctx;

static int buf_scenario(testkit_alloc *t, void *user) {
    buf_ctx *ctx = user;
    sluice_buf b;
    sluice_buf_init(&b, &t->a, ctx->limit);
    uint8_t big[3000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31);
    uint8_t shadow[8192]; /* what the buffer must contain */
    size_t slen = 0;
    int rc = 0;
    for (int step = 0; step < 7 && rc == 0; step++) {
        size_t before = b.len;
        switch (step) {
        case 0: rc = sluice_buf_append(&b, "0123456789", 10); if (!rc) { memcpy(shadow + slen, "0123456789", 10); slen += 10; } break;
        case 1: rc = sluice_buf_printf(&b, "%s=%d;", "key", 12345); if (!rc) { memcpy(shadow + slen, "key=12345;", 10); slen += 10; } break;
        case 2: rc = sluice_buf_append(&b, big, 200); if (!rc) { memcpy(shadow + slen, big, 200); slen += 200; } break;
        case 3: rc = sluice_buf_reserve(&b, 2000); break;
        case 4: sluice_buf_consume(&b, 15); memmove(shadow, shadow + 15, slen - 15); slen -= 15; break;
        case 5: rc = sluice_buf_append(&b, big, sizeof big); if (!rc) { memcpy(shadow + slen, big, sizeof big); slen += sizeof big; } break;
        case 6: rc = sluice_buf_printf(&b, "%0*d", 4000, 7); if (!rc) { memset(shadow + slen, '0', 3999); shadow[slen + 3999] = '7'; slen += 4000; } break;
        }
        if (rc && (rc != SLUICE_ERR_NOMEM || b.len != before)) ctx->corrupted = true;
        if (b.len != slen || (slen && memcmp(b.data, shadow, slen) != 0)) ctx->corrupted = true;
    }
    sluice_buf_clear(&b);
    return rc;
}

static void test_buf_survives_every_allocation_failure(void **state) {
    (void)state;
    char why[256];
    buf_ctx ctx = {0, false};
    if (!testkit_alloc_sweep(buf_scenario, &ctx, 0, why, sizeof why)) fail_msg("%s", why);
    assert_false(ctx.corrupted);
    assert_true(atoi(why) >= 4); /* "N allocation points": the growth steps were all exercised */
    if (!testkit_alloc_sweep(buf_scenario, &ctx, TESTKIT_SWEEP_STICKY, why, sizeof why)) fail_msg("%s", why);
    assert_false(ctx.corrupted);
    /* With a limit, growth is capped at the limit: other allocation sizes, same guarantees. */
    ctx.limit = 8000;
    if (!testkit_alloc_sweep(buf_scenario, &ctx, 0, why, sizeof why)) fail_msg("%s", why);
    assert_false(ctx.corrupted);
}

static int strdup_scenario(testkit_alloc *t, void *user) {
    (void)user;
    char *a = sluice_mem_strdup(&t->a, "alpha");
    char *b = sluice_mem_strndup(&t->a, "betagamma", 4);
    char *c = sluice_mem_strdup(&t->a, NULL);
    void *d = sluice_mem_calloc(&t->a, 3, 5);
    int rc = a && b && c && d ? 0 : SLUICE_ERR_NOMEM;
    if (!rc && (strcmp(a, "alpha") || strcmp(b, "beta") || strcmp(c, ""))) rc = SLUICE_ERR_INVALID_STATE;
    sluice_mem_free(&t->a, a);
    sluice_mem_free(&t->a, b);
    sluice_mem_free(&t->a, c);
    sluice_mem_free(&t->a, d);
    return rc;
}

static void test_mem_helpers_survive_every_allocation_failure(void **state) {
    (void)state;
    char why[256];
    if (!testkit_alloc_sweep(strdup_scenario, NULL, 0, why, sizeof why)) fail_msg("%s", why);
}

static int leaky_scenario(testkit_alloc *t, void *user) {
    (void)user;
    void *a = sluice_mem_alloc(&t->a, 8);
    void *b = sluice_mem_alloc(&t->a, 8);
    if (!b) return SLUICE_ERR_NOMEM; /* bug on purpose: `a` leaks */
    sluice_mem_free(&t->a, a);
    sluice_mem_free(&t->a, b);
    return a ? 0 : SLUICE_ERR_NOMEM;
}

static int ignoring_scenario(testkit_alloc *t, void *user) {
    (void)user;
    void *a = sluice_mem_alloc(&t->a, 8);
    sluice_mem_free(&t->a, a);
    return 0; /* bug on purpose: failure not reported */
}

static void test_testkit_sweep_catches_leaks_and_swallowed_failures(void **state) {
    (void)state;
    char why[256];
    assert_false(testkit_alloc_sweep(leaky_scenario, NULL, 0, why, sizeof why));
    assert_non_null(strstr(why, "allocation #1 of 2"));
    assert_non_null(strstr(why, "leak"));
    assert_false(testkit_alloc_sweep(ignoring_scenario, NULL, 0, why, sizeof why));
    assert_non_null(strstr(why, "not reported"));
    /* A scenario that absorbs the failure on purpose passes with ALLOW_OK. */
    assert_true(testkit_alloc_sweep(ignoring_scenario, NULL, TESTKIT_SWEEP_ALLOW_OK, why, sizeof why));
    assert_false(testkit_alloc_sweep(leaky_scenario, NULL, TESTKIT_SWEEP_ALLOW_OK, why, sizeof why));
}

static void test_testkit_alloc_random_failures_are_seeded(void **state) {
    (void)state;
    bool first[400];
    size_t refused = 0;
    for (int run = 0; run < 2; run++) {
        testkit_alloc t;
        testkit_alloc_init(&t);
        testkit_alloc_fail_random(&t, 1234, 10);
        for (int i = 0; i < 400; i++) {
            void *p = sluice_mem_alloc(&t.a, 16);
            if (run == 0) {
                first[i] = p == NULL;
                refused += p == NULL;
            } else {
                assert_int_equal(p == NULL, first[i]); /* same seed, same failures */
            }
            sluice_mem_free(&t.a, p);
        }
        assert_int_equal(testkit_alloc_live(&t), 0);
    }
    assert_true(refused > 20 && refused < 70); /* about 1 in 10 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_keeps_content),
        cmocka_unit_test(test_buf_append_zero_bytes_allocates_nothing),
        cmocka_unit_test(test_buf_limit_gives_buffer_full_and_appends_nothing),
        cmocka_unit_test(test_buf_reserve_rejects_size_overflow),
        cmocka_unit_test(test_buf_printf_appends_nul_terminated_text),
        cmocka_unit_test(test_buf_printf_over_limit_appends_nothing),
        cmocka_unit_test(test_buf_consume_drops_prefix),
        cmocka_unit_test(test_buf_clear_keeps_limit_and_is_reusable),
        cmocka_unit_test(test_rd_reads_big_endian_values),
        cmocka_unit_test(test_rd_past_end_sets_sticky_error),
        cmocka_unit_test(test_rd_bytes_and_skip_past_end_fail),
        cmocka_unit_test(test_wr_writes_big_endian_values),
        cmocka_unit_test(test_wr_overflow_is_sticky_and_writes_nothing),
        cmocka_unit_test(test_load_store_roundtrip),
        cmocka_unit_test(test_hex_encode_lower_upper_and_separator),
        cmocka_unit_test(test_hex_encode_small_buffer_is_nobufs),
        cmocka_unit_test(test_hex_decode_plain_and_colon_separated),
        cmocka_unit_test(test_hex_decode_rejects_bad_input),
        cmocka_unit_test(test_hex_decode_small_buffer_is_nobufs),
        cmocka_unit_test(test_hex_roundtrip_sha256_fingerprint),
        cmocka_unit_test(test_strcasecmp_ignores_ascii_case_only),
        cmocka_unit_test(test_prng_matches_reference_xoshiro256starstar),
        cmocka_unit_test(test_prng_same_seed_same_sequence_different_seed_differs),
        cmocka_unit_test(test_prng_unit_in_half_open_interval),
        cmocka_unit_test(test_rng_below_is_uniform_and_in_bounds),
        cmocka_unit_test(test_rng_below_rejects_values_in_biased_tail),
        cmocka_unit_test(test_rng_failing_source_gives_crypto_error_and_zeroes),
        cmocka_unit_test(test_rng_default_source_is_openssl),
        cmocka_unit_test(test_rng_ice_chars_use_the_ice_alphabet),
        cmocka_unit_test(test_addr_parse_ipv4),
        cmocka_unit_test(test_addr_parse_ipv6_plain_and_bracketed),
        cmocka_unit_test(test_addr_parse_rejects_bad_input),
        cmocka_unit_test(test_addr_format_v4_v6_unset_and_nobufs),
        cmocka_unit_test(test_addr_format_parse_roundtrip),
        cmocka_unit_test(test_addr_equal_compares_family_ip_port),
        cmocka_unit_test(test_strerror_every_code_distinct_and_unknown_code),
        cmocka_unit_test(test_mem_custom_allocator_is_called),
        cmocka_unit_test(test_mem_calloc_overflow_returns_null_without_allocating),
        cmocka_unit_test(test_mem_default_allocator_when_null),
        cmocka_unit_test(test_mem_strdup_null_and_strndup),
        cmocka_unit_test(test_log_filters_by_level_without_evaluating_arguments),
        cmocka_unit_test(test_log_truncates_long_lines),
        cmocka_unit_test(test_clock_is_replaceable_and_time_min),
        cmocka_unit_test(test_testkit_alloc_counts_live_blocks_and_reports_leaks),
        cmocka_unit_test(test_testkit_alloc_fails_the_nth_allocation_once_or_sticky),
        cmocka_unit_test(test_buf_survives_every_allocation_failure),
        cmocka_unit_test(test_mem_helpers_survive_every_allocation_failure),
        cmocka_unit_test(test_testkit_sweep_catches_leaks_and_swallowed_failures),
        cmocka_unit_test(test_testkit_alloc_random_failures_are_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
