/* `sluice send FILE --signal URL` and `sluice recv --signal URL [--out PATH]`: a file
 * native-to-native over one reliable ordered data channel "file", signaled through a room
 * of `sluice serve` (a pure relay). Whichever arrives second in the room offers and
 * creates the channel (the relay says {"type":"room","members":2}); without a room the
 * sender offers to the server's own session. Either side may be a browser. The protocol
 * on the channel is in sluice_tool.h; both exit 0 only when the receiver's SHA-256 and
 * byte count equal the sender's. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice_tool.h"

#define XFER_HIGH_WATER (2u << 20) /* bytes buffered in the channel before we wait */
#define XFER_CHUNK 65536u
#define XFER_LINGER_US (3u * 1000000u) /* receiver: wait for the sender to close */
#define XFER_MAX_PEER_FDS 16
/* After the room says the other side left: time for its last messages to arrive. */
#define XFER_PEER_LEFT_GRACE_US (2u * 1000000u)

typedef struct xfer {
    const tool_opts *o;
    bool sender;
    const char *who;
    int fd;
    ws_conn ws;
    bool ws_dead;
    sluice_peer *pc;
    sluice_channel *ch;
    bool connected, channel_open, channel_closed;
    bool in_room, offered; /* in a room, whoever arrives second offers */
    /* sender */
    FILE *in;
    uint64_t size, sent;
    EVP_MD_CTX *sha;
    bool header_sent, end_sent;
    char my_sha[65];
    uint8_t *chunk;
    size_t chunk_len;
    uint8_t *rbuf; /* one received message (max_message) */ /* a chunk refused with BUFFER_FULL, to send again */
    /* receiver */
    xfer_rx rx;
    FILE *out;
    char out_path[4096], part_path[4200];
    bool write_err;
    /* outcome */
    bool done, ok;
    sluice_time done_at, deadline, t_open, peer_left_at;
    char err[256];
} xfer;

static void xfail(xfer *x, const char *msg)
{
    if (!x->done) {
        x->done = true;
        x->ok = false;
        x->done_at = tool_now_us();
        snprintf(x->err, sizeof x->err, "%s", msg);
    }
}

static void ws_send_str(xfer *x, cli_str *s)
{
    if (s->failed || ws_send(&x->ws, s->p, s->len, true) != 0) {
        tool_log(x->who, "signaling message not sent (closed or too large)");
    }
    cli_str_free(s);
}

static void rx_write(void *user, const uint8_t *p, size_t n)
{
    xfer *x = user;
    if (!x->out && !x->write_err) {
        if (!x->out_path[0]) {
            snprintf(x->out_path, sizeof x->out_path, "%s", x->rx.name);
            /* The sender chose that name: never overwrite a file unless --out says so. */
            if (access(x->out_path, F_OK) == 0) {
                tool_log(x->who, "%s exists; choose a path with --out", x->out_path);
                x->write_err = true;
                return;
            }
        }
        snprintf(x->part_path, sizeof x->part_path, "%s.part", x->out_path);
        x->out = fopen(x->part_path, "wb");
        if (!x->out) {
            tool_log(x->who, "cannot write %s: %s", x->part_path, strerror(errno));
            x->write_err = true;
        }
    }
    if (x->out && n && fwrite(p, 1, n, x->out) != n) {
        x->write_err = true;
    }
}

static void channel_send_text(xfer *x, cli_str *s)
{
    int rc = s->failed ? SLUICE_ERR_NOMEM : sluice_channel_send(x->ch, s->p, s->len, true);
    if (rc < 0) {
        tool_log(x->who, "channel send: %s", sluice_strerror(rc));
        xfail(x, "could not send a control message on the channel");
    }
    cli_str_free(s);
}

