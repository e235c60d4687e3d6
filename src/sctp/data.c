/* Codecs of the SCTP data-path chunks. See data.h. */
#include "sctp/data.h"

int sluice_sctp_data_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_data *out) {
    sluice_rd r = sluice_rd_make(value, len);
    memset(out, 0, sizeof *out);
    out->tsn = sluice_rd_u32(&r);
    out->stream = sluice_rd_u16(&r);
    out->mid = sluice_rd_u16(&r);
    out->ppid = sluice_rd_u32(&r);
    /* RFC 9260 §6.2: a DATA chunk with no user data is a protocol violation. */
    if (r.err || sluice_rd_left(&r) == 0) return SLUICE_ERR_MALFORMED;
    out->payload = r.p;
    out->len = sluice_rd_left(&r);
    out->unordered = (flags & SLUICE_SCTP_DATA_FLAG_UNORDERED) != 0;
    out->beginning = (flags & SLUICE_SCTP_DATA_FLAG_BEGIN) != 0;
    out->ending = (flags & SLUICE_SCTP_DATA_FLAG_END) != 0;
    out->immediate = (flags & SLUICE_SCTP_DATA_FLAG_IMMEDIATE) != 0;
    return SLUICE_OK;
}

int sluice_sctp_idata_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_data *out) {
    sluice_rd r = sluice_rd_make(value, len);
    memset(out, 0, sizeof *out);
    out->idata = true;
    out->tsn = sluice_rd_u32(&r);
    out->stream = sluice_rd_u16(&r);
    sluice_rd_skip(&r, 2); /* reserved */
    out->mid = sluice_rd_u32(&r);
    uint32_t ppid_or_fsn = sluice_rd_u32(&r);
    if (r.err || sluice_rd_left(&r) == 0) return SLUICE_ERR_MALFORMED;
    out->payload = r.p;
    out->len = sluice_rd_left(&r);
    out->unordered = (flags & SLUICE_SCTP_DATA_FLAG_UNORDERED) != 0;
    out->beginning = (flags & SLUICE_SCTP_DATA_FLAG_BEGIN) != 0;
    out->ending = (flags & SLUICE_SCTP_DATA_FLAG_END) != 0;
    out->immediate = (flags & SLUICE_SCTP_DATA_FLAG_IMMEDIATE) != 0;
    /* RFC 8260 §2.1: the first fragment carries the PPID and has FSN 0 implicitly. */
    if (out->beginning) out->ppid = ppid_or_fsn;
    else out->fsn = ppid_or_fsn;
    return SLUICE_OK;
}

/* Header + padding check: returns the padded size or 0 when it does not fit. */
static size_t sluice_sctp_data_room(const sluice_wr *w, size_t chunk_len) {
    size_t padded = (chunk_len + 3u) & ~(size_t)3u;
    if (w->err || sluice_wr_left(w) < padded) return 0;
    return padded;
}

int sluice_sctp_data_write(sluice_wr *w, const sluice_sctp_data *d) {
    size_t hdr = d->idata ? SLUICE_SCTP_IDATA_HEADER_LEN : SLUICE_SCTP_DATA_HEADER_LEN;
    if (d->len == 0 || d->len > 65535 - hdr) return SLUICE_ERR_INVALID_ARGUMENT;
    size_t clen = hdr + d->len;
    size_t padded = sluice_sctp_data_room(w, clen);
    if (!padded) return SLUICE_ERR_NOBUFS;
    uint8_t flags = (uint8_t)((d->unordered ? SLUICE_SCTP_DATA_FLAG_UNORDERED : 0) |
                              (d->beginning ? SLUICE_SCTP_DATA_FLAG_BEGIN : 0) |
                              (d->ending ? SLUICE_SCTP_DATA_FLAG_END : 0) |
                              (d->immediate ? SLUICE_SCTP_DATA_FLAG_IMMEDIATE : 0));
    sluice_wr_u8(w, d->idata ? SLUICE_SCTP_CHUNK_IDATA : SLUICE_SCTP_CHUNK_DATA);
    sluice_wr_u8(w, flags);
    sluice_wr_u16(w, (uint16_t)clen);
    sluice_wr_u32(w, d->tsn);
    sluice_wr_u16(w, d->stream);
    if (d->idata) {
        sluice_wr_u16(w, 0);
        sluice_wr_u32(w, d->mid);
        sluice_wr_u32(w, d->beginning ? d->ppid : d->fsn);
    } else {
        sluice_wr_u16(w, (uint16_t)d->mid);
        sluice_wr_u32(w, d->ppid);
    }
    sluice_wr_bytes(w, d->payload, d->len);
    sluice_wr_zeros(w, padded - clen);
    return SLUICE_OK;
}

