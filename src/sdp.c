/* SDP parser and writer for the data-channel subset of RFC 8866 / RFC 8841 / RFC 8839 /
 * RFC 8842 / RFC 9429. The parser fills a fixed-size struct (no allocation); every line
 * is length-checked and every field bounded. Errors name the line. */
#include "sdp.h"

#include <stdio.h>

/* ---- parser context ------------------------------------------------------------------ */

/* What a session-level attribute sets; copied into media sections lacking it at the end. */
typedef struct sdp_session_attrs {
    char ice_ufrag[257], ice_pwd[257];
    bool ice_options_set, ice_trickle, ice_lite;
    sluice_sdp_fingerprint fingerprints[SLUICE_SDP_MAX_FINGERPRINTS];
    size_t fingerprints_count;
    sluice_sdp_setup setup;
    bool end_of_candidates;
} sdp_session_attrs;

/* Per-media bookkeeping that is not part of the public struct. */
typedef struct sdp_media_extra {
    unsigned mline;          /* line number of the m= line, for messages */
    bool ice_options_set;
    bool sctp_port_set;      /* a=sctp-port or a=sctpmap seen */
    bool sctpmap_seen, sctpmap_datachannel;
    bool fmt_datachannel;    /* "webrtc-datachannel" in the m= fmt list */
    bool old_syntax;         /* DTLS/SCTP with a numeric fmt (draft-ietf-mmusic-sctp-sdp-05) */
    uint16_t old_fmt_port;
} sdp_media_extra;

typedef struct sdp_ctx {
    sluice_sdp *out;
    char *err;
    size_t errcap;
    unsigned line;
    bool seen_v, seen_o;
    unsigned bundle_line;
    sdp_session_attrs sess;
    sdp_media_extra extra[SLUICE_SDP_MAX_MEDIA];
    sluice_sdp_media *cur; /* NULL while at session level */
} sdp_ctx;

static int sdp_fail(sdp_ctx *c, unsigned line, const char *fmt, ...) SLUICE_PRINTF(3, 4);

