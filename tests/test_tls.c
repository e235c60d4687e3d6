/* The sans-IO TLS client (turns:) against an in-process OpenSSL server over memory BIOs:
 * handshake and data, certificate verification (CA, host name, IP literal), bounds and
 * garbage from the network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../src/tls.h"
#include "testkit_tls.h"

typedef struct fixture {
    tk_cert ca, other_ca, server;
    char *ca_pem, *other_ca_pem;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (!tk_make_cert(&f->ca, "sluice test CA", NULL, NULL, 1) ||
        !tk_make_cert(&f->other_ca, "another CA", NULL, NULL, 2) ||
        !tk_make_cert(&f->server, "turn.test", &f->ca, "DNS:turn.test,IP:127.0.0.1", 3))
        return -1;
    f->ca_pem = tk_pem(&f->ca, false);
    f->other_ca_pem = tk_pem(&f->other_ca, false);
    *state = f;
    return f->ca_pem && f->other_ca_pem ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    tk_free_cert(&f->ca);
    tk_free_cert(&f->other_ca);
    tk_free_cert(&f->server);
    free(f->ca_pem);
    free(f->other_ca_pem);
    free(f);
    return 0;
}

typedef struct server {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} server;

static void server_init(server *s, const fixture *f, int max_version) {
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    if (max_version) {
        SSL_CTX_set_security_level(s->ctx, 0);
        SSL_CTX_set_min_proto_version(s->ctx, max_version);
        SSL_CTX_set_max_proto_version(s->ctx, max_version);
    }
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, f->server.cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, f->server.key), 1);
    s->ssl = SSL_new(s->ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(s->rbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    SSL_set_accept_state(s->ssl);
}

static void server_free(server *s) {
    SSL_free(s->ssl);
    SSL_CTX_free(s->ctx);
}

/* Shuttle bytes both ways until nothing moves. */
static void pump(sluice_tls_client *c, server *s) {
    for (int round = 0; round < 20; round++) {
        bool moved = false;
        uint8_t buf[32768];
        size_t n = sluice_tls_client_take(c, buf, sizeof buf);
        if (n) {
            assert_int_equal(BIO_write(s->rbio, buf, (int)n), (int)n);
            moved = true;
        }
        if (!SSL_is_init_finished(s->ssl)) {
            SSL_do_handshake(s->ssl);
            ERR_clear_error();
        }
        int m = BIO_read(s->wbio, buf, sizeof buf);
        if (m > 0) {
            assert_int_equal(sluice_tls_client_feed(c, buf, (size_t)m), SLUICE_OK);
            moved = true;
        }
        if (sluice_tls_client_handshake(c) < 0) return;
        if (!moved) return;
    }
}

static sluice_tls_ctx *client_ctx(const char *pem) {
    sluice_tls_ctx *ctx = NULL;
    assert_int_equal(sluice_tls_ctx_new(&ctx, pem, false, NULL, NULL), SLUICE_OK);
    return ctx;
}

static void test_tls_handshake_and_data_with_private_ca(void **state) {
    fixture *f = *state;
    server s;
    server_init(&s, f, 0);
    sluice_tls_ctx *ctx = client_ctx(f->ca_pem);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, "turn.test"), SLUICE_OK);
    assert_true(sluice_tls_client_pending(c) > 0); /* the ClientHello is ready at once */
    /* Before the handshake, writes take nothing. */
    assert_int_equal(sluice_tls_client_write(c, (const uint8_t *)"x", 1), 0);
    pump(c, &s);
    assert_int_equal(sluice_tls_client_handshake(c), 1);
    assert_string_equal(sluice_tls_client_reason(c), "");
    /* SNI was sent. */
    const char *sni = SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name);
    assert_non_null(sni);
    assert_string_equal(sni, "turn.test");

    assert_int_equal(sluice_tls_client_write(c, (const uint8_t *)"hello", 5), 5);
    pump(c, &s);
    char buf[64];
    assert_int_equal(SSL_read(s.ssl, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(SSL_write(s.ssl, "world!", 6), 6);
    pump(c, &s);
    uint8_t rb[64];
    int got = 0, r;
    while ((r = sluice_tls_client_read(c, rb + got, sizeof rb - (size_t)got)) > 0) got += r;
    assert_int_equal(r, 0);
    assert_int_equal(got, 6);
    assert_memory_equal(rb, "world!", 6);

    /* close_notify from the server. */
    SSL_shutdown(s.ssl);
    pump(c, &s);
    assert_int_equal(sluice_tls_client_read(c, rb, sizeof rb), SLUICE_ERR_CLOSED);
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
    server_free(&s);
}

static void test_tls_large_write_goes_record_by_record(void **state) {
    fixture *f = *state;
    server s;
    server_init(&s, f, 0);
    sluice_tls_ctx *ctx = client_ctx(f->ca_pem);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, "turn.test"), SLUICE_OK);
    pump(c, &s);
    static uint8_t big[40000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
    int n = sluice_tls_client_write(c, big, sizeof big);
    assert_int_equal(n, 16384); /* one record per call: the caller bounds what is buffered */
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
    server_free(&s);
}

