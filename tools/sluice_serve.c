/* `sluice serve`: the demo page over HTTP, WebSocket signaling at /ws.
 *
 *  - /ws: each browser gets its own sluice peer, all on ONE sluice_mux UDP port. The
 *    browser offers, we answer, candidates trickle both ways (interop JSON). Its channels:
 *    "chat" (every text line is broadcast to every session), "echo" (messages sent back),
 *    "file" (the file protocol of sluice_tool.h: we hash and answer with the count and
 *    SHA-256; nothing is stored).
 *  - /ws?room=NAME: a pure relay between the (at most two) members of a room. The relay
 *    adds only: {"type":"room","room":NAME,"members":1|2} to whoever joins (with 2, the
 *    newcomer is the one who offers), {"type":"peer-joined"} to the member already there,
 *    {"type":"peer-left"} when the other leaves. Messages for a member that has not
 *    joined yet are queued (bounded).
 * One thread, one poll() loop; SIGINT/SIGTERM arrive through a signalfd (no globals) and
 * end the loop cleanly. Every table and buffer is bounded by an option. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice_tool.h"

#define SRV_HEADER_TIMEOUT_US (10u * 1000000u) /* a request must be complete by then */
#define SRV_CLOSE_TIMEOUT_US (2u * 1000000u)    /* flushing a closing connection */
#define ROOM_QUEUE_MSGS 128
#define ROOM_QUEUE_BYTES (1u << 20)
#define ROOM_NAME_MAX 64

enum { CONN_HTTP = 0, CONN_SESSION, CONN_ROOM };

typedef struct session {
    sluice_peer *pc;
    sluice_channel *chat, *echo, *file;
    xfer_rx rx;
    bool announced;
} session;

typedef struct conn {
    bool used, closing;
    int fd;
    int kind;
    uint32_t id;
    ws_conn ws;
    sluice_time t_accept, t_closing;
    int room;         /* CONN_ROOM: index into rooms */
    session *s;       /* CONN_SESSION: once the offer arrived */
} conn;

typedef struct qmsg {
    uint8_t *p;
    size_t len;
    bool text;
} qmsg;

typedef struct room {
    bool used;
    char name[ROOM_NAME_MAX + 1];
    int member[2]; /* conn indexes, -1 = free */
    qmsg q[ROOM_QUEUE_MSGS];
    size_t nq, qbytes;
} room;

typedef struct server {
    const tool_opts *o;
    int lfd, sfd;
    sluice_mux *mux;
    conn *conns;
    size_t nconns;
    room *rooms;
    size_t nrooms;
    size_t nsessions;
    uint32_t next_id;
    uint8_t *buf; /* one message from a channel */
    struct pollfd *pf;
    bool stop;
    sluice_config cfg;
    sluice_ice_server servers[TOOL_MAX_ICE_URLS];
} server;

static void conn_close(server *sv, conn *c, uint16_t code, const char *reason)
{
    if (!c->closing) {
        if (c->ws.phase == WS_PHASE_OPEN) {
            ws_close(&c->ws, code, reason);
        }
        c->closing = true;
        c->t_closing = tool_now_us();
    }
    (void)sv;
}

static void ws_send_text(server *sv, conn *c, const char *p, size_t len)
{
    if (c->closing || ws_send(&c->ws, p, len, true) != 0) {
        conn_close(sv, c, 1008, "output bound reached");
    }
}

static void ws_send_str(server *sv, conn *c, cli_str *s)
{
    if (!s->failed) {
        ws_send_text(sv, c, s->p, s->len);
    }
    cli_str_free(s);
}

/* ------------------------------------------------------------------------------------ */
/* Rooms                                                                                */
/* ------------------------------------------------------------------------------------ */

static void room_clear_queue(room *r)
{
    for (size_t i = 0; i < r->nq; i++) {
        free(r->q[i].p);
    }
    r->nq = r->qbytes = 0;
}