/* Receiver: one message of the "file" channel. */
static void rx_message(xfer *x, const uint8_t *p, size_t n, bool text)
{
    cli_str reply = {0};
    bool ok = false;
    char mine[65];
    int r = xfer_rx_message(&x->rx, p, n, text, &reply, &ok, mine);
    if (r == 0 && !x->write_err) {
        cli_str_free(&reply);
        return;
    }
    if (r == 0) { /* cannot store it: say so now rather than after the whole file */
        cli_str_free(&reply);
        reply = (cli_str){0};
        cli_str_puts(&reply, "{\"type\":\"result\",\"ok\":false,\"bytes\":0,\"sha256\":\"\","
                             "\"error\":\"receiver could not write the file\"}");
        channel_send_text(x, &reply);
        xfail(x, "could not write the file");
        return;
    }
    if (r == 1) {
        rx_write(x, NULL, 0); /* a 0-byte file still gets created */
        if (x->out && fclose(x->out) != 0) {
            x->write_err = true;
        }
        x->out = NULL;
        if (ok && !x->write_err && rename(x->part_path, x->out_path) == 0) {
            tool_log(x->who, "received %" PRIu64 " bytes into %s, SHA-256 %s verified",
                     x->rx.bytes, x->out_path, mine);
            channel_send_text(x, &reply);
            x->done = x->ok = true;
            x->done_at = tool_now_us();
            return;
        }
        if (x->part_path[0]) {
            unlink(x->part_path);
        }
        cli_str_free(&reply);
        reply = (cli_str){0};
        cli_str_printf(&reply, "{\"type\":\"result\",\"ok\":false,\"bytes\":%" PRIu64
                               ",\"sha256\":\"%s\",\"error\":\"%s\"}",
                       x->rx.bytes, mine, x->write_err ? "receiver could not write the file"
                                                       : "count or SHA-256 differ");
        channel_send_text(x, &reply);
        xfail(x, x->write_err ? "could not write the file" : "count or SHA-256 differ");
        return;
    }
    channel_send_text(x, &reply);
    xfail(x, "protocol error on the file channel");
}

/* Sender: a message from the receiver (the result). */
static void tx_message(xfer *x, const uint8_t *p, size_t n, bool text)
{
    cli_json *m = text ? cli_json_parse((const char *)p, n, NULL, 0) : NULL;
    const char *type = m ? cli_json_get_string(m, "type") : NULL;
    if (type && strcmp(type, "result") == 0) {
        const char *sha = cli_json_get_string(m, "sha256");
        double bytes = cli_json_get_number(m, "bytes", -1);
        if (cli_json_get_bool(m, "ok", false) && sha && strcmp(sha, x->my_sha) == 0 &&
            bytes == (double)x->sent && x->end_sent) {
            double secs = (double)(tool_now_us() - x->t_open) / 1e6;
            tool_log(x->who, "sent %" PRIu64 " bytes in %.2f s (%.1f MB/s), SHA-256 %s verified",
                     x->sent, secs, secs > 0 ? (double)x->sent / secs / 1e6 : 0.0, sha);
            x->done = x->ok = true;
            x->done_at = tool_now_us();
        } else {
            const char *e = cli_json_get_string(m, "error");
            tool_log(x->who, "receiver says: %s", e ? e : "not verified");
            xfail(x, "the receiver did not verify the file");
        }
    } else {
        tool_log(x->who, "unexpected message on the file channel");
    }
    cli_json_free(m);
}

static void tx_pump(xfer *x)
{
    if (!x->channel_open || x->end_sent || x->done) {
        return;
    }
    if (!x->header_sent) {
        const char *base = strrchr(x->o->file, '/');
        base = base ? base + 1 : x->o->file;
        cli_str s = {0};
        cli_str_puts(&s, "{\"type\":\"file\",\"name\":");
        cli_str_json_string(&s, base, strlen(base));
        cli_str_printf(&s, ",\"size\":%" PRIu64 "}", x->size);
        channel_send_text(x, &s);
        x->header_sent = true;
        x->t_open = tool_now_us();
    }
    uint64_t rmms = sluice_peer_remote_max_message_size(x->pc);
    size_t max = rmms == 0 || rmms > XFER_CHUNK ? XFER_CHUNK : (size_t)rmms;
    while (sluice_channel_buffered_amount(x->ch) < XFER_HIGH_WATER) {
        if (!x->chunk_len) {
            x->chunk_len = fread(x->chunk, 1, max, x->in);
            if (x->chunk_len == 0) {
                if (ferror(x->in)) {
                    xfail(x, "read error on the input file");
                    return;
                }
                tool_sha256_hex(x->sha, x->my_sha);
                cli_str s = {0};
                cli_str_printf(&s, "{\"type\":\"end\",\"bytes\":%" PRIu64 ",\"sha256\":\"%s\"}",
                               x->sent, x->my_sha);
                channel_send_text(x, &s);
                x->end_sent = true;
                return;
            }
            EVP_DigestUpdate(x->sha, x->chunk, x->chunk_len);
        }
        int rc = sluice_channel_send(x->ch, x->chunk, x->chunk_len, false);
        if (rc == SLUICE_ERR_BUFFER_FULL) {
            return; /* back-pressure: this chunk goes out on a later round */
        }
        if (rc < 0) {
            tool_log(x->who, "send: %s", sluice_strerror(rc));
            xfail(x, "data channel send failed");
            return;
        }
        x->sent += x->chunk_len;
        x->chunk_len = 0;
    }
}