static int sdp_fail(sdp_ctx *c, unsigned line, const char *fmt, ...) {
    if (c->err && c->errcap) {
        int n = line ? snprintf(c->err, c->errcap, "line %u: ", line) : 0;
        if (n < 0) n = 0;
        if ((size_t)n < c->errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return SLUICE_ERR_SDP;
}

/* ---- small lexical helpers -------------------------------------------------------------- */

/* A slice of the input: never NUL-terminated. */
typedef struct sdp_str {
    const char *p;
    size_t n;
} sdp_str;

static bool sdp_eq(sdp_str s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && sluice_strncasecmp(s.p, lit, n) == 0;
}

static bool sdp_is_space(char ch) { return ch == ' ' || ch == '\t'; }

static sdp_str sdp_trim(sdp_str s) {
    while (s.n && sdp_is_space(s.p[0])) { s.p++; s.n--; }
    while (s.n && sdp_is_space(s.p[s.n - 1])) s.n--;
    return s;
}

/* Next space-separated token of *s (runs of blanks tolerated); false when none is left. */
static bool sdp_next_token(sdp_str *s, sdp_str *tok) {
    while (s->n && sdp_is_space(s->p[0])) { s->p++; s->n--; }
    if (!s->n) return false;
    size_t i = 0;
    while (i < s->n && !sdp_is_space(s->p[i])) i++;
    tok->p = s->p;
    tok->n = i;
    s->p += i;
    s->n -= i;
    return true;
}

/* Decimal digits only, no sign, no overflow. */
static bool sdp_parse_u64(sdp_str s, uint64_t *v) {
    if (s.n == 0 || s.n > 20) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < s.n; i++) {
        char ch = s.p[i];
        if (ch < '0' || ch > '9') return false;
        unsigned d = (unsigned)(ch - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

static bool sdp_parse_u16(sdp_str s, uint16_t *v) {
    uint64_t x;
    if (!sdp_parse_u64(s, &x) || x > 65535) return false;
    *v = (uint16_t)x;
    return true;
}

/* Copy into a fixed char array; false when it does not fit (the caller reports it). */
static bool sdp_copy(char *dst, size_t cap, sdp_str s) {
    if (s.n >= cap) return false;
    memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return true;
}

/* RFC 8866 §9 token characters (a=mid is an RFC 5888 identification-tag). */
static bool sdp_is_token_char(unsigned char ch) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) return true;
    return ch && strchr("!#$%&'*+-.^_`{|}~", ch) != NULL;
}

static bool sdp_is_token(sdp_str s) {
    if (!s.n) return false;
    for (size_t i = 0; i < s.n; i++)
        if (!sdp_is_token_char((unsigned char)s.p[i])) return false;
    return true;
}

/* RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/". */
static bool sdp_is_ice_chars(sdp_str s) {
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '+' || ch == '/';
        if (!ok) return false;
    }
    return true;
}

static int sdp_hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* RFC 8122 §5: fingerprint = 2UHEX *(":" 2UHEX). Lower-case hex is tolerated. Returns the
 * byte count, or -1 when the text is not of that form. */
static int sdp_fingerprint_bytes(sdp_str s) {
    if (s.n < 2 || (s.n + 1) % 3 != 0) return -1;
    for (size_t i = 0; i < s.n; i++) {
        if (i % 3 == 2) {
            if (s.p[i] != ':') return -1;
        } else if (sdp_hexval(s.p[i]) < 0) {
            return -1;
        }
    }
    return (int)((s.n + 1) / 3);
}

/* Digest sizes of the RFC 8122 hash function names (IANA "Hash Function Textual Names"). */
static const struct {
    const char *name;
    int bytes;
} k_sdp_hashes[] = {
    {"sha-1", 20}, {"sha-224", 28}, {"sha-256", 32}, {"sha-384", 48}, {"sha-512", 64},
    {"md5", 16},   {"md2", 16},
};

/* ---- attributes ------------------------------------------------------------------------ */

/* Media-level view of the "where does this attribute go" question: session attributes are
 * written to c->sess, media ones to c->cur. */

static int sdp_attr_ice_ufrag(sdp_ctx *c, sdp_str v) {
    /* RFC 8839 §5.4: 4-256 ice-chars. */
    if (v.n < 4 || v.n > 256) return sdp_fail(c, c->line, "a=ice-ufrag must be 4-256 characters (got %zu)", v.n);
    if (!sdp_is_ice_chars(v)) return sdp_fail(c, c->line, "a=ice-ufrag has a character outside [A-Za-z0-9+/]");
    char *dst = c->cur ? c->cur->ice_ufrag : c->sess.ice_ufrag;
    sdp_copy(dst, 257, v);
    return SLUICE_OK;
}

static int sdp_attr_ice_pwd(sdp_ctx *c, sdp_str v) {
    /* RFC 8839 §5.4: 22-256 ice-chars. */
    if (v.n < 22 || v.n > 256) return sdp_fail(c, c->line, "a=ice-pwd must be 22-256 characters (got %zu)", v.n);
    if (!sdp_is_ice_chars(v)) return sdp_fail(c, c->line, "a=ice-pwd has a character outside [A-Za-z0-9+/]");
    char *dst = c->cur ? c->cur->ice_pwd : c->sess.ice_pwd;
    sdp_copy(dst, 257, v);
    return SLUICE_OK;
}

static int sdp_attr_ice_options(sdp_ctx *c, sdp_str v) {
    /* RFC 8839 §5.6: space-separated option tags ("trickle", "ice2", ...); libdatachannel
     * writes "ice2,trickle", so commas separate tags too. */
    bool trickle = false;
    sdp_str tok;
    while (sdp_next_token(&v, &tok)) {
        size_t start = 0;
        for (size_t i = 0; i <= tok.n; i++) {
            if (i < tok.n && tok.p[i] != ',') continue;
            sdp_str tag = {tok.p + start, i - start};
            if (sdp_eq(tag, "trickle")) trickle = true;
            start = i + 1;
        }
    }
    if (c->cur) {
        c->cur->ice_trickle = trickle;
        c->extra[c->out->media_count - 1].ice_options_set = true;
    } else {
        c->sess.ice_trickle = trickle;
        c->sess.ice_options_set = true;
    }
    return SLUICE_OK;
}

static int sdp_attr_fingerprint(sdp_ctx *c, sdp_str v) {
    sdp_str alg, hex;
    if (!sdp_next_token(&v, &alg) || !sdp_next_token(&v, &hex) || sdp_trim(v).n)
        return sdp_fail(c, c->line, "a=fingerprint must be '<hash> <hex>'");
    sluice_sdp_fingerprint fp;
    memset(&fp, 0, sizeof fp);
    if (!sdp_copy(fp.alg, sizeof fp.alg, alg))
        return sdp_fail(c, c->line, "a=fingerprint hash name too long");
    if (!sdp_is_token(alg)) return sdp_fail(c, c->line, "a=fingerprint hash name is not a token");
    /* RFC 8122 §5: hash names are case-insensitive; we store them lower-case. */
    for (char *q = fp.alg; *q; q++)
        if (*q >= 'A' && *q <= 'Z') *q = (char)(*q + 32);
    if (!sdp_copy(fp.hex, sizeof fp.hex, hex))
        return sdp_fail(c, c->line, "a=fingerprint value too long (%zu characters)", hex.n);
    int bytes = sdp_fingerprint_bytes(hex);
    if (bytes < 0) return sdp_fail(c, c->line, "a=fingerprint value is not colon-separated hex bytes");
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_sdp_hashes); i++)
        if (strcmp(fp.alg, k_sdp_hashes[i].name) == 0 && bytes != k_sdp_hashes[i].bytes)
            return sdp_fail(c, c->line, "a=fingerprint %s needs %d bytes, got %d", fp.alg,
                            k_sdp_hashes[i].bytes, bytes);
    sluice_sdp_fingerprint *arr = c->cur ? c->cur->fingerprints : c->sess.fingerprints;
    size_t *count = c->cur ? &c->cur->fingerprints_count : &c->sess.fingerprints_count;
    if (*count < SLUICE_SDP_MAX_FINGERPRINTS) arr[(*count)++] = fp; /* extras ignored */
    return SLUICE_OK;
}

static int sdp_attr_setup(sdp_ctx *c, sdp_str v) {
    /* RFC 4145 §4 / RFC 8842 §5. */
    sluice_sdp_setup s;
    if (sdp_eq(v, "actpass")) s = SLUICE_SDP_SETUP_ACTPASS;
    else if (sdp_eq(v, "active")) s = SLUICE_SDP_SETUP_ACTIVE;
    else if (sdp_eq(v, "passive")) s = SLUICE_SDP_SETUP_PASSIVE;
    else if (sdp_eq(v, "holdconn")) s = SLUICE_SDP_SETUP_HOLDCONN;
    else return sdp_fail(c, c->line, "a=setup must be actpass, active, passive or holdconn");
    if (c->cur) c->cur->setup = s;
    else c->sess.setup = s;
    return SLUICE_OK;
}

