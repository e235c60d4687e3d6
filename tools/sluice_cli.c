/*
 * sluice-cli: a command-line WebRTC data-channel peer for the interop harness.
 *
 *   sluice-cli --role offer|answer --scenario echo|bulk|unreliable|negotiated|maxsize|close|restart
 *              [--driver offer|answer] [--trickle 0|1] [--loopback] [--bind 127.0.0.1]
 *              [--result FILE] [--timeout S] [--bytes N] [--msg-size N] [--count N] [--echo-min N]
 *              [--echo-max N] [--echo-ready]
 *              [--ice-server URL]... [--turn-user U] [--turn-pass P] [--relay-only]
 *              [--verbose]
 *
 * Signaling is JSON lines on stdin/stdout; the scenarios, who drives and who validates,
 * and the result line are specified in interop/README.md (the aiortc and node peers
 * implement the same contract). Uses only the public API in sluice.h, plus OpenSSL's
 * SHA-256 for the bulk scenario. Exit status 0 = the scenario passed on both sides.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_json.h"
#include "sluice.h"

#define MAX_SLOTS 32
#define ECHO_COUNT 200
#define ECHO_WINDOW 16
#define UNREL_SIZE 100
#define BULK_CHUNK 65535
#define BULK_HIGH_WATER (4u << 20)
#define UNREL_HIGH_WATER (64u << 10)
#define BYE_WAIT_US (20 * 1000000ull)
#define MAX_LINE (16u << 20)
#define MAX_ICE_SERVERS 4

/* Same table as the interop peers (interop/peers): message i has size ECHO_SIZES[i % 25]. */
static const size_t ECHO_SIZES[] = {0, 1, 2, 3, 7, 15, 16, 100, 255, 256, 1000, 1023, 1024,
                                    1199, 1200, 1500, 2048, 4096, 8191, 16384, 16385, 32768,
                                    65000, 65535, 65536};
#define ECHO_NSIZES (sizeof ECHO_SIZES / sizeof ECHO_SIZES[0])

static const char *const SCENARIOS[] = {"echo", "bulk", "unreliable", "negotiated", "maxsize",
                                        "close", "restart"};
enum { SC_ECHO, SC_BULK, SC_UNREL, SC_NEGOTIATED, SC_MAXSIZE, SC_CLOSE, SC_RESTART, SC_COUNT };

typedef struct slot {
    sluice_channel *ch;
    char label[64];
    bool opened, closed;
    /* negotiated scenario */
    bool got_any;
    sluice_time next_hello;
} slot;

typedef struct cli {
    /* options */
    bool offerer, driver, trickle, loopback, verbose;
    const char *bind, *result_path;
    int scenario;
    double timeout_s;
    uint64_t bulk_bytes;
    size_t bulk_msg_size; /* 0: min(65535, remote max-message-size) */
    uint32_t unrel_count;
    size_t echo_max, echo_min;
    bool echo_ready; /* --echo-ready: the echo driver waits for the validator's "ready" */
    /* ICE servers (stun:/turn: URLs, one credential pair for all) and relay-only policy */
    const char *ice_urls[MAX_ICE_SERVERS];
    size_t nice;
    const char *turn_user, *turn_pass;
    bool relay_only;

    sluice_peer *pc;
    sluice_time t0, now, deadline, bye_deadline;
    int conn_state;
    char last_error[256]; /* reason of the last ERROR event, for failure messages */

    /* signaling */
    char *in;
    size_t in_len, in_cap;
    bool stdin_eof;
    bool remote_set;
    cli_json *pending[64];
    size_t npending;
    char *remote_sdp, *local_sdp;
    char *held_type, *held_sdp; /* non-trickle: SDP waiting for gathering to complete */
    cli_str held_cands;
    bool sent_end_of_candidates;

    slot slots[MAX_SLOTS];
    size_t nslots;
    uint8_t *rbuf;
    size_t rbuf_cap;

    /* outcome */
    bool done, ok, bye_sent;
    char err[512];
    cli_str details; /* JSON object members, comma separated */
    cli_json *peer_bye;

    /* scenario state */
    uint32_t sent, recv;
    uint8_t *pend; /* echo validator: message waiting for buffer space */
    size_t pend_len;
    bool pend_text, has_pend;
    uint64_t bytes;
    EVP_MD_CTX *sha;
    uint8_t *bulk_base;
    sluice_time t_first, grace_until, notice_until;
    uint8_t *seen;
    uint32_t dups, corrupt;
    int step;
    /* bench/run_peers.py: connect time (offer's arrival, or our start, to the first open
     * channel) and the unreliable validator's receive rate */
    sluice_time t_offer, t_unrel_first, t_unrel_last;
    bool open_noted;
    /* restart scenario: the remote ice-ufrag before the restart */
    char old_ufrag[257];
} cli;

