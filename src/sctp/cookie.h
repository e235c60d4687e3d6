/* Stateless State Cookie (RFC 9260 §5.1.3): everything needed to build the association
 * when COOKIE-ECHO arrives, so that an INIT leaves no state behind (§5.1, INIT floods).
 * Protected by HMAC-SHA256 with a secret that each endpoint draws at creation, and
 * time-limited (Valid.Cookie.Life). */
#ifndef SLUICE_SCTP_COOKIE_H
#define SLUICE_SCTP_COOKIE_H

#include "sctp/packet.h"

#define SLUICE_SCTP_COOKIE_SECRET_LEN 32
#define SLUICE_SCTP_COOKIE_MAC_LEN 32
/** Encoded size of a cookie (fixed). */
#define SLUICE_SCTP_COOKIE_LEN 84

typedef struct sluice_sctp_cookie {
    sluice_time created;          /**< when the INIT-ACK was made */
    uint32_t lifetime_ms;
    uint32_t local_tag, peer_tag; /**< our and the peer's Initiate Tags */
    uint32_t local_tsn, peer_tsn; /**< initial TSNs */
    uint32_t peer_rwnd;
    uint16_t local_port, peer_port;
    uint16_t peer_os, peer_mis;
    uint32_t local_tie_tag, peer_tie_tag; /**< RFC 9260 §5.2.2, zero without an existing TCB */
    sluice_sctp_features peer_feat;
} sluice_sctp_cookie;

/** Serialize and MAC into out (cap >= SLUICE_SCTP_COOKIE_LEN). Returns the length, NOBUFS
 *  or CRYPTO. */
int sluice_sctp_cookie_write(const uint8_t secret[SLUICE_SCTP_COOKIE_SECRET_LEN],
                             const sluice_sctp_cookie *c, uint8_t *out, size_t cap);

/** Verify and decode. Errors: INTEGRITY (wrong size, version or MAC), TIMEOUT (authentic
 *  but expired: *out is filled and *stale_us = how long past its life, for the Stale Cookie
 *  cause, §3.3.10.3), CRYPTO. */
int sluice_sctp_cookie_read(const uint8_t secret[SLUICE_SCTP_COOKIE_SECRET_LEN], const uint8_t *data,
                            size_t len, sluice_time now, sluice_sctp_cookie *out, uint64_t *stale_us);

#endif