static bool room_name_ok(const char *n, size_t len)
{
    if (len == 0 || len > ROOM_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.')) {
            return false;
        }
    }
    return true;
}

/* Join room `name`: returns the room index, -1 when full, -2 when no room is free. */
static int room_join(server *sv, const char *name, int ci)
{
    int freeslot = -1;
    for (size_t i = 0; i < sv->nrooms; i++) {
        room *r = &sv->rooms[i];
        if (r->used && strcmp(r->name, name) == 0) {
            int k = r->member[0] < 0 ? 0 : r->member[1] < 0 ? 1 : -1;
            if (k < 0) {
                return -1;
            }
            r->member[k] = ci;
            return (int)i;
        }
        if (!r->used && freeslot < 0) {
            freeslot = (int)i;
        }
    }
    if (freeslot < 0) {
        return -2;
    }
    room *r = &sv->rooms[freeslot];
    memset(r, 0, sizeof *r);
    r->used = true;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->member[0] = ci;
    r->member[1] = -1;
    return freeslot;
}

/* The second member just got its 101: deliver what the first one sent meanwhile. */
static void room_flush(server *sv, room *r, int ci)
{
    conn *c = &sv->conns[ci];
    for (size_t i = 0; i < r->nq; i++) {
        if (!c->closing && ws_send(&c->ws, r->q[i].p, r->q[i].len, r->q[i].text) != 0) {
            conn_close(sv, c, 1008, "output bound reached");
        }
    }
    room_clear_queue(r);
}

static void room_relay(server *sv, conn *from, const ws_event *ev)
{
    room *r = &sv->rooms[from->room];
    int self = (int)(from - sv->conns);
    int other = r->member[0] == self ? r->member[1] : r->member[0];
    if (other >= 0) {
        conn *o = &sv->conns[other];
        if (!o->closing && ws_send(&o->ws, ev->data, ev->len, ev->is_text) != 0) {
            conn_close(sv, o, 1008, "output bound reached");
        }
        return;
    }
    if (r->nq >= ROOM_QUEUE_MSGS || r->qbytes + ev->len > ROOM_QUEUE_BYTES) {
        conn_close(sv, from, 1008, "room queue full: nobody else joined");
        return;
    }
    uint8_t *p = malloc(ev->len ? ev->len : 1);
    if (!p) {
        conn_close(sv, from, 1011, "out of memory");
        return;
    }
    memcpy(p, ev->data, ev->len);
    r->q[r->nq++] = (qmsg){p, ev->len, ev->is_text};
    r->qbytes += ev->len;
}

static void room_leave(server *sv, conn *c)
{
    room *r = &sv->rooms[c->room];
    int self = (int)(c - sv->conns);
    for (int k = 0; k < 2; k++) {
        if (r->member[k] == self) {
            r->member[k] = -1;
        }
    }
    int other = r->member[0] >= 0 ? r->member[0] : r->member[1];
    if (other >= 0) {
        static const char left[] = "{\"type\":\"peer-left\"}";
        ws_send_text(sv, &sv->conns[other], left, sizeof left - 1);
        room_clear_queue(r); /* what was queued was from the one who left */
    } else {
        room_clear_queue(r);
        r->used = false;
    }
    c->room = -1;
}

/* ------------------------------------------------------------------------------------ */
/* Sessions: one sluice peer per browser                                                */
/* ------------------------------------------------------------------------------------ */

static void session_free(server *sv, conn *c)
{
    if (!c->s) {
        return;
    }
    sluice_peer_free(c->s->pc);
    xfer_rx_free(&c->s->rx);
    free(c->s);
    c->s = NULL;
    sv->nsessions--;
}