static int sdp_attr_mid(sdp_ctx *c, sdp_str v) {
    if (!sdp_is_token(v)) return sdp_fail(c, c->line, "a=mid must be a non-empty token");
    if (!sdp_copy(c->cur->mid, sizeof c->cur->mid, v))
        return sdp_fail(c, c->line, "a=mid too long (at most %zu characters)", sizeof c->cur->mid - 1);
    /* RFC 5888 §4: an identification-tag is unique within the session description. */
    for (size_t i = 0; i + 1 < c->out->media_count; i++)
        if (strcmp(c->out->media[i].mid, c->cur->mid) == 0)
            return sdp_fail(c, c->line, "duplicate a=mid:%s", c->cur->mid);
    return SLUICE_OK;
}

static int sdp_attr_sctp_port(sdp_ctx *c, sdp_str v) {
    uint16_t port;
    /* RFC 8841 §5: the SCTP port, 1-65535. */
    if (!sdp_parse_u16(v, &port) || port == 0) return sdp_fail(c, c->line, "a=sctp-port must be a port 1-65535");
    c->cur->sctp_port = port;
    c->extra[c->out->media_count - 1].sctp_port_set = true;
    return SLUICE_OK;
}

static int sdp_attr_sctpmap(sdp_ctx *c, sdp_str v) {
    /* draft-ietf-mmusic-sctp-sdp-05 §5: a=sctpmap:<port> <app> [<max streams>] */
    sdp_str port_s, app;
    uint16_t port;
    if (!sdp_next_token(&v, &port_s) || !sdp_next_token(&v, &app))
        return sdp_fail(c, c->line, "a=sctpmap must be '<port> <application> [<streams>]'");
    if (!sdp_parse_u16(port_s, &port) || port == 0) return sdp_fail(c, c->line, "a=sctpmap port must be 1-65535");
    sdp_media_extra *x = &c->extra[c->out->media_count - 1];
    x->sctpmap_seen = true;
    if (sdp_eq(app, "webrtc-datachannel")) {
        x->sctpmap_datachannel = true;
        if (!x->sctp_port_set) c->cur->sctp_port = port; /* a=sctp-port wins when both */
    }
    return SLUICE_OK;
}

static int sdp_attr_max_message_size(sdp_ctx *c, sdp_str v) {
    uint64_t x;
    /* RFC 8841 §6: max-message-size = 1*DIGIT; 0 means no limit. */
    if (!sdp_parse_u64(v, &x)) return sdp_fail(c, c->line, "a=max-message-size must be a decimal number");
    c->cur->has_max_message_size = true;
    c->cur->max_message_size = x;
    return SLUICE_OK;
}

static int sdp_attr_candidate(sdp_ctx *c, sdp_str v) {
    sluice_sdp_media *m = c->cur;
    if (!v.n) return sdp_fail(c, c->line, "empty a=candidate");
    /* Stored as "candidate:<value>": the form the ICE layer and the Godot API use. */
    if (v.n + 10 >= sizeof m->candidates[0])
        return sdp_fail(c, c->line, "a=candidate too long (at most %zu characters)",
                        sizeof m->candidates[0] - 1);
    if (m->candidates_count >= SLUICE_SDP_MAX_CANDIDATES) {
        m->candidates_ignored++;
        return SLUICE_OK;
    }
    char *dst = m->candidates[m->candidates_count++];
    memcpy(dst, "candidate:", 10);
    memcpy(dst + 10, v.p, v.n);
    dst[10 + v.n] = '\0';
    return SLUICE_OK;
}

static int sdp_attr_group(sdp_ctx *c, sdp_str v) {
    sdp_str sem, mid;
    if (!sdp_next_token(&v, &sem)) return sdp_fail(c, c->line, "a=group without semantics");
    /* RFC 9143: only BUNDLE matters here; LS, FID, ... are ignored. The first BUNDLE
     * group is kept (JSEP peers offering data channels use one). */
    if (!sdp_eq(sem, "BUNDLE") || c->bundle_line) return SLUICE_OK;
    c->bundle_line = c->line;
    while (sdp_next_token(&v, &mid)) {
        if (c->out->bundle_count >= SLUICE_ARRAY_LEN(c->out->bundle))
            return sdp_fail(c, c->line, "a=group:BUNDLE lists more than %zu mids",
                            SLUICE_ARRAY_LEN(c->out->bundle));
        if (!sdp_is_token(mid)) return sdp_fail(c, c->line, "a=group:BUNDLE mid is not a token");
        if (!sdp_copy(c->out->bundle[c->out->bundle_count], sizeof c->out->bundle[0], mid))
            return sdp_fail(c, c->line, "a=group:BUNDLE mid too long");
        c->out->bundle_count++;
    }
    return SLUICE_OK;
}

typedef int (*sdp_attr_fn)(sdp_ctx *c, sdp_str value);

enum { SDP_LVL_SESSION = 1, SDP_LVL_MEDIA = 2, SDP_LVL_BOTH = 3 };

static const struct {
    const char *name;
    int levels;
    bool needs_value;
    sdp_attr_fn fn;
} k_sdp_attrs[] = {
    {"ice-ufrag", SDP_LVL_BOTH, true, sdp_attr_ice_ufrag},
    {"ice-pwd", SDP_LVL_BOTH, true, sdp_attr_ice_pwd},
    {"ice-options", SDP_LVL_BOTH, false, sdp_attr_ice_options}, /* empty: no options */
    {"fingerprint", SDP_LVL_BOTH, true, sdp_attr_fingerprint},
    {"setup", SDP_LVL_BOTH, true, sdp_attr_setup},
    {"mid", SDP_LVL_MEDIA, true, sdp_attr_mid},
    {"sctp-port", SDP_LVL_MEDIA, true, sdp_attr_sctp_port},
    {"sctpmap", SDP_LVL_MEDIA, true, sdp_attr_sctpmap},
    {"max-message-size", SDP_LVL_MEDIA, true, sdp_attr_max_message_size},
    {"candidate", SDP_LVL_MEDIA, true, sdp_attr_candidate},
    {"group", SDP_LVL_SESSION, true, sdp_attr_group},
};