static void drain_channel(xfer *x);

static void peer_events(xfer *x)
{
    sluice_event ev;
    while (sluice_peer_poll_event(x->pc, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION: {
            int rc = sluice_peer_set_local_description(x->pc, ev.sdp_type, ev.sdp);
            if (rc < 0) {
                xfail(x, "set_local_description failed");
                break;
            }
            cli_str s = {0};
            tool_sig_description(&s, ev.sdp_type, ev.sdp);
            ws_send_str(x, &s);
            break;
        }
        case SLUICE_EVENT_ICE_CANDIDATE: {
            cli_str s = {0};
            tool_sig_candidate(&s, ev.mid, ev.mline_index, ev.candidate);
            ws_send_str(x, &s);
            break;
        }
        case SLUICE_EVENT_DATA_CHANNEL:
            if (!x->ch && strcmp(sluice_channel_label(ev.channel), "file") == 0) {
                x->ch = ev.channel;
            }
            break;
        case SLUICE_EVENT_CHANNEL_OPEN:
            if (ev.channel == x->ch) {
                x->channel_open = true;
                tool_log(x->who, "channel open");
            }
            break;
        case SLUICE_EVENT_CHANNEL_CLOSED:
            if (ev.channel == x->ch) {
                x->channel_open = false;
                x->channel_closed = true; /* fails below, after its last messages */
            }
            break;
        case SLUICE_EVENT_CONNECTION_STATE:
            if (x->o->verbose) {
                tool_log(x->who, "connection state %d", ev.state);
            }
            if (ev.state == SLUICE_CONNECTION_CONNECTED) {
                x->connected = true;
                sluice_peer_stats st;
                char la[64] = "?", ra[64] = "?";
                if (sluice_peer_get_stats(x->pc, &st) == 0 && st.has_selected_pair) {
                    sluice_addr_format(&st.selected_local, la, sizeof la);
                    sluice_addr_format(&st.selected_remote, ra, sizeof ra);
                }
                tool_log(x->who, "connected: %s -> %s", la, ra);
            } else if (ev.state == SLUICE_CONNECTION_FAILED ||
                       ev.state == SLUICE_CONNECTION_CLOSED) {
                xfail(x, "the connection failed or closed");
            }
            break;
        case SLUICE_EVENT_ERROR:
            tool_log(x->who, "error: %s", ev.reason ? ev.reason : "");
            break;
        default:
            break;
        }
    }
    if (!x->ch) {
        return;
    }
    if (x->channel_closed) {
        x->channel_closed = false;
        drain_channel(x);
        xfail(x, "the channel closed before the transfer was verified");
        return;
    }
    drain_channel(x);
}

static void drain_channel(xfer *x)
{
    uint8_t *buf = x->rbuf;
    size_t cap = x->o->max_message;
    int64_t n;
    bool text;
    while (!x->done || x->sender) {
        n = sluice_channel_recv(x->ch, buf, cap, &text);
        if (n == SLUICE_ERR_NOBUFS) {
            xfail(x, "message larger than --max-message");
            break;
        }
        if (n < 0) {
            break;
        }
        if (x->sender) {
            tx_message(x, buf, (size_t)n, text);
        } else {
            rx_message(x, buf, (size_t)n, text);
        }
        if (x->done) {
            break;
        }
    }
}

/* We offer: the "file" channel is ours to create. */
static void start_offer(xfer *x)
{
    if (x->offered || x->ch) {
        return;
    }
    x->offered = true;
    sluice_channel_options co;
    sluice_channel_options_default(&co);
    if (sluice_peer_create_channel(x->pc, "file", &co, &x->ch) < 0 ||
        sluice_peer_create_offer(x->pc) < 0) {
        xfail(x, "could not create the channel or the offer");
    }
}

