/* DTLS 1.2 endpoint over OpenSSL 3, sans-IO.
 *
 * OpenSSL talks to a custom BIO owned by the endpoint: reads hand it the one datagram
 * being processed (pointing into the caller's buffer, no copy), writes append records to
 * the "open" outgoing datagram of a bounded ring, BIO_flush closes that datagram.
 * OpenSSL packs handshake records using BIO_wpending, so datagrams stay <= mtu.
 *
 * Virtual time. OpenSSL's DTLS retransmission timer compares a deadline with
 * gettimeofday(). In OpenSSL 3.0/3.1 dtls1_start_timer()/dtls1_stop_timer() pass a
 * pointer to that deadline (struct timeval d1->next_timeout) to the rbio with
 * BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT. We use this as follows:
 *   - DTLS_set_timer_cb returns one hour, so the real clock never expires the timer
 *     (OpenSSL's read path would otherwise retransmit on its own in dtls1_read_failed);
 *   - the BIO ctrl tells us when OpenSSL arms (new flight) and disarms (flight answered)
 *     its timer; we then keep our own deadline in the caller's time with our back-off
 *     (settings: initial 100 ms, doubling, capped);
 *   - when our deadline fires we set the recorded deadline into the past and call
 *     DTLSv1_handle_timeout(), which then retransmits exactly once, now.
 * OpenSSL >= 3.2 passes a copy instead of the pointer: there the timer callback returns
 * our back-off and OpenSSL's real clock decides (DTLSv1_handle_timeout may answer "not
 * yet"; we then re-arm with DTLSv1_get_timeout). Exact virtual time needs 3.0/3.1. */
#include "dtls.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <sys/time.h>

#define DTLS_MOD "dtls"
#define DTLS_MAX_FINGERPRINTS 8
#define DTLS_RECORD_HEADER 13
/* RFC 6347 §4.1: a record's length must not exceed 2^14 + 2048. */
#define DTLS_MAX_RECORD_BODY (16384 + 2048)
/* OpenSSL's timer, seen from the real clock: never (one hour). */
#define DTLS_FAR_TIMER_US 3600000000u

/* Browser suites (RFC 8827 §6.5 requires ECDHE with AEAD); RSA variants for peers with
 * RSA certificates. */
static const char dtls_cipher_list[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
static const char dtls_groups[] = "X25519:P-256:P-384";

/* ------------------------------------------------------------------------------------ */
/* Certificates                                                                         */
/* ------------------------------------------------------------------------------------ */

struct sluice_dtls_cert {
    int refs;
    X509 *x509;
    EVP_PKEY *pkey;
};

static const EVP_MD *dtls_md_by_name(const char *alg) {
    if (!alg) return NULL;
    if (!sluice_strcasecmp(alg, "sha-256")) return EVP_sha256();
    if (!sluice_strcasecmp(alg, "sha-1")) return EVP_sha1();
    if (!sluice_strcasecmp(alg, "sha-384")) return EVP_sha384();
    if (!sluice_strcasecmp(alg, "sha-512")) return EVP_sha512();
    if (!sluice_strcasecmp(alg, "sha-224")) return EVP_sha224();
    return NULL;
}

static sluice_dtls_cert *dtls_cert_wrap(X509 *x, EVP_PKEY *k) {
    sluice_dtls_cert *c = sluice_mem_calloc(NULL, 1, sizeof *c);
    if (!c) return NULL;
    c->refs = 1;
    c->x509 = x;
    c->pkey = k;
    return c;
}

int sluice_dtls_cert_generate(sluice_dtls_cert **out) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    int rc = SLUICE_ERR_CRYPTO;
    X509 *x = NULL;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k) goto fail;
    x = X509_new();
    if (!x) goto fail;
    uint64_t serial = 0;
    if (RAND_bytes((unsigned char *)&serial, sizeof serial) != 1) goto fail;
    serial &= 0x7fffffffffffffffULL; /* positive INTEGER */
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -30L * 86400) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) || X509_set_pubkey(x, k) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sluice", -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_sign(x, k, EVP_sha256()) <= 0)
        goto fail;
    *out = dtls_cert_wrap(x, k);
    if (!*out) { rc = SLUICE_ERR_NOMEM; goto fail; }
    return SLUICE_OK;
fail:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int sluice_dtls_cert_from_pem(sluice_dtls_cert **out, const char *cert_pem, const char *key_pem) {
    if (!out || !cert_pem || !key_pem) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    if (b) x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    if (b) k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!x || !k || X509_check_private_key(x, k) != 1) {
        ERR_clear_error();
        X509_free(x);
        EVP_PKEY_free(k);
        return SLUICE_ERR_CRYPTO;
    }
    *out = dtls_cert_wrap(x, k);
    if (!*out) {
        X509_free(x);
        EVP_PKEY_free(k);
        return SLUICE_ERR_NOMEM;
    }
    return SLUICE_OK;
}

sluice_dtls_cert *sluice_dtls_cert_ref(sluice_dtls_cert *c) {
    if (c) c->refs++;
    return c;
}