static sluice_time now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sluice_time)ts.tv_sec * 1000000u + (sluice_time)ts.tv_nsec / 1000u;
}

static void logf_(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%8.3f sluice[%s] ", (double)(now_us() - c->t0) / 1e6,
            c->offerer ? "offer" : "answer");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void lib_log(void *user, sluice_log_level level, const char *module, const char *msg)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    logf_(user, "lib %s %s: %s", level <= SLUICE_LOG_TRACE ? names[level] : "?", module, msg);
}

static void fail(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(cli *c, const char *fmt, ...)
{
    if (c->done) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->done = true;
    c->ok = false;
    logf_(c, "FAIL: %s", c->err);
}

static void succeed(cli *c)
{
    if (!c->done) {
        c->done = true;
        c->ok = true;
        logf_(c, "own part done");
    }
}

static void detail_raw(cli *c, const char *key, const char *json)
{
    if (c->details.len) {
        cli_str_puts(&c->details, ",");
    }
    cli_str_json_string(&c->details, key, strlen(key));
    cli_str_puts(&c->details, ":");
    cli_str_puts(&c->details, json);
}

static void detail_u64(cli *c, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    detail_raw(c, key, buf);
}

static void detail_str(cli *c, const char *key, const char *v)
{
    cli_str s = {0};
    cli_str_json_string(&s, v, strlen(v));
    detail_raw(c, key, s.p ? s.p : "\"\"");
    cli_str_free(&s);
}

/* ------------------------------------------------------------------------------------ */
/* Signaling                                                                            */
/* ------------------------------------------------------------------------------------ */

static void send_line(cli *c, cli_str *s)
{
    if (s->failed) {
        fail(c, "out of memory building a signaling message");
        return;
    }
    cli_str_puts(s, "\n");
    size_t off = 0;
    while (off < s->len) {
        ssize_t n = write(STDOUT_FILENO, s->p + off, s->len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            logf_(c, "stdout write failed: %s", strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    cli_str_free(s);
}

static void send_description(cli *c, const char *type, const char *sdp)
{
    cli_str s = {0};
    cli_str_puts(&s, "{\"type\":");
    cli_str_json_string(&s, type, strlen(type));
    cli_str_puts(&s, ",\"sdp\":");
    cli_str_json_string(&s, sdp, strlen(sdp));
    cli_str_puts(&s, "}");
    logf_(c, "send %s (%zu bytes)", type, strlen(sdp));
    send_line(c, &s);
}

static void send_candidate(cli *c, const char *mid, int index, const char *cand)
{
    cli_str s = {0};
    cli_str_puts(&s, "{\"type\":\"candidate\",\"mid\":");
    cli_str_json_string(&s, mid ? mid : "0", strlen(mid ? mid : "0"));
    cli_str_printf(&s, ",\"index\":%d,\"candidate\":", index);
    cli_str_json_string(&s, cand ? cand : "", strlen(cand ? cand : ""));
    cli_str_puts(&s, "}");
    logf_(c, "send candidate %s", cand && *cand ? cand : "(end)");
    send_line(c, &s);
}

/* Non-trickle: the SDP goes out once gathering is complete, with a=candidate lines
 * (RFC 8839 §5.1) added to its single m-section. */
static void flush_held_sdp(cli *c)
{
    if (!c->held_sdp) {
        return;
    }
    /* Preferred: the library's local description with its gathered candidates. */
    size_t cap = strlen(c->held_sdp) + c->held_cands.len + 4096;
    char *full = malloc(cap);
    const char *type = NULL;
    int rc = full ? sluice_peer_local_description(c->pc, full, cap, &type) : SLUICE_ERR_NOMEM;
    if (rc > 0 && strstr(full, "a=candidate:")) {
        send_description(c, type ? type : c->held_type, full);
        free(full);
        free(c->held_sdp);
        free(c->held_type);
        c->held_sdp = c->held_type = NULL;
        return;
    }
    logf_(c, "local_description: %s; adding the candidates to the SDP ourselves",
          rc < 0 ? sluice_strerror(rc) : "no a=candidate in it");
    free(full);
    cli_str s = {0};
    cli_str_puts(&s, c->held_sdp);
    if (!strstr(c->held_sdp, "a=candidate:")) {
        if (s.len && s.p[s.len - 1] != '\n') {
            cli_str_puts(&s, "\r\n");
        }
        if (c->held_cands.p) {
            cli_str_puts(&s, c->held_cands.p);
        }
        cli_str_puts(&s, "a=end-of-candidates\r\n");
    }
    if (!s.failed) {
        send_description(c, c->held_type, s.p);
    } else {
        fail(c, "out of memory");
    }
    cli_str_free(&s);
    free(c->held_sdp);
    free(c->held_type);
    c->held_sdp = c->held_type = NULL;
}

static void apply_candidate(cli *c, const cli_json *m)
{
    const char *mid = cli_json_get_string(m, "mid");
    int index = (int)cli_json_get_number(m, "index", 0);
    const char *cand = cli_json_get_string(m, "candidate");
    int rc = sluice_peer_add_ice_candidate(c->pc, mid ? mid : "0", index, cand ? cand : "");
    if (rc < 0) {
        /* Not fatal: a peer may offer candidates we do not use (IPv6, TCP, mDNS). */
        logf_(c, "add_ice_candidate(%s): %s", cand ? cand : "(null)", sluice_strerror(rc));
    }
}

static void flush_pending(cli *c)
{
    for (size_t i = 0; i < c->npending; i++) {
        apply_candidate(c, c->pending[i]);
        cli_json_free(c->pending[i]);
    }
    c->npending = 0;
}

static void handle_line(cli *c, const char *line, size_t len)
{
    char err[128];
    cli_json *m = cli_json_parse(line, len, err, sizeof err);
    if (!m || m->type != CLI_JSON_OBJECT) {
        logf_(c, "bad signaling line (%s): %.200s", m ? "not an object" : err, line);
        cli_json_free(m);
        return;
    }
    const char *type = cli_json_get_string(m, "type");
    const char *sdp = cli_json_get_string(m, "sdp");
    if (type && (strcmp(type, "offer") == 0 || strcmp(type, "answer") == 0) && sdp) {
        logf_(c, "got %s (%zu bytes)", type, strlen(sdp));
        if (strcmp(type, "offer") == 0) {
            c->t_offer = now_us();
        }
        free(c->remote_sdp);
        c->remote_sdp = strdup(sdp);
        int rc = sluice_peer_set_remote_description(c->pc, type, sdp);
        if (rc < 0) {
            fail(c, "set_remote_description(%s): %s", type, sluice_strerror(rc));
        } else {
            c->remote_set = true;
            flush_pending(c);
        }
    } else if (type && strcmp(type, "candidate") == 0) {
        if (c->remote_set) {
            apply_candidate(c, m);
        } else if (c->npending < sizeof c->pending / sizeof c->pending[0]) {
            c->pending[c->npending++] = m;
            return;
        } else {
            logf_(c, "too many early candidates; dropped one");
        }
    } else if (type && strcmp(type, "bye") == 0) {
        logf_(c, "peer bye: %.*s", (int)(len < 2000 ? len : 2000), line);
        if (!c->peer_bye) {
            c->peer_bye = m;
            return;
        }
    } else {
        logf_(c, "ignoring signaling message: %.200s", line);
    }
    cli_json_free(m);
}

static void read_stdin(cli *c)
{
    if (c->in_cap - c->in_len < 65536) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
        if (cap > MAX_LINE + 65536) {
            fail(c, "signaling line longer than %u bytes", MAX_LINE);
            c->stdin_eof = true;
            return;
        }
        char *p = realloc(c->in, cap);
        if (!p) {
            fail(c, "out of memory");
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t n = read(STDIN_FILENO, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    if (n <= 0) {
        c->stdin_eof = true;
        logf_(c, "signaling input closed");
        return;
    }
    c->in_len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < c->in_len; i++) {
        if (c->in[i] == '\n') {
            if (i > start) {
                handle_line(c, c->in + start, i - start);
            }
            start = i + 1;
        }
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
}

/* ------------------------------------------------------------------------------------ */
/* Channels and events                                                                  */
/* ------------------------------------------------------------------------------------ */

static slot *add_slot(cli *c, sluice_channel *ch)
{
    for (size_t i = 0; i < c->nslots; i++) {
        if (c->slots[i].ch == ch) {
            return &c->slots[i];
        }
    }
    if (c->nslots == MAX_SLOTS) {
        fail(c, "more than %d channels", MAX_SLOTS);
        return NULL;
    }
    slot *s = &c->slots[c->nslots++];
    memset(s, 0, sizeof *s);
    s->ch = ch;
    snprintf(s->label, sizeof s->label, "%s", sluice_channel_label(ch));
    return s;
}

static slot *find_slot(cli *c, const char *label)
{
    for (size_t i = 0; i < c->nslots; i++) {
        if (strcmp(c->slots[i].label, label) == 0) {
            return &c->slots[i];
        }
    }
    return NULL;
}

/* The channel `label` once it is OPEN, else NULL. */
static slot *open_slot(cli *c, const char *label)
{
    slot *s = find_slot(c, label);
    return s && sluice_channel_ready_state(s->ch) == SLUICE_CHANNEL_OPEN ? s : NULL;
}

static bool is_closed(const slot *s)
{
    return s && (s->closed || sluice_channel_ready_state(s->ch) == SLUICE_CHANNEL_CLOSED);
}

static void create_channel(cli *c, const char *label, const sluice_channel_options *o)
{
    sluice_channel *ch = NULL;
    int rc = sluice_peer_create_channel(c->pc, label, o, &ch);
    if (rc < 0) {
        fail(c, "create_channel(%s): %s", label, sluice_strerror(rc));
        return;
    }
    add_slot(c, ch);
}

static const char *slot_name(cli *c, sluice_channel *ch)
{
    for (size_t i = 0; i < c->nslots; i++) {
        if (c->slots[i].ch == ch) {
            return c->slots[i].label;
        }
    }
    return "?";
}

static void handle_event(cli *c, const sluice_event *ev)
{
    static const char *const conn[] = {"new", "connecting", "connected", "disconnected",
                                       "failed", "closed"};
    slot *s;
    switch (ev->type) {
    case SLUICE_EVENT_SESSION_DESCRIPTION: {
        int rc = sluice_peer_set_local_description(c->pc, ev->sdp_type, ev->sdp);
        if (rc < 0) {
            fail(c, "set_local_description(%s): %s", ev->sdp_type, sluice_strerror(rc));
            return;
        }
        free(c->local_sdp);
        c->local_sdp = strdup(ev->sdp);
        if (c->trickle) {
            send_description(c, ev->sdp_type, ev->sdp);
        } else {
            free(c->held_sdp);
            free(c->held_type);
            c->held_sdp = strdup(ev->sdp);
            c->held_type = strdup(ev->sdp_type);
            if (sluice_peer_gathering_state(c->pc) == SLUICE_GATHERING_COMPLETE) {
                flush_held_sdp(c);
            }
        }
        break;
    }
    case SLUICE_EVENT_ICE_CANDIDATE:
        if (c->trickle) {
            send_candidate(c, ev->mid, ev->mline_index, ev->candidate);
            if (!ev->candidate || !*ev->candidate) {
                c->sent_end_of_candidates = true;
            }
        } else if (ev->candidate && *ev->candidate) {
            logf_(c, "local candidate %s", ev->candidate);
            cli_str_printf(&c->held_cands, "a=%s\r\n", ev->candidate);
        } else {
            flush_held_sdp(c);
        }
        break;
    case SLUICE_EVENT_GATHERING_STATE:
        logf_(c, "gathering state %d", ev->state);
        if (ev->state == SLUICE_GATHERING_GATHERING) {
            c->sent_end_of_candidates = false; /* again after an ICE restart */
        }
        if (ev->state == SLUICE_GATHERING_COMPLETE) {
            if (c->trickle && !c->sent_end_of_candidates) {
                send_candidate(c, "0", 0, "");
                c->sent_end_of_candidates = true;
            }
            flush_held_sdp(c);
        }
        break;
    case SLUICE_EVENT_SIGNALING_STATE:
        logf_(c, "signaling state %d", ev->state);
        break;
    case SLUICE_EVENT_CONNECTION_STATE:
        c->conn_state = ev->state;
        logf_(c, "connection state %s%s%s", ev->state >= 0 && ev->state <= 5 ? conn[ev->state] : "?",
              ev->reason && *ev->reason ? ": " : "", ev->reason ? ev->reason : "");
        if (ev->state == SLUICE_CONNECTION_FAILED && !(c->scenario == SC_CLOSE && !c->driver)) {
            fail(c, "connection failed: %s", ev->reason && *ev->reason ? ev->reason : c->last_error);
        }
        break;
    case SLUICE_EVENT_DATA_CHANNEL:
        s = add_slot(c, ev->channel);
        if (s) {
            logf_(c, "data channel received: '%s' id=%u negotiated=%d ordered=%d", s->label,
                  sluice_channel_id(ev->channel), sluice_channel_negotiated(ev->channel),
                  sluice_channel_ordered(ev->channel));
        }
        break;
    case SLUICE_EVENT_CHANNEL_OPEN:
        s = add_slot(c, ev->channel);
        if (s) {
            s->opened = true;
            logf_(c, "channel '%s' open (id %u)", s->label, sluice_channel_id(ev->channel));
            if (!c->open_noted) {
                c->open_noted = true;
                detail_u64(c, "connect_ms", (now_us() - (c->t_offer ? c->t_offer : c->t0)) / 1000);
            }
        }
        break;
    case SLUICE_EVENT_CHANNEL_CLOSING:
        logf_(c, "channel '%s' closing", slot_name(c, ev->channel));
        break;
    case SLUICE_EVENT_CHANNEL_CLOSED:
        s = add_slot(c, ev->channel);
        if (s) {
            s->closed = true;
        }
        logf_(c, "channel '%s' closed%s%s", slot_name(c, ev->channel),
              ev->reason && *ev->reason ? ": " : "", ev->reason ? ev->reason : "");
        break;
    case SLUICE_EVENT_ERROR:
        logf_(c, "error event %s: %s", sluice_strerror(ev->error), ev->reason ? ev->reason : "");
        snprintf(c->last_error, sizeof c->last_error, "%s: %s", sluice_strerror(ev->error),
                 ev->reason ? ev->reason : "");
        break;
    default:
        break;
    }
}

/* Take the next message of `s` into c->rbuf. Returns its length, or -1 when none. */
static int64_t take(cli *c, slot *s, bool *is_text)
{
    if (!s || sluice_channel_available(s->ch) == 0) {
        return -1;
    }
    int64_t need = sluice_channel_next_size(s->ch);
    if (need < 0) {
        return -1;
    }
    if ((size_t)need + 1 > c->rbuf_cap) {
        size_t cap = (size_t)need + 1;
        uint8_t *p = realloc(c->rbuf, cap);
        if (!p) {
            fail(c, "out of memory");
            return -1;
        }
        c->rbuf = p;
        c->rbuf_cap = cap;
    }
    int64_t n = sluice_channel_recv(s->ch, c->rbuf, c->rbuf_cap, is_text);
    if (n < 0) {
        fail(c, "recv on '%s': %s", s->label, sluice_strerror((int)n));
        return -1;
    }
    return n;
}

/* RFC 8841 §6: absent means 65536, 0 means no limit (returned as 0). */
static size_t sdp_max_message_size(const char *sdp)
{
    const char *p = sdp ? strstr(sdp, "a=max-message-size:") : NULL;
    if (!p) {
        return 65536;
    }
    return (size_t)strtoull(p + strlen("a=max-message-size:"), NULL, 10);
}

#include "sluice_cli_scenarios.inc"

/* ------------------------------------------------------------------------------------ */
/* Main                                                                                 */
/* ------------------------------------------------------------------------------------ */

static void write_result(cli *c)
{
    cli_str s = {0};
    cli_str_printf(&s, "{\"peer\":\"sluice\",\"version\":\"%s\",\"role\":\"%s\",\"scenario\":\"%s\","
                       "\"driver\":%s,\"ok\":%s,\"error\":",
                   sluice_version(), c->offerer ? "offer" : "answer", SCENARIOS[c->scenario],
                   c->driver ? "true" : "false", c->ok ? "true" : "false");
    if (c->ok) {
        cli_str_puts(&s, "null");
    } else {
        cli_str_json_string(&s, c->err, strlen(c->err));
    }
    cli_str_printf(&s, ",\"elapsed_ms\":%" PRIu64 ",\"details\":{", (now_us() - c->t0) / 1000);
    if (c->details.p) {
        cli_str_puts(&s, c->details.p);
    }
    cli_str_puts(&s, "}");
    const cli_json *pr = c->peer_bye ? cli_json_get(c->peer_bye, "result") : NULL;
    if (pr) {
        cli_str_puts(&s, ",\"peer_result\":");
        cli_str_json_value(&s, pr);
    }
    cli_str_puts(&s, "}\n");
    if (s.failed) {
        cli_str_free(&s);
        return;
    }
    FILE *f = c->result_path ? fopen(c->result_path, "w") : stderr;
    if (f) {
        fputs(s.p, f);
        if (f != stderr) {
            fclose(f);
        }
    }
    cli_str_free(&s);
}

/* With ICE servers: which pair carried the data (a relayed run checks it is the TURN one). */
static void note_selected_pair(cli *c)
{
    sluice_peer_stats st;
    if (sluice_peer_get_stats(c->pc, &st) != SLUICE_OK || !st.has_selected_pair) {
        return;
    }
    char l[64], r[64];
    sluice_addr_format(&st.selected_local, l, sizeof l);
    sluice_addr_format(&st.selected_remote, r, sizeof r);
    logf_(c, "selected pair %s -> %s", l, r);
    detail_str(c, "selected_local", l);
    detail_str(c, "selected_remote", r);
}

static void send_bye(cli *c)
{
    cli_str s = {0};
    cli_str_printf(&s, "{\"type\":\"bye\",\"ok\":%s,\"result\":{\"peer\":\"sluice\",\"version\":\"%s\","
                       "\"role\":\"%s\",\"scenario\":\"%s\",\"driver\":%s,\"ok\":%s,\"error\":",
                   c->ok ? "true" : "false", sluice_version(), c->offerer ? "offer" : "answer",
                   SCENARIOS[c->scenario], c->driver ? "true" : "false", c->ok ? "true" : "false");
    if (c->ok) {
        cli_str_puts(&s, "null");
    } else {
        cli_str_json_string(&s, c->err, strlen(c->err));
    }
    cli_str_printf(&s, ",\"elapsed_ms\":%" PRIu64 ",\"details\":{%s}}}", (now_us() - c->t0) / 1000,
                   c->details.p ? c->details.p : "");
    send_line(c, &s);
    c->bye_sent = true;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sluice-cli --role offer|answer --scenario "
            "echo|bulk|unreliable|negotiated|maxsize|close|restart\n"
            "       [--driver offer|answer] [--trickle 0|1] [--loopback] [--bind IP]\n"
            "       [--result FILE] [--timeout S] [--bytes N] [--msg-size N] [--count N] [--echo-min N] [--echo-max N] [--echo-ready] "
            "[--verbose]\n"
            "       [--ice-server URL]... [--turn-user U] [--turn-pass P] [--relay-only]\n");
}

static int parse_args(cli *c, int argc, char **argv)
{
    const char *role = NULL, *scenario = NULL, *driver = "offer";
    c->trickle = true;
    c->timeout_s = 60;
    c->bulk_bytes = 64u << 20;
    c->unrel_count = 20000;
    c->echo_max = 65536;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--role") == 0 && v) {
            role = v;
        } else if (strcmp(a, "--scenario") == 0 && v) {
            scenario = v;
        } else if (strcmp(a, "--driver") == 0 && v) {
            driver = v;
        } else if (strcmp(a, "--trickle") == 0 && v) {
            c->trickle = strcmp(v, "0") != 0;
        } else if (strcmp(a, "--bind") == 0 && v) {
            c->bind = v;
        } else if (strcmp(a, "--result") == 0 && v) {
            c->result_path = v;
        } else if (strcmp(a, "--timeout") == 0 && v) {
            c->timeout_s = strtod(v, NULL);
        } else if (strcmp(a, "--bytes") == 0 && v) {
            c->bulk_bytes = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--msg-size") == 0 && v) {
            c->bulk_msg_size = (size_t)strtoull(v, NULL, 10);
        } else if (strcmp(a, "--count") == 0 && v) {
            c->unrel_count = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--echo-min") == 0 && v) {
            c->echo_min = (size_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--echo-ready") == 0) {
            c->echo_ready = true;
            takes = false;
        } else if (strcmp(a, "--echo-max") == 0 && v) {
            c->echo_max = (size_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--ice-server") == 0 && v && c->nice < MAX_ICE_SERVERS) {
            c->ice_urls[c->nice++] = v;
        } else if (strcmp(a, "--turn-user") == 0 && v) {
            c->turn_user = v;
        } else if (strcmp(a, "--turn-pass") == 0 && v) {
            c->turn_pass = v;
        } else if (strcmp(a, "--relay-only") == 0) {
            c->relay_only = true;
            takes = false;
        } else if (strcmp(a, "--loopback") == 0) {
            c->loopback = true;
            takes = false;
        } else if (strcmp(a, "--verbose") == 0) {
            c->verbose = true;
            takes = false;
        } else {
            fprintf(stderr, "sluice-cli: unknown or incomplete option %s\n", a);
            return -1;
        }
        i += takes;
    }
    if (!role || (strcmp(role, "offer") != 0 && strcmp(role, "answer") != 0) ||
        (strcmp(driver, "offer") != 0 && strcmp(driver, "answer") != 0) || !scenario ||
        c->timeout_s <= 0 || c->unrel_count == 0) {
        return -1;
    }
    c->offerer = strcmp(role, "offer") == 0;
    c->driver = strcmp(role, driver) == 0;
    c->scenario = -1;
    for (int i = 0; i < SC_COUNT; i++) {
        if (strcmp(scenario, SCENARIOS[i]) == 0) {
            c->scenario = i;
        }
    }
    return c->scenario < 0 ? -1 : 0;
}

static int run(cli *c)
{
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.ice_loopback = c->loopback || (c->bind && strncmp(c->bind, "127.", 4) == 0);
    if (c->bind) {
        cfg.bind_address = c->bind;
        cfg.ice_ipv6 = strchr(c->bind, ':') != NULL;
    }
    sluice_ice_server servers[MAX_ICE_SERVERS];
    for (size_t i = 0; i < c->nice; i++) {
        servers[i] = (sluice_ice_server){.urls = &c->ice_urls[i], .urls_count = 1,
                                         .username = c->turn_user, .credential = c->turn_pass};
    }
    cfg.ice_servers = c->nice ? servers : NULL;
    cfg.ice_servers_count = c->nice;
    cfg.ice_policy = c->relay_only ? SLUICE_ICE_POLICY_RELAY : SLUICE_ICE_POLICY_ALL;
    cfg.log_fn = lib_log;
    cfg.log_user = c;
    cfg.log_level = c->verbose ? SLUICE_LOG_DEBUG : SLUICE_LOG_INFO;
    int rc = sluice_peer_new(&c->pc, &cfg, NULL, c);
    if (rc < 0) {
        fprintf(stderr, "sluice-cli: sluice_peer_new: %s\n", sluice_strerror(rc));
        return 1;
    }
    c->deadline = c->t0 + (sluice_time)(c->timeout_s * 1e6);
    scenario_setup(c);
    if (c->offerer && !c->done) {
        rc = sluice_peer_create_offer(c->pc);
        if (rc < 0) {
            fail(c, "create_offer: %s", sluice_strerror(rc));
        }
    }
    for (;;) {
        c->now = now_us();
        if (!c->done && c->now >= c->deadline) {
            char missing[256] = "";
            for (size_t i = 0; c->scenario == SC_NEGOTIATED && i < c->nslots; i++) {
                if (!c->slots[i].got_any) {
                    size_t l = strlen(missing);
                    snprintf(missing + l, sizeof missing - l, "%s%s", l ? "," : "; nothing on ",
                             c->slots[i].label);
                }
            }
            fail(c, "scenario timed out after %gs (sent %u, received %u, %" PRIu64 " bytes%s)",
                 c->timeout_s, c->sent, c->recv, c->bytes, missing);
        }
        if (c->done && !c->bye_sent) {
            if (c->nice) {
                note_selected_pair(c);
            }
            send_bye(c);
            c->bye_deadline = c->now + BYE_WAIT_US;
            if (c->scenario == SC_CLOSE && c->driver) {
                logf_(c, "closing the peer connection");
                sluice_peer_close(c->pc);
            }
        }
        if (c->bye_sent && (c->peer_bye || c->now >= c->bye_deadline || c->stdin_eof)) {
            break;
        }
        if (!c->bye_sent && c->stdin_eof && !c->peer_bye) {
            fail(c, "signaling closed before the peer's bye");
            continue;
        }

        struct pollfd pfd[1 + MAX_SLOTS];
        nfds_t n = 0;
        if (!c->stdin_eof) {
            pfd[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        int fds[MAX_SLOTS];
        int nf = sluice_peer_fds(c->pc, fds, MAX_SLOTS);
        for (int i = 0; i < nf && i < MAX_SLOTS; i++) {
            pfd[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        }
        int to = sluice_peer_timeout_ms(c->pc);
        int sto = scenario_wake_ms(c);
        if (to < 0 || (sto >= 0 && sto < to)) {
            to = sto;
        }
        if (to < 0 || to > 100) {
            to = 100; /* deadlines of our own (timeout, bye wait) */
        }
        if (poll(pfd, n, to) < 0 && errno != EINTR) {
            fail(c, "poll: %s", strerror(errno));
        }
        if (!c->stdin_eof && n > 0 && pfd[0].fd == STDIN_FILENO &&
            (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            read_stdin(c);
        }
        rc = sluice_peer_poll(c->pc);
        if (rc < 0 && rc != SLUICE_ERR_CLOSED) {
            logf_(c, "sluice_peer_poll: %s", sluice_strerror(rc));
        }
        sluice_event ev;
        while (sluice_peer_poll_event(c->pc, &ev) == 1) {
            handle_event(c, &ev);
        }
        c->now = now_us();
        scenario_step(c);
    }

    /* Cross-check our details with the peer's bye (sha256 for bulk, ...). */
    if (c->peer_bye) {
        const cli_json *pr = cli_json_get(c->peer_bye, "result");
        if (!cli_json_get_bool(c->peer_bye, "ok", false)) {
            const char *pe = cli_json_get_string(pr, "error");
            if (c->ok) {
                snprintf(c->err, sizeof c->err, "peer failed: %s", pe ? pe : "(no reason)");
            }
            c->ok = false;
        } else if (c->ok) {
            scenario_cross_check(c, cli_json_get(pr, "details"));
        }
    } else if (c->ok) {
        c->ok = false;
        snprintf(c->err, sizeof c->err, "no bye from the peer");
    }
    logf_(c, "result: %s%s%s", c->ok ? "PASS" : "FAIL", c->ok ? "" : ": ", c->ok ? "" : c->err);
    write_result(c);
    return c->ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    cli *c = calloc(1, sizeof *c);
    if (!c) {
        return 1;
    }
    c->t0 = now_us();
    int rc = 2;
    if (parse_args(c, argc, argv) < 0) {
        usage();
    } else {
        rc = run(c);
    }
    sluice_peer_free(c->pc);
    scenario_free(c);
    cli_json_free(c->peer_bye);
    for (size_t i = 0; i < c->npending; i++) {
        cli_json_free(c->pending[i]);
    }
    free(c->in);
    free(c->rbuf);
    free(c->remote_sdp);
    free(c->local_sdp);
    free(c->held_sdp);
    free(c->held_type);
    cli_str_free(&c->held_cands);
    cli_str_free(&c->details);
    free(c);
    return rc;
}
