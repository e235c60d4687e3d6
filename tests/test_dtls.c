/* DTLS endpoint tests: two endpoints over the simulated network in virtual time, plus
 * real ClientHellos from browsers and libraries (samples). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dtls.h"
#include "simnet.h"
#include "util.h"

#define MS 1000ULL
#define SEC 1000000ULL

/* ---- a pair of endpoints joined by the simulator ------------------------------------ */

typedef struct ep {
    sluice_dtls *d;
    sluice_addr addr, peer;
    uint64_t sent;
} ep;

typedef struct pair {
    sluice_simnet *sn;
    sluice_dtls_cert *cert_a, *cert_b;
    ep a, b;
} pair;

static void ep_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                       const uint8_t *data, size_t len) {
    (void)from; (void)to;
    ep *e = obj;
    (void)sluice_dtls_handle_datagram(e->d, now, data, len);
}

static size_t ep_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    (void)now;
    ep *e = obj;
    int n = sluice_dtls_poll_datagram(e->d, buf, cap);
    if (n <= 0) return 0;
    *from = e->addr;
    *to = e->peer;
    e->sent++;
    return (size_t)n;
}

static sluice_time ep_deadline(void *obj) { return sluice_dtls_next_deadline(((ep *)obj)->d); }
static void ep_timeout(void *obj, sluice_time now) { sluice_dtls_handle_timeout(((ep *)obj)->d, now); }

static const sluice_sim_node_ops ep_ops = {ep_deliver, ep_poll, ep_deadline, ep_timeout};

static void add_fp(sluice_dtls *d, const sluice_dtls_cert *c) {
    char fp[128];
    assert_int_equal(sluice_dtls_cert_fingerprint(c, "sha-256", fp, sizeof fp), 95);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "sha-256", fp), SLUICE_OK);
}

/* A is client when a_client; settings may be NULL (defaults). Fingerprints exchanged. */
static void pair_init(pair *p, uint64_t seed, double loss, bool a_client, const sluice_dtls_settings *sa,
                      const sluice_dtls_settings *sb) {
    memset(p, 0, sizeof *p);
    p->sn = sluice_simnet_new(seed, 0);
    assert_non_null(p->sn);
    assert_int_equal(sluice_dtls_cert_generate(&p->cert_a), SLUICE_OK);
    assert_int_equal(sluice_dtls_cert_generate(&p->cert_b), SLUICE_OK);
    sluice_dtls_settings s1, s2;
    if (sa) s1 = *sa; else sluice_dtls_settings_default(&s1);
    if (sb) s2 = *sb; else sluice_dtls_settings_default(&s2);
    s1.is_client = a_client;
    s2.is_client = !a_client;
    assert_int_equal(sluice_dtls_new(&p->a.d, &s1, p->cert_a, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_dtls_new(&p->b.d, &s2, p->cert_b, NULL, NULL), SLUICE_OK);
    add_fp(p->a.d, p->cert_b);
    add_fp(p->b.d, p->cert_a);
    p->a.addr = sluice_sim_addr4(10, 0, 0, 1, 5000);
    p->b.addr = sluice_sim_addr4(10, 0, 0, 2, 5000);
    p->a.peer = p->b.addr;
    p->b.peer = p->a.addr;
    int na = sluice_simnet_add_node(p->sn, &ep_ops, &p->a);
    int nb = sluice_simnet_add_node(p->sn, &ep_ops, &p->b);
    assert_true(na >= 0 && nb >= 0);
    assert_int_equal(sluice_simnet_bind(p->sn, na, &p->a.addr), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(p->sn, nb, &p->b.addr), SLUICE_OK);
    sluice_sim_path path = {0};
    path.loss = loss;
    path.delay_us = 10 * MS;
    path.mtu = 1200;
    sluice_simnet_set_default_path(p->sn, &path);
}

static void pair_free(pair *p) {
    sluice_dtls_free(p->a.d);
    sluice_dtls_free(p->b.d);
    sluice_dtls_cert_free(p->cert_a);
    sluice_dtls_cert_free(p->cert_b);
    sluice_simnet_free(p->sn);
}

static bool settled(sluice_dtls *d) {
    sluice_dtls_state s = sluice_dtls_get_state(d);
    return s != SLUICE_DTLS_NEW && s != SLUICE_DTLS_HANDSHAKING;
}

static bool both_settled(void *user) {
    pair *p = user;
    return settled(p->a.d) && settled(p->b.d);
}

static void pair_start(pair *p) {
    sluice_time now = sluice_simnet_now(p->sn);
    assert_int_equal(sluice_dtls_start(p->a.d, now), SLUICE_OK);
    assert_int_equal(sluice_dtls_start(p->b.d, now), SLUICE_OK);
}

static bool pair_handshake(pair *p, sluice_time limit) {
    pair_start(p);
    sluice_simnet_run(p->sn, sluice_simnet_now(p->sn) + limit, both_settled, p);
    return sluice_dtls_get_state(p->a.d) == SLUICE_DTLS_CONNECTED &&
           sluice_dtls_get_state(p->b.d) == SLUICE_DTLS_CONNECTED;
}

/* Let the network drain for `t` of virtual time. */
static void pair_run_for(pair *p, sluice_time t) {
    sluice_time until = sluice_simnet_now(p->sn) + t;
    while (sluice_simnet_now(p->sn) < until && sluice_simnet_step(p->sn, until)) {}
}

static void perfect_path(pair *p) {
    sluice_sim_path path = {0};
    path.delay_us = 10 * MS;
    sluice_simnet_set_default_path(p->sn, &path);
}

/* Each side sends `n` distinct messages; each must arrive intact and in order (no loss). */
static void exchange_app_data(pair *p, int n) {
    perfect_path(p);
    for (int i = 0; i < n; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "a->b message %d", i);
        assert_int_equal(sluice_dtls_write(p->a.d, (const uint8_t *)msg, (size_t)len), SLUICE_OK);
        len = snprintf(msg, sizeof msg, "b->a message %d", i);
        assert_int_equal(sluice_dtls_write(p->b.d, (const uint8_t *)msg, (size_t)len), SLUICE_OK);
    }
    /* one full-size record each way */
    uint8_t big[1200];
    size_t maxp = sluice_dtls_max_payload(p->a.d);
    assert_true(maxp >= 1100 && maxp <= 1200 - 29);
    for (size_t i = 0; i < maxp; i++) big[i] = (uint8_t)(i * 7);
    assert_int_equal(sluice_dtls_write(p->a.d, big, maxp), SLUICE_OK);
    assert_int_equal(sluice_dtls_write(p->b.d, big, maxp), SLUICE_OK);
    pair_run_for(p, 200 * MS);
    uint8_t buf[2048];
    for (int side = 0; side < 2; side++) {
        sluice_dtls *rx = side ? p->a.d : p->b.d;
        const char *pfx = side ? "b->a" : "a->b";
        for (int i = 0; i < n; i++) {
            char want[64];
            int wl = snprintf(want, sizeof want, "%s message %d", pfx, i);
            int got = sluice_dtls_read(rx, buf, sizeof buf);
            assert_int_equal(got, wl);
            assert_memory_equal(buf, want, (size_t)wl);
        }
        assert_int_equal(sluice_dtls_read(rx, buf, sizeof buf), (int)maxp);
        assert_memory_equal(buf, big, maxp);
        assert_int_equal(sluice_dtls_read(rx, buf, sizeof buf), SLUICE_ERR_AGAIN);
    }
}

