/* Strict JSON reader/writer for the interop signaling lines (see cli_json.h). */
#include "cli_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_JSON_MAX_DEPTH 16

typedef struct parser {
    const char *start, *p, *end;
    char *err;
    size_t errcap;
    bool failed;
} parser;

static void fail(parser *ps, const char *why)
{
    if (!ps->failed && ps->err && ps->errcap) {
        snprintf(ps->err, ps->errcap, "%s at offset %td", why, ps->p - ps->start);
    }
    ps->failed = true;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static cli_json *node(parser *ps, cli_json_type t)
{
    cli_json *v = calloc(1, sizeof *v);
    if (!v) {
        fail(ps, "out of memory");
        return NULL;
    }
    v->type = t;
    return v;
}

static bool lit(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail(ps, "bad literal");
        return false;
    }
    ps->p += n;
    return true;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629 §4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

static char *parse_string_raw(parser *ps, size_t *outlen)
{
    /* Unescaped output is never longer than the input. */
    const char *start = ++ps->p; /* after the quote */
    const char *q = start;
    while (q < ps->end && *q != '"') {
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    }
    if (q >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    char *out = malloc((size_t)(q - start) + 1);
    if (!out) {
        fail(ps, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while (ps->p < q) {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            fail(ps, "control character in string");
            goto bad;
        }
        if (c != '\\') {
            size_t l = utf8_len((const unsigned char *)ps->p, (const unsigned char *)q);
            if (l == 0) {
                fail(ps, "invalid UTF-8 in string");
                goto bad;
            }
            memcpy(out + n, ps->p, l);
            n += l;
            ps->p += l;
            continue;
        }
        ps->p++;
        char e = *ps->p++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            if (q - ps->p < 4) {
                fail(ps, "short \\u escape");
                goto bad;
            }
            int u = hex4(ps->p);
            if (u < 0) {
                fail(ps, "bad \\u escape");
                goto bad;
            }
            ps->p += 4;
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(ps, "lone low surrogate");
                goto bad;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = (q - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') ? hex4(ps->p + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail(ps, "lone high surrogate");
                    goto bad;
                }
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            }
            if (cp == 0) {
                fail(ps, "NUL in string");
                goto bad;
            }
            /* A \uXXXX (6 bytes, or 12 for a pair) never expands past 4 bytes. */
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            fail(ps, "bad escape");
            goto bad;
        }
    }
    ps->p = q + 1;
    out[n] = '\0';
    *outlen = n;
    return out;
bad:
    free(out);
    return NULL;
}

static cli_json *parse_value(parser *ps, int depth);

static cli_json *parse_number(parser *ps)
{
    const char *s = ps->p;
    const char *q = s;
    if (q < ps->end && *q == '-') {
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9') {
        fail(ps, "bad number");
        return NULL;
    }
    if (*q == '0') {
        q++;
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, "bad fraction");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= ps->end || *q < '0' || *q > '9') {
            fail(ps, "bad exponent");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    char buf[64];
    size_t n = (size_t)(q - s);
    if (n >= sizeof buf) {
        fail(ps, "number too long");
        return NULL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    cli_json *v = node(ps, CLI_JSON_NUMBER);
    if (v) {
        v->number = strtod(buf, NULL);
        if (!isfinite(v->number)) {
            free(v);
            fail(ps, "number out of range");
            return NULL;
        }
    }
    ps->p = q;
    return v;
}

static cli_json *parse_container(parser *ps, int depth, bool is_obj)
{
    cli_json *v = node(ps, is_obj ? CLI_JSON_OBJECT : CLI_JSON_ARRAY);
    if (!v) {
        return NULL;
    }
    char close = is_obj ? '}' : ']';
    cli_json **tail = &v->child;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t keylen;
        if (is_obj) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a key");
                break;
            }
            key = parse_string_raw(ps, &keylen);
            if (!key) {
                break;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail(ps, "expected ':'");
                break;
            }
            ps->p++;
        }
        cli_json *item = parse_value(ps, depth + 1);
        if (!item) {
            free(key);
            break;
        }
        item->key = key;
        *tail = item;
        tail = &item->next;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    cli_json_free(v);
    return NULL;
}