static int session_new(server *sv, conn *c)
{
    if (sv->nsessions >= sv->o->max_sessions) {
        static const char busy[] = "{\"type\":\"error\",\"error\":\"too many sessions\"}";
        ws_send_text(sv, c, busy, sizeof busy - 1);
        conn_close(sv, c, 1013, "too many sessions, try again later");
        return -1;
    }
    session *s = calloc(1, sizeof *s);
    if (!s) {
        conn_close(sv, c, 1011, "out of memory");
        return -1;
    }
    int rc = sluice_peer_new_on_mux(sv->mux, &s->pc, &sv->cfg, NULL, NULL);
    if (rc < 0) {
        tool_log("serve", "session %u: peer: %s", c->id, sluice_strerror(rc));
        free(s);
        conn_close(sv, c, 1011, "could not create a peer");
        return -1;
    }
    c->s = s;
    sv->nsessions++;
    return 0;
}

static void chat_broadcast(server *sv, conn *from, const uint8_t *p, size_t n)
{
    char line[512];
    int hl = snprintf(line, sizeof line, "#%u: ", from->id);
    size_t tl = n < sizeof line - (size_t)hl - 1 ? n : sizeof line - (size_t)hl - 1;
    /* Cut at a UTF-8 boundary so the line stays valid text. */
    while (tl > 0 && tl < n && (p[tl] & 0xC0) == 0x80) {
        tl--;
    }
    memcpy(line + hl, p, tl);
    size_t len = (size_t)hl + tl;
    for (size_t i = 0; i < sv->nconns; i++) {
        conn *c = &sv->conns[i];
        if (c->used && c->s && c->s->chat &&
            sluice_channel_ready_state(c->s->chat) == SLUICE_CHANNEL_OPEN) {
            sluice_channel_send(c->s->chat, line, len, true); /* full buffer: dropped */
        }
    }
    if (sv->o->verbose) {
        tool_log("serve", "chat %.*s", (int)len, line);
    }
}

/* A message above --max-message cannot be taken (NOBUFS) and would block its channel for
 * good: end the session instead. */
static bool recv_ok(server *sv, conn *c, int64_t n)
{
    if (n == SLUICE_ERR_NOBUFS) {
        tool_log("serve", "session %u: a message above --max-message: closing", c->id);
        conn_close(sv, c, 1009, "data-channel message above --max-message");
    }
    return n >= 0;
}

static void session_channels(server *sv, conn *c)
{
    session *s = c->s;
    int64_t n;
    bool text;
    size_t cap = sv->o->max_message;
    while (s->chat && recv_ok(sv, c, n = sluice_channel_recv(s->chat, sv->buf, cap, &text))) {
        if (text) {
            chat_broadcast(sv, c, sv->buf, (size_t)n);
        }
    }
    while (s->echo && recv_ok(sv, c, n = sluice_channel_recv(s->echo, sv->buf, cap, &text))) {
        sluice_channel_send(s->echo, sv->buf, (size_t)n, text); /* full buffer: dropped */
    }
    while (s->file && recv_ok(sv, c, n = sluice_channel_recv(s->file, sv->buf, cap, &text))) {
        cli_str reply = {0};
        bool ok;
        char mine[65];
        int r = xfer_rx_message(&s->rx, sv->buf, (size_t)n, text, &reply, &ok, mine);
        if (r != 0 && !reply.failed) {
            sluice_channel_send(s->file, reply.p, reply.len, true);
            tool_log("serve", "session %u: file of %" PRIu64 " bytes, SHA-256 %s%s", c->id,
                     s->rx.bytes, mine, ok ? " (matches the sender's)" : " (MISMATCH)");
        }
        cli_str_free(&reply);
    }
}

