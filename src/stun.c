/* STUN codec: RFC 8489 (messages, integrity, fingerprint), RFC 8445 §16 (ICE attributes),
 * RFC 8656 (TURN attributes, ChannelData). */
#include "stun.h"

#include "crc.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

bool sluice_stun_looks_like(const uint8_t *data, size_t len) {
    if (!data || len < SLUICE_STUN_HEADER_LEN) return false;
    if (data[0] & 0xC0) return false; /* RFC 8489 §5: the two most significant bits are 0 */
    if (sluice_load_be32(data + 4) != SLUICE_STUN_MAGIC) return false;
    size_t mlen = sluice_load_be16(data + 2);
    return (mlen & 3) == 0 && mlen + SLUICE_STUN_HEADER_LEN == len;
}

static bool is_xor_addr_type(uint16_t t) {
    return t == SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS || t == SLUICE_STUN_ATTR_XOR_PEER_ADDRESS ||
           t == SLUICE_STUN_ATTR_XOR_RELAYED_ADDRESS;
}

/* RFC 8489 §14.1/§14.2: 0, family (1 = IPv4, 2 = IPv6), port, address; XOR variants mask
 * the port with the top of the cookie and the address with cookie || transaction id. */
static int parse_addr(const uint8_t *v, size_t len, bool xored, const uint8_t *hdr, sluice_addr *out) {
    sluice_rd r = sluice_rd_make(v, len);
    (void)sluice_rd_u8(&r);
    uint8_t fam = sluice_rd_u8(&r);
    uint16_t port = sluice_rd_u16(&r);
    if (r.err) return SLUICE_ERR_MALFORMED;
    memset(out, 0, sizeof *out);
    size_t alen;
    if (fam == 1) { out->family = 4; alen = 4; }
    else if (fam == 2) { out->family = 6; alen = 16; }
    else return SLUICE_ERR_MALFORMED;
    if (sluice_rd_left(&r) != alen) return SLUICE_ERR_MALFORMED;
    memcpy(out->ip, r.p, alen);
    if (xored) {
        port ^= (uint16_t)(SLUICE_STUN_MAGIC >> 16);
        for (size_t i = 0; i < alen; i++) out->ip[i] ^= hdr[4 + i]; /* cookie then tid */
    }
    out->port = port;
    return SLUICE_OK;
}

static bool is_known_optional_or_ignored(uint16_t t) {
    switch (t) {
    case SLUICE_STUN_ATTR_USERHASH: /* accepted, not used */
    case 0x0017: /* REQUESTED-ADDRESS-FAMILY */
    case 0x0018: /* EVEN-PORT */
    case 0x001A: /* DONT-FRAGMENT */
    case 0x0022: /* RESERVATION-TOKEN */
        return true;
    default:
        return false;
    }
}

