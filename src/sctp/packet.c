/* SCTP packet framing and control-chunk codecs (RFC 9260 §3, RFC 6525 §4, RFC 9653). */
#include "sctp/packet.h"

#include "crc.h"

#include <stdio.h>

/* ---- common header --------------------------------------------------------------------- */

int sluice_sctp_header_parse(sluice_sctp_header *h, const uint8_t *d, size_t len) {
    if (!d || len < SLUICE_SCTP_HEADER_LEN) return SLUICE_ERR_MALFORMED;
    h->src_port = sluice_load_be16(d);
    h->dst_port = sluice_load_be16(d + 2);
    h->vtag = sluice_load_be32(d + 4);
    h->checksum = sluice_load_be32(d + 8);
    return SLUICE_OK;
}

/* RFC 9260 App. A: the CRC is computed with the checksum field zeroed and stored so that
 * its least significant byte comes first. */
static uint32_t sctp_crc(const uint8_t *d, size_t len) {
    static const uint8_t zero4[4] = {0, 0, 0, 0};
    uint32_t c = sluice_crc32c(0, d, 8);
    c = sluice_crc32c(c, zero4, 4);
    return sluice_crc32c(c, d + 12, len - 12);
}

int sluice_sctp_packet_verify(const uint8_t *d, size_t len, bool accept_zero) {
    if (!d || len < SLUICE_SCTP_HEADER_LEN) return SLUICE_ERR_MALFORMED;
    uint32_t wire = (uint32_t)d[8] | ((uint32_t)d[9] << 8) | ((uint32_t)d[10] << 16) |
                    ((uint32_t)d[11] << 24);
    /* RFC 9653 §5.3: with zero checksum negotiated, a zero field is accepted, but a packet
     * carrying a real CRC must still be checked. */
    if (wire == 0 && accept_zero) return SLUICE_OK;
    return sctp_crc(d, len) == wire ? SLUICE_OK : SLUICE_ERR_INTEGRITY;
}

void sluice_sctp_packet_seal(uint8_t *d, size_t len, bool zero_checksum) {
    uint32_t c = zero_checksum ? 0 : sctp_crc(d, len);
    d[8] = (uint8_t)c;
    d[9] = (uint8_t)(c >> 8);
    d[10] = (uint8_t)(c >> 16);
    d[11] = (uint8_t)(c >> 24);
}

/* ---- chunk iteration --------------------------------------------------------------------- */

void sluice_sctp_chunk_iter_init(sluice_sctp_chunk_iter *it, const uint8_t *pkt, size_t len) {
    it->rd = sluice_rd_make(pkt, len);
    sluice_rd_skip(&it->rd, SLUICE_SCTP_HEADER_LEN);
}

int sluice_sctp_chunk_next(sluice_sctp_chunk_iter *it, sluice_sctp_chunk *c) {
    sluice_rd *r = &it->rd;
    if (r->err) return SLUICE_ERR_MALFORMED;
    size_t left = sluice_rd_left(r);
    if (left == 0) return 0;
    if (left < SLUICE_SCTP_CHUNK_HEADER_LEN) { r->err = true; return SLUICE_ERR_MALFORMED; }
    const uint8_t *raw = r->p;
    uint16_t len = sluice_load_be16(raw + 2);
    if (len < SLUICE_SCTP_CHUNK_HEADER_LEN || len > left) { r->err = true; return SLUICE_ERR_MALFORMED; }
    c->type = raw[0];
    c->flags = raw[1];
    c->length = len;
    c->raw = raw;
    c->value = raw + SLUICE_SCTP_CHUNK_HEADER_LEN;
    c->value_len = (size_t)len - SLUICE_SCTP_CHUNK_HEADER_LEN;
    /* RFC 9260 §3.2: up to 3 padding bytes follow, not counted in the length. The last
     * chunk may come without them; stray bytes after it fail on the next call. */
    size_t padded = sluice_sctp_pad4(len);
    if (padded > left) padded = left;
    sluice_rd_skip(r, padded);
    return 1;
}