static void check_connected_stats(pair *p) {
    sluice_dtls_stats st;
    sluice_dtls_get_stats(p->a.d, &st);
    assert_string_equal(st.version, "DTLSv1.2");
    assert_true(strstr(st.cipher, "ECDHE-ECDSA") != NULL);
    sluice_dtls_get_stats(p->b.d, &st);
    assert_string_equal(st.version, "DTLSv1.2");
}

static uint64_t retransmits(pair *p) {
    sluice_dtls_stats sa, sb;
    sluice_dtls_get_stats(p->a.d, &sa);
    sluice_dtls_get_stats(p->b.d, &sb);
    return sa.retransmitted_flights + sb.retransmitted_flights;
}

/* ---- handshakes ------------------------------------------------------------------------ */

/* Returns the flights retransmitted; a handshake that lost a datagram must have some. */
static uint64_t run_handshake_case(bool a_client, double loss, uint64_t seed) {
    pair p;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.handshake_timeout_ms = 120000; /* 40 % loss may need many rounds */
    pair_init(&p, seed, loss, a_client, &s, &s);
    bool ok = pair_handshake(&p, 130 * SEC);
    if (!ok)
        fprintf(stderr, "handshake failed (seed %llu loss %.2f): a=%d '%s' b=%d '%s'\n",
                (unsigned long long)seed, loss, sluice_dtls_get_state(p.a.d), sluice_dtls_reason(p.a.d),
                sluice_dtls_get_state(p.b.d), sluice_dtls_reason(p.b.d));
    assert_true(ok);
    check_connected_stats(&p);
    uint64_t lost = sluice_simnet_counters(p.sn, NULL, NULL).lost;
    uint64_t rtx = retransmits(&p);
    if (lost > 0) assert_true(rtx > 0);
    else assert_int_equal(rtx, 0);
    exchange_app_data(&p, 20);
    pair_free(&p);
    return rtx;
}

static void test_dtls_handshake_no_loss_a_client(void **state) {
    (void)state;
    run_handshake_case(true, 0.0, 1);
}

static void test_dtls_handshake_no_loss_a_server(void **state) {
    (void)state;
    run_handshake_case(false, 0.0, 2);
}

static void test_dtls_handshake_20_percent_loss_both_roles(void **state) {
    (void)state;
    uint64_t rtx = 0;
    for (uint64_t seed = 10; seed < 16; seed++) {
        rtx += run_handshake_case(true, 0.2, seed);
        rtx += run_handshake_case(false, 0.2, seed + 100);
    }
    assert_true(rtx > 0);
}

static void test_dtls_handshake_40_percent_loss_both_roles(void **state) {
    (void)state;
    uint64_t rtx = 0;
    /* DTLS_SOAK=N runs N seeds instead of 6 (manual robustness runs). */
    uint64_t seeds = getenv("DTLS_SOAK") ? strtoull(getenv("DTLS_SOAK"), NULL, 10) : 6;
    for (uint64_t seed = 20; seed < 20 + seeds; seed++) {
        rtx += run_handshake_case(true, 0.4, seed);
        rtx += run_handshake_case(false, 0.4, seed + 100);
    }
    assert_true(rtx > 0);
}

/* Duplicated, reordered and jittered datagrams: the handshake and data still work. */
static void test_dtls_handshake_with_duplication_reordering_and_jitter(void **state) {
    (void)state;
    uint64_t impaired = 0;
    for (uint64_t seed = 50; seed < 56; seed++) {
        pair p;
        pair_init(&p, seed, 0.0, seed % 2 == 0, NULL, NULL);
        sluice_sim_path path = {0};
        path.delay_us = 5 * MS;
        path.jitter_us = 30 * MS;
        path.duplicate = 0.3;
        path.reorder = 0.3;
        path.reorder_delay_us = 40 * MS;
        path.loss = 0.1;
        sluice_simnet_set_default_path(p.sn, &path);
        assert_true(pair_handshake(&p, 60 * SEC));
        sluice_sim_counters c = sluice_simnet_counters(p.sn, NULL, NULL);
        impaired += c.duplicated + c.reordered;
        exchange_app_data(&p, 5);
        pair_free(&p);
    }
    assert_true(impaired > 0);
}

/* A small path MTU: the certificate flight is fragmented over several datagrams. */
static void test_dtls_handshake_fragments_flights_for_a_small_mtu(void **state) {
    (void)state;
    pair p;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.mtu = 300;
    pair_init(&p, 57, 0.0, true, &s, &s);
    sluice_sim_path path = {0};
    path.delay_us = 10 * MS;
    path.mtu = 300; /* anything bigger would be dropped */
    sluice_simnet_set_default_path(p.sn, &path);
    assert_true(pair_handshake(&p, 10 * SEC));
    assert_int_equal(retransmits(&p), 0);
    assert_int_equal(sluice_simnet_counters(p.sn, NULL, NULL).too_big, 0);
    assert_true(p.a.sent + p.b.sent >= 6);
    size_t maxp = sluice_dtls_max_payload(p.a.d);
    assert_true(maxp > 200 && maxp < 300);
    uint8_t msg[300], buf[300];
    memset(msg, 7, sizeof msg);
    assert_int_equal(sluice_dtls_write(p.a.d, msg, maxp), SLUICE_OK);
    pair_run_for(&p, 100 * MS);
    assert_int_equal(sluice_dtls_read(p.b.d, buf, sizeof buf), (int)maxp);
    pair_free(&p);
}

/* Lossless handshake in virtual time: no real second spent, no retransmission, and the
 * whole handshake takes about 2 round trips of the simulated 10 ms links. */
static void test_dtls_handshake_takes_two_round_trips(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 3, 0.0, true, NULL, NULL);
    assert_true(pair_handshake(&p, 10 * SEC));
    assert_true(sluice_simnet_now(p.sn) <= 60 * MS);
    pair_free(&p);
}