static int sdp_parse_attribute(sdp_ctx *c, sdp_str v) {
    /* RFC 8866 §5.13: a=<attribute-name>[:<attribute-value>] */
    size_t colon = 0;
    while (colon < v.n && v.p[colon] != ':') colon++;
    sdp_str name = {v.p, colon};
    sdp_str value = {v.p + colon, 0};
    bool has_value = colon < v.n;
    if (has_value) {
        value.p = v.p + colon + 1;
        value.n = v.n - colon - 1;
    }
    value = sdp_trim(value);
    if (!name.n) return sdp_fail(c, c->line, "a= line without an attribute name");

    /* Flag attributes. */
    if (sdp_eq(name, "ice-lite")) { /* RFC 8839 §5.3: session level; tolerated on media */
        if (c->cur) c->cur->ice_lite = true;
        else c->sess.ice_lite = true;
        return SLUICE_OK;
    }
    if (sdp_eq(name, "end-of-candidates")) { /* RFC 8840: session or media level */
        if (c->cur) c->cur->end_of_candidates = true;
        else c->sess.end_of_candidates = true;
        return SLUICE_OK;
    }
    if (sdp_eq(name, "bundle-only")) {
        if (c->cur) c->cur->bundle_only = true;
        return SLUICE_OK;
    }
    if (sdp_eq(name, "group") && c->cur) return SLUICE_OK; /* session-level only (RFC 9143) */

    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_sdp_attrs); i++) {
        if (!sdp_eq(name, k_sdp_attrs[i].name)) continue;
        int lvl = c->cur ? SDP_LVL_MEDIA : SDP_LVL_SESSION;
        if (!(k_sdp_attrs[i].levels & lvl))
            return sdp_fail(c, c->line, "a=%s is only allowed in a media section (after m=)",
                            k_sdp_attrs[i].name);
        if (k_sdp_attrs[i].needs_value && !value.n)
            return sdp_fail(c, c->line, "a=%s needs a value", k_sdp_attrs[i].name);
        return k_sdp_attrs[i].fn(c, value);
    }
    return SLUICE_OK; /* RFC 8866 §5.13: unknown attributes are ignored */
}

/* ---- lines ------------------------------------------------------------------------------ */

static int sdp_parse_origin(sdp_ctx *c, sdp_str v) {
    /* RFC 8866 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address> */
    sdp_str t[6], extra;
    for (int i = 0; i < 6; i++)
        if (!sdp_next_token(&v, &t[i]))
            return sdp_fail(c, c->line, "bad o= line: expected 6 fields");
    if (sdp_next_token(&v, &extra)) return sdp_fail(c, c->line, "bad o= line: more than 6 fields");
    if (!sdp_copy(c->out->origin_user, sizeof c->out->origin_user, t[0]))
        return sdp_fail(c, c->line, "bad o= line: user name too long");
    if (!sdp_parse_u64(t[1], &c->out->session_id))
        return sdp_fail(c, c->line, "bad o= line: session id is not a 64-bit decimal number");
    if (!sdp_parse_u64(t[2], &c->out->session_version))
        return sdp_fail(c, c->line, "bad o= line: session version is not a 64-bit decimal number");
    c->seen_o = true;
    return SLUICE_OK;
}

static bool sdp_is_dtls_sctp_proto(sdp_str proto) {
    /* RFC 8841 §4: UDP/DTLS/SCTP and TCP/DTLS/SCTP; case-insensitive like all protos. */
    return sdp_eq(proto, "UDP/DTLS/SCTP") || sdp_eq(proto, "TCP/DTLS/SCTP");
}