/* ---- packet writer --------------------------------------------------------------------- */

void sluice_sctp_pkt_begin(sluice_sctp_pkt *p, uint8_t *buf, size_t cap, uint16_t sport,
                           uint16_t dport, uint32_t vtag) {
    p->w = sluice_wr_make(buf, cap);
    p->nchunks = 0;
    sluice_wr_u16(&p->w, sport);
    sluice_wr_u16(&p->w, dport);
    sluice_wr_u32(&p->w, vtag);
    sluice_wr_u32(&p->w, 0);
}

uint8_t *sluice_sctp_pkt_chunk_begin(sluice_sctp_pkt *p, uint8_t type, uint8_t flags,
                                     size_t value_len) {
    size_t total = sluice_sctp_pad4(SLUICE_SCTP_CHUNK_HEADER_LEN + value_len);
    if (p->w.err || value_len > 0xFFFF - SLUICE_SCTP_CHUNK_HEADER_LEN || sluice_wr_left(&p->w) < total)
        return NULL;
    sluice_wr_u8(&p->w, type);
    sluice_wr_u8(&p->w, flags);
    sluice_wr_u16(&p->w, (uint16_t)(SLUICE_SCTP_CHUNK_HEADER_LEN + value_len));
    uint8_t *v = p->w.p;
    memset(v, 0, total - SLUICE_SCTP_CHUNK_HEADER_LEN);
    p->w.p += total - SLUICE_SCTP_CHUNK_HEADER_LEN;
    p->nchunks++;
    return v;
}

int sluice_sctp_pkt_chunk(sluice_sctp_pkt *p, uint8_t type, uint8_t flags, const uint8_t *value,
                          size_t value_len) {
    uint8_t *v = sluice_sctp_pkt_chunk_begin(p, type, flags, value_len);
    if (!v) return SLUICE_ERR_NOBUFS;
    if (value_len) memcpy(v, value, value_len);
    return SLUICE_OK;
}

size_t sluice_sctp_pkt_end(sluice_sctp_pkt *p, bool zero_checksum) {
    size_t len = sluice_wr_len(&p->w);
    sluice_sctp_packet_seal(p->w.start, len, zero_checksum);
    return len;
}

/* ---- INIT / INIT-ACK ----------------------------------------------------------------- */

static void init_parse_ext_list(sluice_sctp_features *f, const uint8_t *v, size_t n) {
    bool idata = false, iforward = false;
    for (size_t i = 0; i < n; i++) {
        switch (v[i]) {
        case SLUICE_SCTP_CHUNK_RECONFIG: f->reconfig = true; break;
        case SLUICE_SCTP_CHUNK_FORWARD_TSN: f->forward_tsn = true; break;
        case SLUICE_SCTP_CHUNK_IDATA: idata = true; break;
        case SLUICE_SCTP_CHUNK_IFORWARD_TSN: iforward = true; break;
        default: break;
        }
    }
    /* RFC 8260 §2.3: I-DATA is used only together with I-FORWARD-TSN when PR-SCTP is on;
     * require both so the data path never mixes the two TSN-forwarding formats. */
    f->idata = idata && iforward;
}