int sluice_sctp_sack_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_sack *out) {
    (void)flags;
    sluice_rd r = sluice_rd_make(value, len);
    memset(out, 0, sizeof *out);
    out->cum_tsn = sluice_rd_u32(&r);
    out->a_rwnd = sluice_rd_u32(&r);
    out->num_gaps = sluice_rd_u16(&r);
    out->num_dups = sluice_rd_u16(&r);
    if (r.err) return SLUICE_ERR_MALFORMED;
    out->gaps_raw = sluice_rd_bytes(&r, (size_t)out->num_gaps * 4);
    out->dups_raw = sluice_rd_bytes(&r, (size_t)out->num_dups * 4);
    if (r.err || sluice_rd_left(&r) != 0) return SLUICE_ERR_MALFORMED;
    return SLUICE_OK;
}

int sluice_sctp_sack_write(sluice_wr *w, uint32_t cum_tsn, uint32_t a_rwnd, const sluice_sctp_gap *gaps,
                           size_t num_gaps, const uint32_t *dups, size_t num_dups) {
    if (num_gaps > 0xffff || num_dups > 0xffff) return SLUICE_ERR_INVALID_ARGUMENT;
    size_t clen = 16 + 4 * (num_gaps + num_dups);
    if (clen > 0xffff) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sluice_sctp_data_room(w, clen)) return SLUICE_ERR_NOBUFS;
    sluice_wr_u8(w, SLUICE_SCTP_CHUNK_SACK);
    sluice_wr_u8(w, 0);
    sluice_wr_u16(w, (uint16_t)clen);
    sluice_wr_u32(w, cum_tsn);
    sluice_wr_u32(w, a_rwnd);
    sluice_wr_u16(w, (uint16_t)num_gaps);
    sluice_wr_u16(w, (uint16_t)num_dups);
    for (size_t i = 0; i < num_gaps; i++) {
        sluice_wr_u16(w, gaps[i].start);
        sluice_wr_u16(w, gaps[i].end);
    }
    for (size_t i = 0; i < num_dups; i++) sluice_wr_u32(w, dups[i]);
    return SLUICE_OK;
}

static int sluice_sctp_fwd_parse_common(const uint8_t *value, size_t len, sluice_sctp_fwd *out, bool idata) {
    size_t entry = idata ? 8 : 4;
    memset(out, 0, sizeof *out);
    out->idata = idata;
    if (len < 4 || (len - 4) % entry != 0) return SLUICE_ERR_MALFORMED;
    out->new_cum_tsn = sluice_load_be32(value);
    out->num_skips = (len - 4) / entry;
    out->raw = value + 4;
    return SLUICE_OK;
}

int sluice_sctp_fwd_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_fwd *out) {
    (void)flags;
    return sluice_sctp_fwd_parse_common(value, len, out, false);
}

int sluice_sctp_ifwd_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_fwd *out) {
    (void)flags;
    return sluice_sctp_fwd_parse_common(value, len, out, true);
}

sluice_sctp_skip sluice_sctp_fwd_skip(const sluice_sctp_fwd *f, size_t i) {
    sluice_sctp_skip s;
    if (f->idata) {
        const uint8_t *p = f->raw + 8 * i;
        s.stream = sluice_load_be16(p);
        s.unordered = (p[3] & 0x01) != 0; /* RFC 8260 §2.3.1: U bit in the reserved field */
        s.mid = sluice_load_be32(p + 4);
    } else {
        const uint8_t *p = f->raw + 4 * i;
        s.stream = sluice_load_be16(p);
        s.unordered = false;
        s.mid = sluice_load_be16(p + 2);
    }
    return s;
}

int sluice_sctp_fwd_write(sluice_wr *w, bool idata, uint32_t new_cum_tsn, const sluice_sctp_skip *skips,
                          size_t num_skips) {
    size_t n = 0;
    for (size_t i = 0; i < num_skips; i++)
        if (idata || !skips[i].unordered) n++;
    size_t clen = 8 + n * (idata ? 8 : 4);
    if (clen > 0xffff) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sluice_sctp_data_room(w, clen)) return SLUICE_ERR_NOBUFS;
    sluice_wr_u8(w, idata ? SLUICE_SCTP_CHUNK_IFORWARD_TSN : SLUICE_SCTP_CHUNK_FORWARD_TSN);
    sluice_wr_u8(w, 0);
    sluice_wr_u16(w, (uint16_t)clen);
    sluice_wr_u32(w, new_cum_tsn);
    for (size_t i = 0; i < num_skips; i++) {
        if (idata) {
            sluice_wr_u16(w, skips[i].stream);
            sluice_wr_u16(w, skips[i].unordered ? 1 : 0);
            sluice_wr_u32(w, skips[i].mid);
        } else if (!skips[i].unordered) {
            sluice_wr_u16(w, skips[i].stream);
            sluice_wr_u16(w, (uint16_t)skips[i].mid);
        }
    }
    return SLUICE_OK;
}
