#define _POSIX_C_SOURCE 200809L
/* Memory per connection of the whole stack: resident set size of this process before any
 * peer, with 1 connection, and with 25 and 50 connections (each connection = two
 * PeerConnections of this process joined over loopback UDP, one in-band channel open and
 * one message echoed), then after 1 MiB more went over each channel. The interop peers
 * hold one connection per process, so this 50-connection figure exists for sluice only
 * (bench/run_peers.py measures idle / 1 connection for every stack).
 *
 * Usage: bench_peer_memory [connections]   (default 50) */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice.h"
#include "bench_util.h"

typedef struct end {
    sluice_peer *pc;
    struct end *other;
    sluice_channel *ch; /* A: created; B: received */
    bool failed;
} end;

typedef struct conn {
    end a, b;
} conn;

static void events(end *e) {
    sluice_event ev;
    while (sluice_peer_poll_event(e->pc, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            if (sluice_peer_set_local_description(e->pc, ev.sdp_type, ev.sdp) ||
                sluice_peer_set_remote_description(e->other->pc, ev.sdp_type, ev.sdp))
                e->failed = true;
        } else if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            if (sluice_peer_add_ice_candidate(e->other->pc, ev.mid, ev.mline_index, ev.candidate)) e->failed = true;
        } else if (ev.type == SLUICE_EVENT_DATA_CHANNEL) {
            e->ch = ev.channel;
        } else if (ev.type == SLUICE_EVENT_CONNECTION_STATE && ev.state == SLUICE_CONNECTION_FAILED) {
            e->failed = true;
        }
    }
}

/* Poll every peer once, sleeping in poll(2) at most `ms`. */
static void pump(conn *c, size_t n, int ms) {
    struct pollfd *fds = calloc(n * 2 * 4, sizeof *fds);
    size_t k = 0;
    int t = ms;
    for (size_t i = 0; i < 2 * n; i++) {
        end *e = i % 2 ? &c[i / 2].b : &c[i / 2].a;
        int fdv[4];
        int m = sluice_peer_fds(e->pc, fdv, 4);
        for (int j = 0; j < m && j < 4; j++) fds[k++] = (struct pollfd){fdv[j], POLLIN, 0};
        int to = sluice_peer_timeout_ms(e->pc);
        if (to >= 0 && to < t) t = to;
    }
    poll(fds, (nfds_t)k, t);
    free(fds);
    for (size_t i = 0; i < 2 * n; i++) {
        end *e = i % 2 ? &c[i / 2].b : &c[i / 2].a;
        sluice_peer_poll(e->pc);
        events(e);
    }
}

/* Open connection i: both PeerConnections, a channel, offer; wait until open, echo one. */
static int open_conn(conn *c, size_t i, const sluice_config *cfg) {
    conn *x = &c[i];
    x->a.other = &x->b;
    x->b.other = &x->a;
    if (sluice_peer_new(&x->a.pc, cfg, NULL, &x->a) || sluice_peer_new(&x->b.pc, cfg, NULL, &x->b)) return -1;
    if (sluice_peer_create_channel(x->a.pc, "m", NULL, &x->a.ch) || sluice_peer_create_offer(x->a.pc)) return -1;
    double t0 = now_s();
    while (!(x->b.ch && sluice_channel_ready_state(x->a.ch) == SLUICE_CHANNEL_OPEN)) {
        pump(c, i + 1, 20);
        if (x->a.failed || x->b.failed || now_s() - t0 > 15) return -1;
    }
    sluice_channel_send(x->a.ch, "ping", 4, true);
    while (sluice_channel_available(x->b.ch) == 0) {
        pump(c, i + 1, 20);
        if (now_s() - t0 > 15) return -1;
    }
    char buf[16];
    (void)sluice_channel_recv(x->b.ch, buf, sizeof buf, NULL);
    return 0;
}

/* 1 MiB over every connection (16 KiB messages), so that the send and receive paths have
 * grown whatever they grow under load. */
static int load_all(conn *c, size_t n) {
    static uint8_t msg[16384], rx[16384];
    size_t *sent = calloc(n, sizeof *sent), *got = calloc(n, sizeof *got);
    double t0 = now_s();
    int rc = 0;
    for (bool done = false; !done;) {
        done = true;
        for (size_t i = 0; i < n; i++) {
            while (sent[i] < (1u << 20) && sluice_channel_buffered_amount(c[i].a.ch) < (256u << 10) &&
                   sluice_channel_send(c[i].a.ch, msg, sizeof msg, false) == SLUICE_OK)
                sent[i] += sizeof msg;
            int64_t r;
            while ((r = sluice_channel_recv(c[i].b.ch, rx, sizeof rx, NULL)) > 0) got[i] += (size_t)r;
            if (got[i] < (1u << 20)) done = false;
        }
        if (!done) pump(c, n, 5);
        if (now_s() - t0 > 60) {
            rc = -1;
            break;
        }
    }
    free(sent);
    free(got);
    return rc;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 50;
    if (n == 0 || n > 500) n = 50;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.bind_address = "127.0.0.1";
    cfg.ice_loopback = true;
    counter k = {0, 0};
    cfg.allocator = (sluice_allocator){count_malloc, count_realloc, count_free, &k};
    conn *c = calloc(n, sizeof *c);
    double base = rss_mb();
    printf("RSS of this process (each connection = 2 PeerConnections over loopback UDP, a channel open)\n");
    printf("  no peer:                      %7.1f MB\n", base);
    double prev = base;
    size_t marks[] = {1, 25, 50, 100, 200, 500};
    size_t done = 0;
    for (size_t m = 0; m < sizeof marks / sizeof marks[0] && marks[m] <= n; m++) {
        for (; done < marks[m]; done++)
            if (open_conn(c, done, &cfg) < 0) {
                fprintf(stderr, "connection %zu did not come up\n", done + 1);
                return 1;
            }
        double r = rss_mb();
        printf("  %3zu connection%s:              %7.1f MB  (%.0f KB per PeerConnection since the last line; "
               "sluice's own heap %.0f KB per PeerConnection)\n",
               done, done == 1 ? " " : "s", r, (r - prev) * 1024.0 / (2.0 * (double)(done - (m ? marks[m - 1] : 0))),
               (double)k.live / 1024.0 / (2.0 * (double)done));
        prev = r;
    }
    if (load_all(c, done) < 0) {
        fprintf(stderr, "transfer stalled\n");
        return 1;
    }
    double r = rss_mb();
    printf("  %3zu connections + 1 MiB each: %7.1f MB  (%.0f KB per PeerConnection above no peer; sluice's "
           "heap now %.0f KB, peak %.0f KB per PeerConnection)\n", done, r, (r - base) * 1024.0 / (2.0 * (double)done),
           (double)k.live / 1024.0 / (2.0 * (double)done), (double)k.peak / 1024.0 / (2.0 * (double)done));
    for (size_t i = 0; i < done; i++) {
        sluice_peer_free(c[i].a.pc);
        sluice_peer_free(c[i].b.pc);
    }
    free(c);
    return 0;
}