int sluice_sctp_init_parse(sluice_sctp_init *out, const uint8_t *value, size_t len) {
    memset(out, 0, sizeof *out);
    sluice_rd r = sluice_rd_make(value, len);
    out->init_tag = sluice_rd_u32(&r);
    out->a_rwnd = sluice_rd_u32(&r);
    out->os = sluice_rd_u16(&r);
    out->mis = sluice_rd_u16(&r);
    out->initial_tsn = sluice_rd_u32(&r);
    if (r.err) return SLUICE_ERR_MALFORMED;
    /* RFC 9260 §3.3.2: a zero Initiate Tag, OS or MIS is a protocol error. */
    if (out->init_tag == 0 || out->os == 0 || out->mis == 0) return SLUICE_ERR_MALFORMED;
    while (sluice_rd_left(&r) > 0) {
        if (sluice_rd_left(&r) < 4) return SLUICE_ERR_MALFORMED;
        const uint8_t *tlv = r.p;
        uint16_t type = sluice_load_be16(tlv);
        uint16_t plen = sluice_load_be16(tlv + 2);
        if (plen < 4 || plen > sluice_rd_left(&r)) return SLUICE_ERR_MALFORMED;
        const uint8_t *pv = tlv + 4;
        size_t pvl = (size_t)plen - 4;
        size_t adv = sluice_sctp_pad4(plen);
        if (adv > sluice_rd_left(&r)) adv = sluice_rd_left(&r); /* last param may lack padding */
        sluice_rd_skip(&r, adv);
        switch (type) {
        case SLUICE_SCTP_PARAM_STATE_COOKIE:
            out->cookie = pv;
            out->cookie_len = pvl;
            break;
        case SLUICE_SCTP_PARAM_SUPPORTED_EXT:
            init_parse_ext_list(&out->feat, pv, pvl);
            break;
        case SLUICE_SCTP_PARAM_FORWARD_TSN_SUPPORTED:
            out->feat.forward_tsn = true;
            break;
        case SLUICE_SCTP_PARAM_ZERO_CHECKSUM:
            /* RFC 9653 §4: only the DTLS method means anything to us. */
            if (pvl >= 4 && sluice_load_be32(pv) == SLUICE_SCTP_EDMID_DTLS) out->feat.zero_checksum = true;
            break;
        case SLUICE_SCTP_PARAM_HOSTNAME:
            out->has_hostname = true;
            break;
        /* Known and deliberately ignored: addresses (WebRTC runs over DTLS, RFC 8261 §4),
         * cookie preservative, ECN, AUTH, padding, adaptation layer, reconfig leftovers. */
        case SLUICE_SCTP_PARAM_IPV4:
        case SLUICE_SCTP_PARAM_IPV6:
        case SLUICE_SCTP_PARAM_COOKIE_PRESERVATIVE:
        case SLUICE_SCTP_PARAM_SUPPORTED_ADDR_TYPES:
        case SLUICE_SCTP_PARAM_ECN:
        case SLUICE_SCTP_PARAM_RANDOM:
        case SLUICE_SCTP_PARAM_CHUNK_LIST:
        case SLUICE_SCTP_PARAM_HMAC_ALGO:
        case SLUICE_SCTP_PARAM_PADDING:
        case SLUICE_SCTP_PARAM_ADAPTATION:
        case SLUICE_SCTP_PARAM_UNRECOGNIZED:
            break;
        default: {
            /* RFC 9260 §3.2.1: the upper two bits say what to do with an unknown parameter:
             * 00 stop, 01 stop + report, 10 skip, 11 skip + report. */
            bool report = (type & 0x4000) != 0;
            bool skip = (type & 0x8000) != 0;
            if (report && out->n_unrec < SLUICE_SCTP_MAX_UNRECOGNIZED) {
                out->unrec[out->n_unrec] = tlv;
                out->unrec_len[out->n_unrec] = plen;
                out->n_unrec++;
            }
            if (!skip) return SLUICE_OK;
            break;
        }
        }
    }
    return SLUICE_OK;
}

static void wr_param(sluice_wr *w, uint16_t type, const uint8_t *v, size_t n) {
    sluice_wr_u16(w, type);
    sluice_wr_u16(w, (uint16_t)(4 + n));
    sluice_wr_bytes(w, v, n);
    sluice_wr_zeros(w, sluice_sctp_pad4(4 + n) - (4 + n));
}

static size_t init_ext_list(const sluice_sctp_features *f, uint8_t list[8]) {
    size_t n = 0;
    if (f->reconfig) list[n++] = SLUICE_SCTP_CHUNK_RECONFIG;
    if (f->forward_tsn) list[n++] = SLUICE_SCTP_CHUNK_FORWARD_TSN;
    if (f->idata) {
        list[n++] = SLUICE_SCTP_CHUNK_IDATA;
        list[n++] = SLUICE_SCTP_CHUNK_IFORWARD_TSN;
    }
    return n;
}