static void session_events(server *sv, conn *c)
{
    session *s = c->s;
    sluice_event ev;
    while (c->s && sluice_peer_poll_event(s->pc, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION: {
            if (sluice_peer_set_local_description(s->pc, ev.sdp_type, ev.sdp) < 0) {
                conn_close(sv, c, 1011, "set_local_description failed");
                break;
            }
            cli_str m = {0};
            tool_sig_description(&m, ev.sdp_type, ev.sdp);
            ws_send_str(sv, c, &m);
            break;
        }
        case SLUICE_EVENT_ICE_CANDIDATE: {
            cli_str m = {0};
            tool_sig_candidate(&m, ev.mid, ev.mline_index, ev.candidate);
            ws_send_str(sv, c, &m);
            break;
        }
        case SLUICE_EVENT_DATA_CHANNEL: {
            const char *l = sluice_channel_label(ev.channel);
            sluice_channel **slot = strcmp(l, "chat") == 0   ? &s->chat
                                    : strcmp(l, "echo") == 0 ? &s->echo
                                    : strcmp(l, "file") == 0 ? &s->file
                                                             : NULL;
            if (slot && !*slot) {
                *slot = ev.channel;
            } else {
                sluice_channel_close(ev.channel); /* not one of ours */
            }
            break;
        }
        case SLUICE_EVENT_CONNECTION_STATE:
            if (ev.state == SLUICE_CONNECTION_CONNECTED && !s->announced) {
                s->announced = true;
                sluice_peer_stats st;
                char ra[64] = "?";
                if (sluice_peer_get_stats(s->pc, &st) == 0 && st.has_selected_pair) {
                    sluice_addr_format(&st.selected_remote, ra, sizeof ra);
                }
                tool_log("serve", "session %u: connected (client at %s)", c->id, ra);
            } else if (ev.state == SLUICE_CONNECTION_FAILED ||
                       ev.state == SLUICE_CONNECTION_CLOSED) {
                tool_log("serve", "session %u: connection %s", c->id,
                         ev.state == SLUICE_CONNECTION_FAILED ? "failed" : "closed");
                conn_close(sv, c, 1000, "peer connection ended");
            }
            break;
        case SLUICE_EVENT_ERROR:
            if (sv->o->verbose) {
                tool_log("serve", "session %u: %s", c->id, ev.reason ? ev.reason : "");
            }
            break;
        default:
            break;
        }
    }
    if (c->s) {
        session_channels(sv, c);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                          */
/* ------------------------------------------------------------------------------------ */

static void conn_free(server *sv, conn *c)
{
    if (c->kind == CONN_ROOM && c->room >= 0) {
        room_leave(sv, c);
    }
    session_free(sv, c);
    ws_free(&c->ws);
    close(c->fd);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->room = -1;
}

static void accept_all(server *sv)
{
    for (;;) {
        int fd = accept(sv->lfd, NULL, NULL);
        if (fd < 0) {
            return;
        }
        conn *c = NULL;
        for (size_t i = 0; i < sv->nconns && !c; i++) {
            if (!sv->conns[i].used) {
                c = &sv->conns[i];
            }
        }
        if (!c) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
            /* Take what the client already sent: closing with unread data would reset the
             * connection (RST) and could destroy the 503 before it is read. */
            uint8_t junk[4096];
            ssize_t r = recv(fd, junk, sizeof junk, MSG_DONTWAIT);
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)r;
            (void)w;
            shutdown(fd, SHUT_WR);
            close(fd);
            continue;
        }
        memset(c, 0, sizeof *c);
        ws_limits lim;
        ws_limits_default(&lim);
        lim.max_message = sv->o->max_message;
        lim.max_out = (1u << 20) + sv->o->max_message + sv->o->max_message + 64;
        if (ws_init(&c->ws, false, &lim) != 0) {
            close(fd);
            continue;
        }
        int fl = 1;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &fl, sizeof fl);
        c->used = true;
        c->fd = fd;
        c->room = -1;
        c->id = ++sv->next_id;
        c->t_accept = tool_now_us();
    }
}