int sluice_stun_parse(const uint8_t *data, size_t len, sluice_stun_msg *m) {
    if (!data || !m) return SLUICE_ERR_INVALID_ARGUMENT;
    memset(m, 0, sizeof *m);
    if (!sluice_stun_looks_like(data, len)) return SLUICE_ERR_MALFORMED;
    uint16_t type = sluice_load_be16(data);
    /* RFC 8489 §5: method bits M0-M11 interleaved with class bits C0 (bit 4) and C1 (bit 8). */
    m->cls = (uint8_t)(((type >> 4) & 1) | ((type >> 7) & 2));
    m->method = (uint16_t)((type & 0x000F) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0F80));
    memcpy(m->tid, data + 8, SLUICE_STUN_TID_LEN);
    m->raw = data;
    m->len = len;

    sluice_rd r = sluice_rd_make(data + SLUICE_STUN_HEADER_LEN, len - SLUICE_STUN_HEADER_LEN);
    bool after_integrity = false;
    while (sluice_rd_left(&r) > 0) {
        if (m->fingerprint_off) return SLUICE_ERR_MALFORMED; /* §14.7: FINGERPRINT is last */
        size_t off = (size_t)(r.p - data);
        uint16_t at = sluice_rd_u16(&r);
        uint16_t alen = sluice_rd_u16(&r);
        const uint8_t *v = sluice_rd_bytes(&r, alen);
        sluice_rd_skip(&r, (4 - (alen & 3)) & 3);
        if (r.err) return SLUICE_ERR_MALFORMED;

        if (at == SLUICE_STUN_ATTR_FINGERPRINT) {
            if (alen != 4) return SLUICE_ERR_MALFORMED;
            uint32_t want = sluice_crc32(0, data, off) ^ SLUICE_STUN_FINGERPRINT_XOR;
            if (sluice_load_be32(v) != want) return SLUICE_ERR_INTEGRITY;
            m->fingerprint_off = off;
            continue;
        }
        if (at == SLUICE_STUN_ATTR_MESSAGE_INTEGRITY) {
            if (alen != 20) return SLUICE_ERR_MALFORMED;
            if (!m->integrity_off) m->integrity_off = off;
            after_integrity = true;
            continue;
        }
        if (at == SLUICE_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
            /* §14.6: 16..32 bytes, multiple of 4. */
            if (alen < 16 || alen > 32 || (alen & 3)) return SLUICE_ERR_MALFORMED;
            if (!m->integrity_sha256_off) { m->integrity_sha256_off = off; m->integrity_sha256_len = alen; }
            after_integrity = true;
            continue;
        }
        if (after_integrity) continue; /* §14.5: ignored, not covered by the HMAC */

        int rc = SLUICE_OK;
        switch (at) {
        case SLUICE_STUN_ATTR_MAPPED_ADDRESS:
            rc = parse_addr(v, alen, false, data, &m->mapped);
            m->has_mapped = rc == SLUICE_OK;
            break;
        case SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS:
            rc = parse_addr(v, alen, true, data, &m->xor_mapped);
            m->has_xor_mapped = rc == SLUICE_OK;
            break;
        case SLUICE_STUN_ATTR_XOR_RELAYED_ADDRESS:
            rc = parse_addr(v, alen, true, data, &m->xor_relayed);
            m->has_xor_relayed = rc == SLUICE_OK;
            break;
        case SLUICE_STUN_ATTR_XOR_PEER_ADDRESS:
            if (m->xor_peer_count < SLUICE_STUN_MAX_PEERS) {
                rc = parse_addr(v, alen, true, data, &m->xor_peer[m->xor_peer_count]);
                if (rc == SLUICE_OK) m->xor_peer_count++;
            }
            break;
        case SLUICE_STUN_ATTR_USERNAME:
            if (alen > 513) return SLUICE_ERR_MALFORMED; /* §14.3 */
            m->has_username = true; m->username.p = v; m->username.len = alen;
            break;
        case SLUICE_STUN_ATTR_REALM:
            if (alen > 763) return SLUICE_ERR_MALFORMED; /* §14.9 */
            m->has_realm = true; m->realm.p = v; m->realm.len = alen;
            break;
        case SLUICE_STUN_ATTR_NONCE:
            if (alen > 763) return SLUICE_ERR_MALFORMED; /* §14.10 */
            m->has_nonce = true; m->nonce.p = v; m->nonce.len = alen;
            break;
        case SLUICE_STUN_ATTR_SOFTWARE:
            if (alen > 763) return SLUICE_ERR_MALFORMED; /* §14.14 */
            m->has_software = true; m->software.p = v; m->software.len = alen;
            break;
        case SLUICE_STUN_ATTR_DATA:
            m->has_data = true; m->data.p = v; m->data.len = alen;
            break;
        case SLUICE_STUN_ATTR_ERROR_CODE: {
            if (alen < 4 || alen > 4 + 763) return SLUICE_ERR_MALFORMED; /* §14.8 */
            uint8_t cls = v[2] & 7, num = v[3];
            if (cls < 3 || cls > 6 || num > 99) return SLUICE_ERR_MALFORMED;
            m->has_error = true;
            m->error_code = (uint16_t)(cls * 100 + num);
            m->error_reason.p = v + 4; m->error_reason.len = alen - 4u;
            break;
        }
        case SLUICE_STUN_ATTR_UNKNOWN_ATTRIBUTES:
            if (alen & 1) return SLUICE_ERR_MALFORMED;
            for (size_t i = 0; i + 1 < alen && m->unknown_listed_count < SLUICE_STUN_MAX_UNKNOWN; i += 2)
                m->unknown_listed[m->unknown_listed_count++] = sluice_load_be16(v + i);
            break;
        case SLUICE_STUN_ATTR_PRIORITY:
            if (alen != 4) return SLUICE_ERR_MALFORMED;
            m->has_priority = true; m->priority = sluice_load_be32(v);
            break;
        case SLUICE_STUN_ATTR_USE_CANDIDATE:
            if (alen != 0) return SLUICE_ERR_MALFORMED;
            m->use_candidate = true;
            break;
        case SLUICE_STUN_ATTR_ICE_CONTROLLING:
        case SLUICE_STUN_ATTR_ICE_CONTROLLED:
            if (alen != 8) return SLUICE_ERR_MALFORMED;
            if (at == SLUICE_STUN_ATTR_ICE_CONTROLLING) m->has_controlling = true;
            else m->has_controlled = true;
            m->tiebreaker = sluice_load_be64(v);
            break;
        case SLUICE_STUN_ATTR_LIFETIME:
            if (alen != 4) return SLUICE_ERR_MALFORMED;
            m->has_lifetime = true; m->lifetime = sluice_load_be32(v);
            break;
        case SLUICE_STUN_ATTR_REQUESTED_TRANSPORT:
            if (alen != 4) return SLUICE_ERR_MALFORMED;
            m->has_requested_transport = true; m->requested_transport = v[0];
            break;
        case SLUICE_STUN_ATTR_CHANNEL_NUMBER:
            if (alen != 4) return SLUICE_ERR_MALFORMED;
            m->has_channel_number = true; m->channel_number = sluice_load_be16(v);
            break;
        default:
            /* §14: 0x0000-0x7FFF comprehension-required, 0x8000-0xFFFF optional. */
            if (at < 0x8000 && !is_known_optional_or_ignored(at) && m->unknown_count < SLUICE_STUN_MAX_UNKNOWN)
                m->unknown[m->unknown_count++] = at;
            break;
        }
        if (rc != SLUICE_OK) return SLUICE_ERR_MALFORMED;
    }
    return SLUICE_OK;
}