size_t sluice_sctp_init_size(const sluice_sctp_init *in) {
    uint8_t list[8];
    size_t n = 16;
    size_t ne = init_ext_list(&in->feat, list);
    if (ne) n += sluice_sctp_pad4(4 + ne);
    if (in->feat.forward_tsn) n += 4;
    if (in->feat.zero_checksum) n += 8;
    if (in->cookie) n += sluice_sctp_pad4(4 + in->cookie_len);
    for (size_t i = 0; i < in->n_unrec; i++) n += 4 + sluice_sctp_pad4(in->unrec_len[i]);
    return n;
}

int sluice_sctp_init_write(sluice_wr *w, const sluice_sctp_init *in) {
    uint8_t list[8];
    sluice_wr_u32(w, in->init_tag);
    sluice_wr_u32(w, in->a_rwnd);
    sluice_wr_u16(w, in->os);
    sluice_wr_u16(w, in->mis);
    sluice_wr_u32(w, in->initial_tsn);
    size_t ne = init_ext_list(&in->feat, list);
    if (ne) wr_param(w, SLUICE_SCTP_PARAM_SUPPORTED_EXT, list, ne);
    if (in->feat.forward_tsn) wr_param(w, SLUICE_SCTP_PARAM_FORWARD_TSN_SUPPORTED, NULL, 0);
    if (in->feat.zero_checksum) {
        uint8_t edmid[4];
        sluice_store_be32(edmid, SLUICE_SCTP_EDMID_DTLS);
        wr_param(w, SLUICE_SCTP_PARAM_ZERO_CHECKSUM, edmid, 4);
    }
    if (in->cookie) wr_param(w, SLUICE_SCTP_PARAM_STATE_COOKIE, in->cookie, in->cookie_len);
    /* RFC 9260 §3.3.3: each unrecognized parameter travels back wrapped in type 8. */
    for (size_t i = 0; i < in->n_unrec; i++) {
        sluice_wr_u16(w, SLUICE_SCTP_PARAM_UNRECOGNIZED);
        sluice_wr_u16(w, (uint16_t)(4 + sluice_sctp_pad4(in->unrec_len[i])));
        sluice_wr_bytes(w, in->unrec[i], in->unrec_len[i]);
        sluice_wr_zeros(w, sluice_sctp_pad4(in->unrec_len[i]) - in->unrec_len[i]);
    }
    return w->err ? SLUICE_ERR_NOBUFS : SLUICE_OK;
}

/* ---- error causes -------------------------------------------------------------------- */

void sluice_sctp_cause_iter_init(sluice_sctp_cause_iter *it, const uint8_t *value, size_t len) {
    it->rd = sluice_rd_make(value, len);
}

int sluice_sctp_cause_next(sluice_sctp_cause_iter *it, sluice_sctp_cause *c) {
    sluice_rd *r = &it->rd;
    if (r->err) return SLUICE_ERR_MALFORMED;
    if (sluice_rd_left(r) == 0) return 0;
    if (sluice_rd_left(r) < 4) { r->err = true; return SLUICE_ERR_MALFORMED; }
    uint16_t code = sluice_load_be16(r->p);
    uint16_t len = sluice_load_be16(r->p + 2);
    if (len < 4 || len > sluice_rd_left(r)) { r->err = true; return SLUICE_ERR_MALFORMED; }
    c->code = code;
    c->info = r->p + 4;
    c->info_len = (size_t)len - 4;
    size_t adv = sluice_sctp_pad4(len);
    if (adv > sluice_rd_left(r)) adv = sluice_rd_left(r);
    sluice_rd_skip(r, adv);
    return 1;
}

void sluice_sctp_cause_write(sluice_wr *w, uint16_t code, const uint8_t *info, size_t len) {
    wr_param(w, code, info, len);
}

