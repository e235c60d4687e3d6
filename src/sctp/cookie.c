/* State Cookie codec with HMAC-SHA256 (RFC 9260 §5.1.3, §5.1.5). */
#include "sctp/cookie.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define COOKIE_VERSION 1
#define COOKIE_BODY_LEN (SLUICE_SCTP_COOKIE_LEN - SLUICE_SCTP_COOKIE_MAC_LEN)

static int cookie_mac(const uint8_t *secret, const uint8_t *body, uint8_t mac[32]) {
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), secret, SLUICE_SCTP_COOKIE_SECRET_LEN, body, COOKIE_BODY_LEN, mac, &n) ||
        n != SLUICE_SCTP_COOKIE_MAC_LEN)
        return SLUICE_ERR_CRYPTO;
    return SLUICE_OK;
}

int sluice_sctp_cookie_write(const uint8_t secret[SLUICE_SCTP_COOKIE_SECRET_LEN],
                             const sluice_sctp_cookie *c, uint8_t *out, size_t cap) {
    if (cap < SLUICE_SCTP_COOKIE_LEN) return SLUICE_ERR_NOBUFS;
    sluice_wr w = sluice_wr_make(out, cap);
    uint8_t flags = (uint8_t)((c->peer_feat.reconfig ? 1 : 0) | (c->peer_feat.forward_tsn ? 2 : 0) |
                              (c->peer_feat.idata ? 4 : 0) | (c->peer_feat.zero_checksum ? 8 : 0));
    sluice_wr_u8(&w, COOKIE_VERSION);
    sluice_wr_u8(&w, flags);
    sluice_wr_u16(&w, 0);
    sluice_wr_u64(&w, c->created);
    sluice_wr_u32(&w, c->lifetime_ms);
    sluice_wr_u32(&w, c->local_tag);
    sluice_wr_u32(&w, c->peer_tag);
    sluice_wr_u32(&w, c->local_tsn);
    sluice_wr_u32(&w, c->peer_tsn);
    sluice_wr_u32(&w, c->peer_rwnd);
    sluice_wr_u16(&w, c->local_port);
    sluice_wr_u16(&w, c->peer_port);
    sluice_wr_u16(&w, c->peer_os);
    sluice_wr_u16(&w, c->peer_mis);
    sluice_wr_u32(&w, c->local_tie_tag);
    sluice_wr_u32(&w, c->peer_tie_tag);
    if (w.err || sluice_wr_len(&w) != COOKIE_BODY_LEN) return SLUICE_ERR_NOBUFS;
    int rc = cookie_mac(secret, out, w.p);
    if (rc) return rc;
    return SLUICE_SCTP_COOKIE_LEN;
}

int sluice_sctp_cookie_read(const uint8_t secret[SLUICE_SCTP_COOKIE_SECRET_LEN], const uint8_t *data,
                            size_t len, sluice_time now, sluice_sctp_cookie *out, uint64_t *stale_us) {
    if (stale_us) *stale_us = 0;
    if (!data || len != SLUICE_SCTP_COOKIE_LEN || data[0] != COOKIE_VERSION) return SLUICE_ERR_INTEGRITY;
    uint8_t mac[SLUICE_SCTP_COOKIE_MAC_LEN];
    int rc = cookie_mac(secret, data, mac);
    if (rc) return rc;
    /* Constant time: the MAC must not leak through timing (§5.1.5 step 2). */
    if (CRYPTO_memcmp(mac, data + COOKIE_BODY_LEN, sizeof mac) != 0) return SLUICE_ERR_INTEGRITY;
    sluice_rd r = sluice_rd_make(data, COOKIE_BODY_LEN);
    sluice_sctp_cookie c;
    memset(&c, 0, sizeof c);
    sluice_rd_u8(&r);
    uint8_t flags = sluice_rd_u8(&r);
    sluice_rd_u16(&r);
    c.created = sluice_rd_u64(&r);
    c.lifetime_ms = sluice_rd_u32(&r);
    c.local_tag = sluice_rd_u32(&r);
    c.peer_tag = sluice_rd_u32(&r);
    c.local_tsn = sluice_rd_u32(&r);
    c.peer_tsn = sluice_rd_u32(&r);
    c.peer_rwnd = sluice_rd_u32(&r);
    c.local_port = sluice_rd_u16(&r);
    c.peer_port = sluice_rd_u16(&r);
    c.peer_os = sluice_rd_u16(&r);
    c.peer_mis = sluice_rd_u16(&r);
    c.local_tie_tag = sluice_rd_u32(&r);
    c.peer_tie_tag = sluice_rd_u32(&r);
    if (r.err) return SLUICE_ERR_INTEGRITY;
    c.peer_feat.reconfig = flags & 1;
    c.peer_feat.forward_tsn = (flags & 2) != 0;
    c.peer_feat.idata = (flags & 4) != 0;
    c.peer_feat.zero_checksum = (flags & 8) != 0;
    /* §5.1.5 step 3: compare the creation time plus lifetime with now. */
    sluice_time expires = c.created + (sluice_time)c.lifetime_ms * 1000u;
    *out = c;
    if (now > expires) {
        if (stale_us) *stale_us = now - expires;
        return SLUICE_ERR_TIMEOUT;
    }
    return SLUICE_OK;
}