/* ---- the retransmission timer follows the caller's clock --------------------------------- */

static void test_dtls_first_retransmission_at_initial_timeout_then_doubles(void **state) {
    (void)state;
    sluice_dtls_cert *c;
    assert_int_equal(sluice_dtls_cert_generate(&c), SLUICE_OK);
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.is_client = true;
    s.retransmit_initial_ms = 100;
    s.retransmit_max_ms = 400;
    s.handshake_timeout_ms = 2000;
    sluice_dtls *d;
    assert_int_equal(sluice_dtls_new(&d, &s, c, NULL, NULL), SLUICE_OK);
    sluice_time t0 = 5 * SEC;
    assert_int_equal(sluice_dtls_start(d, t0), SLUICE_OK);
    uint8_t ch[1500], buf[1500];
    int n = sluice_dtls_poll_datagram(d, ch, sizeof ch);
    assert_true(n > 50);
    assert_int_equal(ch[0], 22);  /* handshake */
    assert_int_equal(ch[13], 1);  /* ClientHello */
    assert_int_equal(sluice_dtls_poll_datagram(d, buf, sizeof buf), 0);
    /* 100, 200, 400, 400 (capped) ms */
    sluice_time expect = t0 + 100 * MS;
    uint32_t steps[] = {100, 200, 400, 400, 400};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(sluice_dtls_next_deadline(d), expect);
        sluice_dtls_handle_timeout(d, expect - 1);
        assert_int_equal(sluice_dtls_poll_datagram(d, buf, sizeof buf), 0);
        sluice_dtls_handle_timeout(d, expect);
        int m = sluice_dtls_poll_datagram(d, buf, sizeof buf);
        assert_true(m > 50);
        assert_int_equal(buf[13], 1); /* the ClientHello again, new record number */
        expect += steps[i + 1] * MS;
    }
    sluice_dtls_stats st;
    sluice_dtls_get_stats(d, &st);
    assert_int_equal(st.retransmitted_flights, 4);
    /* the handshake timeout wins over the next retransmission */
    sluice_dtls_handle_timeout(d, t0 + 2000 * MS);
    assert_int_equal(sluice_dtls_get_state(d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_error(d), SLUICE_ERR_TIMEOUT);
    assert_true(strstr(sluice_dtls_reason(d), "timed out") != NULL);
    assert_int_equal(sluice_dtls_next_deadline(d), SLUICE_TIME_NEVER);
    sluice_dtls_free(d);
    sluice_dtls_cert_free(c);
}

/* OpenSSL's own limit (12 timeouts of one flight) ends the handshake before ours. */
static void test_dtls_gives_up_after_twelve_retransmissions(void **state) {
    (void)state;
    sluice_dtls_cert *c;
    assert_int_equal(sluice_dtls_cert_generate(&c), SLUICE_OK);
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.is_client = true;
    s.retransmit_max_ms = 200;
    s.handshake_timeout_ms = 60000;
    sluice_dtls *d;
    assert_int_equal(sluice_dtls_new(&d, &s, c, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_dtls_start(d, 0), SLUICE_OK);
    uint8_t buf[1500];
    int sent = 0;
    while (sluice_dtls_get_state(d) == SLUICE_DTLS_HANDSHAKING) {
        while (sluice_dtls_poll_datagram(d, buf, sizeof buf) > 0) sent++;
        sluice_time t = sluice_dtls_next_deadline(d);
        assert_true(t < 60 * SEC);
        sluice_dtls_handle_timeout(d, t);
    }
    assert_int_equal(sent, 13);
    assert_int_equal(sluice_dtls_get_state(d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_error(d), SLUICE_ERR_TIMEOUT);
    assert_true(strstr(sluice_dtls_reason(d), "gave up") != NULL);
    sluice_dtls_free(d);
    sluice_dtls_cert_free(c);
}

static void test_dtls_handshake_timeout_when_peer_silent(void **state) {
    (void)state;
    pair p;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.handshake_timeout_ms = 5000;
    pair_init(&p, 4, 1.0, true, &s, &s);
    assert_false(pair_handshake(&p, 20 * SEC));
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_error(p.a.d), SLUICE_ERR_TIMEOUT);
    assert_int_equal(sluice_dtls_get_state(p.b.d), SLUICE_DTLS_FAILED);
    assert_true(sluice_simnet_now(p.sn) <= 5 * SEC + 10 * MS);
    pair_free(&p);
}

/* ---- certificates and fingerprints ---------------------------------------------------------- */

static void test_dtls_cert_fingerprint_formats(void **state) {
    (void)state;
    sluice_dtls_cert *c;
    assert_int_equal(sluice_dtls_cert_generate(&c), SLUICE_OK);
    char fp[200];
    struct { const char *alg; int len; } algs[] = {
        {"sha-256", 32 * 3 - 1}, {"sha-1", 20 * 3 - 1}, {"SHA-384", 48 * 3 - 1}, {"sha-512", 64 * 3 - 1}};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(algs); i++) {
        assert_int_equal(sluice_dtls_cert_fingerprint(c, algs[i].alg, fp, sizeof fp), algs[i].len);
        for (int k = 0; k < algs[i].len; k++) {
            if (k % 3 == 2) assert_int_equal(fp[k], ':');
            else assert_true((fp[k] >= '0' && fp[k] <= '9') || (fp[k] >= 'A' && fp[k] <= 'F'));
        }
    }
    assert_int_equal(sluice_dtls_cert_fingerprint(c, "md5", fp, sizeof fp), SLUICE_ERR_UNSUPPORTED);
    assert_int_equal(sluice_dtls_cert_fingerprint(c, "sha-256", fp, 20), SLUICE_ERR_NOBUFS);
    /* two generated certificates differ */
    sluice_dtls_cert *c2;
    char fp2[200];
    assert_int_equal(sluice_dtls_cert_generate(&c2), SLUICE_OK);
    sluice_dtls_cert_fingerprint(c, "sha-256", fp, sizeof fp);
    sluice_dtls_cert_fingerprint(c2, "sha-256", fp2, sizeof fp2);
    assert_string_not_equal(fp, fp2);
    /* remote fingerprint parsing */
    sluice_dtls *d;
    assert_int_equal(sluice_dtls_new(&d, NULL, c, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "sha-256", fp2), SLUICE_OK);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "sha-256", "AB:CD"), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "sha-256", "zz:zz"), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "md5", fp2), SLUICE_ERR_UNSUPPORTED);
    sluice_dtls_free(d);
    sluice_dtls_cert_free(c2);
    sluice_dtls_cert_free(c);
}