static int sdp_parse_media(sdp_ctx *c, sdp_str v) {
    /* RFC 8866 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ... */
    sluice_sdp *s = c->out;
    if (s->media_count >= SLUICE_SDP_MAX_MEDIA)
        return sdp_fail(c, c->line, "too many m= sections (at most %d)", SLUICE_SDP_MAX_MEDIA);
    sdp_str kind, port_s, proto, fmt;
    if (!sdp_next_token(&v, &kind) || !sdp_next_token(&v, &port_s) || !sdp_next_token(&v, &proto) ||
        !sdp_next_token(&v, &fmt))
        return sdp_fail(c, c->line, "bad m= line: expected '<media> <port> <proto> <fmt>'");
    sluice_sdp_media *m = &s->media[s->media_count];
    sdp_media_extra *x = &c->extra[s->media_count];
    memset(m, 0, sizeof *m);
    memset(x, 0, sizeof *x);
    x->mline = c->line;
    if (!sdp_is_token(kind)) return sdp_fail(c, c->line, "bad m= line: media type is not a token");
    if (!sdp_copy(m->kind, sizeof m->kind, kind)) return sdp_fail(c, c->line, "bad m= line: media type too long");
    sdp_str port_only = port_s;
    for (size_t i = 0; i < port_s.n; i++)
        if (port_s.p[i] == '/') {
            port_only.n = i;
            uint16_t count;
            sdp_str cnt = {port_s.p + i + 1, port_s.n - i - 1};
            if (!sdp_parse_u16(cnt, &count)) return sdp_fail(c, c->line, "bad m= line: bad port count");
            break;
        }
    if (!sdp_parse_u16(port_only, &m->port))
        return sdp_fail(c, c->line, "bad m= line: port is not a number 0-65535");
    if (!sdp_copy(m->proto, sizeof m->proto, proto)) return sdp_fail(c, c->line, "bad m= line: proto too long");
    if (!sdp_copy(m->fmt, sizeof m->fmt, fmt)) return sdp_fail(c, c->line, "bad m= line: format too long");
    for (size_t i = 0; i < proto.n; i++)
        if (!sdp_is_token_char((unsigned char)proto.p[i]) && proto.p[i] != '/')
            return sdp_fail(c, c->line, "bad m= line: bad character in proto");
    bool is_app = sdp_eq(kind, "application");
    bool old = sdp_eq(proto, "DTLS/SCTP");
    do {
        if (!is_app) continue;
        if ((old || sdp_is_dtls_sctp_proto(proto)) && sdp_eq(fmt, "webrtc-datachannel")) {
            x->fmt_datachannel = true;
        } else if (old && !x->old_syntax && fmt.p[0] >= '0' && fmt.p[0] <= '9') {
            /* draft-ietf-mmusic-sctp-sdp-05: the fmt is the SCTP port (aiortc 1.4). */
            if (!sdp_parse_u16(fmt, &x->old_fmt_port) || x->old_fmt_port == 0)
                return sdp_fail(c, c->line, "bad m= line: DTLS/SCTP format must be an SCTP port 1-65535");
            x->old_syntax = true;
        }
    } while (sdp_next_token(&v, &fmt));
    m->sctp_port = 5000; /* RFC 8841 §5 default */
    m->max_message_size = 65536;
    s->media_count++;
    c->cur = m;
    return SLUICE_OK;
}

static int sdp_parse_line(sdp_ctx *c, char type, sdp_str v) {
    if (!c->seen_v) {
        if (type != 'v') return sdp_fail(c, c->line, "SDP must start with a v=0 line");
    }
    switch (type) {
    case 'v':
        if (c->seen_v) return sdp_fail(c, c->line, "v= may appear only once, as the first line");
        if (!sdp_eq(v, "0")) return sdp_fail(c, c->line, "unsupported SDP version (v= must be 0)");
        c->seen_v = true;
        return SLUICE_OK;
    case 'o':
        if (c->seen_o || c->cur) return sdp_fail(c, c->line, "o= must appear once, before any m= line");
        return sdp_parse_origin(c, v);
    case 'm':
        if (!c->seen_o) return sdp_fail(c, c->line, "m= line before the o= line");
        return sdp_parse_media(c, v);
    case 'a':
        return sdp_parse_attribute(c, v);
    default:
        /* s=, t=, c=, b=, i=, u=, e=, p=, k=, r=, z= and unknown types: RFC 8866 §5
         * lets a parser ignore them; nothing in them matters for data channels. */
        return SLUICE_OK;
    }
}

/* ---- end of input: inherit session values, decide data channel sections, check BUNDLE -- */

static int sdp_finish(sdp_ctx *c) {
    sluice_sdp *s = c->out;
    if (!c->seen_v) return sdp_fail(c, 0, "empty SDP (no v=0 line)");
    if (!c->seen_o) return sdp_fail(c, 0, "SDP has no o= line");
    for (size_t i = 0; i < s->media_count; i++) {
        sluice_sdp_media *m = &s->media[i];
        sdp_media_extra *x = &c->extra[i];
        /* RFC 8839 §5.4, RFC 8122 §5, RFC 4145 §4: media-level values override
         * session-level ones, which apply to every section without its own. */
        if (!m->ice_ufrag[0]) memcpy(m->ice_ufrag, c->sess.ice_ufrag, sizeof m->ice_ufrag);
        if (!m->ice_pwd[0]) memcpy(m->ice_pwd, c->sess.ice_pwd, sizeof m->ice_pwd);
        if (!x->ice_options_set) m->ice_trickle = c->sess.ice_trickle;
        if (c->sess.ice_lite) m->ice_lite = true;
        if (!m->fingerprints_count) {
            memcpy(m->fingerprints, c->sess.fingerprints, sizeof m->fingerprints);
            m->fingerprints_count = c->sess.fingerprints_count;
        }
        if (m->setup == SLUICE_SDP_SETUP_NONE) m->setup = c->sess.setup;
        if (c->sess.end_of_candidates) m->end_of_candidates = true;

        if (x->old_syntax && !x->sctp_port_set && !(x->sctpmap_seen && x->sctpmap_datachannel))
            m->sctp_port = x->old_fmt_port;
        bool dc = x->fmt_datachannel || (x->old_syntax && (!x->sctpmap_seen || x->sctpmap_datachannel));
        /* RFC 8866 §5.14: port 0 rejects the section, unless bundle-only (RFC 9143). */
        m->is_datachannel = dc && (m->port != 0 || m->bundle_only);
        if (m->is_datachannel && s->datachannel_index < 0) s->datachannel_index = (int)i;
    }
    if (s->bundle_count) {
        /* RFC 9143 (BUNDLE): every m= section of a BUNDLE offer/answer carries a=mid, and every
         * mid of the group names a section. */
        for (size_t i = 0; i < s->media_count; i++)
            if (!s->media[i].mid[0] && s->media[i].port != 0)
                return sdp_fail(c, c->extra[i].mline, "m= section without a=mid while a=group:BUNDLE is used");
        for (size_t b = 0; b < s->bundle_count; b++) {
            bool found = false;
            for (size_t i = 0; i < s->media_count && !found; i++) found = strcmp(s->media[i].mid, s->bundle[b]) == 0;
            if (!found)
                return sdp_fail(c, c->bundle_line, "a=group:BUNDLE names mid '%s' but no m= section has it",
                                s->bundle[b]);
        }
    }
    return SLUICE_OK;
}