/* HMAC over the message up to `off`, with the header length rewritten to end just after
 * an integrity attribute of `attr_len` value bytes at `off` (RFC 8489 §14.5/§14.6). */
static int stun_hmac(const char *digest, const uint8_t *msg, size_t off, size_t attr_len, const uint8_t *key,
                     size_t key_len, uint8_t *out, size_t *out_len) {
    uint8_t hdr[SLUICE_STUN_HEADER_LEN];
    memcpy(hdr, msg, sizeof hdr);
    sluice_store_be16(hdr + 2, (uint16_t)(off + 4 + attr_len - SLUICE_STUN_HEADER_LEN));
    int rc = SLUICE_ERR_CRYPTO;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    if (ctx) {
        OSSL_PARAM params[2];
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
        params[1] = OSSL_PARAM_construct_end();
        static const uint8_t empty_key[1] = {0};
        if (EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params) == 1 &&
            EVP_MAC_update(ctx, hdr, sizeof hdr) == 1 &&
            EVP_MAC_update(ctx, msg + SLUICE_STUN_HEADER_LEN, off - SLUICE_STUN_HEADER_LEN) == 1 &&
            EVP_MAC_final(ctx, out, out_len, 32) == 1)
            rc = SLUICE_OK;
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

int sluice_stun_check_integrity(const sluice_stun_msg *m, const uint8_t *key, size_t key_len) {
    if (!m || (!key && key_len)) return SLUICE_ERR_INVALID_ARGUMENT;
    uint8_t mac[32];
    size_t mac_len = 0;
    if (m->integrity_sha256_off) {
        size_t off = m->integrity_sha256_off, n = m->integrity_sha256_len;
        int rc = stun_hmac("SHA256", m->raw, off, n, key, key_len, mac, &mac_len);
        if (rc != SLUICE_OK) return rc;
        /* §14.6: the value may be truncated to its first n bytes. */
        return CRYPTO_memcmp(mac, m->raw + off + 4, n) == 0 ? SLUICE_OK : SLUICE_ERR_INTEGRITY;
    }
    if (m->integrity_off) {
        size_t off = m->integrity_off;
        int rc = stun_hmac("SHA1", m->raw, off, 20, key, key_len, mac, &mac_len);
        if (rc != SLUICE_OK) return rc;
        return CRYPTO_memcmp(mac, m->raw + off + 4, 20) == 0 ? SLUICE_OK : SLUICE_ERR_INTEGRITY;
    }
    return SLUICE_ERR_NOT_FOUND;
}

int sluice_stun_long_term_key(const char *username, const char *realm, size_t realm_len,
                              const char *password, uint8_t key[16]) {
    if (!username || !password || (!realm && realm_len)) return SLUICE_ERR_INVALID_ARGUMENT;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, username, strlen(username)) == 1 &&
             EVP_DigestUpdate(ctx, ":", 1) == 1 &&
             (realm_len == 0 || EVP_DigestUpdate(ctx, realm, realm_len) == 1) &&
             EVP_DigestUpdate(ctx, ":", 1) == 1 &&
             EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
             EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == 16;
    EVP_MD_CTX_free(ctx);
    return ok ? SLUICE_OK : SLUICE_ERR_CRYPTO;
}