/* PEM round trip through OpenSSL, with an RSA key: the ECDHE-RSA suites are negotiated. */
static void test_dtls_user_pem_rsa_certificate_handshakes(void **state) {
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"rsa", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bc, x);
    PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL);
    BIO_write(bc, "", 1);
    BIO_write(bk, "", 1);
    char *cpem, *kpem;
    BIO_get_mem_data(bc, &cpem);
    BIO_get_mem_data(bk, &kpem);

    sluice_dtls_cert *rsa;
    assert_int_equal(sluice_dtls_cert_from_pem(&rsa, cpem, kpem), SLUICE_OK);
    sluice_dtls_cert_free(rsa);
    assert_int_equal(sluice_dtls_cert_from_pem(&rsa, "garbage", kpem), SLUICE_ERR_CRYPTO);
    assert_null(rsa);
    assert_int_equal(sluice_dtls_cert_from_pem(&rsa, cpem, kpem), SLUICE_OK);
    /* a key that does not belong to the certificate is refused */
    EVP_PKEY *k2 = EVP_EC_gen("P-256");
    BIO *bk2 = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bk2, k2, NULL, NULL, 0, NULL, NULL);
    BIO_write(bk2, "", 1);
    char *k2pem;
    BIO_get_mem_data(bk2, &k2pem);
    sluice_dtls_cert *bad = NULL;
    assert_int_equal(sluice_dtls_cert_from_pem(&bad, cpem, k2pem), SLUICE_ERR_CRYPTO);
    assert_null(bad);
    BIO_free(bk2);
    EVP_PKEY_free(k2);

    pair p;
    pair_init(&p, 5, 0.0, true, NULL, NULL);
    /* B (server) uses the RSA certificate */
    sluice_dtls_free(p.b.d);
    sluice_dtls_cert_free(p.cert_b);
    p.cert_b = rsa;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    assert_int_equal(sluice_dtls_new(&p.b.d, &s, p.cert_b, NULL, NULL), SLUICE_OK);
    add_fp(p.b.d, p.cert_a);
    sluice_dtls_free(p.a.d);
    s.is_client = true;
    assert_int_equal(sluice_dtls_new(&p.a.d, &s, p.cert_a, NULL, NULL), SLUICE_OK);
    add_fp(p.a.d, p.cert_b);
    assert_true(pair_handshake(&p, 10 * SEC));
    sluice_dtls_stats st;
    sluice_dtls_get_stats(p.a.d, &st);
    assert_true(strstr(st.cipher, "ECDHE-RSA") != NULL);
    pair_free(&p);
    BIO_free(bc);
    BIO_free(bk);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ---- failures: each ends in a defined state, with an error, without crash or leak -------- */

static void inject(pair *p, const ep *from, const uint8_t *data, size_t len) {
    assert_int_equal(sluice_simnet_send(p->sn, &from->addr, &from->peer, data, len), SLUICE_OK);
}

static void run_fingerprint_mismatch(bool a_client) {
    pair p;
    pair_init(&p, 30, 0.0, a_client, NULL, NULL);
    /* A expects some other certificate than B's */
    sluice_dtls_free(p.a.d);
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.is_client = a_client;
    assert_int_equal(sluice_dtls_new(&p.a.d, &s, p.cert_a, NULL, NULL), SLUICE_OK);
    sluice_dtls_cert *other;
    assert_int_equal(sluice_dtls_cert_generate(&other), SLUICE_OK);
    add_fp(p.a.d, other);
    sluice_dtls_cert_free(other);
    assert_false(pair_handshake(&p, 10 * SEC));
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_error(p.a.d), SLUICE_ERR_FINGERPRINT);
    assert_true(strstr(sluice_dtls_reason(p.a.d), "fingerprint") != NULL);
    /* B learns it from A's alert, long before its handshake timeout */
    assert_int_equal(sluice_dtls_get_state(p.b.d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_error(p.b.d), SLUICE_ERR_DTLS);
    assert_true(strstr(sluice_dtls_reason(p.b.d), "alert") != NULL);
    if (getenv("DTLS_TEST_VERBOSE")) fprintf(stderr, "A: %s\nB: %s\n", sluice_dtls_reason(p.a.d), sluice_dtls_reason(p.b.d));
    assert_true(sluice_simnet_now(p.sn) < 1 * SEC);
    uint8_t buf[64];
    assert_int_equal(sluice_dtls_write(p.a.d, buf, 10), SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_dtls_next_deadline(p.a.d), SLUICE_TIME_NEVER);
    pair_free(&p);
}

static void test_dtls_fingerprint_mismatch_fails_client_side(void **state) {
    (void)state;
    run_fingerprint_mismatch(true);
}

static void test_dtls_fingerprint_mismatch_fails_server_side(void **state) {
    (void)state;
    run_fingerprint_mismatch(false);
}

static void test_dtls_missing_remote_fingerprint_fails(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 31, 0.0, true, NULL, NULL);
    sluice_dtls_free(p.b.d); /* B (server) without any remote fingerprint */
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    assert_int_equal(sluice_dtls_new(&p.b.d, &s, p.cert_b, NULL, NULL), SLUICE_OK);
    assert_false(pair_handshake(&p, 10 * SEC));
    assert_int_equal(sluice_dtls_error(p.b.d), SLUICE_ERR_FINGERPRINT);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_FAILED);
    pair_free(&p);
}

static void test_dtls_garbage_from_peer_is_dropped_and_handshake_completes(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 32, 0.0, true, NULL, NULL);
    sluice_prng rng;
    sluice_prng_seed(&rng, 99);
    uint8_t junk[1300];
    pair_start(&p);
    for (int i = 0; i < 40; i++) {
        size_t len = 1 + (size_t)(sluice_prng_next(&rng) % sizeof junk);
        sluice_prng_random_fn(&rng, junk, len);
        junk[0] = (uint8_t)(20 + sluice_prng_next(&rng) % 44); /* passes the RFC 7983 demux */
        if (i % 4 == 0 && len > 13) {
            /* a well-framed record of a valid type with a random body */
            junk[0] = (uint8_t)(20 + i % 4);
            junk[1] = 0xfe;
            junk[2] = 0xfd;
            sluice_store_be16(junk + 11, (uint16_t)(len - 13));
        }
        inject(&p, i % 2 ? &p.a : &p.b, junk, len);
        if (i % 8 == 0) sluice_simnet_step(p.sn, SLUICE_TIME_NEVER);
    }
    sluice_simnet_run(p.sn, 20 * SEC, both_settled, &p);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    assert_int_equal(sluice_dtls_get_state(p.b.d), SLUICE_DTLS_CONNECTED);
    sluice_dtls_stats sa, sb;
    sluice_dtls_get_stats(p.a.d, &sa);
    sluice_dtls_get_stats(p.b.d, &sb);
    assert_true(sa.dropped > 0 && sb.dropped > 0);
    /* garbage after the handshake: an epoch-1 record that fails authentication */
    uint8_t rec[13 + 64];
    memset(rec, 0x5a, sizeof rec);
    rec[0] = 23; rec[1] = 0xfe; rec[2] = 0xfd; rec[3] = 0; rec[4] = 1;
    sluice_store_be16(rec + 11, 64);
    assert_int_equal(sluice_dtls_handle_datagram(p.a.d, sluice_simnet_now(p.sn), rec, sizeof rec), SLUICE_OK);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    uint8_t buf[64];
    assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), SLUICE_ERR_AGAIN);
    exchange_app_data(&p, 3);
    pair_free(&p);
}

