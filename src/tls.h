/* TLS client over a byte stream, sans-IO (OpenSSL 3 with memory BIOs): used for TURN over
 * TLS (`turns:`, RFC 8656 §3.1, RFC 7065). Ciphertext in with sluice_tls_client_feed, out
 * with sluice_tls_client_take; plaintext through read/write. No sockets, no blocking.
 *
 * Verification is always on (RFC 8656 §3.1 / RFC 6125): the server's chain must lead to a
 * trusted CA (the system store, plus an optional extra PEM bundle) and its certificate must
 * name `server_name` (a DNS name, or an IP literal checked against IP SANs). A failed
 * handshake leaves a readable reason in sluice_tls_client_reason(). */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include "util.h"

/** Bound on ciphertext fed but not yet consumed (one TLS record is at most ~16.7 KB). */
#define SLUICE_TLS_MAX_FEED (64 * 1024)

typedef struct sluice_tls_ctx sluice_tls_ctx;
typedef struct sluice_tls_client sluice_tls_client;

/** Trust settings shared by the connections: TLS 1.2 minimum, peer verification on, the
 *  system CA store (SSL_CTX_set_default_verify_paths) and, when `extra_ca_pem` is not NULL,
 *  every certificate of that PEM text as an additional trust anchor (private TURN servers).
 *  `use_system_store` false trusts only extra_ca_pem (tests). Errors: NOMEM, CRYPTO, CONFIG
 *  (extra_ca_pem holds no certificate). */
int sluice_tls_ctx_new(sluice_tls_ctx **out, const char *extra_ca_pem, bool use_system_store,
                       const sluice_allocator *alloc, const sluice_logger *log);
void sluice_tls_ctx_free(sluice_tls_ctx *ctx);

/** A client connection verifying `server_name` (SNI is sent unless it is an IP literal,
 *  RFC 6066 §3). The ClientHello is ready in take() at once. Errors: NOMEM, CRYPTO,
 *  INVALID_ARGUMENT (empty or too long name). */
int sluice_tls_client_new(sluice_tls_client **out, sluice_tls_ctx *ctx, const char *server_name);
void sluice_tls_client_free(sluice_tls_client *c);

/** Bytes received from the network. Errors: BUFFER_FULL (more than SLUICE_TLS_MAX_FEED
 *  waiting: read first), CRYPTO (the connection already failed). */
int sluice_tls_client_feed(sluice_tls_client *c, const uint8_t *data, size_t len);
/** Bytes to send to the network: returns the count written into buf (0: none). */
size_t sluice_tls_client_take(sluice_tls_client *c, uint8_t *buf, size_t cap);
/** Ciphertext waiting to be taken. */
size_t sluice_tls_client_pending(const sluice_tls_client *c);

/** Advance the handshake: 1 established, 0 in progress, CRYPTO failed (see reason). */
int sluice_tls_client_handshake(sluice_tls_client *c);
/** Encrypt up to `len` plaintext bytes (at most one record, 16 KB, per call). Returns the
 *  bytes taken: 0 while the handshake is in progress; CRYPTO / CLOSED on failure. */
int sluice_tls_client_write(sluice_tls_client *c, const uint8_t *data, size_t len);
/** Decrypted bytes: returns the count (0: none yet), CLOSED (close_notify), CRYPTO. */
int sluice_tls_client_read(sluice_tls_client *c, uint8_t *buf, size_t cap);

/** Why the connection failed ("" while it did not), e.g. "certificate verification failed:
 *  hostname mismatch". */
const char *sluice_tls_client_reason(const sluice_tls_client *c);

#endif