int sluice_stun_str_copy(sluice_stun_str s, char *buf, size_t cap) {
    if (!buf || cap <= s.len) return SLUICE_ERR_NOBUFS;
    if (s.len) memcpy(buf, s.p, s.len);
    buf[s.len] = 0;
    return (int)s.len;
}

bool sluice_stun_str_eq(sluice_stun_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return n == s.len && (n == 0 || memcmp(s.p, cstr, n) == 0);
}

/* ---- building ------------------------------------------------------------------- */

static void update_len(sluice_wr *w, size_t extra) {
    if (w->err || sluice_wr_len(w) < SLUICE_STUN_HEADER_LEN) return;
    size_t n = sluice_wr_len(w) - SLUICE_STUN_HEADER_LEN + extra;
    if (n > 0xFFFF) { w->err = true; return; }
    sluice_store_be16(w->start + 2, (uint16_t)n);
}

void sluice_stun_build_begin(sluice_wr *w, uint16_t method, uint8_t cls, const uint8_t tid[12]) {
    uint16_t type = (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
                               ((cls & 1) << 4) | ((cls & 2) << 7));
    sluice_wr_u16(w, type);
    sluice_wr_u16(w, 0);
    sluice_wr_u32(w, SLUICE_STUN_MAGIC);
    sluice_wr_bytes(w, tid, SLUICE_STUN_TID_LEN);
}

void sluice_stun_add(sluice_wr *w, uint16_t type, const void *value, size_t len) {
    if (len > 0xFFFF) { w->err = true; return; }
    sluice_wr_u16(w, type);
    sluice_wr_u16(w, (uint16_t)len);
    sluice_wr_bytes(w, value, len);
    sluice_wr_zeros(w, (4 - (len & 3)) & 3);
    update_len(w, 0);
}

void sluice_stun_add_u32(sluice_wr *w, uint16_t type, uint32_t v) {
    uint8_t b[4];
    sluice_store_be32(b, v);
    sluice_stun_add(w, type, b, 4);
}

void sluice_stun_add_u64(sluice_wr *w, uint16_t type, uint64_t v) {
    uint8_t b[8];
    sluice_store_be64(b, v);
    sluice_stun_add(w, type, b, 8);
}

void sluice_stun_add_str(sluice_wr *w, uint16_t type, const char *s) {
    sluice_stun_add(w, type, s, s ? strlen(s) : 0);
}

void sluice_stun_add_addr(sluice_wr *w, uint16_t type, const sluice_addr *a) {
    uint8_t b[20];
    size_t alen = a->family == 6 ? 16 : 4;
    b[0] = 0;
    b[1] = a->family == 6 ? 2 : 1;
    uint16_t port = a->port;
    memcpy(b + 4, a->ip, alen);
    if (is_xor_addr_type(type)) {
        if (w->err || sluice_wr_len(w) < SLUICE_STUN_HEADER_LEN) { w->err = true; return; }
        port ^= (uint16_t)(SLUICE_STUN_MAGIC >> 16);
        for (size_t i = 0; i < alen; i++) b[4 + i] ^= w->start[4 + i];
    }
    sluice_store_be16(b + 2, port);
    sluice_stun_add(w, type, b, 4 + alen);
}

