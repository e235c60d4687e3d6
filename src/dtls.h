/* DTLS 1.2 transport over OpenSSL 3 with memory BIOs, sans-IO: datagrams in, datagrams
 * out, plaintext (SCTP packets) in and out; the retransmission timer follows the caller's
 * `now`. No sockets, no wall clock, no globals.
 *
 * Use: settings_default + edit, new(cert), add_remote_fingerprint (from the SDP), start
 * (when ICE is connected), then loop: handle_datagram / handle_timeout at next_deadline /
 * poll_datagram until 0 / read until AGAIN; write once CONNECTED. One record per write and
 * per read, so one SCTP packet per record; several records may share a datagram.
 * With OpenSSL 3.0/3.1 retransmissions happen exactly at next_deadline in the caller's
 * clock (simulated time works); with >= 3.2 OpenSSL's own clock also has to agree (see
 * dtls.c). OpenSSL's own allocations do not use the sluice allocator. */
#ifndef SLUICE_DTLS_H
#define SLUICE_DTLS_H

#include "util.h"

/** A certificate + private key (ECDSA P-256 by default). Opaque; shareable read-only
 *  between endpoints of one thread (reference counted). */
typedef struct sluice_dtls_cert sluice_dtls_cert;

/** Generate a fresh self-signed ECDSA P-256 certificate (validity 30 days back to 1 year ahead,
 *  random serial, CN "sluice"). Errors: CRYPTO, NOMEM. */
int sluice_dtls_cert_generate(sluice_dtls_cert **out);
/** Load from PEM strings (certificate, private key). Errors: CRYPTO (unparsable / mismatched). */
int sluice_dtls_cert_from_pem(sluice_dtls_cert **out, const char *cert_pem, const char *key_pem);
/** Reference counting: ref adds one, free drops one (NULL ignored). */
sluice_dtls_cert *sluice_dtls_cert_ref(sluice_dtls_cert *c);
void sluice_dtls_cert_free(sluice_dtls_cert *c);
/** "AB:CD:..." upper-case hex with colons of the DER certificate digest; `alg` is
 *  "sha-256" (also "sha-1", "sha-384", "sha-512"). Returns length or NOBUFS/UNSUPPORTED. */
int sluice_dtls_cert_fingerprint(const sluice_dtls_cert *c, const char *alg, char *out, size_t cap);

typedef enum sluice_dtls_state {
    SLUICE_DTLS_NEW = 0,
    SLUICE_DTLS_HANDSHAKING = 1,
    SLUICE_DTLS_CONNECTED = 2,
    SLUICE_DTLS_CLOSED = 3, /**< close_notify sent or received */
    SLUICE_DTLS_FAILED = 4, /**< handshake failure, fatal alert, fingerprint mismatch */
} sluice_dtls_state;

typedef struct sluice_dtls_settings {
    bool is_client;                 /**< a=setup:active → client */
    size_t mtu;                     /**< max datagram size produced; default 1200 */
    uint32_t retransmit_initial_ms; /**< first handshake retransmission; default 100 */
    uint32_t retransmit_max_ms;     /**< back-off cap; default 3000 */
    uint32_t handshake_timeout_ms;  /**< give up (FAILED) after this; default 30000 */
    size_t max_queued_datagrams;    /**< outgoing queue bound; default 256 */
} sluice_dtls_settings;

void sluice_dtls_settings_default(sluice_dtls_settings *s);

typedef struct sluice_dtls sluice_dtls;

/** Create an endpoint using `cert` (a reference is taken). `alloc` and `log` are copied
 *  (NULL: C library / no logging). `s` NULL means defaults. Errors: INVALID_ARGUMENT
 *  (settings out of range: mtu 256..65535, retransmit_initial_ms > 0, max >= initial,
 *  queue > 0, handshake timeout > 0), NOMEM, CRYPTO. */
