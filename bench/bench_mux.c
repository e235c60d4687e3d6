#define _POSIX_C_SOURCE 200809L
/* Many connections on one UDP port: one server sluice_mux (socket mode, 127.0.0.1) serves N
 * client PeerConnections (each with its own loopback socket, as N remote browsers would
 * have). Every client opens an in-band channel and has one message echoed by its server
 * peer. Reports the wall time until all N echoed, the server side's sluice heap per
 * connection (mux tables included; counted through the allocator hook) and the process
 * RSS (clients included). Not a test: run by `make bench`.
 *
 * Usage: bench_mux [connections]   (default 1000) */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sluice.h"
#include "bench_util.h"

typedef struct conn {
    sluice_peer *cli, *srv;
    sluice_channel *ch;
    int fd; /* the client's socket */
    bool sent, echoed, failed;
} conn;

static void pump(conn *c) {
    sluice_event ev;
    while (sluice_peer_poll_event(c->cli, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            if (sluice_peer_set_local_description(c->cli, ev.sdp_type, ev.sdp) ||
                sluice_peer_set_remote_description(c->srv, ev.sdp_type, ev.sdp))
                c->failed = true;
        } else if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            if (sluice_peer_add_ice_candidate(c->srv, ev.mid, ev.mline_index, ev.candidate)) c->failed = true;
        } else if (ev.type == SLUICE_EVENT_CHANNEL_OPEN && !c->sent) {
            c->sent = sluice_channel_send(c->ch, "ping", 4, true) == SLUICE_OK;
        } else if (ev.type == SLUICE_EVENT_CHANNEL_MESSAGE) {
            char buf[16];
            if (sluice_channel_recv(c->ch, buf, sizeof buf, NULL) == 4) c->echoed = true;
        } else if (ev.type == SLUICE_EVENT_CONNECTION_STATE && ev.state == SLUICE_CONNECTION_FAILED) {
            c->failed = true;
        }
    }
    while (sluice_peer_poll_event(c->srv, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            if (sluice_peer_set_local_description(c->srv, ev.sdp_type, ev.sdp) ||
                sluice_peer_set_remote_description(c->cli, ev.sdp_type, ev.sdp))
                c->failed = true;
        } else if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            if (sluice_peer_add_ice_candidate(c->cli, ev.mid, ev.mline_index, ev.candidate)) c->failed = true;
        } else if (ev.type == SLUICE_EVENT_CHANNEL_MESSAGE) {
            uint8_t buf[16];
            bool text;
            int64_t n = sluice_channel_recv(ev.channel, buf, sizeof buf, &text);
            if (n > 0) sluice_channel_send(ev.channel, buf, (size_t)n, text);
        }
    }
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 1000;
    if (n == 0 || n > 10000) n = 1000;
    /* One socket per client plus the server's. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
        rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < n + 64) {
            n = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 1;
            fprintf(stderr, "file descriptor limit: %zu connections only\n", n);
        }
    }
    counter srv_heap = {0, 0}, cli_heap = {0, 0};
    double rss0 = rss_mb();
    sluice_mux_config mc;
    sluice_mux_config_default(&mc);
    mc.bind_address = "127.0.0.1";
    mc.max_peers = n;
    mc.allocator = (sluice_allocator){count_malloc, count_realloc, count_free, &srv_heap};
    sluice_mux *m = NULL;
    if (sluice_mux_new(&mc, &m) != SLUICE_OK) {
        fprintf(stderr, "mux: cannot bind\n");
        return 1;
    }
    sluice_addr ma;
    sluice_mux_local_address(m, &ma);
    int mfd;
    sluice_mux_fds(m, &mfd, 1);
    sluice_config scfg, ccfg;
    sluice_config_default(&scfg);
    scfg.allocator = mc.allocator;
    sluice_config_default(&ccfg);
    ccfg.bind_address = "127.0.0.1";
    ccfg.ice_loopback = true;
    ccfg.allocator = (sluice_allocator){count_malloc, count_realloc, count_free, &cli_heap};
    conn *c = calloc(n, sizeof *c);
    struct pollfd *pfds = calloc(n + 1, sizeof *pfds);
    double t0 = now_s(), c0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        if (sluice_peer_new(&c[i].cli, &ccfg, NULL, NULL) || sluice_peer_new_on_mux(m, &c[i].srv, &scfg, NULL, NULL) ||
            sluice_peer_create_channel(c[i].cli, "echo", NULL, &c[i].ch) || sluice_peer_create_offer(c[i].cli)) {
            fprintf(stderr, "connection %zu could not be set up\n", i);
            return 1;
        }
    }
    double t_setup = now_s() - t0;
    size_t echoed = 0, failed = 0;
    while (echoed + failed < n && now_s() - t0 < 120) {
        size_t k = 0;
        pfds[k++] = (struct pollfd){mfd, POLLIN, 0};
        for (size_t i = 0; i < n; i++) {
            int fd;
            if (sluice_peer_fds(c[i].cli, &fd, 1) >= 1) pfds[k++] = (struct pollfd){fd, POLLIN, 0};
        }
        int to = sluice_mux_timeout_ms(m);
        poll(pfds, (nfds_t)k, to < 0 || to > 5 ? 5 : to);
        sluice_mux_poll(m);
        echoed = failed = 0;
        for (size_t i = 0; i < n; i++) {
            sluice_peer_poll(c[i].cli);
            pump(&c[i]);
            echoed += c[i].echoed;
            failed += c[i].failed && !c[i].echoed;
        }
    }
    double t_all = now_s() - t0, cpu = cpu_s() - c0;
    /* Idle for a moment so that transient buffers are gone, then count. */
    for (int r = 0; r < 20; r++) {
        sluice_mux_poll(m);
        for (size_t i = 0; i < n; i++) {
            sluice_peer_poll(c[i].cli);
            pump(&c[i]);
        }
    }
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    double rss = rss_mb();
    /* Bulk over connection 0 (client -> server peer on the mux) while the others idle: what
     * one connection gets through the shared socket, per-poll scans of every peer included. */
    static uint8_t msg[16384], rx[16384];
    size_t bulk = 64u << 20, sent = 0, got = 0;
    double b0 = now_s();
    sluice_channel *sch = NULL;
    while (got < bulk && now_s() - b0 < 60) {
        while (sent < bulk && sluice_channel_buffered_amount(c[0].ch) < (1u << 20) &&
               sluice_channel_send(c[0].ch, msg, sizeof msg, false) == SLUICE_OK)
            sent += sizeof msg;
        int fd;
        pfds[0] = (struct pollfd){mfd, POLLIN, 0};
        int k = 1;
        if (sluice_peer_fds(c[0].cli, &fd, 1) >= 1) pfds[k++] = (struct pollfd){fd, POLLIN, 0};
        poll(pfds, (nfds_t)k, 1);
        sluice_peer_poll(c[0].cli);
        sluice_mux_poll(m);
        sluice_event ev;
        while (sluice_peer_poll_event(c[0].cli, &ev) == 1) continue;
        while (sluice_peer_poll_event(c[0].srv, &ev) == 1)
            if (ev.type == SLUICE_EVENT_CHANNEL_MESSAGE) sch = ev.channel;
        int64_t r;
        while (sch && (r = sluice_channel_recv(sch, rx, sizeof rx, NULL)) > 0) got += (size_t)r;
    }
    double bulk_s = now_s() - b0;
    printf("bench_mux: %zu connections on one server UDP port (%s:%u), loopback, clients in the same process\n", n,
           "127.0.0.1", (unsigned)ma.port);
    printf("  set up (peers, channels, offers): %.2f s\n", t_setup);
    printf("  all connected + channel open + one echo: %zu of %zu in %.2f s wall (%.2f CPU s, both sides)\n", echoed, n,
           t_all, cpu);
    printf("  server side sluice heap: %.1f KB per connection idle (%.1f MB total, peak %.1f MB)\n",
           (double)srv_heap.live / 1024.0 / (double)n, (double)srv_heap.live / 1048576.0,
           (double)srv_heap.peak / 1048576.0);
    printf("  client side sluice heap: %.1f KB per connection (own sockets)\n", (double)cli_heap.live / 1024.0 / (double)n);
    printf("  process RSS: %.1f MB above start (%.1f KB per connection, both sides + OpenSSL)\n", rss - rss0,
           (rss - rss0) * 1024.0 / (double)n);
    printf("  mux: routed by ufrag %llu, by transaction %llu, by address %llu; dropped unknown %llu, malformed %llu; "
           "%zu addresses bound; %llu send drops\n",
           (unsigned long long)st.routed_ufrag, (unsigned long long)st.routed_transaction,
           (unsigned long long)st.routed_address, (unsigned long long)st.dropped_unknown,
           (unsigned long long)st.dropped_malformed, st.addresses, (unsigned long long)st.send_drops);
    printf("  bulk on one connection through the mux (16 KiB messages, %zu idle peers on the port): %.1f MB/s\n", n - 1,
           (double)got / 1e6 / bulk_s);
    for (size_t i = 0; i < n; i++) {
        sluice_peer_free(c[i].cli);
        sluice_peer_free(c[i].srv);
    }
    int rc = sluice_mux_free(m);
    free(c);
    free(pfds);
    return echoed == n && rc == SLUICE_OK ? 0 : 1;
}