/* Hex lines of a samples file (one datagram per non-comment line). */
static int load_hex_datagrams(const char *name, uint8_t dg[][2048], size_t lens[], int max) {
    char path[512];
    snprintf(path, sizeof path, "%s/dtls/%s", SLUICE_SAMPLES_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    static char line[8192];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        size_t l = strcspn(line, "\r\n");
        int got = sluice_hex_decode(dg[n], 2048, line, l);
        if (got <= 0) continue;
        lens[n++] = (size_t)got;
    }
    fclose(f);
    return n;
}

static sluice_dtls *new_server(sluice_dtls_cert **c) {
    assert_int_equal(sluice_dtls_cert_generate(c), SLUICE_OK);
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    sluice_dtls *d;
    assert_int_equal(sluice_dtls_new(&d, &s, *c, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "sha-256",
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"), SLUICE_OK);
    return d;
}

/* The server's answer must be a DTLS 1.2 ServerHello with one of our suites. */
static void expect_dtls12_server_hello(sluice_dtls *d) {
    uint8_t out[1500];
    int n = sluice_dtls_poll_datagram(d, out, sizeof out);
    assert_true(n > 13 + 12 + 38);
    assert_true(n <= 1200);
    assert_int_equal(out[0], 22);    /* handshake record */
    assert_int_equal(out[1], 0xfe);
    assert_int_equal(out[13], 2);    /* ServerHello */
    assert_int_equal(sluice_load_be16(out + 25), 0xfefd); /* server_version DTLS 1.2 */
    size_t sid = out[25 + 2 + 32];
    uint16_t suite = sluice_load_be16(out + 25 + 2 + 32 + 1 + sid);
    assert_true(suite == 0xc02b || suite == 0xc02c || suite == 0xcca9 || suite == 0xc02f || suite == 0xc030 ||
                suite == 0xcca8);
    /* the rest of the flight follows, every datagram within the MTU */
    while ((n = sluice_dtls_poll_datagram(d, out, sizeof out)) > 0) assert_true(n <= 1200);
    assert_int_equal(sluice_dtls_get_state(d), SLUICE_DTLS_HANDSHAKING);
    assert_int_equal(sluice_dtls_error(d), 0);
}

static void test_dtls_real_client_hellos_negotiate_dtls12(void **state) {
    (void)state;
    const char *files[] = {"chromium-clienthello.hex", "aiortc-clienthello.hex", "ndc-clienthello.hex",
                           "pion-clienthello.hex", "werift-clienthello.hex", "wrtc-clienthello.hex"};
    static uint8_t dg[4][2048];
    size_t lens[4];
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(files); i++) {
        int n = load_hex_datagrams(files[i], dg, lens, 4);
        if (n <= 0) fprintf(stderr, "cannot read sample %s\n", files[i]);
        assert_true(n > 0);
        sluice_dtls_cert *c;
        sluice_dtls *d = new_server(&c);
        /* not started: the first datagram starts the server */
        for (int k = 0; k < n; k++)
            assert_int_equal(sluice_dtls_handle_datagram(d, 1000, dg[k], lens[k]), SLUICE_OK);
        expect_dtls12_server_hello(d);
        sluice_dtls_free(d);
        sluice_dtls_cert_free(c);
    }
}

/* Chromium offers DTLS 1.3 + X25519MLKEM768 in a 1413-byte ClientHello over 2 datagrams. */
static void test_dtls_chromium_dtls13_client_hello_needs_both_fragments(void **state) {
    (void)state;
    static uint8_t dg[4][2048];
    size_t lens[4];
    assert_int_equal(load_hex_datagrams("chromium-clienthello.hex", dg, lens, 4), 2);
    sluice_dtls_cert *c;
    sluice_dtls *d = new_server(&c);
    assert_int_equal(sluice_dtls_start(d, 0), SLUICE_OK);
    uint8_t out[1500];
    assert_int_equal(sluice_dtls_handle_datagram(d, 10, dg[0], lens[0]), SLUICE_OK);
    assert_int_equal(sluice_dtls_poll_datagram(d, out, sizeof out), 0); /* waits for the rest */
    assert_int_equal(sluice_dtls_next_deadline(d), 30 * SEC);          /* handshake timeout only */
    assert_int_equal(sluice_dtls_handle_datagram(d, 20, dg[1], lens[1]), SLUICE_OK);
    expect_dtls12_server_hello(d);
    sluice_dtls_free(d);
    sluice_dtls_cert_free(c);
}

static void test_dtls_truncated_records_are_dropped(void **state) {
    (void)state;
    static uint8_t dg[4][2048];
    size_t lens[4];
    assert_int_equal(load_hex_datagrams("pion-clienthello.hex", dg, lens, 4), 1);
    sluice_dtls_cert *c;
    sluice_dtls *d = new_server(&c);
    assert_int_equal(sluice_dtls_start(d, 0), SLUICE_OK);
    uint8_t out[1500];
    size_t cuts[] = {1, 5, 12, 13, 14, 40, lens[0] - 1};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(cuts); i++) {
        assert_int_equal(sluice_dtls_handle_datagram(d, 10, dg[0], cuts[i]), SLUICE_OK);
        assert_int_equal(sluice_dtls_poll_datagram(d, out, sizeof out), 0);
        assert_int_equal(sluice_dtls_get_state(d), SLUICE_DTLS_HANDSHAKING);
    }
    sluice_dtls_stats st;
    sluice_dtls_get_stats(d, &st);
    assert_int_equal(st.dropped, SLUICE_ARRAY_LEN(cuts));
    /* a valid record followed by a truncated one: the valid one is processed */
    uint8_t two[2048];
    memcpy(two, dg[0], lens[0]);
    memcpy(two + lens[0], dg[0], 20);
    assert_int_equal(sluice_dtls_handle_datagram(d, 20, two, lens[0] + 20), SLUICE_OK);
    expect_dtls12_server_hello(d);
    sluice_dtls_free(d);
    sluice_dtls_cert_free(c);
}