static void handle_request(server *sv, conn *c, const ws_event *ev, bool upgrade)
{
    const char *t = ev->target;
    const char *q = strchr(t, '?');
    size_t pl = q ? (size_t)(q - t) : strlen(t);
    if (!upgrade) {
        if ((pl == 1 && t[0] == '/') || (pl == 11 && memcmp(t, "/index.html", 11) == 0)) {
            ws_http_respond(&c->ws, 200, "text/html; charset=utf-8", sluice_web_index,
                            sluice_web_index_len);
        } else if (pl == 3 && memcmp(t, "/ws", 3) == 0) {
            static const char m[] = "WebSocket endpoint: connect with a WebSocket client\n";
            ws_http_respond(&c->ws, 426, "text/plain", m, sizeof m - 1);
        } else {
            static const char m[] = "not found\n";
            ws_http_respond(&c->ws, 404, "text/plain", m, sizeof m - 1);
        }
        c->closing = true;
        c->t_closing = tool_now_us();
        return;
    }
    if (!(pl == 3 && memcmp(t, "/ws", 3) == 0)) {
        static const char m[] = "not found\n";
        ws_http_respond(&c->ws, 404, "text/plain", m, sizeof m - 1);
        c->closing = true;
        c->t_closing = tool_now_us();
        return;
    }
    if (!q) {
        c->kind = CONN_SESSION;
        ws_accept(&c->ws);
        if (sv->o->verbose) {
            tool_log("serve", "session %u: WebSocket open", c->id);
        }
        return;
    }
    const char *name = q + 1;
    int status = 0;
    const char *msg = "";
    if (strncmp(name, "room=", 5) != 0 || !room_name_ok(name + 5, strlen(name + 5))) {
        status = 400, msg = "use /ws or /ws?room=NAME (NAME: 1-64 of A-Z a-z 0-9 - _ .)\n";
    } else {
        int r = room_join(sv, name + 5, (int)(c - sv->conns));
        if (r == -1) {
            status = 409, msg = "room full: it already has two members\n";
        } else if (r == -2) {
            status = 503, msg = "no free room\n";
        } else {
            c->kind = CONN_ROOM;
            c->room = r;
            ws_accept(&c->ws);
            tool_log("serve", "room %s: member %u joined", name + 5, c->id);
            room *rm = &sv->rooms[r];
            int self = (int)(c - sv->conns);
            int other = rm->member[0] == self ? rm->member[1] : rm->member[0];
            /* Tell the newcomer whether someone is there (then it offers: the one who
             * arrives second calls), and tell the one waiting that someone came. */
            cli_str j = {0};
            cli_str_puts(&j, "{\"type\":\"room\",\"room\":");
            cli_str_json_string(&j, rm->name, strlen(rm->name));
            cli_str_printf(&j, ",\"members\":%d}", other >= 0 ? 2 : 1);
            ws_send_str(sv, c, &j);
            if (other >= 0) {
                static const char joined[] = "{\"type\":\"peer-joined\"}";
                ws_send_text(sv, &sv->conns[other], joined, sizeof joined - 1);
            }
            room_flush(sv, rm, self);
            return;
        }
    }
    ws_http_respond(&c->ws, status, "text/plain", msg, strlen(msg));
    c->closing = true;
    c->t_closing = tool_now_us();
}

static void session_message(server *sv, conn *c, const ws_event *ev)
{
    cli_json *m = ev->is_text ? cli_json_parse((const char *)ev->data, ev->len, NULL, 0) : NULL;
    const char *type = m ? cli_json_get_string(m, "type") : NULL;
    if (!type) {
        conn_close(sv, c, 1003, "expected a JSON signaling message");
        cli_json_free(m);
        return;
    }
    if (!c->s && strcmp(type, "offer") == 0 && session_new(sv, c) != 0) {
        cli_json_free(m);
        return;
    }
    if (c->s) {
        int r = tool_sig_apply(c->s->pc, m, "serve");
        if (r < 0 && strcmp(type, "candidate") != 0) {
            cli_str e = {0};
            cli_str_printf(&e, "{\"type\":\"error\",\"error\":\"%s\"}", sluice_strerror(r));
            ws_send_str(sv, c, &e);
        }
    } else if (strcmp(type, "candidate") == 0) {
        /* a candidate before the offer: the browser always sends the offer first */
    }
    cli_json_free(m);
}

