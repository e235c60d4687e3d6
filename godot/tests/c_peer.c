/*
 * A sluice peer in plain C that Godot (through the sluice plugin) connects to.
 *
 * Signaling: one TCP connection on 127.0.0.1 (the port, ephemeral, is printed first as
 * "PORT n"), one message per line, tab-separated fields with \\ \n \r \t escaped:
 *   sdp <type> <sdp>      cand <mid> <index> <candidate>      done      vanish
 * Godot offers. This peer echoes every message it receives on any channel (same channel,
 * same text/binary kind), opens its own in-band channel "from-peer" once connected and sends
 * a text and a binary message on it. Exit 0 when Godot said "done" after at least three
 * echoes and the "from-peer" messages went out; 1 otherwise; 2 on timeout. "vanish" ends
 * the process at once with the same verdict, without closing anything: the peer simply
 * goes silent, as a crashed or unplugged player does.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"

typedef struct app {
    int fd;
    sluice_peer *pc;
    sluice_channel *mine;
    int echoed;
    bool mine_sent;
    bool done;
    bool vanish;
    char in[1 << 17];
    size_t in_len;
} app;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_all(app *a, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(a->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            a->done = true;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Appends `s` escaped to `out` (capacity checked); returns the new length. */
static size_t put_escaped(char *out, size_t len, size_t cap, const char *s) {
    for (; *s && len + 2 < cap; s++) {
        char e = *s == '\\' ? '\\' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : *s == '\t' ? 't' : 0;
        if (e) {
            out[len++] = '\\';
            out[len++] = e;
        } else {
            out[len++] = *s;
        }
    }
    return len;
}

static void send_msg(app *a, const char *kind, const char *f1, const char *f2, const char *f3) {
    static const size_t cap = 1 << 16;
    char *out = malloc(cap);
    if (!out) return;
    size_t len = put_escaped(out, 0, cap, kind);
    const char *fields[3] = {f1, f2, f3};
    for (int i = 0; i < 3 && fields[i]; i++) {
        out[len++] = '\t';
        len = put_escaped(out, len, cap, fields[i]);
    }
    out[len++] = '\n';
    send_all(a, out, len);
    free(out);
}

/* Splits a line in place into unescaped fields. Returns the field count. */
static int split_fields(char *line, char **fields, int max) {
    int n = 0;
    char *w = line;
    fields[n++] = w;
    for (char *r = line; *r; r++) {
        if (*r == '\t' && n < max) {
            *w++ = '\0';
            fields[n++] = w;
        } else if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 'r' ? '\r' : *r == 't' ? '\t' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return n;
}

static void handle_line(app *a, char *line) {
    char *f[5];
    int n = split_fields(line, f, 5);
    if (strcmp(f[0], "sdp") == 0 && n >= 3) {
        int rc = sluice_peer_set_remote_description(a->pc, f[1], f[2]);
        if (rc != SLUICE_OK) fprintf(stderr, "c_peer: set_remote_description: %s\n", sluice_strerror(rc));
    } else if (strcmp(f[0], "cand") == 0 && n >= 4) {
        int rc = sluice_peer_add_ice_candidate(a->pc, f[1], atoi(f[2]), f[3]);
        if (rc != SLUICE_OK) fprintf(stderr, "c_peer: add_ice_candidate: %s\n", sluice_strerror(rc));
    } else if (strcmp(f[0], "done") == 0) {
        a->done = true;
    } else if (strcmp(f[0], "vanish") == 0) {
        a->done = a->vanish = true;
    }
}

static void echo_all(app *a, sluice_channel *ch) {
    static uint8_t buf[1 << 18];
    bool is_text;
    int64_t n;
    while ((n = sluice_channel_recv(ch, buf, sizeof buf, &is_text)) >= 0) {
        if (ch == a->mine) continue; /* Godot does not write on ours */
        if (sluice_channel_send(ch, buf, (size_t)n, is_text) == SLUICE_OK) a->echoed++;
    }
}

static void on_event(sluice_peer *pc, const sluice_event *ev, void *user) {
    app *a = user;
    switch (ev->type) {
    case SLUICE_EVENT_SESSION_DESCRIPTION:
        sluice_peer_set_local_description(pc, ev->sdp_type, ev->sdp);
        send_msg(a, "sdp", ev->sdp_type, ev->sdp, NULL);
        break;
    case SLUICE_EVENT_ICE_CANDIDATE:
        if (ev->candidate && ev->candidate[0]) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", ev->mline_index);
            send_msg(a, "cand", ev->mid, idx, ev->candidate);
        }
        break;
    case SLUICE_EVENT_CONNECTION_STATE:
        fprintf(stderr, "c_peer: connection state %d\n", ev->state);
        if (ev->state == SLUICE_CONNECTION_CONNECTED && !a->mine) {
            /* W3C allows channels after connecting; Godot will get data_channel_received. */
            if (sluice_peer_create_channel(pc, "from-peer", NULL, &a->mine) != SLUICE_OK) a->mine = NULL;
        }
        break;
    case SLUICE_EVENT_DATA_CHANNEL:
        fprintf(stderr, "c_peer: channel '%s' received\n", sluice_channel_label(ev->channel));
        break;
    case SLUICE_EVENT_CHANNEL_OPEN:
        if (ev->channel == a->mine && !a->mine_sent) {
            static const uint8_t bin[3] = {0xC0, 0xFF, 0xEE};
            a->mine_sent = sluice_channel_send(a->mine, "hello from the peer", 19, true) == SLUICE_OK &&
                           sluice_channel_send(a->mine, bin, sizeof bin, false) == SLUICE_OK;
        }
        break;
    case SLUICE_EVENT_CHANNEL_MESSAGE:
        echo_all(a, ev->channel);
        break;
    case SLUICE_EVENT_CHANNEL_CLOSED:
        fprintf(stderr, "c_peer: channel '%s' closed\n", sluice_channel_label(ev->channel));
        break;
    default:
        break;
    }
}

