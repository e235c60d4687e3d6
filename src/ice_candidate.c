/* ICE candidate lines (RFC 8839 §5.1) and priorities (RFC 8445 §5.1.2). Liberal in what
 * it accepts, as real peers differ: "a=" prefix (libdatachannel trickle), upper-case
 * transport, unknown extensions, ".local" mDNS host names. */
#include "ice.h"

#include <arpa/inet.h>
#include <stdio.h>

uint32_t sluice_ice_priority(sluice_ice_cand_type type, uint16_t local_pref, uint16_t component) {
    /* RFC 8445 §5.1.2.2 recommended type preferences. */
    static const uint32_t type_pref[] = {126, 100, 110, 0};
    uint32_t tp = type_pref[(unsigned)type & 3];
    if (component < 1) component = 1;
    if (component > 256) component = 256;
    return (tp << 24) | ((uint32_t)local_pref << 8) | (uint32_t)(256 - component);
}

/* Next space-separated token of [*p, end): returns its length, 0 at the end. */
static size_t next_tok(const char **p, const char *end, const char **tok) {
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t') e++;
    *tok = s;
    *p = e;
    return (size_t)(e - s);
}

static bool parse_uint(const char *t, size_t n, uint64_t max, uint64_t *out) {
    if (n == 0 || n > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9') return false;
        v = v * 10 + (uint64_t)(t[i] - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

static bool tok_is(const char *t, size_t n, const char *s) {
    return strlen(s) == n && sluice_strncasecmp(t, s, n) == 0;
}

/* ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.1) */
static bool ice_chars(const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return false;
    }
    return true;
}

static bool host_chars(const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_'))
            return false;
    }
    return true;
}

/* IP literal → addr; otherwise an FQDN (mDNS ".local" in practice) goes to `host`. */
static bool parse_conn_addr(const char *t, size_t n, uint16_t port, sluice_addr *addr, char *host, size_t hcap) {
    char buf[64];
    if (n < sizeof buf) {
        memcpy(buf, t, n);
        buf[n] = 0;
        if (sluice_addr_parse(addr, buf, port) == SLUICE_OK) return true;
    }
    if (n == 0 || n >= hcap || !host_chars(t, n)) return false;
    memset(addr, 0, sizeof *addr);
    addr->port = port;
    memcpy(host, t, n);
    host[n] = 0;
    return true;
}

int sluice_ice_candidate_parse(const char *line, sluice_ice_candidate *out) {
    if (!line || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_ice_candidate c;
    memset(&c, 0, sizeof c);
    const char *p = line, *end = line + strlen(line);
    while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (end - p >= 2 && p[0] == 'a' && p[1] == '=') p += 2;
    if (end - p >= 10 && sluice_strncasecmp(p, "candidate:", 10) == 0) p += 10;

    const char *t;
    size_t n;
    uint64_t v;
    /* foundation: 1*32 ice-char */
    n = next_tok(&p, end, &t);
    if (n < 1 || n > 32 || !ice_chars(t, n)) return SLUICE_ERR_CANDIDATE;
    memcpy(c.foundation, t, n);
    c.foundation[n] = 0;
    /* component-id: 1*3 DIGIT (RFC 8839 allows 1..256) */
    n = next_tok(&p, end, &t);
    if (!parse_uint(t, n, 256, &v) || v < 1) return SLUICE_ERR_CANDIDATE;
    c.component = (uint16_t)v;
    /* transport */
    n = next_tok(&p, end, &t);
    if (tok_is(t, n, "udp")) c.tcp = false;
    else if (tok_is(t, n, "tcp")) c.tcp = true;
    else return SLUICE_ERR_CANDIDATE;
    /* priority: 1*10 DIGIT, 1..2^31-1 in practice; accept up to 2^32-1 */
    n = next_tok(&p, end, &t);
    if (!parse_uint(t, n, UINT32_MAX, &v)) return SLUICE_ERR_CANDIDATE;
    c.priority = (uint32_t)v;
    /* connection-address and port */
    const char *at;
    size_t an = next_tok(&p, end, &at);
    n = next_tok(&p, end, &t);
    if (!parse_uint(t, n, 65535, &v)) return SLUICE_ERR_CANDIDATE;
    if (!parse_conn_addr(at, an, (uint16_t)v, &c.addr, c.hostname, sizeof c.hostname)) return SLUICE_ERR_CANDIDATE;
    /* "typ" cand-type */
    n = next_tok(&p, end, &t);
    if (!tok_is(t, n, "typ")) return SLUICE_ERR_CANDIDATE;
    n = next_tok(&p, end, &t);
    if (tok_is(t, n, "host")) c.type = SLUICE_ICE_CAND_HOST;
    else if (tok_is(t, n, "srflx")) c.type = SLUICE_ICE_CAND_SRFLX;
    else if (tok_is(t, n, "prflx")) c.type = SLUICE_ICE_CAND_PRFLX;
    else if (tok_is(t, n, "relay")) c.type = SLUICE_ICE_CAND_RELAY;
    else return SLUICE_ERR_CANDIDATE;

    /* [raddr x rport y] then extension name/value pairs; unknown ones are ignored. */
    const char *raddr = NULL;
    size_t raddr_n = 0;
    bool have_rport = false;
    uint16_t rport = 0;
    for (;;) {
        const char *name, *val;
        size_t nn = next_tok(&p, end, &name);
        if (nn == 0) break;
        size_t vn = next_tok(&p, end, &val);
        if (vn == 0) return SLUICE_ERR_CANDIDATE; /* names come with values */
        if (tok_is(name, nn, "raddr")) {
            raddr = val;
            raddr_n = vn;
        } else if (tok_is(name, nn, "rport")) {
            if (!parse_uint(val, vn, 65535, &v)) return SLUICE_ERR_CANDIDATE;
            have_rport = true;
            rport = (uint16_t)v;
        } else if (tok_is(name, nn, "generation")) {
            if (!parse_uint(val, vn, UINT32_MAX, &v)) return SLUICE_ERR_CANDIDATE;
            c.generation = (uint32_t)v;
        } else if (tok_is(name, nn, "ufrag")) {
            if (vn >= sizeof c.ufrag) return SLUICE_ERR_CANDIDATE;
            memcpy(c.ufrag, val, vn);
            c.ufrag[vn] = 0;
        }
    }
    if (raddr && have_rport) {
        char hbuf[256];
        /* A related address may be "0.0.0.0" or an mDNS name (hidden); keep IP literals only. */
        if (parse_conn_addr(raddr, raddr_n, rport, &c.related, hbuf, sizeof hbuf) && c.related.family)
            c.has_related = true;
        else
            memset(&c.related, 0, sizeof c.related);
    }
    *out = c;
    return SLUICE_OK;
}

static int format_ip(const sluice_addr *a, char *buf, size_t cap) {
    if (a->family == 4) return inet_ntop(AF_INET, a->ip, buf, (socklen_t)cap) ? SLUICE_OK : SLUICE_ERR_NOBUFS;
    if (a->family == 6) return inet_ntop(AF_INET6, a->ip, buf, (socklen_t)cap) ? SLUICE_OK : SLUICE_ERR_NOBUFS;
    return SLUICE_ERR_INVALID_ARGUMENT;
}

int sluice_ice_candidate_format(const sluice_ice_candidate *c, char *buf, size_t cap) {
    if (!c || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    static const char *types[] = {"host", "srflx", "prflx", "relay"};
    char ip[64], rip[64];
    const char *addr = ip;
    if (c->hostname[0]) addr = c->hostname;
    else if (format_ip(&c->addr, ip, sizeof ip) != SLUICE_OK) return SLUICE_ERR_INVALID_ARGUMENT;
    int n = snprintf(buf, cap, "candidate:%s %u %s %u %s %u typ %s", c->foundation,
                     (unsigned)(c->component ? c->component : 1), c->tcp ? "tcp" : "udp", (unsigned)c->priority, addr,
                     (unsigned)c->addr.port, types[(unsigned)c->type & 3]);
    if (n < 0 || (size_t)n >= cap) return SLUICE_ERR_NOBUFS;
    if (c->has_related && format_ip(&c->related, rip, sizeof rip) == SLUICE_OK) {
        int m = snprintf(buf + n, cap - (size_t)n, " raddr %s rport %u", rip, (unsigned)c->related.port);
        if (m < 0 || (size_t)m >= cap - (size_t)n) return SLUICE_ERR_NOBUFS;
        n += m;
    }
    return n;
}