void sluice_stun_add_error(sluice_wr *w, uint16_t code, const char *reason) {
    uint8_t b[4 + 128];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 128) rl = 128;
    b[0] = 0; b[1] = 0;
    b[2] = (uint8_t)((code / 100) & 7);
    b[3] = (uint8_t)(code % 100);
    if (rl) memcpy(b + 4, reason, rl);
    sluice_stun_add(w, SLUICE_STUN_ATTR_ERROR_CODE, b, 4 + rl);
}

void sluice_stun_add_integrity(sluice_wr *w, const uint8_t *key, size_t key_len) {
    if (w->err || !sluice_wr_need(w, 24)) return;
    size_t off = sluice_wr_len(w);
    uint8_t mac[32];
    size_t mac_len = 0;
    if (stun_hmac("SHA1", w->start, off, 20, key, key_len, mac, &mac_len) != SLUICE_OK || mac_len != 20) {
        w->err = true;
        return;
    }
    sluice_stun_add(w, SLUICE_STUN_ATTR_MESSAGE_INTEGRITY, mac, 20);
}

void sluice_stun_add_fingerprint(sluice_wr *w) {
    if (w->err || !sluice_wr_need(w, 8)) return;
    update_len(w, 8);
    uint32_t crc = sluice_crc32(0, w->start, sluice_wr_len(w)) ^ SLUICE_STUN_FINGERPRINT_XOR;
    sluice_stun_add_u32(w, SLUICE_STUN_ATTR_FINGERPRINT, crc);
}

int sluice_stun_build_end(sluice_wr *w) {
    if (w->err) return SLUICE_ERR_NOBUFS;
    return (int)sluice_wr_len(w);
}

void sluice_stun_new_tid(const sluice_rng *rng, uint8_t tid[12]) {
    (void)sluice_rng_bytes(rng, tid, SLUICE_STUN_TID_LEN);
}

const char *sluice_stun_method_name(uint16_t method) {
    switch (method) {
    case SLUICE_STUN_BINDING: return "Binding";
    case SLUICE_STUN_ALLOCATE: return "Allocate";
    case SLUICE_STUN_REFRESH: return "Refresh";
    case SLUICE_STUN_SEND: return "Send";
    case SLUICE_STUN_DATA: return "Data";
    case SLUICE_STUN_CREATE_PERMISSION: return "CreatePermission";
    case SLUICE_STUN_CHANNEL_BIND: return "ChannelBind";
    default: return "unknown";
    }
}

/* ---- ChannelData ------------------------------------------------------------------ */

bool sluice_stun_is_channel_data(const uint8_t *data, size_t len) {
    return data && len >= 4 && data[0] >= 0x40 && data[0] <= 0x4F;
}

int sluice_stun_channel_data_parse(const uint8_t *data, size_t len, uint16_t *channel,
                                   const uint8_t **payload, size_t *payload_len) {
    if (!sluice_stun_is_channel_data(data, len)) return SLUICE_ERR_MALFORMED;
    size_t n = sluice_load_be16(data + 2);
    /* RFC 8656 §12.5: over UDP the padding may be absent; more than 3 extra bytes is bad. */
    if (len < 4 + n || len > 4 + n + 3) return SLUICE_ERR_MALFORMED;
    *channel = sluice_load_be16(data);
    *payload = data + 4;
    *payload_len = n;
    return SLUICE_OK;
}

int sluice_stun_channel_data_build(uint8_t *buf, size_t cap, uint16_t channel, const uint8_t *payload,
                                   size_t len, bool pad) {
    if (len > 0xFFFF) return SLUICE_ERR_TOO_LARGE;
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_wr_u16(&w, channel);
    sluice_wr_u16(&w, (uint16_t)len);
    sluice_wr_bytes(&w, payload, len);
    if (pad) sluice_wr_zeros(&w, (4 - (len & 3)) & 3);
    return w.err ? SLUICE_ERR_NOBUFS : (int)sluice_wr_len(&w);
}
