/* mDNS codec (RFC 6762 over the RFC 1035 message format). */
#include "mdns.h"

#define DNS_HEADER_LEN 12
#define DNS_MAX_NAME 255
#define DNS_MAX_JUMPS 32
#define DNS_CLASS_IN 1

bool sluice_mdns_is_local_name(const char *name) {
    if (!name) return false;
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.') n--; /* fully qualified form */
    if (n <= 6 || n > DNS_MAX_NAME || sluice_strncasecmp(name + n - 6, ".local", 6) != 0) return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
        if (++label > 63) return false;
    }
    return label > 0;
}

/* RFC 1035 §3.1: a sequence of length-prefixed labels ending with the root (0). */
static void write_name(sluice_wr *w, const char *name) {
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0) break; /* trailing dot */
        sluice_wr_u8(w, (uint8_t)n);
        sluice_wr_bytes(w, p, n);
        p += n;
        if (*p == '.') p++;
    }
    sluice_wr_u8(w, 0);
}

int sluice_mdns_build_query(const char *name, bool want_a, bool want_aaaa, bool unicast_response, uint16_t id,
                            uint8_t *buf, size_t cap) {
    if (!sluice_mdns_is_local_name(name) || (!want_a && !want_aaaa) || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_wr_u16(&w, id);
    sluice_wr_u16(&w, 0); /* standard query; §18: flags zero */
    sluice_wr_u16(&w, (uint16_t)((want_a ? 1 : 0) + (want_aaaa ? 1 : 0)));
    sluice_wr_u16(&w, 0);
    sluice_wr_u16(&w, 0);
    sluice_wr_u16(&w, 0);
    uint16_t qclass = (uint16_t)(DNS_CLASS_IN | (unicast_response ? 0x8000 : 0)); /* §5.4 QU bit */
    if (want_a) {
        write_name(&w, name);
        sluice_wr_u16(&w, SLUICE_MDNS_TYPE_A);
        sluice_wr_u16(&w, qclass);
    }
    if (want_aaaa) {
        if (want_a) {
            sluice_wr_u16(&w, 0xC000 | DNS_HEADER_LEN); /* pointer to the first name */
        } else {
            write_name(&w, name);
        }
        sluice_wr_u16(&w, SLUICE_MDNS_TYPE_AAAA);
        sluice_wr_u16(&w, qclass);
    }
    return w.err ? SLUICE_ERR_NOBUFS : (int)sluice_wr_len(&w);
}

int sluice_mdns_build_response(const char *name, const sluice_addr *addr, uint32_t ttl, uint8_t *buf, size_t cap) {
    if (!sluice_mdns_is_local_name(name) || !addr || (addr->family != 4 && addr->family != 6) || !buf)
        return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_wr_u16(&w, 0);
    sluice_wr_u16(&w, 0x8400); /* §18.2/§18.4: QR and AA set */
    sluice_wr_u16(&w, 0);
    sluice_wr_u16(&w, 1);
    sluice_wr_u16(&w, 0);
    sluice_wr_u16(&w, 0);
    write_name(&w, name);
    sluice_wr_u16(&w, addr->family == 4 ? SLUICE_MDNS_TYPE_A : SLUICE_MDNS_TYPE_AAAA);
    sluice_wr_u16(&w, 0x8000 | DNS_CLASS_IN); /* §10.2 cache-flush */
    sluice_wr_u32(&w, ttl);
    sluice_wr_u16(&w, addr->family == 4 ? 4 : 16);
    sluice_wr_bytes(&w, addr->ip, addr->family == 4 ? 4 : 16);
    return w.err ? SLUICE_ERR_NOBUFS : (int)sluice_wr_len(&w);
}

/* Decode the name at *off into out (dotted, lower-case kept as sent). Advances *off past the
 * name in the message (not past pointer targets). Bounded: DNS_MAX_JUMPS pointers, 255 bytes. */
static int read_name(const uint8_t *msg, size_t len, size_t *off, char *out, size_t cap) {
    size_t pos = *off, outn = 0, wire = 0;
    int jumps = 0;
    bool jumped = false;
    for (;;) {
        if (pos >= len) return SLUICE_ERR_MALFORMED;
        uint8_t l = msg[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= len || ++jumps > DNS_MAX_JUMPS) return SLUICE_ERR_MALFORMED;
            size_t target = ((size_t)(l & 0x3F) << 8) | msg[pos + 1];
            if (!jumped) *off = pos + 2;
            jumped = true;
            if (target >= len) return SLUICE_ERR_MALFORMED;
            pos = target;
            continue;
        }
        if (l & 0xC0) return SLUICE_ERR_MALFORMED; /* 0x40 / 0x80: reserved label types */
        pos++;
        if (l == 0) break;
        if (pos + l > len) return SLUICE_ERR_MALFORMED;
        wire += (size_t)l + 1;
        if (wire > DNS_MAX_NAME) return SLUICE_ERR_MALFORMED;
        if (outn && outn < cap) out[outn] = '.';
        if (outn) outn++;
        for (size_t i = 0; i < l; i++, outn++)
            if (outn < cap) out[outn] = (char)msg[pos + i];
        pos += l;
    }
    if (!jumped) *off = pos;
    if (outn >= cap) return SLUICE_ERR_NOBUFS;
    out[outn] = 0;
    return SLUICE_OK;
}