static void sdp_reset(sluice_sdp *out) {
    memset(out, 0, sizeof *out);
    out->datachannel_index = -1;
}

int sluice_sdp_parse(const char *text, size_t len, sluice_sdp *out, char *errbuf, size_t errcap) {
    if (errbuf && errcap) errbuf[0] = '\0';
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    sdp_reset(out);
    if (!text && len) return SLUICE_ERR_INVALID_ARGUMENT;

    sdp_ctx c;
    memset(&c, 0, sizeof c);
    c.out = out;
    c.err = errbuf;
    c.errcap = errcap;
    int rc = SLUICE_OK;
    size_t pos = 0;
    while (pos < len && rc == SLUICE_OK) {
        c.line++;
        size_t start = pos, end = pos;
        while (end < len && text[end] != '\n') end++;
        pos = end < len ? end + 1 : len;
        size_t n = end - start;
        /* RFC 8866 §5: lines end in CRLF; a bare LF is accepted too. */
        if (n && text[start + n - 1] == '\r') n--;
        const char *l = text + start;
        if (n == 0) continue; /* blank lines (e.g. a doubled final newline) are harmless */
        if (n > SLUICE_SDP_MAX_LINE) {
            rc = sdp_fail(&c, c.line, "line too long (%zu bytes, at most %d)", n, SLUICE_SDP_MAX_LINE);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)l[i];
            if (ch == 0) {
                rc = sdp_fail(&c, c.line, "NUL byte in the SDP");
                break;
            }
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                rc = sdp_fail(&c, c.line, "control character 0x%02x in the SDP", ch);
                break;
            }
        }
        if (rc) break;
        /* RFC 8866 §5: <type>=<value>, type one lower-case letter. */
        if (n < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z') {
            rc = sdp_fail(&c, c.line, "expected '<letter>=<value>'");
            break;
        }
        sdp_str v = {l + 2, n - 2};
        rc = sdp_parse_line(&c, l[0], v);
    }
    if (rc == SLUICE_OK) rc = sdp_finish(&c);
    if (rc != SLUICE_OK) sdp_reset(out);
    return rc;
}

/* ---- writer ------------------------------------------------------------------------------ */

/* Anything we print must not be able to inject a line (CR/LF) or break the grammar. */
static bool sdp_safe_text(const char *s, size_t max, bool allow_space) {
    if (!s || !*s) return false;
    size_t n = strlen(s);
    if (n > max) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) return false;
        if (ch == ' ' && !allow_space) return false;
    }
    return true;
}

static bool sdp_cstr_is(const char *s, bool (*pred)(sdp_str)) {
    sdp_str v = {s, strlen(s)};
    return pred(v);
}

static const char *sdp_setup_name(sluice_sdp_setup s) {
    switch (s) {
    case SLUICE_SDP_SETUP_ACTPASS: return "actpass";
    case SLUICE_SDP_SETUP_ACTIVE: return "active";
    case SLUICE_SDP_SETUP_PASSIVE: return "passive";
    case SLUICE_SDP_SETUP_HOLDCONN: return "holdconn";
    default: return NULL;
    }
}

/* The mid and the offer section the writer uses (mirror mode: taken from the offer). */
typedef struct sdp_plan {
    const char *mid;
    const sluice_sdp_media *offer_dc; /* NULL unless mirroring */
    bool old_syntax, bundle;
} sdp_plan;