static void conn_events(server *sv, conn *c)
{
    ws_event ev;
    while (c->used && !c->closing && ws_next_event(&c->ws, &ev) == 1) {
        switch (ev.type) {
        case WS_EV_HTTP_GET:
            handle_request(sv, c, &ev, false);
            break;
        case WS_EV_UPGRADE:
            handle_request(sv, c, &ev, true);
            break;
        case WS_EV_MESSAGE:
            if (c->kind == CONN_ROOM) {
                room_relay(sv, c, &ev);
            } else if (c->kind == CONN_SESSION) {
                session_message(sv, c, &ev);
            }
            break;
        case WS_EV_CLOSE:
        case WS_EV_ERROR:
            if (ev.type == WS_EV_ERROR || sv->o->verbose) {
                tool_log("serve", "connection %u: %s %u %s", c->id,
                         ev.type == WS_EV_ERROR ? "error" : "closed", ev.code,
                         ev.reason ? ev.reason : "");
            }
            c->closing = true;
            c->t_closing = tool_now_us();
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Main loop                                                                            */
/* ------------------------------------------------------------------------------------ */

static int serve_setup(server *sv, const tool_opts *o)
{
    char host[256];
    uint16_t port = 0, bound = 0;
    if (tool_split_hostport(o->http, host, sizeof host, &port) != 0) {
        tool_log("serve", "--http wants IP:PORT, got %s", o->http);
        return -1;
    }
    sv->lfd = tool_tcp_listen(host, port, &bound);
    if (sv->lfd < 0) {
        tool_log("serve", "cannot listen on %s: %s", o->http, strerror(errno));
        return -1;
    }
    char uhost[256];
    uint16_t uport = 0;
    if (tool_split_hostport(o->udp, uhost, sizeof uhost, &uport) != 0) {
        tool_log("serve", "--udp wants IP:PORT, got %s", o->udp);
        return -1;
    }
    sluice_mux_config mc;
    sluice_mux_config_default(&mc);
    mc.bind_address = uhost;
    mc.port = uport;
    mc.max_peers = o->max_sessions;
    int rc = sluice_mux_new(&mc, &sv->mux);
    if (rc < 0) {
        tool_log("serve", "UDP mux on %s: %s (--udp wants an IP literal of this machine, "
                 "not a wildcard: it is the browsers' one candidate)", o->udp, sluice_strerror(rc));
        return -1;
    }
    tool_config(o, &sv->cfg, sv->servers);
    sv->cfg.bind_address = NULL;
    sv->nconns = o->max_conns;
    sv->nrooms = o->max_conns / 2 + 1;
    sv->conns = calloc(sv->nconns, sizeof *sv->conns);
    sv->rooms = calloc(sv->nrooms, sizeof *sv->rooms);
    sv->pf = calloc(sv->nconns + 3, sizeof *sv->pf);
    sv->buf = malloc(o->max_message);
    if (!sv->conns || !sv->rooms || !sv->pf || !sv->buf) {
        return -1;
    }
    for (size_t i = 0; i < sv->nconns; i++) {
        sv->conns[i].fd = -1;
        sv->conns[i].room = -1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sv->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    sluice_addr ua;
    char uas[64] = "?";
    if (sluice_mux_local_address(sv->mux, &ua) == 0) {
        sluice_addr_format(&ua, uas, sizeof uas);
    }
    bool v6 = strchr(host, ':') != NULL;
    printf("sluice serve: http://%s%s%s:%u/ (signaling ws://%s%s%s:%u/ws), UDP %s\n",
           v6 ? "[" : "", host, v6 ? "]" : "", bound, v6 ? "[" : "", host, v6 ? "]" : "", bound,
           uas);
    fflush(stdout);
    return 0;
}

static void serve_teardown(server *sv)
{
    for (size_t i = 0; sv->conns && i < sv->nconns; i++) {
        if (sv->conns[i].used) {
            conn_free(sv, &sv->conns[i]);
        }
    }
    for (size_t i = 0; sv->rooms && i < sv->nrooms; i++) {
        room_clear_queue(&sv->rooms[i]);
    }
    sluice_mux_free(sv->mux);
    if (sv->lfd >= 0) {
        close(sv->lfd);
    }
    if (sv->sfd >= 0) {
        close(sv->sfd);
    }
    free(sv->conns);
    free(sv->rooms);
    free(sv->pf);
    free(sv->buf);
}

static void serve_round(server *sv)
{
    struct pollfd *pf = sv->pf;
    nfds_t n = 0;
    pf[n++] = (struct pollfd){sv->lfd, POLLIN, 0};
    pf[n++] = (struct pollfd){sv->sfd, POLLIN, 0};
    int mfd = -1;
    sluice_mux_fds(sv->mux, &mfd, 1);
    pf[n++] = (struct pollfd){mfd, POLLIN, 0};
    for (size_t i = 0; i < sv->nconns; i++) {
        conn *c = &sv->conns[i];
        if (c->used) {
            short evs = (short)((c->closing ? 0 : POLLIN) | (ws_out_pending(&c->ws) ? POLLOUT : 0));
            pf[n++] = (struct pollfd){c->fd, evs, 0};
        }
    }
    int t = sluice_mux_timeout_ms(sv->mux);
    if (t < 0 || t > 250) {
        t = 250; /* header and close deadlines */
    }
    poll(pf, n, t);
    if (pf[1].revents & POLLIN) {
        sv->stop = true;
        return;
    }
    size_t k = 3;
    for (size_t i = 0; i < sv->nconns && k < n; i++) {
        conn *c = &sv->conns[i];
        if (!c->used || pf[k].fd != c->fd) {
            continue;
        }
        short re = pf[k++].revents;
        if (!c->closing && (re & (POLLIN | POLLHUP | POLLERR)) && tool_ws_read(c->fd, &c->ws) != 0) {
            /* EOF or error: handle what arrived before it, then flush any answer (a client
             * may half-close after its request) and free; a dead socket fails the write. */
            conn_events(sv, c);
            if (!c->closing) {
                c->closing = true;
                c->t_closing = tool_now_us();
            }
            continue;
        }
        conn_events(sv, c);
    }
    /* After the reads, so that connections that just ended free their slots first. */
    if (pf[0].revents & POLLIN) {
        accept_all(sv);
    }
    sluice_mux_poll(sv->mux);
    for (size_t i = 0; i < sv->nconns; i++) {
        conn *c = &sv->conns[i];
        if (c->used && c->s) {
            session_events(sv, c);
        }
    }
    sluice_mux_poll(sv->mux); /* what the events and channels produced */
    sluice_time now = tool_now_us();
    for (size_t i = 0; i < sv->nconns; i++) {
        conn *c = &sv->conns[i];
        if (!c->used) {
            continue;
        }
        if (tool_ws_write(c->fd, &c->ws) != 0) {
            conn_free(sv, c);
            continue;
        }
        if (c->closing && (!ws_out_pending(&c->ws) || now - c->t_closing > SRV_CLOSE_TIMEOUT_US)) {
            conn_free(sv, c);
        } else if (c->ws.phase == WS_PHASE_HEADER && now - c->t_accept > SRV_HEADER_TIMEOUT_US) {
            conn_free(sv, c); /* slowloris: the request never completed */
        }
    }
}

int tool_serve(const tool_opts *o)
{
    server sv;
    memset(&sv, 0, sizeof sv);
    sv.o = o;
    sv.lfd = sv.sfd = -1;
    int rc = 1;
    if (serve_setup(&sv, o) == 0) {
        while (!sv.stop) {
            serve_round(&sv);
        }
        tool_log("serve", "stopping");
        rc = 0;
    }
    serve_teardown(&sv);
    return rc;
}