static bool name_eq(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na && a[na - 1] == '.') na--;
    if (nb && b[nb - 1] == '.') nb--;
    return na == nb && sluice_strncasecmp(a, b, na) == 0;
}

int sluice_mdns_parse_response(const uint8_t *data, size_t len, const char *name, sluice_addr *out, size_t max,
                               uint32_t *ttl) {
    if (!data || !name || (!out && max)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (len < DNS_HEADER_LEN) return SLUICE_ERR_MALFORMED;
    uint16_t flags = sluice_load_be16(data + 2);
    if (!(flags & 0x8000)) return 0; /* a query, not a response */
    if (flags & 0x000F) return 0;    /* §18.11: RCODE must be zero; ignore others */
    size_t qd = sluice_load_be16(data + 4), an = sluice_load_be16(data + 6);
    size_t ns = sluice_load_be16(data + 8), ar = sluice_load_be16(data + 10);
    size_t off = DNS_HEADER_LEN;
    char nbuf[DNS_MAX_NAME + 1];
    for (size_t i = 0; i < qd; i++) {
        int rc = read_name(data, len, &off, nbuf, sizeof nbuf);
        if (rc != SLUICE_OK) return SLUICE_ERR_MALFORMED;
        if (off + 4 > len) return SLUICE_ERR_MALFORMED;
        off += 4;
    }
    size_t count = 0;
    uint32_t min_ttl = UINT32_MAX;
    for (size_t i = 0; i < an + ns + ar; i++) {
        int rc = read_name(data, len, &off, nbuf, sizeof nbuf);
        if (rc != SLUICE_OK) return SLUICE_ERR_MALFORMED;
        if (off + 10 > len) return SLUICE_ERR_MALFORMED;
        uint16_t type = sluice_load_be16(data + off);
        uint16_t cls = sluice_load_be16(data + off + 2) & 0x7FFF; /* drop cache-flush */
        uint32_t t = sluice_load_be32(data + off + 4);
        size_t rdlen = sluice_load_be16(data + off + 8);
        off += 10;
        if (off + rdlen > len) return SLUICE_ERR_MALFORMED;
        bool authority = i >= an && i < an + ns;
        if (!authority && cls == DNS_CLASS_IN && name_eq(nbuf, name)) {
            sluice_addr a;
            memset(&a, 0, sizeof a);
            if (type == SLUICE_MDNS_TYPE_A && rdlen == 4) a.family = 4;
            else if (type == SLUICE_MDNS_TYPE_AAAA && rdlen == 16) a.family = 6;
            if (a.family) {
                memcpy(a.ip, data + off, rdlen);
                if (count < max) out[count++] = a;
                if (t < min_ttl) min_ttl = t;
            }
        }
        off += rdlen;
    }
    if (ttl) *ttl = count ? min_ttl : 0;
    return (int)count;
}

int sluice_mdns_parse_query(const uint8_t *data, size_t len, char *name, size_t cap, uint16_t *qtype) {
    if (!data || !name || !qtype) return SLUICE_ERR_INVALID_ARGUMENT;
    if (len < DNS_HEADER_LEN) return SLUICE_ERR_MALFORMED;
    if (sluice_load_be16(data + 2) & 0x8000) return SLUICE_ERR_NOT_FOUND;
    if (sluice_load_be16(data + 4) == 0) return SLUICE_ERR_NOT_FOUND;
    size_t off = DNS_HEADER_LEN;
    char nbuf[DNS_MAX_NAME + 1];
    int rc = read_name(data, len, &off, nbuf, sizeof nbuf);
    if (rc != SLUICE_OK) return SLUICE_ERR_MALFORMED;
    if (off + 4 > len) return SLUICE_ERR_MALFORMED;
    *qtype = sluice_load_be16(data + off);
    size_t n = strlen(nbuf);
    if (n >= cap) return SLUICE_ERR_NOBUFS;
    memcpy(name, nbuf, n + 1);
    return SLUICE_OK;
}