void sluice_dtls_cert_free(sluice_dtls_cert *c) {
    if (!c || --c->refs > 0) return;
    X509_free(c->x509);
    EVP_PKEY_free(c->pkey);
    sluice_mem_free(NULL, c);
}

static int dtls_fingerprint_of(X509 *x, const char *alg, char *out, size_t cap) {
    const EVP_MD *md = dtls_md_by_name(alg);
    if (!md) return SLUICE_ERR_UNSUPPORTED;
    uint8_t dg[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(x, md, dg, &n) != 1) {
        ERR_clear_error();
        return SLUICE_ERR_CRYPTO;
    }
    return sluice_hex_encode(out, cap, dg, n, ':', true);
}

int sluice_dtls_cert_fingerprint(const sluice_dtls_cert *c, const char *alg, char *out, size_t cap) {
    if (!c || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    return dtls_fingerprint_of(c->x509, alg, out, cap);
}

/* ------------------------------------------------------------------------------------ */
/* Endpoint                                                                             */
/* ------------------------------------------------------------------------------------ */

/* A datagram or plaintext record; the buffer is allocated once and reused (grow-only). */
typedef struct dtls_slot {
    uint8_t *buf;
    size_t cap;
    size_t len;
} dtls_slot;

/* FIFO of slots: the bound (`max`) is a setting; the slot array grows on demand up to it
 * and the buffers are recycled. An emptied ring restarts at slot 0, so an idle connection
 * keeps only as many buffers as its deepest queue needed, not one per slot it rotated
 * through. */
typedef struct dtls_ring {
    dtls_slot *slots;
    size_t n, max, head, count; /* n: slots allocated */
} dtls_ring;

typedef struct dtls_fp {
    const EVP_MD *md;
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int len;
} dtls_fp;

struct sluice_dtls {
    sluice_dtls_settings set;
    const sluice_allocator *alloc; /* &alloc_copy, or NULL for the C library */
    sluice_allocator alloc_copy;
    sluice_logger log;
    bool has_log;
    sluice_dtls_cert *cert;

    SSL_CTX *ctx;
    SSL *ssl;
    BIO_METHOD *meth;
    BIO *bio;

    sluice_dtls_state state;
    int err;
    char reason[192];
    sluice_time now;

    /* input: the datagram OpenSSL may read next (valid during handle_datagram only) */
    const uint8_t *in;
    size_t in_len;
    uint8_t *filtered; /* valid records of a datagram that also held bad ones */
    size_t filtered_cap;

    dtls_ring out; /* datagrams to send */
    bool out_open; /* the newest slot of `out` still takes records */
    dtls_ring rx;  /* decrypted application records */

    /* retransmission timer in the caller's time (see the top of the file) */
    bool timer_ptr_mode;
    struct timeval *ossl_deadline;
    bool timer_armed, in_forced_timeout;
    uint32_t rto_ms;
    sluice_time rtx_deadline;
    sluice_time hs_deadline;

    dtls_fp fps[DTLS_MAX_FINGERPRINTS];
    size_t nfps;
    bool fp_mismatch;

    char alert_in[64];  /* fatal alert received */
    char alert_out[64]; /* fatal alert sent */
    bool close_notify_in;

    sluice_dtls_stats stats;
};

void sluice_dtls_settings_default(sluice_dtls_settings *s) {
    if (!s) return;
    memset(s, 0, sizeof *s);
    s->is_client = false;
    s->mtu = 1200;
    s->retransmit_initial_ms = 100;
    s->retransmit_max_ms = 3000;
    s->handshake_timeout_ms = 30000;
    s->max_queued_datagrams = 256;
}

/* ---- rings ------------------------------------------------------------------------- */

static int dtls_ring_init(sluice_dtls *d, dtls_ring *r, size_t n) {
    (void)d;
    r->slots = NULL;
    r->n = 0;
    r->max = n;
    r->head = r->count = 0;
    return n ? SLUICE_OK : SLUICE_ERR_INVALID_ARGUMENT;
}

/* Double the slot array (from 8, up to max), re-laid from the head; false at the bound. */
static bool dtls_ring_grow(sluice_dtls *d, dtls_ring *r) {
    if (r->n >= r->max) return false;
    size_t ncap = r->n ? r->n * 2 : 8;
    if (ncap > r->max) ncap = r->max;
    dtls_slot *ns = sluice_mem_calloc(d->alloc, ncap, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < r->n; i++) ns[i] = r->slots[(r->head + i) % r->n];
    sluice_mem_free(d->alloc, r->slots);
    r->slots = ns;
    r->n = ncap;
    r->head = 0;
    return true;
}

static void dtls_ring_clear(sluice_dtls *d, dtls_ring *r) {
    if (!r->slots) return;
    for (size_t i = 0; i < r->n; i++) sluice_mem_free(d->alloc, r->slots[i].buf);
    sluice_mem_free(d->alloc, r->slots);
    r->slots = NULL;
}

/* Claim the slot after the tail with room for `need` bytes, or NULL (full / NOMEM). */
static dtls_slot *dtls_ring_push(sluice_dtls *d, dtls_ring *r, size_t need) {
    if (r->count == r->n && !dtls_ring_grow(d, r)) return NULL;
    dtls_slot *s = &r->slots[(r->head + r->count) % r->n];
    if (s->cap < need) {
        uint8_t *nb = sluice_mem_realloc(d->alloc, s->buf, need);
        if (!nb) return NULL;
        s->buf = nb;
        s->cap = need;
    }
    s->len = 0;
    r->count++;
    return s;
}

static dtls_slot *dtls_ring_tail(dtls_ring *r) {
    return r->count ? &r->slots[(r->head + r->count - 1) % r->n] : NULL;
}

static dtls_slot *dtls_ring_front(dtls_ring *r) { return r->count ? &r->slots[r->head] : NULL; }

static void dtls_ring_pop(dtls_ring *r) {
    if (!r->count) return;
    r->head = (r->head + 1) % r->n;
    if (--r->count == 0) r->head = 0;
}

/* ---- state changes ------------------------------------------------------------------ */

static void dtls_set_final(sluice_dtls *d, sluice_dtls_state st, int err, const char *fmt, ...)
    SLUICE_PRINTF(4, 5);

static void dtls_set_final(sluice_dtls *d, sluice_dtls_state st, int err, const char *fmt, ...) {
    if (d->state == SLUICE_DTLS_FAILED || d->state == SLUICE_DTLS_CLOSED) return;
    d->state = st;
    d->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    d->timer_armed = false;
    d->rtx_deadline = SLUICE_TIME_NEVER;
    SLUICE_LOG(d->has_log ? &d->log : NULL, st == SLUICE_DTLS_FAILED ? SLUICE_LOG_WARN : SLUICE_LOG_INFO,
               DTLS_MOD, "%s: %s", st == SLUICE_DTLS_FAILED ? "failed" : "closed", d->reason);
}

/* Turn an OpenSSL failure into FAILED with the most specific reason we know. */
static void dtls_fail_from_ssl(sluice_dtls *d, const char *what) {
    unsigned long e = ERR_get_error();
    char lib[128] = "";
    if (e) {
        const char *rs = ERR_reason_error_string(e);
        snprintf(lib, sizeof lib, "%s", rs ? rs : "unknown error");
    }
    ERR_clear_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_READ_TIMEOUT_EXPIRED) {
        /* OpenSSL gives up after DTLS1_TMO_ALERT_COUNT (12) timeouts of one flight. */
        dtls_set_final(d, SLUICE_DTLS_FAILED, SLUICE_ERR_TIMEOUT,
                       "handshake gave up after %llu retransmitted flights",
                       (unsigned long long)d->stats.retransmitted_flights);
        return;
    }
    if (d->fp_mismatch)
        dtls_set_final(d, SLUICE_DTLS_FAILED, SLUICE_ERR_FINGERPRINT,
                       d->nfps ? "peer certificate does not match the remote fingerprint"
                               : "no remote fingerprint to verify the peer certificate");
    else if (d->alert_in[0])
        dtls_set_final(d, SLUICE_DTLS_FAILED, SLUICE_ERR_DTLS, "peer sent fatal alert: %s", d->alert_in);
    else if (d->alert_out[0])
        dtls_set_final(d, SLUICE_DTLS_FAILED, SLUICE_ERR_DTLS, "%s failed (%s), sent alert: %s", what,
                       lib[0] ? lib : "error", d->alert_out);
    else
        dtls_set_final(d, SLUICE_DTLS_FAILED, SLUICE_ERR_DTLS, "%s failed: %s", what, lib[0] ? lib : "error");
}