static void test_dtls_oversized_records(void **state) {
    (void)state;
    pair p;
    sluice_dtls_settings sa, sb;
    sluice_dtls_settings_default(&sa);
    sluice_dtls_settings_default(&sb);
    sb.mtu = 1400; /* B produces bigger datagrams than A would */
    pair_init(&p, 33, 0.0, true, &sa, &sb);
    perfect_path(&p);
    assert_true(pair_handshake(&p, 10 * SEC));
    /* our own write beyond the payload limit is refused, nothing changes */
    uint8_t big[1500];
    memset(big, 0xab, sizeof big);
    size_t maxa = sluice_dtls_max_payload(p.a.d);
    assert_int_equal(sluice_dtls_write(p.a.d, big, maxa + 1), SLUICE_ERR_TOO_LARGE);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    /* a record larger than our MTU from the peer is still accepted (its path, its MTU) */
    size_t maxb = sluice_dtls_max_payload(p.b.d);
    assert_true(maxb > 1200);
    assert_int_equal(sluice_dtls_write(p.b.d, big, maxb), SLUICE_OK);
    pair_run_for(&p, 100 * MS);
    uint8_t buf[2048];
    assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), (int)maxb);
    /* a record whose length exceeds 2^14 + 2048 is dropped before OpenSSL sees it */
    static uint8_t huge[13 + 20000];
    memset(huge, 0, sizeof huge);
    huge[0] = 23; huge[1] = 0xfe; huge[2] = 0xfd; huge[4] = 1;
    sluice_store_be16(huge + 11, 20000);
    sluice_dtls_stats before, after;
    sluice_dtls_get_stats(p.a.d, &before);
    assert_int_equal(sluice_dtls_handle_datagram(p.a.d, sluice_simnet_now(p.sn), huge, sizeof huge), SLUICE_OK);
    sluice_dtls_get_stats(p.a.d, &after);
    assert_int_equal(after.dropped, before.dropped + 1);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    /* a too-small read buffer drops that record with NOBUFS */
    assert_int_equal(sluice_dtls_write(p.b.d, big, 100), SLUICE_OK);
    pair_run_for(&p, 100 * MS);
    assert_int_equal(sluice_dtls_read(p.a.d, buf, 50), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), SLUICE_ERR_AGAIN);
    pair_free(&p);
}

static void test_dtls_data_before_handshake_end(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 34, 0.0, true, NULL, NULL);
    uint8_t msg[8] = "early";
    assert_int_equal(sluice_dtls_write(p.a.d, msg, 5), SLUICE_ERR_INVALID_STATE);
    pair_start(&p);
    assert_int_equal(sluice_dtls_write(p.a.d, msg, 5), SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_dtls_write(p.b.d, msg, 5), SLUICE_ERR_INVALID_STATE);
    /* plaintext application data (epoch 0) injected towards both: dropped */
    uint8_t rec[13 + 5] = {23, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 5, 'e', 'a', 'r', 'l', 'y'};
    inject(&p, &p.a, rec, sizeof rec);
    inject(&p, &p.b, rec, sizeof rec);
    sluice_simnet_run(p.sn, 10 * SEC, both_settled, &p);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    assert_int_equal(sluice_dtls_get_state(p.b.d), SLUICE_DTLS_CONNECTED);
    uint8_t buf[64];
    assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), SLUICE_ERR_AGAIN);
    assert_int_equal(sluice_dtls_read(p.b.d, buf, sizeof buf), SLUICE_ERR_AGAIN);
    sluice_dtls_stats sa, sb;
    sluice_dtls_get_stats(p.a.d, &sa);
    sluice_dtls_get_stats(p.b.d, &sb);
    assert_int_equal(sa.dropped, 1);
    assert_int_equal(sb.dropped, 1);
    pair_free(&p);
}

static void test_dtls_fatal_alert_during_handshake_fails_with_its_description(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 35, 0.0, true, NULL, NULL);
    sluice_sim_path down = {0};
    down.down = true;
    sluice_simnet_set_default_path(p.sn, &down); /* only the injected alert gets through */
    pair_start(&p);
    sluice_sim_path up = {0};
    up.delay_us = 10 * MS;
    sluice_simnet_set_path(p.sn, &p.b.addr, &p.a.addr, &up);
    /* fatal (2) handshake_failure (40), epoch 0 */
    uint8_t alert[15] = {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 2, 40};
    inject(&p, &p.b, alert, sizeof alert);
    sluice_simnet_run(p.sn, 5 * SEC, both_settled, &p);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_error(p.a.d), SLUICE_ERR_DTLS);
    assert_true(strstr(sluice_dtls_reason(p.a.d), "handshake failure") != NULL);
    assert_int_equal(sluice_dtls_next_deadline(p.a.d), SLUICE_TIME_NEVER);
    /* further datagrams are refused with the same error */
    assert_int_equal(sluice_dtls_handle_datagram(p.a.d, sluice_simnet_now(p.sn), alert, sizeof alert),
                     SLUICE_ERR_DTLS);
    pair_free(&p);
}

static void test_dtls_close_sends_close_notify(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 36, 0.0, false, NULL, NULL);
    assert_true(pair_handshake(&p, 10 * SEC));
    sluice_dtls_close(p.a.d);
    sluice_dtls_close(p.a.d); /* idempotent */
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CLOSED);
    assert_string_equal(sluice_dtls_reason(p.a.d), "closed locally");
    uint8_t msg[4] = "x";
    assert_int_equal(sluice_dtls_write(p.a.d, msg, 1), SLUICE_ERR_INVALID_STATE);
    pair_run_for(&p, 100 * MS);
    assert_int_equal(sluice_dtls_get_state(p.b.d), SLUICE_DTLS_CLOSED);
    assert_int_equal(sluice_dtls_error(p.b.d), SLUICE_ERR_CLOSED);
    assert_true(strstr(sluice_dtls_reason(p.b.d), "close_notify") != NULL);
    assert_int_equal(sluice_dtls_next_deadline(p.b.d), SLUICE_TIME_NEVER);
    pair_free(&p);
}