static cli_json *parse_value(parser *ps, int depth)
{
    if (depth > CLI_JSON_MAX_DEPTH) {
        fail(ps, "nested too deeply");
        return NULL;
    }
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end");
        return NULL;
    }
    cli_json *v;
    switch (*ps->p) {
    case '{':
        return parse_container(ps, depth, true);
    case '[':
        return parse_container(ps, depth, false);
    case '"': {
        size_t n;
        char *s = parse_string_raw(ps, &n);
        if (!s) {
            return NULL;
        }
        v = node(ps, CLI_JSON_STRING);
        if (!v) {
            free(s);
            return NULL;
        }
        v->string = s;
        v->string_len = n;
        return v;
    }
    case 't':
        if (!lit(ps, "true")) {
            return NULL;
        }
        v = node(ps, CLI_JSON_BOOL);
        if (v) {
            v->boolean = true;
        }
        return v;
    case 'f':
        return lit(ps, "false") ? node(ps, CLI_JSON_BOOL) : NULL;
    case 'n':
        return lit(ps, "null") ? node(ps, CLI_JSON_NULL) : NULL;
    default:
        return parse_number(ps);
    }
}

cli_json *cli_json_parse(const char *text, size_t len, char *err, size_t errcap)
{
    parser ps = {text, text, text + len, err, errcap, false};
    if (err && errcap) {
        err[0] = '\0';
    }
    cli_json *v = parse_value(&ps, 0);
    if (!v) {
        return NULL;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing characters");
        cli_json_free(v);
        return NULL;
    }
    return v;
}

void cli_json_free(cli_json *v)
{
    while (v) {
        cli_json *next = v->next;
        cli_json_free(v->child);
        free(v->string);
        free(v->key);
        free(v);
        v = next;
    }
}

const cli_json *cli_json_get(const cli_json *obj, const char *key)
{
    if (!obj || obj->type != CLI_JSON_OBJECT) {
        return NULL;
    }
    for (const cli_json *m = obj->child; m; m = m->next) {
        if (strcmp(m->key, key) == 0) {
            return m;
        }
    }
    return NULL;
}

const char *cli_json_get_string(const cli_json *obj, const char *key)
{
    const cli_json *m = cli_json_get(obj, key);
    return m && m->type == CLI_JSON_STRING ? m->string : NULL;
}

double cli_json_get_number(const cli_json *obj, const char *key, double dflt)
{
    const cli_json *m = cli_json_get(obj, key);
    return m && m->type == CLI_JSON_NUMBER ? m->number : dflt;
}

bool cli_json_get_bool(const cli_json *obj, const char *key, bool dflt)
{
    const cli_json *m = cli_json_get(obj, key);
    return m && m->type == CLI_JSON_BOOL ? m->boolean : dflt;
}

void cli_str_free(cli_str *s)
{
    free(s->p);
    memset(s, 0, sizeof *s);
}

void cli_str_append(cli_str *s, const char *text, size_t len)
{
    if (s->failed) {
        return;
    }
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + len + 1) {
            cap *= 2;
        }
        char *p = realloc(s->p, cap);
        if (!p) {
            s->failed = true;
            return;
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, text, len);
    s->len += len;
    s->p[s->len] = '\0';
}

void cli_str_puts(cli_str *s, const char *text)
{
    cli_str_append(s, text, strlen(text));
}

void cli_str_printf(cli_str *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->failed = true;
        return;
    }
    if ((size_t)n < sizeof buf) {
        cli_str_append(s, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        s->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    cli_str_append(s, big, (size_t)n);
    free(big);
}

void cli_str_json_string(cli_str *s, const char *text, size_t len)
{
    cli_str_append(s, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            cli_str_append(s, text + run, i - run);
            cli_str_puts(s, esc);
            run = i + 1;
        }
    }
    cli_str_append(s, text + run, len - run);
    cli_str_append(s, "\"", 1);
}

void cli_str_json_value(cli_str *s, const cli_json *v)
{
    switch (v->type) {
    case CLI_JSON_NULL: cli_str_puts(s, "null"); break;
    case CLI_JSON_BOOL: cli_str_puts(s, v->boolean ? "true" : "false"); break;
    case CLI_JSON_NUMBER:
        if (v->number == floor(v->number) && fabs(v->number) < 9e15) {
            cli_str_printf(s, "%.0f", v->number);
        } else {
            cli_str_printf(s, "%.17g", v->number);
        }
        break;
    case CLI_JSON_STRING: cli_str_json_string(s, v->string, v->string_len); break;
    case CLI_JSON_ARRAY:
    case CLI_JSON_OBJECT: {
        bool obj = v->type == CLI_JSON_OBJECT;
        cli_str_append(s, obj ? "{" : "[", 1);
        for (const cli_json *m = v->child; m; m = m->next) {
            if (m != v->child) {
                cli_str_append(s, ",", 1);
            }
            if (obj) {
                cli_str_json_string(s, m->key, strlen(m->key));
                cli_str_append(s, ":", 1);
            }
            cli_str_json_value(s, m);
        }
        cli_str_append(s, obj ? "}" : "]", 1);
        break;
    }
    }
}