int sluice_dtls_new(sluice_dtls **out, const sluice_dtls_settings *s, sluice_dtls_cert *cert,
                    const sluice_allocator *alloc, const sluice_logger *log);
void sluice_dtls_free(sluice_dtls *d);

/** Expected remote certificate fingerprint from the SDP ("sha-256", "AB:CD:..."); may be called
 *  several times (any match passes; at most 8). Without any, the handshake fails with
 *  FINGERPRINT. Errors: UNSUPPORTED (hash), MALFORMED (hex or length), EXHAUSTED. */
int sluice_dtls_add_remote_fingerprint(sluice_dtls *d, const char *alg, const char *hex);

/** Start the handshake (the client queues its ClientHello). Errors: INVALID_STATE. */
int sluice_dtls_start(sluice_dtls *d, sluice_time now);

/** Feed one received datagram (may hold several records). Handshake progress, decrypted
 *  application data (read with sluice_dtls_read) and alerts follow. Bad records are
 *  dropped and counted; returns OK then. Errors: only fatal ones (state is FAILED).
 *  In state NEW the endpoint starts itself first (the peer's ClientHello may arrive before
 *  the caller's start); in CLOSED datagrams are dropped. `data` is not kept. */
int sluice_dtls_handle_datagram(sluice_dtls *d, sluice_time now, const uint8_t *data, size_t len);

/** Take the next decrypted application record into buf: returns its length, AGAIN when
 *  none, NOBUFS when cap is too small (the record is dropped). At most
 *  max_queued_datagrams records wait here; more are dropped and counted. */
int sluice_dtls_read(sluice_dtls *d, uint8_t *buf, size_t cap);

/** Encrypt one application message (one record, len <= mtu - overhead) into the outgoing
 *  queue. Errors: INVALID_STATE (not CONNECTED), TOO_LARGE, BUFFER_FULL (queue full). */
int sluice_dtls_write(sluice_dtls *d, const uint8_t *data, size_t len);

/** Largest `len` sluice_dtls_write accepts: mtu minus the record overhead of the
 *  negotiated cipher (1163 for AES-GCM at mtu 1200; before CONNECTED the worst case). */
size_t sluice_dtls_max_payload(const sluice_dtls *d);

/** Take the next outgoing datagram: returns its length, 0 when none, NOBUFS when cap is too small. */
int sluice_dtls_poll_datagram(sluice_dtls *d, uint8_t *buf, size_t cap);

sluice_time sluice_dtls_next_deadline(const sluice_dtls *d);
void sluice_dtls_handle_timeout(sluice_dtls *d, sluice_time now);

/** Send close_notify (queued as a datagram) and go CLOSED. Idempotent. */
void sluice_dtls_close(sluice_dtls *d);

sluice_dtls_state sluice_dtls_get_state(const sluice_dtls *d);
/** A readable reason for FAILED/CLOSED ("" otherwise), and the sluice_err that caused it. */
const char *sluice_dtls_reason(const sluice_dtls *d);
int sluice_dtls_error(const sluice_dtls *d);

typedef struct sluice_dtls_stats {
    uint64_t records_in, records_out, dropped, retransmitted_flights;
    char version[16];  /**< "DTLSv1.2" once connected */
    char cipher[64];   /**< OpenSSL cipher name once connected */
} sluice_dtls_stats;
void sluice_dtls_get_stats(const sluice_dtls *d, sluice_dtls_stats *out);

/** Fingerprint of the certificate the peer presented ("AB:CD:..."), once it has sent one.
 *  Returns length, NOT_FOUND (none yet), UNSUPPORTED (alg) or NOBUFS. */
int sluice_dtls_peer_fingerprint(const sluice_dtls *d, const char *alg, char *out, size_t cap);

/** True when `data` looks like DTLS by its first byte (RFC 7983: 20..63). */
static inline bool sluice_dtls_is_record(const uint8_t *data, size_t len) {
    return len > 0 && data[0] >= 20 && data[0] <= 63;
}

#endif