int main(void) {
    static app a;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
        perror("c_peer: listen");
        return 1;
    }
    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);

    long long deadline = now_ms() + 60000;
    struct pollfd lp = {ls, POLLIN, 0};
    if (poll(&lp, 1, 30000) <= 0 || (a.fd = accept(ls, NULL, NULL)) < 0) {
        fprintf(stderr, "c_peer: nobody connected\n");
        return 2;
    }
    close(ls);

    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.ice_loopback = true;
    cfg.bind_address = "127.0.0.1";
    sluice_callbacks cb = {on_event};
    if (sluice_peer_new(&a.pc, &cfg, &cb, &a) != SLUICE_OK) return 1;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    o.negotiated = true;
    o.has_id = true;
    o.id = 7;
    sluice_channel *neg;
    if (sluice_peer_create_channel(a.pc, "neg", &o, &neg) != SLUICE_OK) return 1;

    int rc = 2;
    while (now_ms() < deadline) {
        struct pollfd p = {a.fd, POLLIN, 0};
        int t = sluice_peer_timeout_ms(a.pc);
        if (poll(&p, 1, t < 0 || t > 5 ? 5 : t) > 0) {
            ssize_t n = recv(a.fd, a.in + a.in_len, sizeof a.in - 1 - a.in_len, 0);
            if (n <= 0) {
                fprintf(stderr, "c_peer: signaling closed\n");
                break;
            }
            a.in_len += (size_t)n;
            char *start = a.in, *nl;
            while ((nl = memchr(start, '\n', a.in_len - (size_t)(start - a.in)))) {
                *nl = '\0';
                handle_line(&a, start);
                start = nl + 1;
            }
            a.in_len -= (size_t)(start - a.in);
            memmove(a.in, start, a.in_len);
            if (a.in_len == sizeof a.in - 1) break; /* a line longer than we take */
        }
        sluice_peer_poll(a.pc);
        if (a.done) {
            rc = a.echoed >= 3 && a.mine_sent ? 0 : 1;
            break;
        }
    }
    fprintf(stderr, "c_peer: echoed %d messages, own channel sent: %s, exit %d%s\n", a.echoed,
            a.mine_sent ? "yes" : "no", rc, a.vanish ? " (vanished)" : "");
    if (a.vanish) _exit(rc); /* no close, no free: silence on the wire */
    sluice_peer_free(a.pc);
    close(a.fd);
    return rc;
}