static void ws_events(xfer *x)
{
    ws_event ev;
    while (!x->ws_dead && ws_next_event(&x->ws, &ev) == 1) {
        switch (ev.type) {
        case WS_EV_OPEN:
            tool_log(x->who, "signaling connected (%s)", x->o->signal);
            if (!x->in_room) {
                start_offer(x); /* the server's own session: it answers */
            }
            break;
        case WS_EV_MESSAGE: {
            cli_json *m = ev.is_text ? cli_json_parse((const char *)ev.data, ev.len, NULL, 0)
                                     : NULL;
            if (!m) {
                tool_log(x->who, "bad signaling message ignored");
                break;
            }
            int r = tool_sig_apply(x->pc, m, x->who);
            const char *type = cli_json_get_string(m, "type");
            if (r < 0) {
                xfail(x, "the remote description was refused");
            } else if (r == 0 && type && strcmp(type, "room") == 0) {
                /* Whoever arrives second offers (the relay's rule); the first waits. */
                if (cli_json_get_number(m, "members", 1) >= 2) {
                    start_offer(x);
                } else {
                    tool_log(x->who, "waiting in the room for the other side");
                }
            } else if (r == 0 && type && strcmp(type, "peer-left") == 0) {
                tool_log(x->who, "the other side left the room");
                x->peer_left_at = tool_now_us();
            } else if (r == 0 && type && x->o->verbose) {
                tool_log(x->who, "signaling: %s", type);
            }
            cli_json_free(m);
            break;
        }
        case WS_EV_CLOSE:
        case WS_EV_ERROR:
            if (!x->connected) {
                tool_log(x->who, "signaling closed: %s (%u)", ev.reason ? ev.reason : "",
                         ev.code);
                xfail(x, "signaling closed before the connection was up");
            }
            tool_ws_write(x->fd, &x->ws);
            x->ws_dead = true;
            break;
        default:
            break;
        }
    }
}

static int xfer_setup(xfer *x)
{
    const tool_opts *o = x->o;
    char host[256], target[1024], hosthdr[300];
    uint16_t port = 0;
    if (!o->signal || tool_parse_ws_url(o->signal, host, sizeof host, &port, target,
                                        sizeof target, hosthdr, sizeof hosthdr) != 0) {
        tool_log(x->who, "--signal needs ws://HOST[:PORT]/ws?room=NAME");
        return -1;
    }
    x->in_room = strstr(target, "room=") != NULL;
    if (x->sender) {
        x->in = fopen(o->file, "rb");
        struct stat st;
        if (!x->in || fstat(fileno(x->in), &st) != 0 || !S_ISREG(st.st_mode)) {
            tool_log(x->who, "cannot read %s: %s", o->file, x->in ? "not a file" : strerror(errno));
            return -1;
        }
        x->size = (uint64_t)st.st_size;
        x->sha = EVP_MD_CTX_new();
        if (!x->sha || EVP_DigestInit_ex(x->sha, EVP_sha256(), NULL) != 1) {
            return -1;
        }
    } else {
        if (o->out) {
            snprintf(x->out_path, sizeof x->out_path, "%s", o->out);
        }
        x->rx.on_data = rx_write;
        x->rx.user = x;
    }
    x->chunk = malloc(XFER_CHUNK);
    x->rbuf = malloc(o->max_message);
    if (!x->chunk || !x->rbuf) {
        return -1;
    }
    sluice_config cfg;
    sluice_ice_server servers[TOOL_MAX_ICE_URLS];
    tool_config(o, &cfg, servers);
    int rc = sluice_peer_new(&x->pc, &cfg, NULL, NULL);
    if (rc < 0) {
        tool_log(x->who, "peer: %s", sluice_strerror(rc));
        return -1;
    }
    ws_limits lim;
    ws_limits_default(&lim);
    lim.max_message = 1u << 20;
    lim.max_out = 4u << 20;
    ws_init(&x->ws, true, &lim);
    x->fd = tool_tcp_connect(host, port);
    if (x->fd < 0) {
        tool_log(x->who, "cannot connect to %s:%u: %s", host, port, strerror(errno));
        return -1;
    }
    uint8_t key[16];
    if (RAND_bytes(key, sizeof key) != 1 || ws_client_start(&x->ws, hosthdr, target, key) != 0) {
        return -1;
    }
    return 0;
}