const char *sluice_sctp_cause_name(uint16_t code) {
    static const char *const names[] = {
        "unknown cause", "invalid stream identifier", "missing mandatory parameter",
        "stale cookie", "out of resource", "unresolvable address", "unrecognized chunk type",
        "invalid mandatory parameter", "unrecognized parameters", "no user data",
        "cookie received while shutting down", "restart with new addresses", "user abort",
        "protocol violation"};
    return code < SLUICE_ARRAY_LEN(names) ? names[code] : names[0];
}

void sluice_sctp_cause_describe(const uint8_t *value, size_t len, char *out, size_t cap) {
    if (!cap) return;
    out[0] = 0;
    sluice_sctp_cause_iter it;
    sluice_sctp_cause c;
    sluice_sctp_cause_iter_init(&it, value, len);
    if (sluice_sctp_cause_next(&it, &c) != 1) {
        snprintf(out, cap, "no cause given");
        return;
    }
    if (c.code == SLUICE_SCTP_CAUSE_USER_ABORT || c.code == SLUICE_SCTP_CAUSE_PROTOCOL_VIOLATION) {
        /* Upper layer text: print the printable prefix only. */
        char txt[96];
        size_t n = 0;
        for (size_t i = 0; i < c.info_len && n + 1 < sizeof txt; i++) {
            uint8_t ch = c.info[i];
            if (ch == 0) break;
            txt[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
        txt[n] = 0;
        snprintf(out, cap, "%s%s%s", sluice_sctp_cause_name(c.code), n ? ": " : "", txt);
    } else {
        snprintf(out, cap, "%s (%u)", sluice_sctp_cause_name(c.code), (unsigned)c.code);
    }
}

/* ---- HEARTBEAT / SHUTDOWN ----------------------------------------------------------- */

int sluice_sctp_heartbeat_parse(const uint8_t *value, size_t len, const uint8_t **info,
                                size_t *info_len) {
    sluice_rd r = sluice_rd_make(value, len);
    uint16_t type = sluice_rd_u16(&r);
    uint16_t plen = sluice_rd_u16(&r);
    if (r.err || type != SLUICE_SCTP_PARAM_HEARTBEAT_INFO || plen < 4 || plen > len)
        return SLUICE_ERR_MALFORMED;
    *info = value + 4;
    *info_len = (size_t)plen - 4;
    return SLUICE_OK;
}

int sluice_sctp_shutdown_parse(const uint8_t *value, size_t len, uint32_t *cum_tsn) {
    if (len < 4) return SLUICE_ERR_MALFORMED;
    *cum_tsn = sluice_load_be32(value);
    return SLUICE_OK;
}

/* ---- RE-CONFIG ------------------------------------------------------------------------ */

void sluice_sctp_reconfig_iter_init(sluice_sctp_reconfig_iter *it, const uint8_t *value, size_t len) {
    it->rd = sluice_rd_make(value, len);
}

int sluice_sctp_reconfig_next(sluice_sctp_reconfig_iter *it, sluice_sctp_reconfig_param *p) {
    sluice_rd *r = &it->rd;
    if (r->err) return SLUICE_ERR_MALFORMED;
    if (sluice_rd_left(r) == 0) return 0;
    if (sluice_rd_left(r) < 4) { r->err = true; return SLUICE_ERR_MALFORMED; }
    memset(p, 0, sizeof *p);
    const uint8_t *tlv = r->p;
    p->type = sluice_load_be16(tlv);
    uint16_t plen = sluice_load_be16(tlv + 2);
    if (plen < 4 || plen > sluice_rd_left(r)) { r->err = true; return SLUICE_ERR_MALFORMED; }
    p->raw = tlv;
    p->raw_len = plen;
    size_t adv = sluice_sctp_pad4(plen);
    if (adv > sluice_rd_left(r)) adv = sluice_rd_left(r);
    sluice_rd_skip(r, adv);
    sluice_rd v = sluice_rd_make(tlv + 4, (size_t)plen - 4);
    switch (p->type) {
    case SLUICE_SCTP_PARAM_OUT_SSN_RESET:
        p->req_seq = sluice_rd_u32(&v);
        p->resp_seq = sluice_rd_u32(&v);
        p->last_tsn = sluice_rd_u32(&v);
        if (v.err || sluice_rd_left(&v) % 2) goto bad;
        p->n_streams = sluice_rd_left(&v) / 2;
        p->streams = v.p;
        break;
    case SLUICE_SCTP_PARAM_IN_SSN_RESET:
        p->req_seq = sluice_rd_u32(&v);
        if (v.err || sluice_rd_left(&v) % 2) goto bad;
        p->n_streams = sluice_rd_left(&v) / 2;
        p->streams = v.p;
        break;
    case SLUICE_SCTP_PARAM_SSN_TSN_RESET:
        p->req_seq = sluice_rd_u32(&v);
        if (v.err) goto bad;
        break;
    case SLUICE_SCTP_PARAM_RECONFIG_RESPONSE:
        p->req_seq = sluice_rd_u32(&v);
        p->result = sluice_rd_u32(&v);
        if (v.err) goto bad;
        if (sluice_rd_left(&v) >= 8) {
            p->has_tsns = true;
            p->sender_next_tsn = sluice_rd_u32(&v);
            p->receiver_next_tsn = sluice_rd_u32(&v);
        }
        break;
    case SLUICE_SCTP_PARAM_ADD_OUT_STREAMS:
    case SLUICE_SCTP_PARAM_ADD_IN_STREAMS:
        p->req_seq = sluice_rd_u32(&v);
        p->new_streams = sluice_rd_u16(&v);
        if (v.err) goto bad;
        break;
    default:
        break;
    }
    return 1;
bad:
    r->err = true;
    return SLUICE_ERR_MALFORMED;
}

void sluice_sctp_reconfig_write_out_reset(sluice_wr *w, uint32_t req_seq, uint32_t resp_seq,
                                          uint32_t last_tsn, const uint16_t *streams, size_t n) {
    size_t len = 16 + 2 * n;
    sluice_wr_u16(w, SLUICE_SCTP_PARAM_OUT_SSN_RESET);
    sluice_wr_u16(w, (uint16_t)len);
    sluice_wr_u32(w, req_seq);
    sluice_wr_u32(w, resp_seq);
    sluice_wr_u32(w, last_tsn);
    for (size_t i = 0; i < n; i++) sluice_wr_u16(w, streams[i]);
    sluice_wr_zeros(w, sluice_sctp_pad4(len) - len);
}

void sluice_sctp_reconfig_write_in_reset(sluice_wr *w, uint32_t req_seq, const uint16_t *streams,
                                         size_t n) {
    size_t len = 8 + 2 * n;
    sluice_wr_u16(w, SLUICE_SCTP_PARAM_IN_SSN_RESET);
    sluice_wr_u16(w, (uint16_t)len);
    sluice_wr_u32(w, req_seq);
    for (size_t i = 0; i < n; i++) sluice_wr_u16(w, streams[i]);
    sluice_wr_zeros(w, sluice_sctp_pad4(len) - len);
}

void sluice_sctp_reconfig_write_response(sluice_wr *w, uint32_t resp_seq, uint32_t result) {
    sluice_wr_u16(w, SLUICE_SCTP_PARAM_RECONFIG_RESPONSE);
    sluice_wr_u16(w, 12);
    sluice_wr_u32(w, resp_seq);
    sluice_wr_u32(w, result);
}

void sluice_sctp_reconfig_write_add_streams(sluice_wr *w, uint16_t type, uint32_t req_seq,
                                            uint16_t n) {
    sluice_wr_u16(w, type);
    sluice_wr_u16(w, 12);
    sluice_wr_u32(w, req_seq);
    sluice_wr_u16(w, n);
    sluice_wr_u16(w, 0);
}