static void test_dtls_outgoing_queue_is_bounded(void **state) {
    (void)state;
    pair p;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.max_queued_datagrams = 4;
    pair_init(&p, 37, 0.0, true, &s, &s);
    assert_true(pair_handshake(&p, 10 * SEC));
    uint8_t msg[700];
    memset(msg, 1, sizeof msg);
    int ok = 0, rc;
    while ((rc = sluice_dtls_write(p.a.d, msg, sizeof msg)) == SLUICE_OK) ok++;
    assert_int_equal(rc, SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(ok, 4);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    /* small records share a datagram */
    uint8_t out[1500];
    assert_int_equal(sluice_dtls_poll_datagram(p.a.d, out, 100), SLUICE_ERR_NOBUFS);
    while (sluice_dtls_poll_datagram(p.a.d, out, sizeof out) > 0) {}
    for (int i = 0; i < 10; i++) assert_int_equal(sluice_dtls_write(p.a.d, msg, 50), SLUICE_OK);
    int n = sluice_dtls_poll_datagram(p.a.d, out, sizeof out);
    assert_true(n > 10 * 50 && n <= 1200);
    assert_int_equal(sluice_dtls_poll_datagram(p.a.d, out, sizeof out), 0);
    pair_free(&p);
}

static void test_dtls_receive_queue_is_bounded(void **state) {
    (void)state;
    pair p;
    sluice_dtls_settings sa, sb;
    sluice_dtls_settings_default(&sa);
    sluice_dtls_settings_default(&sb);
    sa.max_queued_datagrams = 4;
    sb.mtu = 4000; /* B may send records bigger than A's MTU-sized receive slots */
    pair_init(&p, 39, 0.0, true, &sa, &sb);
    perfect_path(&p);
    assert_true(pair_handshake(&p, 10 * SEC));
    uint8_t msg[3000];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)i;
    assert_int_equal(sluice_dtls_write(p.b.d, msg, 3000), SLUICE_OK); /* grows a slot */
    for (int i = 0; i < 9; i++) {
        msg[0] = (uint8_t)i;
        assert_int_equal(sluice_dtls_write(p.b.d, msg, 1000), SLUICE_OK);
        pair_run_for(&p, 1 * MS); /* one record per datagram */
    }
    pair_run_for(&p, 100 * MS);
    uint8_t buf[4000];
    msg[0] = 0;
    assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), 3000);
    assert_memory_equal(buf, msg, 3000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), 1000);
        assert_int_equal(buf[0], i);
    }
    assert_int_equal(sluice_dtls_read(p.a.d, buf, sizeof buf), SLUICE_ERR_AGAIN);
    sluice_dtls_stats st;
    sluice_dtls_get_stats(p.a.d, &st);
    assert_int_equal(st.dropped, 6);
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_CONNECTED);
    pair_free(&p);
}

/* Misconfigured roles (both a=setup:active): each client gets a ClientHello and fails
 * with a reason instead of hanging until the handshake timeout. */
static void test_dtls_two_clients_fail_fast_with_reason(void **state) {
    (void)state;
    pair p;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    pair_init(&p, 58, 0.0, true, &s, &s);
    sluice_dtls_free(p.b.d);
    s.is_client = true;
    assert_int_equal(sluice_dtls_new(&p.b.d, &s, p.cert_b, NULL, NULL), SLUICE_OK);
    add_fp(p.b.d, p.cert_a);
    assert_false(pair_handshake(&p, 60 * SEC));
    assert_int_equal(sluice_dtls_get_state(p.a.d), SLUICE_DTLS_FAILED);
    assert_int_equal(sluice_dtls_get_state(p.b.d), SLUICE_DTLS_FAILED);
    assert_true(sluice_dtls_reason(p.a.d)[0] != 0);
    if (getenv("DTLS_TEST_VERBOSE"))
        fprintf(stderr, "two clients: A: %s / B: %s at %llu us\n", sluice_dtls_reason(p.a.d),
                sluice_dtls_reason(p.b.d), (unsigned long long)sluice_simnet_now(p.sn));
    assert_true(sluice_simnet_now(p.sn) < 1 * SEC);
    pair_free(&p);
}

/* No retransmission after the handshake: OpenSSL's timer is disarmed on both sides. */
static void test_dtls_no_timer_after_handshake(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 38, 0.0, true, NULL, NULL);
    assert_true(pair_handshake(&p, 10 * SEC));
    pair_run_for(&p, 100 * MS);
    assert_int_equal(sluice_dtls_next_deadline(p.a.d), SLUICE_TIME_NEVER);
    assert_int_equal(sluice_dtls_next_deadline(p.b.d), SLUICE_TIME_NEVER);
    pair_run_for(&p, 10 * SEC);
    assert_int_equal(retransmits(&p), 0);
    pair_free(&p);
}

/* ---- allocation failures ---------------------------------------------------------------------- */

typedef struct failing_alloc {
    long budget; /* allocations left before failing; < 0: never fail */
    sluice_prng rng;
    double fail_rate; /* additionally fail this fraction at random */
    long live;
} failing_alloc;

static bool fa_fail(failing_alloc *f) {
    if (f->budget == 0) return true;
    if (f->budget > 0) f->budget--;
    return f->fail_rate > 0 && sluice_prng_unit(&f->rng) < f->fail_rate;
}
static void *fa_malloc(size_t n, void *user) {
    failing_alloc *f = user;
    if (fa_fail(f)) return NULL;
    void *p = malloc(n);
    if (p) f->live++;
    return p;
}
static void *fa_realloc(void *ptr, size_t n, void *user) {
    failing_alloc *f = user;
    if (fa_fail(f)) return NULL;
    void *p = realloc(ptr, n);
    if (p && !ptr) f->live++;
    return p;
}
static void fa_free(void *ptr, void *user) {
    failing_alloc *f = user;
    f->live--;
    free(ptr);
}

static void test_dtls_new_fails_cleanly_on_every_allocation_failure(void **state) {
    (void)state;
    sluice_dtls_cert *c;
    assert_int_equal(sluice_dtls_cert_generate(&c), SLUICE_OK);
    for (long budget = 0;; budget++) {
        failing_alloc f = {.budget = budget};
        sluice_allocator a = {fa_malloc, fa_realloc, fa_free, &f};
        sluice_dtls *d = NULL;
        int rc = sluice_dtls_new(&d, NULL, c, &a, NULL);
        if (rc == SLUICE_OK) {
            assert_true(budget > 0);
            sluice_dtls_free(d);
            assert_int_equal(f.live, 0);
            break;
        }
        assert_int_equal(rc, SLUICE_ERR_NOMEM);
        assert_null(d);
        assert_int_equal(f.live, 0);
    }
    sluice_dtls_cert_free(c);
}

/* Random allocation failures while running: datagrams are dropped (like loss) and
 * retransmitted; the handshake completes or fails with a reason; nothing leaks. */