/* ---- the BIO ------------------------------------------------------------------------ */

static void dtls_close_datagram(sluice_dtls *d) { d->out_open = false; }

static int dtls_bio_write(BIO *b, const char *data, int len) {
    sluice_dtls *d = BIO_get_data(b);
    if (len <= 0) return 0;
    size_t n = (size_t)len;
    d->stats.records_out++;
    if (n > d->set.mtu) {
        /* Cannot happen with SSL_set_mtu and the write-size check; never emit it. */
        d->stats.dropped++;
        return len;
    }
    dtls_slot *s = d->out_open ? dtls_ring_tail(&d->out) : NULL;
    if (s && s->len + n > d->set.mtu) {
        dtls_close_datagram(d);
        s = NULL;
    }
    if (!s) {
        s = dtls_ring_push(d, &d->out, d->set.mtu);
        if (!s) {
            /* Queue full: behave like a lost datagram (handshake retransmits; app writes
             * are checked for room before they reach OpenSSL). */
            d->stats.dropped++;
            return len;
        }
        d->out_open = true;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return len;
}

static int dtls_bio_read(BIO *b, char *out, int len) {
    sluice_dtls *d = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!d->in || len <= 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = SLUICE_MIN((size_t)len, d->in_len); /* UDP semantics: a datagram is read whole */
    memcpy(out, d->in, n);
    d->in = NULL;
    d->in_len = 0;
    return (int)n;
}

static void dtls_timer_event(sluice_dtls *d, const struct timeval *tv) {
    bool armed = tv && (tv->tv_sec != 0 || tv->tv_usec != 0);
    if (d->timer_ptr_mode) d->ossl_deadline = (struct timeval *)(uintptr_t)tv;
    if (!armed) {
        d->timer_armed = false;
        d->rtx_deadline = SLUICE_TIME_NEVER;
        return;
    }
    /* A new flight starts from the initial value; a retransmission already doubled it
     * (RFC 6347 §4.2.4.1). */
    if (!d->timer_armed && !d->in_forced_timeout) d->rto_ms = d->set.retransmit_initial_ms;
    d->timer_armed = true;
    d->rtx_deadline = d->now + (sluice_time)d->rto_ms * 1000;
}

static long dtls_bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    sluice_dtls *d = BIO_get_data(b);
    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        dtls_close_datagram(d);
        return 1;
    case BIO_CTRL_WPENDING: {
        dtls_slot *s = d->out_open ? dtls_ring_tail(&d->out) : NULL;
        return s ? (long)s->len : 0;
    }
    case BIO_CTRL_PENDING:
        return d->in ? (long)d->in_len : 0;
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
        dtls_timer_event(d, ptr);
        return 1;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
        return 0;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return (long)d->set.mtu;
    default:
        return 0;
    }
}

