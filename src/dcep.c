/* DCEP (RFC 8832) codecs. Stateless: the peer layer owns the channel state machine. */
#include "dcep.h"

/* RFC 8832 §5.1: fixed part of DATA_CHANNEL_OPEN before label and protocol. */
#define DCEP_OPEN_HEADER 12u

bool sluice_dcep_channel_type_valid(uint8_t t) {
    switch (t) {
    case SLUICE_DCEP_RELIABLE:
    case SLUICE_DCEP_RELIABLE_UNORDERED:
    case SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT:
    case SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED:
    case SLUICE_DCEP_PARTIAL_RELIABLE_TIMED:
    case SLUICE_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED:
        return true;
    default:
        return false;
    }
}

int sluice_dcep_message_type(const uint8_t *data, size_t len) {
    if (!data || len < 1) return SLUICE_ERR_MALFORMED;
    /* RFC 8832 §5 (IANA registry in §8): 0x03 OPEN, 0x02 ACK; everything else is reserved or unassigned. */
    if (data[0] == SLUICE_DCEP_OPEN) return SLUICE_DCEP_OPEN;
    if (data[0] == SLUICE_DCEP_ACK) return SLUICE_DCEP_ACK;
    return SLUICE_ERR_MALFORMED;
}

int sluice_dcep_parse_open(const uint8_t *data, size_t len, sluice_dcep_open *out) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!data && len) return SLUICE_ERR_INVALID_ARGUMENT;
    if (len < DCEP_OPEN_HEADER) return SLUICE_ERR_MALFORMED;
    sluice_rd r = sluice_rd_make(data, len);
    sluice_dcep_open o;
    memset(&o, 0, sizeof o);
    uint8_t type = sluice_rd_u8(&r);
    o.channel_type = sluice_rd_u8(&r);
    o.priority = sluice_rd_u16(&r);
    o.reliability = sluice_rd_u32(&r);
    o.label_len = sluice_rd_u16(&r);
    o.protocol_len = sluice_rd_u16(&r);
    o.label = (const char *)sluice_rd_bytes(&r, o.label_len);
    o.protocol = (const char *)sluice_rd_bytes(&r, o.protocol_len);
    if (r.err || type != SLUICE_DCEP_OPEN || !sluice_dcep_channel_type_valid(o.channel_type))
        return SLUICE_ERR_MALFORMED;
    /* Trailing bytes after the protocol are ignored, as libwebrtc and usrsctp do. Empty
     * strings point at the end of the fixed part, never NULL. */
    if (!o.label) o.label = (const char *)data + DCEP_OPEN_HEADER;
    if (!o.protocol) o.protocol = o.label + o.label_len;
    *out = o;
    return SLUICE_OK;
}

size_t sluice_dcep_open_size(const sluice_dcep_open *o) {
    return DCEP_OPEN_HEADER + o->label_len + o->protocol_len;
}

int sluice_dcep_write_open(const sluice_dcep_open *o, uint8_t *buf, size_t cap) {
    if (!o || (!buf && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    /* RFC 8832 §5.1: both lengths are 16-bit fields. */
    if (o->label_len > 65535 || o->protocol_len > 65535) return SLUICE_ERR_INVALID_ARGUMENT;
    if ((o->label_len && !o->label) || (o->protocol_len && !o->protocol)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sluice_dcep_channel_type_valid(o->channel_type)) return SLUICE_ERR_INVALID_ARGUMENT;
    size_t need = sluice_dcep_open_size(o);
    if (cap < need) return SLUICE_ERR_NOBUFS;
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_wr_u8(&w, SLUICE_DCEP_OPEN);
    sluice_wr_u8(&w, o->channel_type);
    sluice_wr_u16(&w, o->priority);
    /* RFC 8832 §5.1: the reliability parameter is ignored for reliable channels; send 0. */
    uint8_t pr = o->channel_type & 0x7f;
    sluice_wr_u32(&w, pr == 0 ? 0 : o->reliability);
    sluice_wr_u16(&w, (uint16_t)o->label_len);
    sluice_wr_u16(&w, (uint16_t)o->protocol_len);
    sluice_wr_bytes(&w, o->label, o->label_len);
    sluice_wr_bytes(&w, o->protocol, o->protocol_len);
    if (w.err) return SLUICE_ERR_NOBUFS;
    return (int)sluice_wr_len(&w);
}

int sluice_dcep_write_ack(uint8_t *buf, size_t cap) {
    if (!buf || cap < 1) return SLUICE_ERR_NOBUFS;
    buf[0] = SLUICE_DCEP_ACK; /* RFC 8832 §5.2: the message type byte alone */
    return 1;
}

uint8_t sluice_dcep_channel_type(bool ordered, bool has_max_retransmits, bool has_max_lifetime) {
    /* RFC 8832 §5.1: the high bit means unordered. W3C forbids both limits together;
     * if both are given anyway, the retransmission limit wins (as in libwebrtc). */
    uint8_t t = SLUICE_DCEP_RELIABLE;
    if (has_max_retransmits) t = SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT;
    else if (has_max_lifetime) t = SLUICE_DCEP_PARTIAL_RELIABLE_TIMED;
    return ordered ? t : (uint8_t)(t | 0x80u);
}

bool sluice_dcep_channel_type_ordered(uint8_t t) { return (t & 0x80u) == 0; }
