#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct sluice_tls_ctx {
    const sluice_allocator *alloc;
    const sluice_logger *log;
    SSL_CTX *ssl_ctx;
};

struct sluice_tls_client {
    sluice_tls_ctx *ctx;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool established, failed, closed;
    char reason[200];
};

int sluice_tls_ctx_new(sluice_tls_ctx **out, const char *extra_ca_pem, bool use_system_store,
                       const sluice_allocator *alloc, const sluice_logger *log) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_tls_ctx *ctx = sluice_mem_calloc(alloc, 1, sizeof *ctx);
    if (!ctx) return SLUICE_ERR_NOMEM;
    ctx->alloc = alloc;
    ctx->log = log;
    ERR_clear_error();
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx->ssl_ctx) {
        sluice_mem_free(alloc, ctx);
        return SLUICE_ERR_CRYPTO;
    }
    /* RFC 8656 §3.1 and RFC 8996: TLS 1.2 or newer only. */
    SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
    /* Memory BIOs take every write: let SSL_write return after one record. */
    SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (use_system_store && SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1)
        SLUICE_LOG(log, SLUICE_LOG_WARN, "tls", "the system CA store could not be loaded");
    if (extra_ca_pem) {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
        BIO *b = BIO_new_mem_buf(extra_ca_pem, -1);
        int added = 0;
        X509 *x;
        while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
            if (X509_STORE_add_cert(store, x) == 1) added++;
            X509_free(x);
        }
        BIO_free(b);
        ERR_clear_error(); /* the loop ends on a "no start line" error */
        if (added == 0) {
            SLUICE_LOG(log, SLUICE_LOG_ERROR, "tls", "turn_ca_pem holds no usable certificate");
            SSL_CTX_free(ctx->ssl_ctx);
            sluice_mem_free(alloc, ctx);
            return SLUICE_ERR_CONFIG;
        }
    }
    *out = ctx;
    return SLUICE_OK;
}

void sluice_tls_ctx_free(sluice_tls_ctx *ctx) {
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl_ctx);
    sluice_mem_free(ctx->alloc, ctx);
}

static void set_failure(sluice_tls_client *c, const char *what) {
    c->failed = true;
    long vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK) {
        snprintf(c->reason, sizeof c->reason, "certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
    } else {
        unsigned long e = ERR_peek_last_error();
        char es[160] = "";
        if (e) ERR_error_string_n(e, es, sizeof es);
        snprintf(c->reason, sizeof c->reason, "%s%s%s", what, e ? ": " : "", es);
    }
    ERR_clear_error();
}

int sluice_tls_client_new(sluice_tls_client **out, sluice_tls_ctx *ctx, const char *server_name) {
    if (!out || !ctx || !server_name || !server_name[0] || strlen(server_name) > 255)
        return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_tls_client *c = sluice_mem_calloc(ctx->alloc, 1, sizeof *c);
    if (!c) return SLUICE_ERR_NOMEM;
    c->ctx = ctx;
    ERR_clear_error();
    c->ssl = SSL_new(ctx->ssl_ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        sluice_mem_free(ctx->alloc, c);
        return SLUICE_ERR_NOMEM;
    }
    /* An empty memory BIO means "retry later", not end of file. */
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    sluice_addr ip;
    int ok;
    if (sluice_addr_parse(&ip, server_name, 0) == SLUICE_OK) {
        /* RFC 6066 §3: no IP literals in SNI; RFC 6125: match an iPAddress SAN. */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), server_name);
    } else {
        X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(c->ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(c->ssl, server_name) == 1 && SSL_set1_host(c->ssl, server_name) == 1;
    }
    if (ok != 1) {
        ERR_clear_error();
        SSL_free(c->ssl);
        sluice_mem_free(ctx->alloc, c);
        return SLUICE_ERR_INVALID_ARGUMENT;
    }
    /* Produce the ClientHello now so the caller can send it once TCP connects. */
    sluice_tls_client_handshake(c);
    *out = c;
    return SLUICE_OK;
}

void sluice_tls_client_free(sluice_tls_client *c) {
    if (!c) return;
    SSL_free(c->ssl);
    sluice_mem_free(c->ctx->alloc, c);
}

int sluice_tls_client_feed(sluice_tls_client *c, const uint8_t *data, size_t len) {
    if (!c || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (c->failed) return SLUICE_ERR_CRYPTO;
    if (BIO_ctrl_pending(c->rbio) + len > SLUICE_TLS_MAX_FEED) return SLUICE_ERR_BUFFER_FULL;
    if (len && BIO_write(c->rbio, data, (int)len) != (int)len) return SLUICE_ERR_NOMEM;
    return SLUICE_OK;
}

size_t sluice_tls_client_take(sluice_tls_client *c, uint8_t *buf, size_t cap) {
    if (!c || !buf || cap == 0) return 0;
    size_t want = SLUICE_MIN(cap, (size_t)BIO_ctrl_pending(c->wbio));
    if (want == 0) return 0;
    int n = BIO_read(c->wbio, buf, (int)SLUICE_MIN(want, (size_t)INT32_MAX));
    return n > 0 ? (size_t)n : 0;
}

size_t sluice_tls_client_pending(const sluice_tls_client *c) {
    return c ? (size_t)BIO_ctrl_pending(c->wbio) : 0;
}

int sluice_tls_client_handshake(sluice_tls_client *c) {
    if (!c) return SLUICE_ERR_INVALID_ARGUMENT;
    if (c->failed) return SLUICE_ERR_CRYPTO;
    if (c->established) return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->established = true;
        SLUICE_LOG(c->ctx->log, SLUICE_LOG_DEBUG, "tls", "handshake done: %s %s", SSL_get_version(c->ssl),
                   SSL_get_cipher_name(c->ssl));
        return 1;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    set_failure(c, "TLS handshake failed");
    return SLUICE_ERR_CRYPTO;
}

int sluice_tls_client_write(sluice_tls_client *c, const uint8_t *data, size_t len) {
    if (!c || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (c->closed) return SLUICE_ERR_CLOSED;
    int h = sluice_tls_client_handshake(c);
    if (h <= 0 || len == 0) return h;
    ERR_clear_error();
    int n = SSL_write(c->ssl, data, (int)SLUICE_MIN(len, (size_t)16384));
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    set_failure(c, "TLS write failed");
    return SLUICE_ERR_CRYPTO;
}

int sluice_tls_client_read(sluice_tls_client *c, uint8_t *buf, size_t cap) {
    if (!c || (!buf && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (c->closed) return SLUICE_ERR_CLOSED;
    int h = sluice_tls_client_handshake(c);
    if (h <= 0 || cap == 0) return h;
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, (int)SLUICE_MIN(cap, (size_t)INT32_MAX));
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        c->closed = true;
        snprintf(c->reason, sizeof c->reason, "closed by the server (close_notify)");
        return SLUICE_ERR_CLOSED;
    }
    set_failure(c, "TLS read failed");
    return SLUICE_ERR_CRYPTO;
}

const char *sluice_tls_client_reason(const sluice_tls_client *c) { return c ? c->reason : ""; }