static void xfer_loop(xfer *x)
{
    while (!(x->done && (x->sender || !x->ok))) {
        sluice_time now = tool_now_us();
        if (now > x->deadline) {
            xfail(x, "timed out");
            break;
        }
        if (x->peer_left_at && !x->done && now - x->peer_left_at > XFER_PEER_LEFT_GRACE_US) {
            xfail(x, "the other side left before the transfer was verified");
            break;
        }
        /* Receiver after success: let the result leave, then wait for the sender to close. */
        if (x->done && x->ok && !x->sender) {
            if (now - x->done_at > XFER_LINGER_US ||
                sluice_peer_connection_state(x->pc) != SLUICE_CONNECTION_CONNECTED) {
                break;
            }
        }
        struct pollfd pf[1 + XFER_MAX_PEER_FDS];
        nfds_t n = 0;
        if (!x->ws_dead) {
            pf[n++] = (struct pollfd){x->fd, (short)(POLLIN | (ws_out_pending(&x->ws) ? POLLOUT : 0)), 0};
        }
        int fds[XFER_MAX_PEER_FDS];
        int nf = sluice_peer_fds(x->pc, fds, XFER_MAX_PEER_FDS);
        for (int i = 0; i < nf && i < XFER_MAX_PEER_FDS; i++) {
            pf[n++] = (struct pollfd){fds[i], POLLIN, 0};
        }
        int t = sluice_peer_timeout_ms(x->pc);
        int cap = x->channel_open && x->sender && !x->end_sent ? 5 : 100;
        if (t < 0 || t > cap) {
            t = cap;
        }
        poll(pf, n, t);
        if (!x->ws_dead && pf[0].revents) {
            if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && tool_ws_read(x->fd, &x->ws) != 0) {
                ws_events(x);
                if (!x->connected) {
                    xfail(x, "the signaling server closed the connection");
                }
                x->ws_dead = true;
            }
        }
        ws_events(x);
        sluice_peer_poll(x->pc);
        peer_events(x);
        if (x->sender) {
            tx_pump(x);
            sluice_peer_poll(x->pc);
            peer_events(x);
        }
        if (!x->ws_dead && tool_ws_write(x->fd, &x->ws) != 0) {
            x->ws_dead = true;
        }
    }
}

/* sluice_peer_close() aborts the association: first let what we queued (a result, an
 * error) reach the other side, for at most a second. */
static void xfer_flush(xfer *x)
{
    sluice_time until = tool_now_us() + 1000000u;
    while (x->ch && sluice_channel_ready_state(x->ch) == SLUICE_CHANNEL_OPEN &&
           tool_now_us() < until) {
        sluice_peer_stats st;
        if (sluice_channel_buffered_amount(x->ch) == 0 &&
            (sluice_peer_get_stats(x->pc, &st) != 0 || st.bytes_in_flight == 0)) {
            break;
        }
        int fds[XFER_MAX_PEER_FDS];
        struct pollfd pf[XFER_MAX_PEER_FDS];
        int nf = sluice_peer_fds(x->pc, fds, XFER_MAX_PEER_FDS);
        for (int i = 0; i < nf && i < XFER_MAX_PEER_FDS; i++) {
            pf[i] = (struct pollfd){fds[i], POLLIN, 0};
        }
        int t = sluice_peer_timeout_ms(x->pc);
        poll(pf, (nfds_t)(nf < XFER_MAX_PEER_FDS ? nf : XFER_MAX_PEER_FDS), t < 0 || t > 10 ? 10 : t);
        sluice_peer_poll(x->pc);
    }
}

int tool_xfer(const tool_opts *o, bool sender)
{
    xfer x;
    memset(&x, 0, sizeof x);
    x.o = o;
    x.sender = sender;
    x.who = sender ? "send" : "recv";
    x.fd = -1;
    x.deadline = tool_now_us() + (sluice_time)(o->timeout_s * 1e6);
    if (xfer_setup(&x) == 0) {
        xfer_loop(&x);
    } else {
        xfail(&x, "setup failed");
    }
    if (!x.ok) {
        tool_log(x.who, "FAILED: %s", x.err);
    }
    if (x.pc) {
        xfer_flush(&x);
        sluice_peer_close(x.pc);
        sluice_peer_poll(x.pc); /* let the close leave */
        sluice_peer_free(x.pc);
    }
    if (x.fd >= 0) {
        if (!x.ws_dead) {
            ws_close(&x.ws, 1000, "done");
            tool_ws_write(x.fd, &x.ws);
        }
        close(x.fd);
    }
    ws_free(&x.ws);
    if (x.out) {
        fclose(x.out);
        unlink(x.part_path);
    }
    if (x.in) {
        fclose(x.in);
    }
    EVP_MD_CTX_free(x.sha);
    xfer_rx_free(&x.rx);
    free(x.chunk);
    free(x.rbuf);
    return x.ok ? 0 : 1;
}
