#define _POSIX_C_SOURCE 200809L
/* sluice demo: two peer connections in one process over real loopback UDP sockets.
 * They negotiate with SDP (the offer/answer and trickled candidates are passed in
 * memory, as a signaling server would), open an in-band channel and a negotiated one,
 * exchange text, then push a bulk transfer with back-pressure and report throughput.
 *
 *   sluice_demo [megabytes]     (default 32)
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice.h"

typedef struct demo_peer {
    const char *name;
    sluice_peer *pc;
    struct demo_peer *other;
    sluice_channel *chat;  /* in-band channel (created by A, received by B) */
    int connection_state;
} demo_peer;

static double now_s(void);

static void demo_log(void *user, sluice_log_level level, const char *module, const char *msg) {
    static double t0;
    if (t0 == 0) t0 = now_s();
    (void)user;
    fprintf(stderr, "  %8.3f ms %d %s: %s\n", (now_s() - t0) * 1e3, (int)level, module, msg);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *conn_name(int s) {
    static const char *const n[] = {"new", "connecting", "connected", "disconnected", "failed", "closed"};
    return s >= 0 && s <= 5 ? n[s] : "?";
}

static int handle_events(demo_peer *p) {
    sluice_event ev;
    while (sluice_peer_poll_event(p->pc, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION:
            printf("[%s] created %s (%zu bytes of SDP)\n", p->name, ev.sdp_type, strlen(ev.sdp));
            if (sluice_peer_set_local_description(p->pc, ev.sdp_type, ev.sdp) ||
                sluice_peer_set_remote_description(p->other->pc, ev.sdp_type, ev.sdp))
                return -1;
            break;
        case SLUICE_EVENT_ICE_CANDIDATE:
            printf("[%s] candidate (mid %s, index %d): %s\n", p->name, ev.mid, ev.mline_index, ev.candidate);
            if (sluice_peer_add_ice_candidate(p->other->pc, ev.mid, ev.mline_index, ev.candidate)) return -1;
            break;
        case SLUICE_EVENT_CONNECTION_STATE:
            p->connection_state = ev.state;
            printf("[%s] connection %s%s%s\n", p->name, conn_name(ev.state), ev.reason[0] ? ": " : "", ev.reason);
            break;
        case SLUICE_EVENT_DATA_CHANNEL:
            p->chat = ev.channel;
            printf("[%s] data channel received: \"%s\" (id %u)\n", p->name, sluice_channel_label(ev.channel),
                   sluice_channel_id(ev.channel));
            break;
        case SLUICE_EVENT_CHANNEL_OPEN:
            printf("[%s] channel \"%s\" open (id %u)\n", p->name, sluice_channel_label(ev.channel),
                   sluice_channel_id(ev.channel));
            break;
        case SLUICE_EVENT_ERROR: printf("[%s] error: %s\n", p->name, ev.reason); break;
        default: break;
        }
    }
    return 0;
}

/* Poll both peers once, sleeping in poll(2) until a socket is readable or a timer is due. */
static int pump(demo_peer *a, demo_peer *b, int max_wait_ms) {
    struct pollfd fds[32];
    int n = 0, fdv[16];
    int k = sluice_peer_fds(a->pc, fdv, 16);
    for (int i = 0; i < k && i < 16; i++) fds[n++] = (struct pollfd){fdv[i], POLLIN, 0};
    k = sluice_peer_fds(b->pc, fdv, 16);
    for (int i = 0; i < k && i < 16; i++) fds[n++] = (struct pollfd){fdv[i], POLLIN, 0};
    int ta = sluice_peer_timeout_ms(a->pc), tb = sluice_peer_timeout_ms(b->pc);
    int t = max_wait_ms;
    if (ta >= 0 && ta < t) t = ta;
    if (tb >= 0 && tb < t) t = tb;
    poll(fds, (nfds_t)n, t);
    sluice_peer_poll(a->pc);
    sluice_peer_poll(b->pc);
    if (handle_events(a) || handle_events(b)) return -1;
    return 0;
}

int main(int argc, char **argv) {
    size_t megabytes = argc > 1 ? (size_t)atoi(argv[1]) : 32;
    if (megabytes == 0 || megabytes > 4096) megabytes = 32;
    printf("sluice %s demo: two peers over loopback UDP\n", sluice_version());

    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.bind_address = "127.0.0.1";
    cfg.ice_loopback = true;
    if (getenv("SLUICE_LOG")) {
        cfg.log_level = SLUICE_LOG_DEBUG;
        cfg.log_fn = demo_log;
    }
    demo_peer a = {"A", NULL, NULL, NULL, 0}, b = {"B", NULL, NULL, NULL, 0};
    a.other = &b;
    b.other = &a;
    int rc;
    if ((rc = sluice_peer_new(&a.pc, &cfg, NULL, &a)) || (rc = sluice_peer_new(&b.pc, &cfg, NULL, &b))) {
        fprintf(stderr, "sluice_peer_new: %s\n", sluice_strerror(rc));
        return 1;
    }
    char fp[200];
    sluice_peer_local_fingerprint(a.pc, fp, sizeof fp);
    printf("[A] certificate %s\n", fp);

    /* Godot flow: channels first, then the offer. */
    sluice_channel *bulk_a, *bulk_b;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    sluice_channel_options_set_int(&o, "negotiated", 1);
    sluice_channel_options_set_int(&o, "id", 1);
    if ((rc = sluice_peer_create_channel(a.pc, "chat", NULL, &a.chat)) ||
        (rc = sluice_peer_create_channel(a.pc, "bulk", &o, &bulk_a)) ||
        (rc = sluice_peer_create_channel(b.pc, "bulk", &o, &bulk_b)) || (rc = sluice_peer_create_offer(a.pc))) {
        fprintf(stderr, "setup: %s\n", sluice_strerror(rc));
        return 1;
    }
    double t0 = now_s();
    while (!(b.chat && sluice_channel_ready_state(a.chat) == SLUICE_CHANNEL_OPEN &&
             sluice_channel_ready_state(bulk_b) == SLUICE_CHANNEL_OPEN)) {
        if (pump(&a, &b, 50) || now_s() - t0 > 15 || a.connection_state == SLUICE_CONNECTION_FAILED) {
            fprintf(stderr, "demo: connection did not come up\n");
            return 1;
        }
    }
    printf("connected and channels open in %.1f ms\n", (now_s() - t0) * 1e3);

    const char *hello = "hello from A over sluice";
    sluice_channel_send(a.chat, hello, strlen(hello), true);
    while (sluice_channel_available(b.chat) == 0) pump(&a, &b, 50);
    char buf[256];
    bool text;
    int64_t n = sluice_channel_recv(b.chat, buf, sizeof buf - 1, &text);
    buf[n > 0 ? n : 0] = '\0';
    printf("[B] got %s message: \"%s\"\n", text ? "text" : "binary", buf);

    /* Bulk: 16 KiB messages, keep at most 1 MiB buffered (W3C-style back-pressure). */
    size_t total = megabytes << 20, msg = 16384, sent = 0, got = 0;
    uint8_t *chunk = malloc(msg), *rx = malloc(msg);
    for (size_t i = 0; i < msg; i++) chunk[i] = (uint8_t)(i * 31 + 7);
    uint64_t check_sent = 0, check_got = 0;
    double t1 = now_s();
    while (got < total) {
        while (sent < total && sluice_channel_buffered_amount(bulk_a) < (1u << 20)) {
            chunk[0] = (uint8_t)(sent / msg);
            if (sluice_channel_send(bulk_a, chunk, msg, false) != SLUICE_OK) break;
            check_sent += chunk[0];
            sent += msg;
        }
        pump(&a, &b, 5);
        int64_t r;
        while ((r = sluice_channel_recv(bulk_b, rx, msg, NULL)) > 0) {
            got += (size_t)r;
            check_got += rx[0];
            if (memcmp(rx + 1, chunk + 1, msg - 1) != 0) {
                fprintf(stderr, "demo: corrupted message\n");
                return 1;
            }
        }
        if (now_s() - t1 > 120) {
            fprintf(stderr, "demo: bulk transfer stalled at %zu of %zu bytes\n", got, total);
            return 1;
        }
    }
    double secs = now_s() - t1;
    sluice_peer_stats st;
    sluice_peer_get_stats(a.pc, &st);
    printf("bulk: %zu MiB in %.2f s = %.1f MB/s (reliable, ordered, 16 KiB messages), %s\n", megabytes, secs,
           (double)total / secs / 1e6, check_sent == check_got ? "content verified" : "CONTENT MISMATCH");
    printf("stats A: %llu datagrams sent, SCTP srtt %.2f ms, cwnd %u, %llu retransmissions\n",
           (unsigned long long)st.packets_sent, st.rtt_us / 1000.0, st.cwnd,
           (unsigned long long)st.retransmissions);

    sluice_channel_close(a.chat);
    t1 = now_s();
    while (sluice_channel_ready_state(b.chat) != SLUICE_CHANNEL_CLOSED && now_s() - t1 < 5) pump(&a, &b, 20);
    printf("channel close: A %s, B %s\n",
           sluice_channel_ready_state(a.chat) == SLUICE_CHANNEL_CLOSED ? "closed" : "not closed",
           sluice_channel_ready_state(b.chat) == SLUICE_CHANNEL_CLOSED ? "closed" : "not closed");
    sluice_peer_close(a.pc);
    t1 = now_s();
    while (b.connection_state != SLUICE_CONNECTION_CLOSED && now_s() - t1 < 5) pump(&a, &b, 20);
    printf("[B] noticed the close: %s\n", conn_name(b.connection_state));
    free(chunk);
    free(rx);
    sluice_peer_free(a.pc);
    sluice_peer_free(b.pc);
    return check_sent == check_got ? 0 : 1;
}