static int sdp_check_local(const sluice_sdp_local *l, sdp_plan *plan) {
    memset(plan, 0, sizeof *plan);
    plan->mid = l->mid;
    plan->bundle = true;
    if (l->mirror) {
        const sluice_sdp *o = l->mirror;
        if (o->datachannel_index < 0 || (size_t)o->datachannel_index >= o->media_count ||
            o->media_count > SLUICE_SDP_MAX_MEDIA || o->bundle_count > SLUICE_ARRAY_LEN(o->bundle))
            return SLUICE_ERR_INVALID_ARGUMENT;
        plan->offer_dc = &o->media[o->datachannel_index];
        const char *omid = plan->offer_dc->mid;
        if (!memchr(omid, 0, sizeof plan->offer_dc->mid)) return SLUICE_ERR_INVALID_ARGUMENT;
        if (plan->mid && strcmp(plan->mid, omid) != 0) return SLUICE_ERR_INVALID_ARGUMENT;
        plan->mid = omid;
        plan->old_syntax = sluice_strcasecmp(plan->offer_dc->proto, "DTLS/SCTP") == 0;
        /* RFC 9143 (BUNDLE): answer with BUNDLE only if the offer bundled this section. */
        plan->bundle = false;
        for (size_t b = 0; b < o->bundle_count; b++)
            if (omid[0] && strncmp(o->bundle[b], omid, sizeof o->bundle[b]) == 0) plan->bundle = true;
        for (size_t i = 0; i < o->media_count; i++) {
            const sluice_sdp_media *m = &o->media[i];
            if (m == plan->offer_dc) continue;
            if (!memchr(m->kind, 0, sizeof m->kind) || !memchr(m->proto, 0, sizeof m->proto) ||
                !memchr(m->fmt, 0, sizeof m->fmt) || !memchr(m->mid, 0, sizeof m->mid))
                return SLUICE_ERR_INVALID_ARGUMENT;
            if (!sdp_safe_text(m->kind, 15, false) || !sdp_safe_text(m->proto, 31, false) ||
                !sdp_safe_text(m->fmt, 32, false) || (m->mid[0] && !sdp_cstr_is(m->mid, sdp_is_token)))
                return SLUICE_ERR_INVALID_ARGUMENT;
        }
        if (!plan->mid[0]) plan->mid = NULL; /* the offer had no a=mid: write none */
    } else if (!plan->mid) {
        return SLUICE_ERR_INVALID_ARGUMENT;
    }
    if (plan->mid && (!sdp_safe_text(plan->mid, 32, false) || !sdp_cstr_is(plan->mid, sdp_is_token)))
        return SLUICE_ERR_INVALID_ARGUMENT;
    if (!plan->mid) plan->bundle = false;
    if (!sdp_safe_text(l->ice_ufrag, 256, false) || strlen(l->ice_ufrag) < 4 ||
        !sdp_cstr_is(l->ice_ufrag, sdp_is_ice_chars))
        return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sdp_safe_text(l->ice_pwd, 256, false) || strlen(l->ice_pwd) < 22 ||
        !sdp_cstr_is(l->ice_pwd, sdp_is_ice_chars))
        return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sdp_safe_text(l->fingerprint_alg, 15, false) || !sdp_cstr_is(l->fingerprint_alg, sdp_is_token))
        return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sdp_safe_text(l->fingerprint_hex, 199, false)) return SLUICE_ERR_INVALID_ARGUMENT;
    sdp_str hex = {l->fingerprint_hex, strlen(l->fingerprint_hex)};
    if (sdp_fingerprint_bytes(hex) < 0) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!sdp_setup_name(l->setup)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (l->sctp_port == 0) return SLUICE_ERR_INVALID_ARGUMENT;
    if (l->candidates_count && !l->candidates) return SLUICE_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < l->candidates_count; i++) {
        const char *cand = l->candidates[i];
        if (!cand) return SLUICE_ERR_INVALID_ARGUMENT;
        if (strncmp(cand, "a=", 2) == 0) cand += 2;
        if (strncmp(cand, "candidate:", 10) != 0 || !sdp_safe_text(cand, SLUICE_SDP_MAX_LINE - 2, true))
            return SLUICE_ERR_INVALID_ARGUMENT;
    }
    return SLUICE_OK;
}