static void test_dtls_random_allocation_failures_during_handshake(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        pair p;
        pair_init(&p, 40 + seed, 0.0, seed % 2 == 0, NULL, NULL);
        failing_alloc fa = {.budget = -1, .fail_rate = 0.3}, fb = {.budget = -1, .fail_rate = 0.3};
        sluice_prng_seed(&fa.rng, seed);
        sluice_prng_seed(&fb.rng, seed + 1000);
        sluice_allocator aa = {fa_malloc, fa_realloc, fa_free, &fa}, ab = {fa_malloc, fa_realloc, fa_free, &fb};
        sluice_dtls_settings s;
        sluice_dtls_settings_default(&s);
        s.is_client = seed % 2 == 0;
        sluice_dtls_free(p.a.d);
        sluice_dtls_free(p.b.d);
        fa.fail_rate = fb.fail_rate = 0; /* creation succeeds; failures come later */
        assert_int_equal(sluice_dtls_new(&p.a.d, &s, p.cert_a, &aa, NULL), SLUICE_OK);
        s.is_client = !s.is_client;
        assert_int_equal(sluice_dtls_new(&p.b.d, &s, p.cert_b, &ab, NULL), SLUICE_OK);
        add_fp(p.a.d, p.cert_b);
        add_fp(p.b.d, p.cert_a);
        fa.fail_rate = fb.fail_rate = 0.3;
        bool ok = pair_handshake(&p, 60 * SEC);
        if (getenv("DTLS_TEST_VERBOSE"))
            fprintf(stderr, "seed %llu: a=%d %s / b=%d %s, rtx %llu\n", (unsigned long long)seed,
                    sluice_dtls_get_state(p.a.d), sluice_dtls_reason(p.a.d), sluice_dtls_get_state(p.b.d),
                    sluice_dtls_reason(p.b.d), (unsigned long long)retransmits(&p));
        if (!ok) {
            assert_true(sluice_dtls_get_state(p.a.d) == SLUICE_DTLS_FAILED ||
                        sluice_dtls_get_state(p.b.d) == SLUICE_DTLS_FAILED);
        } else {
            /* data still flows or is dropped and counted */
            uint8_t msg[100] = {0}, buf[200];
            for (int i = 0; i < 20; i++) (void)sluice_dtls_write(p.a.d, msg, sizeof msg);
            pair_run_for(&p, 100 * MS);
            while (sluice_dtls_read(p.b.d, buf, sizeof buf) > 0) {}
        }
        sluice_dtls_free(p.a.d);
        sluice_dtls_free(p.b.d);
        p.a.d = p.b.d = NULL;
        assert_int_equal(fa.live, 0);
        assert_int_equal(fb.live, 0);
        pair_free(&p);
    }
}

static bool contains(const uint8_t *h, size_t hl, const uint8_t *n, size_t nl) {
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0) return true;
    return false;
}

/* werift fails handshakes without an SRTP profile: offer use_srtp (RFC 5764 §4.1.2) as
 * every browser does, and select one as server. */
static void test_dtls_offers_and_selects_use_srtp(void **state) {
    (void)state;
    pair p;
    pair_init(&p, 77, 0.0, true, NULL, NULL);
    assert_int_equal(sluice_dtls_start(p.a.d, 0), SLUICE_OK);
    uint8_t hello[1500], reply[1500];
    int n = sluice_dtls_poll_datagram(p.a.d, hello, sizeof hello);
    assert_true(n > 0);
    /* extension 14, length 7: profiles 0x0007 (AEAD_AES_128_GCM), 0x0001, empty MKI */
    static const uint8_t offer[] = {0x00, 0x0e, 0x00, 0x07, 0x00, 0x04, 0x00, 0x07, 0x00, 0x01, 0x00};
    assert_true(contains(hello, (size_t)n, offer, sizeof offer));
    assert_int_equal(sluice_dtls_handle_datagram(p.b.d, 0, hello, (size_t)n), SLUICE_OK);
    int m = sluice_dtls_poll_datagram(p.b.d, reply, sizeof reply);
    assert_true(m > 0);
    static const uint8_t select[] = {0x00, 0x0e, 0x00, 0x05, 0x00, 0x02, 0x00, 0x07, 0x00};
    assert_true(contains(reply, (size_t)m, select, sizeof select));
    pair_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtls_handshake_no_loss_a_client),
        cmocka_unit_test(test_dtls_handshake_no_loss_a_server),
        cmocka_unit_test(test_dtls_handshake_takes_two_round_trips),
        cmocka_unit_test(test_dtls_handshake_with_duplication_reordering_and_jitter),
        cmocka_unit_test(test_dtls_handshake_fragments_flights_for_a_small_mtu),
        cmocka_unit_test(test_dtls_handshake_20_percent_loss_both_roles),
        cmocka_unit_test(test_dtls_handshake_40_percent_loss_both_roles),
        cmocka_unit_test(test_dtls_first_retransmission_at_initial_timeout_then_doubles),
        cmocka_unit_test(test_dtls_handshake_timeout_when_peer_silent),
        cmocka_unit_test(test_dtls_gives_up_after_twelve_retransmissions),
        cmocka_unit_test(test_dtls_cert_fingerprint_formats),
        cmocka_unit_test(test_dtls_offers_and_selects_use_srtp),
        cmocka_unit_test(test_dtls_user_pem_rsa_certificate_handshakes),
        cmocka_unit_test(test_dtls_no_timer_after_handshake),
        cmocka_unit_test(test_dtls_fingerprint_mismatch_fails_client_side),
        cmocka_unit_test(test_dtls_fingerprint_mismatch_fails_server_side),
        cmocka_unit_test(test_dtls_missing_remote_fingerprint_fails),
        cmocka_unit_test(test_dtls_garbage_from_peer_is_dropped_and_handshake_completes),
        cmocka_unit_test(test_dtls_real_client_hellos_negotiate_dtls12),
        cmocka_unit_test(test_dtls_chromium_dtls13_client_hello_needs_both_fragments),
        cmocka_unit_test(test_dtls_truncated_records_are_dropped),
        cmocka_unit_test(test_dtls_oversized_records),
        cmocka_unit_test(test_dtls_data_before_handshake_end),
        cmocka_unit_test(test_dtls_fatal_alert_during_handshake_fails_with_its_description),
        cmocka_unit_test(test_dtls_close_sends_close_notify),
        cmocka_unit_test(test_dtls_outgoing_queue_is_bounded),
        cmocka_unit_test(test_dtls_receive_queue_is_bounded),
        cmocka_unit_test(test_dtls_two_clients_fail_fast_with_reason),
        cmocka_unit_test(test_dtls_new_fails_cleanly_on_every_allocation_failure),
        cmocka_unit_test(test_dtls_random_allocation_failures_during_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