static void expect_refused(fixture *f, const char *trust_pem, const char *name, int max_version, const char *why) {
    server s;
    server_init(&s, f, max_version);
    sluice_tls_ctx *ctx = client_ctx(trust_pem);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, name), SLUICE_OK);
    pump(c, &s);
    assert_int_equal(sluice_tls_client_handshake(c), SLUICE_ERR_CRYPTO);
    const char *reason = sluice_tls_client_reason(c);
    print_message("refused: %s\n", reason);
    if (!strstr(reason, why)) fail_msg("reason \"%s\" lacks \"%s\"", reason, why);
    /* A failed connection stays failed. */
    assert_int_equal(sluice_tls_client_write(c, (const uint8_t *)"x", 1), SLUICE_ERR_CRYPTO);
    assert_int_equal(sluice_tls_client_read(c, (uint8_t[4]){0}, 4), SLUICE_ERR_CRYPTO);
    assert_int_equal(sluice_tls_client_feed(c, (const uint8_t *)"x", 1), SLUICE_ERR_CRYPTO);
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
    server_free(&s);
}

static void test_tls_rejects_certificate_from_unknown_ca(void **state) {
    fixture *f = *state;
    expect_refused(f, f->other_ca_pem, "turn.test", 0, "certificate verification failed");
}

static void test_tls_rejects_wrong_host_name(void **state) {
    fixture *f = *state;
    expect_refused(f, f->ca_pem, "other.test", 0, "hostname mismatch");
    /* No partial wildcard or suffix tricks either. */
    expect_refused(f, f->ca_pem, "test", 0, "hostname mismatch");
}

static void test_tls_ip_literal_is_checked_against_ip_san_without_sni(void **state) {
    fixture *f = *state;
    server s;
    server_init(&s, f, 0);
    sluice_tls_ctx *ctx = client_ctx(f->ca_pem);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, "127.0.0.1"), SLUICE_OK);
    pump(c, &s);
    assert_int_equal(sluice_tls_client_handshake(c), 1);
    assert_null(SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name)); /* RFC 6066 §3 */
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
    server_free(&s);
    expect_refused(f, f->ca_pem, "127.0.0.2", 0, "IP address mismatch");
}

static void test_tls_rejects_tls_1_1_server(void **state) {
    fixture *f = *state;
    server s;
    server_init(&s, f, TLS1_1_VERSION);
    sluice_tls_ctx *ctx = client_ctx(f->ca_pem);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, "turn.test"), SLUICE_OK);
    pump(c, &s);
    assert_true(sluice_tls_client_handshake(c) != 1);
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
    server_free(&s);
}

static void test_tls_ctx_rejects_pem_without_certificate(void **state) {
    (void)state;
    sluice_tls_ctx *ctx = NULL;
    assert_int_equal(sluice_tls_ctx_new(&ctx, "not a certificate", false, NULL, NULL), SLUICE_ERR_CONFIG);
    assert_null(ctx);
    assert_int_equal(sluice_tls_ctx_new(&ctx, "", false, NULL, NULL), SLUICE_ERR_CONFIG);
    /* The system store alone is fine. */
    assert_int_equal(sluice_tls_ctx_new(&ctx, NULL, true, NULL, NULL), SLUICE_OK);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, ""), SLUICE_ERR_INVALID_ARGUMENT);
    sluice_tls_ctx_free(ctx);
}

static void test_tls_garbage_from_network_fails_cleanly(void **state) {
    fixture *f = *state;
    sluice_tls_ctx *ctx = client_ctx(f->ca_pem);
    sluice_tls_client *c;
    assert_int_equal(sluice_tls_client_new(&c, ctx, "turn.test"), SLUICE_OK);
    /* Feeding is bounded. */
    static uint8_t junk[SLUICE_TLS_MAX_FEED + 1];
    sluice_prng prng;
    sluice_prng_seed(&prng, 7);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)sluice_prng_next(&prng);
    junk[0] = 22; /* handshake record header, absurd length */
    assert_int_equal(sluice_tls_client_feed(c, junk, sizeof junk), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_tls_client_feed(c, junk, 64), SLUICE_OK);
    assert_int_equal(sluice_tls_client_handshake(c), SLUICE_ERR_CRYPTO);
    assert_true(strlen(sluice_tls_client_reason(c)) > 0);
    print_message("garbage: %s\n", sluice_tls_client_reason(c));
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_handshake_and_data_with_private_ca),
        cmocka_unit_test(test_tls_large_write_goes_record_by_record),
        cmocka_unit_test(test_tls_rejects_certificate_from_unknown_ca),
        cmocka_unit_test(test_tls_rejects_wrong_host_name),
        cmocka_unit_test(test_tls_ip_literal_is_checked_against_ip_san_without_sni),
        cmocka_unit_test(test_tls_rejects_tls_1_1_server),
        cmocka_unit_test(test_tls_ctx_rejects_pem_without_certificate),
        cmocka_unit_test(test_tls_garbage_from_network_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