static int sdp_write_datachannel(const sluice_sdp_local *l, const sdp_plan *plan, sluice_buf *out) {
    int rc;
    /* RFC 8841 §4 / JSEP §5.2.1: port 9 and 0.0.0.0 until candidates are known. The old
     * draft-05 form answers an old-form offer (libwebrtc does the same). */
    if (plan->old_syntax)
        rc = sluice_buf_printf(out, "m=application 9 DTLS/SCTP %u\r\n", (unsigned)l->sctp_port);
    else
        rc = sluice_buf_printf(out, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n");
    if (rc) return rc;
    rc = sluice_buf_printf(out,
                           "c=IN IP4 0.0.0.0\r\n"
                           "a=ice-ufrag:%s\r\n"
                           "a=ice-pwd:%s\r\n"
                           "a=ice-options:trickle\r\n"
                           "a=fingerprint:%s %s\r\n"
                           "a=setup:%s\r\n",
                           l->ice_ufrag, l->ice_pwd, l->fingerprint_alg, l->fingerprint_hex,
                           sdp_setup_name(l->setup));
    if (rc) return rc;
    if (plan->mid && (rc = sluice_buf_printf(out, "a=mid:%s\r\n", plan->mid))) return rc;
    if (plan->old_syntax)
        rc = sluice_buf_printf(out, "a=sctpmap:%u webrtc-datachannel 65535\r\n", (unsigned)l->sctp_port);
    else
        rc = sluice_buf_printf(out, "a=sctp-port:%u\r\n", (unsigned)l->sctp_port);
    if (rc) return rc;
    if ((rc = sluice_buf_printf(out, "a=max-message-size:%llu\r\n", (unsigned long long)l->max_message_size)))
        return rc;
    for (size_t i = 0; i < l->candidates_count; i++) {
        const char *cand = l->candidates[i];
        if (strncmp(cand, "a=", 2) == 0) cand += 2;
        if ((rc = sluice_buf_printf(out, "a=%s\r\n", cand))) return rc;
    }
    if (l->end_of_candidates && (rc = sluice_buf_printf(out, "a=end-of-candidates\r\n"))) return rc;
    return SLUICE_OK;
}

static int sdp_write_body(const sluice_sdp_local *l, const sdp_plan *plan, sluice_buf *out) {
    /* JSEP RFC 9429 §5.2.1: sess-id is a 63-bit value (top bit zero), version starts low. */
    uint64_t sid = l->session_id & 0x7fffffffffffffffull;
    int rc = sluice_buf_printf(out,
                               "v=0\r\n"
                               "o=- %llu %llu IN IP4 127.0.0.1\r\n"
                               "s=-\r\n"
                               "t=0 0\r\n",
                               (unsigned long long)sid, (unsigned long long)l->session_version);
    if (rc) return rc;
    if (plan->bundle && (rc = sluice_buf_printf(out, "a=group:BUNDLE %s\r\n", plan->mid))) return rc;
    if ((rc = sluice_buf_printf(out, "a=msid-semantic: WMS\r\n"))) return rc;
    if (l->ice_lite && (rc = sluice_buf_printf(out, "a=ice-lite\r\n"))) return rc;
    if (!l->mirror) return sdp_write_datachannel(l, plan, out);
    for (size_t i = 0; i < l->mirror->media_count; i++) {
        const sluice_sdp_media *m = &l->mirror->media[i];
        if (m == plan->offer_dc) {
            rc = sdp_write_datachannel(l, plan, out);
        } else {
            /* JSEP §5.3.1 / RFC 3264 §6: reject with port 0, keep the section's identity. */
            rc = sluice_buf_printf(out, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n", m->kind, m->proto, m->fmt);
            if (!rc && m->mid[0]) rc = sluice_buf_printf(out, "a=mid:%s\r\n", m->mid);
        }
        if (rc) return rc;
    }
    return SLUICE_OK;
}

int sluice_sdp_write(const sluice_sdp_local *l, sluice_buf *out) {
    if (!l || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    sdp_plan plan;
    int rc = sdp_check_local(l, &plan);
    if (rc) return rc;
    size_t mark = out->len;
    rc = sdp_write_body(l, &plan, out);
    if (rc) {
        out->len = mark; /* all or nothing */
        if (out->data && out->cap > mark) out->data[mark] = 0;
    }
    return rc;
}

/* ---- offer/answer rules ----------------------------------------------------------------- */

static int sdp_reason(char *err, size_t cap, const char *fmt, ...) SLUICE_PRINTF(3, 4);

static int sdp_reason(char *err, size_t cap, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return SLUICE_ERR_SDP;
}

int sluice_sdp_check_remote(const sluice_sdp *r, bool is_offer, const char *local_mid, char *err, size_t cap) {
    if (err && cap) err[0] = '\0';
    if (!r) return SLUICE_ERR_INVALID_ARGUMENT;
    const char *what = is_offer ? "offer" : "answer";
    if (r->datachannel_index < 0 || (size_t)r->datachannel_index >= r->media_count) {
        for (size_t i = 0; i < r->media_count && !is_offer; i++)
            if (local_mid && strcmp(r->media[i].mid, local_mid) == 0 && r->media[i].port == 0)
                return sdp_reason(err, cap, "the answer rejected the data channel section (m= port 0)");
        return sdp_reason(err, cap, "the %s has no data channel section "
                                    "(m=application ... UDP/DTLS/SCTP webrtc-datachannel)", what);
    }
    const sluice_sdp_media *m = &r->media[r->datachannel_index];
    /* JSEP §5.3.1: the answer's section answers ours, so it carries our mid. */
    if (!is_offer && local_mid && m->mid[0] && strcmp(m->mid, local_mid) != 0)
        return sdp_reason(err, cap, "the answer's data channel mid '%s' is not the offered '%s'", m->mid, local_mid);
    if (!m->ice_ufrag[0]) return sdp_reason(err, cap, "the %s has no a=ice-ufrag for the data channel", what);
    if (!m->ice_pwd[0]) return sdp_reason(err, cap, "the %s has no a=ice-pwd for the data channel", what);
    /* RFC 8842 §5: a=fingerprint is required to authenticate the DTLS peer. */
    if (!m->fingerprints_count) return sdp_reason(err, cap, "the %s has no a=fingerprint", what);
    if (m->setup == SLUICE_SDP_SETUP_HOLDCONN)
        return sdp_reason(err, cap, "a=setup:holdconn in the %s: no DTLS connection possible", what);
    /* RFC 8842 §5: the answerer MUST NOT use actpass. */
    if (!is_offer && m->setup == SLUICE_SDP_SETUP_ACTPASS)
        return sdp_reason(err, cap, "a=setup:actpass in an answer (must be active or passive)");
    return SLUICE_OK;
}

sluice_sdp_setup sluice_sdp_answer_setup(sluice_sdp_setup offered) {
    switch (offered) {
    case SLUICE_SDP_SETUP_ACTIVE: return SLUICE_SDP_SETUP_PASSIVE;
    case SLUICE_SDP_SETUP_HOLDCONN: return SLUICE_SDP_SETUP_NONE;
    /* An offer without a=setup is treated like actpass: peers that omit it accept either. */
    default: return SLUICE_SDP_SETUP_ACTIVE;
    }
}

int sluice_sdp_dtls_client(sluice_sdp_setup local, sluice_sdp_setup remote) {
    /* A missing a=setup: in an answer (we sent actpass) it is active (RFC 4145 §4); in an
     * offer (we answered active/passive) it was taken as actpass by sluice_sdp_answer_setup. */
    if (remote == SLUICE_SDP_SETUP_NONE)
        remote = local == SLUICE_SDP_SETUP_ACTPASS ? SLUICE_SDP_SETUP_ACTIVE : SLUICE_SDP_SETUP_ACTPASS;
    switch (local) {
    case SLUICE_SDP_SETUP_ACTIVE:
        return remote == SLUICE_SDP_SETUP_ACTIVE || remote == SLUICE_SDP_SETUP_HOLDCONN ? SLUICE_ERR_SDP : 1;
    case SLUICE_SDP_SETUP_PASSIVE:
        return remote == SLUICE_SDP_SETUP_ACTIVE || remote == SLUICE_SDP_SETUP_ACTPASS ? 0 : SLUICE_ERR_SDP;
    case SLUICE_SDP_SETUP_ACTPASS:
        if (remote == SLUICE_SDP_SETUP_ACTIVE) return 0;
        if (remote == SLUICE_SDP_SETUP_PASSIVE) return 1;
        return SLUICE_ERR_SDP;
    default:
        return SLUICE_ERR_INVALID_ARGUMENT;
    }
}