static int dtls_bio_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static int dtls_bio_destroy(BIO *b) {
    (void)b;
    return 1;
}

/* ---- OpenSSL callbacks ---------------------------------------------------------------- */

static unsigned int dtls_timer_cb(SSL *s, unsigned int prev_us) {
    sluice_dtls *d = SSL_get_app_data(s);
    if (d->timer_ptr_mode) return DTLS_FAR_TIMER_US;
    /* Fallback (OpenSSL >= 3.2): OpenSSL's clock decides, with our back-off. */
    uint64_t us = prev_us ? (uint64_t)prev_us * 2 : (uint64_t)d->set.retransmit_initial_ms * 1000;
    uint64_t cap = (uint64_t)d->set.retransmit_max_ms * 1000;
    return (unsigned int)SLUICE_MIN(us, cap);
}

/* RFC 8842 §5 / RFC 8122 §5: the peer certificate is authenticated by its fingerprint
 * from the SDP, not by a CA; any listed algorithm may match. */
static int dtls_cert_verify_cb(X509_STORE_CTX *xs, void *arg) {
    sluice_dtls *d = arg;
    X509 *peer = X509_STORE_CTX_get0_cert(xs);
    if (peer) {
        for (size_t i = 0; i < d->nfps; i++) {
            uint8_t dg[EVP_MAX_MD_SIZE];
            unsigned int n = 0;
            if (X509_digest(peer, d->fps[i].md, dg, &n) == 1 && n == d->fps[i].len &&
                CRYPTO_memcmp(dg, d->fps[i].digest, n) == 0)
                return 1;
        }
    }
    d->fp_mismatch = true;
    X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

static void dtls_info_cb(const SSL *s, int where, int ret) {
    sluice_dtls *d = SSL_get_app_data(s);
    if (!(where & SSL_CB_ALERT)) return;
    const char *desc = SSL_alert_desc_string_long(ret);
    bool fatal = (ret >> 8) == SSL3_AL_FATAL;
    bool close_notify = (ret & 0xff) == SSL3_AD_CLOSE_NOTIFY;
    if (where & SSL_CB_READ) {
        if (close_notify) d->close_notify_in = true;
        else if (fatal) snprintf(d->alert_in, sizeof d->alert_in, "%s", desc);
    } else if (fatal && !close_notify) {
        snprintf(d->alert_out, sizeof d->alert_out, "%s", desc);
    }
    SLUICE_LOG(d->has_log ? &d->log : NULL, SLUICE_LOG_DEBUG, DTLS_MOD, "alert %s: %s %s",
               (where & SSL_CB_READ) ? "received" : "sent", fatal ? "fatal" : "warning", desc);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static bool dtls_openssl_passes_timer_pointer(void) {
    /* See the top of the file: 3.0.x and 3.1.x hand out &d1->next_timeout. */
    unsigned long v = OpenSSL_version_num();
    return (v >> 28) == 3 && ((v >> 20) & 0xff) < 2;
}

static int dtls_setup_ssl(sluice_dtls *d) {
    d->ctx = SSL_CTX_new(DTLS_method());
    if (!d->ctx) return SLUICE_ERR_CRYPTO;
    SSL_CTX *c = d->ctx;
    /* DTLS 1.2 only (RFC 8842 §5); no renegotiation, compression or tickets. */
    if (SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(c, dtls_cipher_list) != 1 || SSL_CTX_set1_groups_list(c, dtls_groups) != 1 ||
        SSL_CTX_use_certificate(c, d->cert->x509) != 1 || SSL_CTX_use_PrivateKey(c, d->cert->pkey) != 1)
        return SLUICE_ERR_CRYPTO;
    SSL_CTX_set_options(c, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
                               SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Offer/select an SRTP profile although no SRTP keys are ever used: every browser stack
     * sends use_srtp (RFC 5764 §4.1.2), and some peers (werift) fail a DTLS handshake that
     * negotiated none, even for data channels only. Returns 0 on success. */
    if (SSL_CTX_set_tlsext_use_srtp(c, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") != 0) return SLUICE_ERR_CRYPTO;
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_read_ahead(c, 0);
    /* Both sides present and check a certificate (RFC 8827 §6.5). */
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(c, dtls_cert_verify_cb, d);
    SSL_CTX_set_info_callback(c, dtls_info_cb);

    d->meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x5c, "sluice-dtls");
    if (!d->meth || BIO_meth_set_write(d->meth, dtls_bio_write) != 1 ||
        BIO_meth_set_read(d->meth, dtls_bio_read) != 1 || BIO_meth_set_ctrl(d->meth, dtls_bio_ctrl) != 1 ||
        BIO_meth_set_create(d->meth, dtls_bio_create) != 1 || BIO_meth_set_destroy(d->meth, dtls_bio_destroy) != 1)
        return SLUICE_ERR_CRYPTO;
    d->ssl = SSL_new(c);
    d->bio = BIO_new(d->meth);
    if (!d->ssl || !d->bio) return SLUICE_ERR_CRYPTO;
    BIO_set_data(d->bio, d);
    SSL_set_app_data(d->ssl, d);
    SSL_set_bio(d->ssl, d->bio, d->bio); /* same BIO both ways: consumes our one reference */
    d->bio = NULL;
    /* Records and datagrams within the path MTU (INTEROP: 1200). */
    if (SSL_set_mtu(d->ssl, (long)d->set.mtu) <= 0) return SLUICE_ERR_CRYPTO;
    DTLS_set_timer_cb(d->ssl, dtls_timer_cb);
    return SLUICE_OK;
}

int sluice_dtls_new(sluice_dtls **out, const sluice_dtls_settings *s, sluice_dtls_cert *cert,
                    const sluice_allocator *alloc, const sluice_logger *log) {
    if (!out || !cert) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_dtls_settings set;
    if (s) set = *s;
    else sluice_dtls_settings_default(&set);
    if (set.mtu < 256 || set.mtu > 65535 || set.retransmit_initial_ms == 0 ||
        set.retransmit_max_ms < set.retransmit_initial_ms || set.max_queued_datagrams == 0 ||
        set.handshake_timeout_ms == 0)
        return SLUICE_ERR_INVALID_ARGUMENT;

    sluice_dtls *d = sluice_mem_calloc(alloc, 1, sizeof *d);
    if (!d) return SLUICE_ERR_NOMEM;
    d->set = set;
    if (alloc) {
        d->alloc_copy = *alloc; /* the caller's struct need not outlive us */
        d->alloc = &d->alloc_copy;
    }
    if (log) {
        d->log = *log;
        d->has_log = true;
    }
    d->cert = sluice_dtls_cert_ref(cert);
    d->rtx_deadline = d->hs_deadline = SLUICE_TIME_NEVER;
    d->rto_ms = set.retransmit_initial_ms;
    d->timer_ptr_mode = dtls_openssl_passes_timer_pointer();

    int rc = dtls_ring_init(d, &d->out, set.max_queued_datagrams);
    if (rc == SLUICE_OK) rc = dtls_ring_init(d, &d->rx, set.max_queued_datagrams);
    if (rc == SLUICE_OK) rc = dtls_setup_ssl(d);
    if (rc != SLUICE_OK) {
        ERR_clear_error();
        sluice_dtls_free(d);
        return rc;
    }
    *out = d;
    return SLUICE_OK;
}

void sluice_dtls_free(sluice_dtls *d) {
    if (!d) return;
    SSL_free(d->ssl); /* frees the BIO */
    BIO_free(d->bio);
    BIO_meth_free(d->meth);
    SSL_CTX_free(d->ctx);
    sluice_dtls_cert_free(d->cert);
    dtls_ring_clear(d, &d->out);
    dtls_ring_clear(d, &d->rx);
    sluice_mem_free(d->alloc, d->filtered);
    sluice_allocator a = d->alloc_copy;
    sluice_mem_free(d->alloc ? &a : NULL, d);
}

int sluice_dtls_add_remote_fingerprint(sluice_dtls *d, const char *alg, const char *hex) {
    if (!d || !hex) return SLUICE_ERR_INVALID_ARGUMENT;
    const EVP_MD *md = dtls_md_by_name(alg);
    if (!md) return SLUICE_ERR_UNSUPPORTED;
    if (d->nfps == DTLS_MAX_FINGERPRINTS) return SLUICE_ERR_EXHAUSTED;
    dtls_fp *f = &d->fps[d->nfps];
    int n = sluice_hex_decode(f->digest, sizeof f->digest, hex, strlen(hex));
    if (n < 0 || n != EVP_MD_get_size(md)) return SLUICE_ERR_MALFORMED;
    f->md = md;
    f->len = (unsigned int)n;
    d->nfps++;
    return SLUICE_OK;
}

/* ---- driving OpenSSL ------------------------------------------------------------------ */

static void dtls_on_connected(sluice_dtls *d) {
    d->state = SLUICE_DTLS_CONNECTED;
    d->hs_deadline = SLUICE_TIME_NEVER;
    snprintf(d->stats.version, sizeof d->stats.version, "%s", SSL_get_version(d->ssl));
    const char *cn = SSL_get_cipher_name(d->ssl);
    snprintf(d->stats.cipher, sizeof d->stats.cipher, "%s", cn ? cn : "");
    SLUICE_LOG(d->has_log ? &d->log : NULL, SLUICE_LOG_INFO, DTLS_MOD, "connected (%s, %s) as %s",
               d->stats.version, d->stats.cipher, d->set.is_client ? "client" : "server");
}

/* Grow a slot's buffer (kept for reuse). */
static bool dtls_slot_reserve(sluice_dtls *d, dtls_slot *s, size_t need) {
    if (s->cap >= need) return true;
    uint8_t *nb = sluice_mem_realloc(d->alloc, s->buf, need);
    if (!nb) return false;
    s->buf = nb;
    s->cap = need;
    return true;
}

/* Decrypt the next application record straight into a receive slot (one record per
 * slot, no intermediate copy). Returns SSL_read's result for the first part. A record
 * longer than the slot leaves its rest pending in OpenSSL (SSL_pending): read it too. */
static int dtls_read_record(sluice_dtls *d) {
    dtls_slot *s = dtls_ring_push(d, &d->rx, d->set.mtu);
    if (!s) {
        /* Receive queue full (or no memory): consume and drop the whole record, like
         * loss; SCTP recovers. A small sink suffices: the rest stays pending. */
        uint8_t sink[256];
        int n = SSL_read(d->ssl, sink, sizeof sink);
        if (n > 0) {
            while (SSL_pending(d->ssl) > 0 && SSL_read(d->ssl, sink, sizeof sink) > 0) {}
            d->stats.dropped++;
        }
        return n;
    }
    int n = SSL_read(d->ssl, s->buf, (int)s->cap);
    if (n <= 0) {
        d->rx.count--; /* give the slot back */
        return n;
    }
    s->len = (size_t)n;
    int more;
    while ((more = SSL_pending(d->ssl)) > 0) {
        if (!dtls_slot_reserve(d, s, s->len + (size_t)more)) {
            /* No memory for the whole record: drop all of it, keep the framing. */
            uint8_t sink[256];
            while (SSL_pending(d->ssl) > 0 && SSL_read(d->ssl, sink, sizeof sink) > 0) {}
            d->rx.count--;
            d->stats.dropped++;
            return n;
        }
        int m = SSL_read(d->ssl, s->buf + s->len, more);
        if (m <= 0) break;
        s->len += (size_t)m;
    }
    return n;
}

/* Run the handshake and read application data until OpenSSL needs more input. The
 * error queue is cleared on entry and after each failure only (it is thread-local and
 * costs a lookup per call). */
static void dtls_drive(sluice_dtls *d) {
    ERR_clear_error();
    for (;;) {
        if (d->state == SLUICE_DTLS_HANDSHAKING) {
            int r = SSL_do_handshake(d->ssl);
            if (r == 1) {
                dtls_on_connected(d);
                continue;
            }
            int e = SSL_get_error(d->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            if (d->close_notify_in) {
                ERR_clear_error();
                dtls_set_final(d, SLUICE_DTLS_CLOSED, SLUICE_ERR_CLOSED, "peer sent close_notify during the handshake");
                return;
            }
            dtls_fail_from_ssl(d, "handshake");
            return;
        }
        if (d->state != SLUICE_DTLS_CONNECTED) return;
        int n = dtls_read_record(d);
        if (n > 0) continue;
        int e = SSL_get_error(d->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        if (e == SSL_ERROR_ZERO_RETURN || d->close_notify_in) {
            ERR_clear_error();
            /* RFC 5246 §7.2.1: answer close_notify with our own. */
            (void)SSL_shutdown(d->ssl);
            ERR_clear_error();
            dtls_set_final(d, SLUICE_DTLS_CLOSED, SLUICE_ERR_CLOSED, "peer sent close_notify");
            return;
        }
        dtls_fail_from_ssl(d, "record layer");
        return;
    }
}

int sluice_dtls_start(sluice_dtls *d, sluice_time now) {
    if (!d) return SLUICE_ERR_INVALID_ARGUMENT;
    if (d->state != SLUICE_DTLS_NEW) return SLUICE_ERR_INVALID_STATE;
    d->now = now;
    d->state = SLUICE_DTLS_HANDSHAKING;
    d->hs_deadline = now + (sluice_time)d->set.handshake_timeout_ms * 1000;
    if (d->set.is_client) SSL_set_connect_state(d->ssl);
    else SSL_set_accept_state(d->ssl);
    dtls_drive(d); /* the client queues its ClientHello */
    return d->state == SLUICE_DTLS_FAILED ? d->err : SLUICE_OK;
}

/* Check the record framing (RFC 6347 §4.1) before OpenSSL sees the datagram: count the
 * records, drop malformed ones (and everything after a broken length), drop plaintext
 * application data (never valid in epoch 0). Returns the bytes to feed and sets *feed. */
static size_t dtls_filter_records(sluice_dtls *d, const uint8_t *data, size_t len, const uint8_t **feed) {
    sluice_rd r = sluice_rd_make(data, len);
    size_t kept = 0;
    bool copy = false;
    while (sluice_rd_left(&r) > 0) {
        const uint8_t *rec = r.p;
        const uint8_t *h = sluice_rd_bytes(&r, DTLS_RECORD_HEADER);
        if (!h) { d->stats.dropped++; break; } /* truncated header */
        uint8_t type = h[0];
        uint16_t version = sluice_load_be16(h + 1);
        uint16_t epoch = sluice_load_be16(h + 3);
        uint16_t blen = sluice_load_be16(h + 11);
        if (!sluice_rd_bytes(&r, blen)) { d->stats.dropped++; break; } /* truncated body */
        d->stats.records_in++;
        size_t rlen = DTLS_RECORD_HEADER + (size_t)blen;
        bool ok = type >= 20 && type <= 23 && (version >> 8) == 0xfe && blen <= DTLS_MAX_RECORD_BODY &&
                  !(type == 23 && epoch == 0);
        if (!ok) {
            d->stats.dropped++;
            if (!copy) {
                /* First bad record: from now on feed a compacted copy of the good ones. */
                if (d->filtered_cap < len) {
                    uint8_t *nb = sluice_mem_realloc(d->alloc, d->filtered, len);
                    if (!nb) break; /* keep the good prefix only */
                    d->filtered = nb;
                    d->filtered_cap = len;
                }
                memcpy(d->filtered, data, kept);
                copy = true;
            }
            continue;
        }
        if (copy) memcpy(d->filtered + kept, rec, rlen);
        kept += rlen;
    }
    *feed = copy ? d->filtered : data;
    return kept;
}

int sluice_dtls_handle_datagram(sluice_dtls *d, sluice_time now, const uint8_t *data, size_t len) {
    if (!d || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    d->now = now;
    if (d->state == SLUICE_DTLS_FAILED) return d->err;
    if (d->state == SLUICE_DTLS_CLOSED) {
        d->stats.dropped++;
        return SLUICE_OK;
    }
    if (d->state == SLUICE_DTLS_NEW) {
        /* The peer's first flight may arrive before our caller started us. */
        int rc = sluice_dtls_start(d, now);
        if (rc < 0) return rc;
    }
    const uint8_t *feed = NULL;
    size_t n = dtls_filter_records(d, data, len, &feed);
    if (n == 0) return SLUICE_OK;
    d->in = feed;
    d->in_len = n;
    dtls_drive(d);
    d->in = NULL; /* the caller's buffer is not ours after return */
    d->in_len = 0;
    return d->state == SLUICE_DTLS_FAILED ? d->err : SLUICE_OK;
}

int sluice_dtls_read(sluice_dtls *d, uint8_t *buf, size_t cap) {
    if (!d || (!buf && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    dtls_slot *s = dtls_ring_front(&d->rx);
    if (!s) return SLUICE_ERR_AGAIN;
    if (s->len > cap) {
        dtls_ring_pop(&d->rx);
        d->stats.dropped++;
        return SLUICE_ERR_NOBUFS;
    }
    memcpy(buf, s->buf, s->len);
    int n = (int)s->len;
    dtls_ring_pop(&d->rx);
    return n;
}

size_t sluice_dtls_max_payload(const sluice_dtls *d) {
    if (!d) return 0;
    if (d->state == SLUICE_DTLS_CONNECTED) {
        size_t m = DTLS_get_data_mtu(d->ssl);
        if (m) return m;
    }
    /* Worst case of our suites: header 13 + explicit nonce 8 + tag 16 (AES-GCM). */
    return d->set.mtu > 37 ? d->set.mtu - 37 : 0;
}

int sluice_dtls_write(sluice_dtls *d, const uint8_t *data, size_t len) {
    if (!d || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (d->state != SLUICE_DTLS_CONNECTED) return SLUICE_ERR_INVALID_STATE;
    if (len == 0) return SLUICE_ERR_INVALID_ARGUMENT;
    if (len > sluice_dtls_max_payload(d)) return SLUICE_ERR_TOO_LARGE;
    /* Room for one more datagram, or the record fits into the open one. */
    dtls_slot *open = d->out_open ? dtls_ring_tail(&d->out) : NULL;
    bool fits_open = open && open->len + len + 64 <= d->set.mtu;
    if (!fits_open && d->out.count == d->out.max) return SLUICE_ERR_BUFFER_FULL;
    int r = SSL_write(d->ssl, data, (int)len);
    if (r <= 0) {
        int e = SSL_get_error(d->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return SLUICE_ERR_BUFFER_FULL;
        dtls_fail_from_ssl(d, "write");
        return d->err;
    }
    return SLUICE_OK;
}

int sluice_dtls_poll_datagram(sluice_dtls *d, uint8_t *buf, size_t cap) {
    if (!d || (!buf && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    dtls_slot *s = dtls_ring_front(&d->out);
    if (!s) return 0;
    if (s->len > cap) return SLUICE_ERR_NOBUFS;
    if (d->out.count == 1) dtls_close_datagram(d);
    memcpy(buf, s->buf, s->len);
    int n = (int)s->len;
    dtls_ring_pop(&d->out);
    return n;
}

sluice_time sluice_dtls_next_deadline(const sluice_dtls *d) {
    if (!d) return SLUICE_TIME_NEVER;
    sluice_time t = SLUICE_TIME_NEVER;
    if (d->state == SLUICE_DTLS_HANDSHAKING) t = d->hs_deadline;
    if (d->timer_armed && (d->state == SLUICE_DTLS_HANDSHAKING || d->state == SLUICE_DTLS_CONNECTED))
        t = sluice_time_min(t, d->rtx_deadline);
    return t;
}

void sluice_dtls_handle_timeout(sluice_dtls *d, sluice_time now) {
    if (!d) return;
    d->now = now;
    if (d->state == SLUICE_DTLS_HANDSHAKING && now >= d->hs_deadline) {
        dtls_set_final(d, SLUICE_DTLS_FAILED, SLUICE_ERR_TIMEOUT, "handshake timed out after %u ms",
                       (unsigned)d->set.handshake_timeout_ms);
        return;
    }
    if (!d->timer_armed || now < d->rtx_deadline) return;
    if (d->state != SLUICE_DTLS_HANDSHAKING && d->state != SLUICE_DTLS_CONNECTED) return;
    uint64_t next = (uint64_t)d->rto_ms * 2;
    d->rto_ms = (uint32_t)SLUICE_MIN(next, (uint64_t)d->set.retransmit_max_ms);
    if (d->timer_ptr_mode && d->ossl_deadline) {
        /* Expire OpenSSL's deadline now: any non-zero time in the past (see top). */
        d->ossl_deadline->tv_sec = 0;
        d->ossl_deadline->tv_usec = 1;
    }
    ERR_clear_error();
    d->in_forced_timeout = true;
    int r = DTLSv1_handle_timeout(d->ssl);
    d->in_forced_timeout = false;
    if (r > 0) {
        d->stats.retransmitted_flights++;
        dtls_close_datagram(d);
        ERR_clear_error();
    } else if (r < 0) {
        dtls_fail_from_ssl(d, "retransmission");
    } else {
        if (d->timer_ptr_mode) {
            /* The deadline we expired was not OpenSSL's (a patched build passing a copy):
             * use the fallback from now on. */
            d->timer_ptr_mode = false;
            SLUICE_LOG(d->has_log ? &d->log : NULL, SLUICE_LOG_WARN, DTLS_MOD,
                       "OpenSSL ignored the virtual-time expiry; following its clock");
        }
        /* OpenSSL's own clock says "not yet" (fallback mode): follow it. */
        struct timeval tv;
        if (DTLSv1_get_timeout(d->ssl, &tv) == 1)
            d->rtx_deadline = now + (sluice_time)tv.tv_sec * 1000000 + (sluice_time)tv.tv_usec + 1000;
        else {
            d->timer_armed = false;
            d->rtx_deadline = SLUICE_TIME_NEVER;
        }
        ERR_clear_error();
    }
}

void sluice_dtls_close(sluice_dtls *d) {
    if (!d || d->state == SLUICE_DTLS_CLOSED || d->state == SLUICE_DTLS_FAILED) return;
    if (d->state == SLUICE_DTLS_CONNECTED) {
        ERR_clear_error();
        (void)SSL_shutdown(d->ssl); /* queues close_notify (RFC 5246 §7.2.1) */
        dtls_close_datagram(d);
        ERR_clear_error();
    }
    dtls_set_final(d, SLUICE_DTLS_CLOSED, SLUICE_ERR_CLOSED, "closed locally");
}

sluice_dtls_state sluice_dtls_get_state(const sluice_dtls *d) { return d ? d->state : SLUICE_DTLS_FAILED; }

const char *sluice_dtls_reason(const sluice_dtls *d) { return d ? d->reason : ""; }

int sluice_dtls_error(const sluice_dtls *d) { return d ? d->err : SLUICE_ERR_INVALID_ARGUMENT; }

void sluice_dtls_get_stats(const sluice_dtls *d, sluice_dtls_stats *out) {
    if (!out) return;
    if (!d) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = d->stats;
}

int sluice_dtls_peer_fingerprint(const sluice_dtls *d, const char *alg, char *out, size_t cap) {
    if (!d || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    X509 *peer = SSL_get0_peer_certificate(d->ssl);
    if (!peer) return SLUICE_ERR_NOT_FOUND;
    return dtls_fingerprint_of(peer, alg, out, cap);
}
