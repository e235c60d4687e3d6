/* SCTP alone (no DTLS, no ICE): two of our associations against two usrsctp endpoints
 * (AF_CONN), driven by the same harness in the same run, so that only the ratio matters.
 *
 *  - "mem": a perfect in-memory link, zero delay: CPU-bound throughput (MB per CPU second).
 *  - "sim": a simulated path in virtual time (one-way delay = RTT/2, random loss, a
 *    bottleneck of BENCH_LINK_MBIT with a drop-tail queue of BENCH_QUEUE_MS): goodput in
 *    virtual time, and the CPU the run took.
 *  - "udp": two loopback UDP sockets, both endpoints on this one thread: wall-clock
 *    throughput and the process CPU time (user + system).
 *
 * Both stacks run with the same WebRTC-like settings: DATA chunks (no I-DATA), packets of
 * 1191 bytes (1200 - DTLS overhead), 4 MiB receive window, 16 MiB send buffer, RTO
 * 1000/200/10000 ms; usrsctp further tuned as libdatachannel does (10 K chunks on queue,
 * initial cwnd 10 MTU, max burst 10, RFC 4960 congestion control, 20 ms delayed SACK,
 * where sluice keeps its own defaults: 200 ms delayed SACK). usrsctp reads gettimeofday() for its RTT and timers: this program
 * defines gettimeofday() so that usrsctp sees virtual time in "mem"/"sim" and real time in
 * "udp" (see PEERS.md). Without usrsctp (Debian libusrsctp-dev) only sluice's column is
 * printed.
 *
 * Usage: bench_sctp [-q] [-s] [filter]   -q: smaller transfers; -s: sluice only (profiling);
 * filter: run scenarios whose name contains it. Prints a markdown table: scenario | sluice | usrsctp | ratio. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>

#ifdef SLUICE_HAVE_USRSCTP
#include <usrsctp.h>
#endif

#include "sctp/sctp.h"

#define BENCH_LINK_MBIT 200u
#define BENCH_QUEUE_MS 100u
#define BENCH_MTU 1191u
#define BENCH_RWND (4u << 20)
#define BENCH_SNDBUF (16u << 20)
#define RING_CAP 8192u
#define BATCH 64u

enum { IMPL_SLUICE = 0, IMPL_USRSCTP = 1, IMPL_N = 2 };
enum { MODE_MEM, MODE_SIM, MODE_UDP };

/* ---- clocks ------------------------------------------------------------------------------ */

/* usrsctp's clock (a program-wide fact, so a global of this benchmark program only). */
static bool g_virtual = true;
static sluice_time g_vnow = 1000000;

static sluice_time real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sluice_time)ts.tv_sec * 1000000u + (sluice_time)ts.tv_nsec / 1000u;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef SLUICE_HAVE_USRSCTP
/* usrsctp reads gettimeofday() for RTT, retransmission eligibility and cookie life. */
int gettimeofday(struct timeval *tv, void *tz) {
    (void)tz;
    if (g_virtual) {
        tv->tv_sec = (time_t)(1700000000 + g_vnow / 1000000);
        tv->tv_usec = (suseconds_t)(g_vnow % 1000000);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
    }
    return 0;
}
#endif

/* ---- packets between the two endpoints ------------------------------------------------------- */

typedef struct pkt {
    sluice_time at; /* arrival at the peer (sim/mem); unused for udp */
    uint16_t len;
    uint8_t data[1500];
} pkt;

typedef struct ring {
    pkt *q;
    size_t head, n;
} ring;

typedef struct linkcfg {
    uint32_t delay_us; /* one way */
    double loss;
    uint64_t bw_bps; /* 0 = unlimited */
    uint32_t qlimit_us;
} linkcfg;

typedef struct world world;

typedef struct side {
    world *w;
    int idx;
    bool active; /* usrsctp may call conn_output for a finished run: ignore it */
    sluice_sctp *s;
    sluice_prng prng;
    sluice_rng rng;
#ifdef SLUICE_HAVE_USRSCTP
    struct socket *us, *ls;
#endif
    bool up;
    uint64_t rx_bytes, rx_msgs;
    uint8_t *rbuf;
    size_t rlen;
    ring out; /* packets this side emitted, in arrival order */
    sluice_time busy_until;
    uint64_t lost, qdrops, udp_drops;
} side;

struct world {
    int impl, mode;
    linkcfg lc;
    sluice_prng loss_prng;
    side s[2];
    int fd[2];
    sluice_time now;
    sluice_time usr_last_ms;
};

static sluice_time wnow(const world *w) { return w->mode == MODE_UDP ? real_us() : g_vnow; }

static void emit(side *sd, const void *data, size_t len) {
    world *w = sd->w;
    if (len > 1500) return;
    sluice_time now = w->now, at = now;
    if (w->mode != MODE_UDP) {
        if (w->lc.loss > 0 && sluice_prng_unit(&w->loss_prng) < w->lc.loss) {
            sd->lost++;
            return;
        }
        if (w->lc.bw_bps) {
            sluice_time start = sd->busy_until > now ? sd->busy_until : now;
            if (start - now > w->lc.qlimit_us) {
                sd->qdrops++;
                return;
            }
            sd->busy_until = start + ((sluice_time)len * 8u * 1000000u + w->lc.bw_bps - 1) / w->lc.bw_bps;
            at = sd->busy_until;
        }
        at += w->lc.delay_us;
    }
    if (sd->out.n == RING_CAP) {
        sd->qdrops++;
        return;
    }
    pkt *p = &sd->out.q[(sd->out.head + sd->out.n++) % RING_CAP];
    p->at = at;
    p->len = (uint16_t)len;
    memcpy(p->data, data, len);
}

/* ---- the two implementations ------------------------------------------------------------------ */

#ifdef SLUICE_HAVE_USRSCTP
static int conn_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df) {
    (void)tos;
    (void)set_df;
    side *sd = addr; /* the AF_CONN handle is the sending side */
    if (sd->active) emit(sd, buf, len);
    return 0;
}

static void usr_options(struct socket *s) {
    const int on = 1;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on);
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);
    const int rcv = (int)BENCH_RWND, snd = (int)BENCH_SNDBUF;
    usrsctp_setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    usrsctp_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
    struct linger lg = {1, 0}; /* close = ABORT: no SHUTDOWN dance between runs */
    usrsctp_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    struct sctp_event e;
    memset(&e, 0, sizeof e);
    e.se_assoc_id = SCTP_ALL_ASSOC;
    e.se_type = SCTP_ASSOC_CHANGE;
    e.se_on = 1;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_EVENT, &e, sizeof e);
    usrsctp_set_non_blocking(s, 1);
}

static void usr_pmtu(struct socket *s) {
    /* fixed path MTU as WebRTC stacks configure it */
    struct sctp_paddrparams pp;
    memset(&pp, 0, sizeof pp);
    pp.spp_assoc_id = SCTP_ALL_ASSOC;
    pp.spp_flags = SPP_PMTUD_DISABLE;
    pp.spp_pathmtu = BENCH_MTU;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof pp);
}

static struct socket *usr_socket(side *sd, uint16_t port) {
    struct socket *s = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
    if (!s) exit(2);
    usr_options(s);
    struct sockaddr_conn sc;
    memset(&sc, 0, sizeof sc);
    sc.sconn_family = AF_CONN;
    sc.sconn_port = htons(port);
    sc.sconn_addr = sd;
    if (usrsctp_bind(s, (struct sockaddr *)&sc, sizeof sc) != 0) exit(2);
    return s;
}
#endif

static uint16_t g_port = 5000;

static void side_open(world *w, int i) {
    side *sd = &w->s[i];
    sd->w = w;
    sd->idx = i;
    sd->active = true;
    if (w->impl == IMPL_SLUICE) {
        sluice_prng_seed(&sd->prng, 11u + (uint64_t)i);
        sd->rng.fn = sluice_prng_random_fn;
        sd->rng.user = &sd->prng;
        sluice_sctp_settings st;
        sluice_sctp_settings_default(&st);
        st.enable_idata = false;
        st.mtu = BENCH_MTU;
        st.rwnd = BENCH_RWND;
        st.max_send_buffer = BENCH_SNDBUF;
        st.local_port = st.remote_port = 5000;
        if (sluice_sctp_new(&sd->s, &st, NULL, &sd->rng, NULL)) exit(2);
        return;
    }
#ifdef SLUICE_HAVE_USRSCTP
    usrsctp_register_address(sd);
    uint16_t mine = (uint16_t)(g_port + i), theirs = (uint16_t)(g_port + 1 - i);
    if (i == 1) {
        sd->ls = usr_socket(sd, mine);
        usr_pmtu(sd->ls);
        if (usrsctp_listen(sd->ls, 1) != 0) exit(2);
        return;
    }
    sd->us = usr_socket(sd, mine);
    usr_pmtu(sd->us);
    struct sockaddr_conn sc;
    memset(&sc, 0, sizeof sc);
    sc.sconn_family = AF_CONN;
    sc.sconn_port = htons(theirs);
    sc.sconn_addr = sd; /* the link handle: usrsctp uses it as source and destination */
    int rc = usrsctp_connect(sd->us, (struct sockaddr *)&sc, sizeof sc);
    if (rc != 0 && errno != EINPROGRESS) exit(2);
#else
    exit(2);
#endif
}

static void side_input(world *w, int i, const uint8_t *data, size_t len) {
    side *sd = &w->s[i];
    if (w->impl == IMPL_SLUICE) {
        sluice_sctp_handle_packet(sd->s, w->now, data, len);
        return;
    }
#ifdef SLUICE_HAVE_USRSCTP
    usrsctp_conninput(sd, data, len, 0);
#endif
}

/* Move the side's output packets to its ring (usrsctp already did it in conn_output). */
static void side_collect(world *w, int i) {
    side *sd = &w->s[i];
    if (w->impl != IMPL_SLUICE) return;
    uint8_t buf[1500];
    int n;
    while ((n = sluice_sctp_poll_packet(sd->s, w->now, buf, sizeof buf)) > 0) emit(sd, buf, (size_t)n);
}

static void side_read(world *w, int i) {
    side *sd = &w->s[i];
    if (w->impl == IMPL_SLUICE) {
        sluice_sctp_event ev;
        while (sluice_sctp_poll_event(sd->s, &ev) == 1) {
            if (ev.type == SLUICE_SCTP_EVENT_CONNECTED) sd->up = true;
            if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) {
                sd->rx_bytes += ev.message.len;
                sd->rx_msgs++;
                sluice_mem_free(NULL, ev.message.data);
            }
        }
        return;
    }
#ifdef SLUICE_HAVE_USRSCTP
    if (sd->ls && !sd->us) {
        sd->us = usrsctp_accept(sd->ls, NULL, NULL);
        if (!sd->us) return;
        usr_options(sd->us);
        sd->up = true;
    }
    if (!sd->us) return;
    for (;;) {
        struct sctp_rcvinfo info;
        socklen_t il = sizeof info;
        unsigned int infotype = 0;
        int flags = 0;
        ssize_t n = usrsctp_recvv(sd->us, sd->rbuf, 300000, NULL, NULL, &info, &il, &infotype, &flags);
        if (n <= 0) return;
        if (flags & MSG_NOTIFICATION) {
            union sctp_notification nt;
            memcpy(&nt, sd->rbuf, (size_t)n < sizeof nt ? (size_t)n : sizeof nt);
            if (nt.sn_header.sn_type == SCTP_ASSOC_CHANGE && nt.sn_assoc_change.sac_state == SCTP_COMM_UP)
                sd->up = true;
            continue;
        }
        sd->rx_bytes += (uint64_t)n;
        if (flags & MSG_EOR) sd->rx_msgs++;
    }
#endif
}

/* Queue one message on side 0, stream 1, PPID 53. 0 = accepted, -1 = buffer full. */
static int side_send(world *w, const uint8_t *data, size_t len) {
    side *sd = &w->s[0];
    if (w->impl == IMPL_SLUICE) return sluice_sctp_send(sd->s, w->now, 1, 53, data, len, NULL) == SLUICE_OK ? 0 : -1;
#ifdef SLUICE_HAVE_USRSCTP
    struct sctp_sndinfo si;
    memset(&si, 0, sizeof si);
    si.snd_sid = 1;
    si.snd_ppid = htonl(53);
    ssize_t n = usrsctp_sendv(sd->us, data, len, NULL, 0, &si, sizeof si, SCTP_SENDV_SNDINFO, 0);
    return n == (ssize_t)len ? 0 : -1;
#else
    return -1;
#endif
}

static void world_timers(world *w) {
    if (w->impl == IMPL_SLUICE) {
        for (int i = 0; i < 2; i++)
            if (sluice_sctp_next_deadline(w->s[i].s) <= w->now) sluice_sctp_handle_timeout(w->s[i].s, w->now);
        return;
    }
#ifdef SLUICE_HAVE_USRSCTP
    sluice_time ms = w->now / 1000;
    if (ms > w->usr_last_ms) {
        usrsctp_handle_timers((uint32_t)(ms - w->usr_last_ms));
        w->usr_last_ms = ms;
    }
#endif
}

static void world_init(world *w, int impl, int mode, const linkcfg *lc) {
    static pkt *rings[2];
    static uint8_t *rbufs[2];
    for (int i = 0; i < 2; i++) {
        if (!rings[i]) rings[i] = calloc(RING_CAP, sizeof(pkt));
        if (!rbufs[i]) rbufs[i] = malloc(300000);
        if (!rings[i] || !rbufs[i]) exit(2);
    }
    memset(w, 0, sizeof *w);
    w->impl = impl;
    w->mode = mode;
    if (lc) w->lc = *lc;
    w->fd[0] = w->fd[1] = -1;
    sluice_prng_seed(&w->loss_prng, 7);
    g_virtual = mode != MODE_UDP;
    w->now = wnow(w);
    w->usr_last_ms = w->now / 1000;
    for (int i = 0; i < 2; i++) {
        w->s[i].out.q = rings[i];
        w->s[i].rbuf = rbufs[i];
    }
    g_port = (uint16_t)(g_port + 2);
}

/* SLUICE_BENCH_VERBOSE=1: what happened on the path and inside our sender. */
static void world_report(const world *w) {
    if (!getenv("SLUICE_BENCH_VERBOSE")) return;
    fprintf(stderr, "  [%s] rx %llu B %llu msgs; path lost %llu+%llu, queue drops %llu+%llu, udp drops %llu+%llu",
            w->impl == IMPL_SLUICE ? "sluice" : "usrsctp", (unsigned long long)w->s[1].rx_bytes,
            (unsigned long long)w->s[1].rx_msgs, (unsigned long long)w->s[0].lost, (unsigned long long)w->s[1].lost,
            (unsigned long long)w->s[0].qdrops, (unsigned long long)w->s[1].qdrops,
            (unsigned long long)w->s[0].udp_drops, (unsigned long long)w->s[1].udp_drops);
    if (w->impl == IMPL_SLUICE && w->s[0].s) {
        sluice_sctp_stats st;
        sluice_sctp_get_stats(w->s[0].s, &st);
        fprintf(stderr, "; cwnd %u ssthresh %u peer_rwnd %u srtt %u us rto %u ms; pkts %llu retx %llu fast %llu t3 %llu",
                st.cwnd, st.ssthresh, st.peer_rwnd, st.srtt_us, st.rto_ms, (unsigned long long)st.packets_sent,
                (unsigned long long)st.retransmissions, (unsigned long long)st.fast_retransmits,
                (unsigned long long)st.t3_expirations);
    }
#ifdef SLUICE_HAVE_USRSCTP
    if (w->impl == IMPL_USRSCTP && w->s[0].us) {
        struct sctp_status ss;
        socklen_t l = sizeof ss;
        memset(&ss, 0, sizeof ss);
        if (usrsctp_getsockopt(w->s[0].us, IPPROTO_SCTP, SCTP_STATUS, &ss, &l) == 0)
            fprintf(stderr, "; cwnd %u peer_rwnd %u srtt %u ms rto %u ms", ss.sstat_primary.spinfo_cwnd,
                    ss.sstat_rwnd, ss.sstat_primary.spinfo_srtt, ss.sstat_primary.spinfo_rto);
        int sb = 0;
        l = sizeof sb;
        if (usrsctp_getsockopt(w->s[0].us, SOL_SOCKET, SO_SNDBUF, &sb, &l) == 0) fprintf(stderr, " sndbuf %d", sb);
    }
#endif
    fprintf(stderr, "\n");
}

static void world_free(world *w) {
    world_report(w);
    for (int i = 0; i < 2; i++) {
        side *sd = &w->s[i];
        if (sd->s) sluice_sctp_free(sd->s);
#ifdef SLUICE_HAVE_USRSCTP
        if (w->impl == IMPL_USRSCTP) {
            if (sd->us) usrsctp_close(sd->us);
            if (sd->ls) usrsctp_close(sd->ls);
        }
#endif
    }
#ifdef SLUICE_HAVE_USRSCTP
    if (w->impl == IMPL_USRSCTP) {
        /* let usrsctp drop its associations before their handles go */
        for (int k = 0; k < 50; k++) {
            if (g_virtual) g_vnow += 100000;
            w->now = wnow(w);
            world_timers(w);
        }
        for (int i = 0; i < 2; i++) {
            w->s[i].active = false;
            usrsctp_deregister_address(&w->s[i]);
        }
    }
#endif
    for (int i = 0; i < 2; i++)
        if (w->fd[i] >= 0) close(w->fd[i]);
}

/* ---- virtual time (mem, sim) ------------------------------------------------------------------- */

static void sim_deliver(world *w) {
    for (int i = 0; i < 2; i++) {
        ring *r = &w->s[i].out;
        while (r->n && r->q[r->head].at <= w->now) {
            pkt *p = &r->q[r->head];
            side_input(w, 1 - i, p->data, p->len);
            r->head = (r->head + 1) % RING_CAP;
            r->n--;
        }
    }
}

/* One round of virtual time: deliver what is due, collect, then jump to the next event. */
static void sim_step(world *w) {
    for (int i = 0; i < 2; i++) side_collect(w, i);
    sim_deliver(w);
    for (int i = 0; i < 2; i++) {
        side_read(w, i);
        side_collect(w, i);
    }
    sluice_time next = SLUICE_TIME_NEVER;
    for (int i = 0; i < 2; i++) {
        if (w->s[i].out.n) next = sluice_time_min(next, w->s[i].out.q[w->s[i].out.head].at);
        if (w->impl == IMPL_SLUICE) next = sluice_time_min(next, sluice_sctp_next_deadline(w->s[i].s));
    }
    if (w->impl == IMPL_USRSCTP) next = sluice_time_min(next, (w->now / 1000 + 1) * 1000); /* 1 ms ticks */
    if (next == SLUICE_TIME_NEVER) next = w->now + 10000;
    if (next > w->now) g_vnow = w->now = next;
    world_timers(w);
    for (int i = 0; i < 2; i++) side_read(w, i);
}

static bool connect_sim(world *w) {
    w->now = g_vnow;
    for (int i = 0; i < 2; i++) side_open(w, i);
    if (w->impl == IMPL_SLUICE) sluice_sctp_connect(w->s[0].s, w->now);
    sluice_time end = w->now + 30000000;
    while (w->now < end && !(w->s[0].up && w->s[1].up)) sim_step(w);
    return w->s[0].up && w->s[1].up;
}

typedef struct result {
    bool ok;
    double mbps;       /* MB/s: per virtual second (sim), per CPU second (mem), per wall second (udp) */
    double msgs_per_s; /* same base */
    double cpu;        /* CPU seconds of the transfer */
    uint64_t bytes, msgs, lost;
} result;

/* Send `msg`-byte messages: `total` bytes (mem), or for `dur_us` of virtual time (sim). */
static result run_sim(int impl, int mode, const linkcfg *lc, size_t msg, uint64_t total, sluice_time dur_us) {
    world w;
    result r;
    memset(&r, 0, sizeof r);
    world_init(&w, impl, mode, lc);
    static uint8_t data[256 << 10];
    if (connect_sim(&w)) {
        uint64_t sent = 0;
        const char *tr = getenv("SLUICE_BENCH_TRACE");
        sluice_time trace_us = tr && atoi(tr) > 1 ? (sluice_time)atoi(tr) : 1000000;
        sluice_time t0 = w.now, end = t0 + dur_us, tick = t0 + trace_us;
        uint64_t last = 0;
        double c0 = cpu_s();
        while (mode == MODE_SIM ? w.now < end : w.s[1].rx_bytes < total) {
            while ((mode == MODE_SIM || sent < total) && side_send(&w, data, msg) == 0) sent += msg;
            sim_step(&w);
            if (w.now - t0 > 600000000) break; /* stalled */
            if (mode == MODE_SIM && w.now >= tick) {
                tick += trace_us;
                if (getenv("SLUICE_BENCH_TRACE")) {
                    sluice_sctp_stats st;
                    memset(&st, 0, sizeof st);
                    if (impl == IMPL_SLUICE) sluice_sctp_get_stats(w.s[0].s, &st);
                    fprintf(stderr, "    t=%.2f s rx %.1f MB/s cwnd %u ssthresh %u flight %u srtt %u rto %u retx %llu fast %llu t3 %llu qdrops %llu\n",
                            (double)(w.now - t0) / 1e6, (double)(w.s[1].rx_bytes - last) / ((double)trace_us), st.cwnd,
                            st.ssthresh, st.bytes_in_flight, st.srtt_us, st.rto_ms, (unsigned long long)st.retransmissions,
                            (unsigned long long)st.fast_retransmits, (unsigned long long)st.t3_expirations,
                            (unsigned long long)w.s[0].qdrops);
                }
                last = w.s[1].rx_bytes;
            }
        }
        r.cpu = cpu_s() - c0;
        r.bytes = w.s[1].rx_bytes;
        r.msgs = w.s[1].rx_msgs;
        r.lost = w.s[0].lost + w.s[1].lost;
        double base = mode == MODE_SIM ? (double)(w.now - t0) / 1e6 : r.cpu;
        r.mbps = (double)r.bytes / base / 1e6;
        r.msgs_per_s = (double)r.msgs / base;
        r.ok = mode == MODE_SIM || r.bytes >= total;
    }
    world_free(&w);
    return r;
}

/* ---- loopback UDP ---------------------------------------------------------------------------- */

static int udp_pair(int fd[2]) {
    struct sockaddr_in a[2];
    socklen_t al = sizeof a[0];
    for (int i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fd[i] < 0) return -1;
        int sz = 8 << 20;
        /* root may exceed rmem_max; else the plain option gives what it can */
        if (setsockopt(fd[i], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
            setsockopt(fd[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        if (setsockopt(fd[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
            setsockopt(fd[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        memset(&a[i], 0, sizeof a[i]);
        a[i].sin_family = AF_INET;
        a[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd[i], (struct sockaddr *)&a[i], sizeof a[i]) != 0) return -1;
        if (getsockname(fd[i], (struct sockaddr *)&a[i], &al) != 0) return -1;
    }
    for (int i = 0; i < 2; i++)
        if (connect(fd[i], (struct sockaddr *)&a[1 - i], sizeof a[1 - i]) != 0) return -1;
    return 0;
}

/* Write up to BATCH packets of side i's ring to its socket. Returns how many went. */
static unsigned udp_flush(world *w, int i) {
    ring *r = &w->s[i].out;
    struct mmsghdr mh[BATCH];
    struct iovec iov[BATCH];
    unsigned n = 0;
    while (n < BATCH && n < r->n) {
        pkt *p = &r->q[(r->head + n) % RING_CAP];
        iov[n].iov_base = p->data;
        iov[n].iov_len = p->len;
        memset(&mh[n], 0, sizeof mh[n]);
        mh[n].msg_hdr.msg_iov = &iov[n];
        mh[n].msg_hdr.msg_iovlen = 1;
        n++;
    }
    if (!n) return 0;
    int s = sendmmsg(w->fd[i], mh, n, 0);
    if (s <= 0) {
        if (errno == EAGAIN || errno == ENOBUFS) return 0;
        s = 1; /* anything else: drop the head packet */
        w->s[i].udp_drops++;
    }
    r->head = (r->head + (unsigned)s) % RING_CAP;
    r->n -= (unsigned)s;
    return (unsigned)s;
}

/* Read up to BATCH datagrams on side i's socket and feed them to side i. */
static unsigned udp_drain(world *w, int i) {
    static uint8_t bufs[BATCH][1500];
    struct mmsghdr mh[BATCH];
    struct iovec iov[BATCH];
    for (unsigned k = 0; k < BATCH; k++) {
        iov[k].iov_base = bufs[k];
        iov[k].iov_len = sizeof bufs[k];
        memset(&mh[k], 0, sizeof mh[k]);
        mh[k].msg_hdr.msg_iov = &iov[k];
        mh[k].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(w->fd[i], mh, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return 0;
    w->now = wnow(w);
    for (int k = 0; k < n; k++) side_input(w, i, bufs[k], mh[k].msg_len);
    side_read(w, i);
    side_collect(w, i);
    return (unsigned)n;
}

static unsigned udp_round(world *w) {
    unsigned moved = 0;
    w->now = wnow(w);
    for (int i = 0; i < 2; i++) side_collect(w, i);
    for (int i = 0; i < 2; i++) {
        moved += udp_flush(w, i);
        moved += udp_drain(w, 1 - i);
    }
    w->now = wnow(w);
    world_timers(w);
    for (int i = 0; i < 2; i++) side_read(w, i);
    return moved;
}

static void udp_wait(world *w) {
    struct pollfd pf[2] = {{w->fd[0], POLLIN, 0}, {w->fd[1], POLLIN, 0}};
    poll(pf, 2, 1);
}

static result run_udp(int impl, size_t msg, uint64_t total, double max_s) {
    world w;
    result r;
    memset(&r, 0, sizeof r);
    world_init(&w, impl, MODE_UDP, NULL);
    static uint8_t data[256 << 10];
    if (udp_pair(w.fd) != 0) {
        perror("udp");
        world_free(&w);
        return r;
    }
    w.now = wnow(&w);
    for (int i = 0; i < 2; i++) side_open(&w, i);
    if (impl == IMPL_SLUICE) sluice_sctp_connect(w.s[0].s, w.now);
    sluice_time end = w.now + 5000000;
    while (w.now < end && !(w.s[0].up && w.s[1].up))
        if (!udp_round(&w)) udp_wait(&w);
    if (w.s[0].up && w.s[1].up) {
        uint64_t sent = 0;
        sluice_time t0 = real_us(), stop = t0 + (sluice_time)(max_s * 1e6);
        double c0 = cpu_s();
        while (w.s[1].rx_bytes < total && w.now < stop) {
            w.now = wnow(&w);
            while (sent < total && side_send(&w, data, msg) == 0) sent += msg;
            if (!udp_round(&w)) udp_wait(&w);
        }
        r.cpu = cpu_s() - c0;
        double wall = (double)(real_us() - t0) / 1e6;
        r.bytes = w.s[1].rx_bytes;
        r.msgs = w.s[1].rx_msgs;
        r.mbps = (double)r.bytes / wall / 1e6;
        r.msgs_per_s = (double)r.msgs / wall;
        r.ok = r.bytes >= total;
    }
    world_free(&w);
    return r;
}

/* ---- the table ---------------------------------------------------------------------------------- */

typedef struct scenario {
    const char *name;
    int mode;
    size_t msg;
    uint32_t rtt_ms;
    double loss;
    uint64_t total; /* mem, udp */
    uint32_t dur_s; /* sim */
    bool per_msg;   /* report messages/s rather than MB/s */
    uint32_t mbit;  /* sim bottleneck; 0 = the default */
} scenario;

static void fmt(char *out, size_t cap, const scenario *sc, const result *r) {
    if (!r->ok && r->bytes == 0) {
        snprintf(out, cap, "failed");
        return;
    }
    const char *base = sc->mode == MODE_MEM ? "/CPU s" : "";
    if (sc->per_msg)
        snprintf(out, cap, "%.0fk msgs/s%s (%.2f CPU s)%s", r->msgs_per_s / 1e3, base, r->cpu, r->ok ? "" : " incomplete");
    else
        snprintf(out, cap, r->mbps < 10 ? "%.2f MB/s%s (%.2f CPU s)%s" : "%.1f MB/s%s (%.2f CPU s)%s", r->mbps, base,
                 r->cpu, r->ok ? "" : " incomplete");
}

int main(int argc, char **argv) {
    bool quick = false, only_sluice = false;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q")) quick = true;
        else if (!strcmp(argv[i], "-s")) only_sluice = true; /* for profiling */
        else filter = argv[i];
    }
    const uint64_t big = quick ? 64u << 20 : 256u << 20, small = quick ? 4u << 20 : 16u << 20;
    const uint32_t dur = quick ? 10 : 20;
    const scenario scs[] = {
        {"mem 16 KiB", MODE_MEM, 16384, 0, 0, big, 0, false, 0},
        {"mem 100 B", MODE_MEM, 100, 0, 0, small, 0, true, 0},
        {"sim 50 ms RTT 0 % loss, 16 KiB", MODE_SIM, 16384, 50, 0, 0, dur, false, 0},
        {"sim 50 ms RTT 1 % loss, 16 KiB", MODE_SIM, 16384, 50, 0.01, 0, dur, false, 0},
        {"sim 150 ms RTT 0 % loss, 16 KiB", MODE_SIM, 16384, 150, 0, 0, dur, false, 0},
        {"sim 150 ms RTT 1 % loss, 16 KiB", MODE_SIM, 16384, 150, 0.01, 0, dur, false, 0},
        /* BDP 18.75 MB > rwnd: here, and only here, the window bounds it (4 MiB / 150 ms = 28 MB/s) */
        {"sim 150 ms RTT 0 % loss, 1 Gbit/s, 16 KiB", MODE_SIM, 16384, 150, 0, 0, dur, false, 1000},
        {"udp loopback 16 KiB", MODE_UDP, 16384, 0, 0, big, 0, false, 0},
        {"udp loopback 100 B", MODE_UDP, 100, 0, 0, small, 0, true, 0},
    };
#ifdef SLUICE_HAVE_USRSCTP
    usrsctp_init_nothreads(0, conn_output, NULL);
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_asconf_enable(0);
    usrsctp_sysctl_set_sctp_auth_enable(0);
    usrsctp_sysctl_set_sctp_rto_initial_default(1000);
    usrsctp_sysctl_set_sctp_rto_min_default(200);
    usrsctp_sysctl_set_sctp_rto_max_default(10000);
    usrsctp_sysctl_set_sctp_heartbeat_interval_default(0);
    /* tuned as libdatachannel tunes it (its SctpTransport::Init), windows aside */
    usrsctp_sysctl_set_sctp_max_chunks_on_queue(10 * 1024);
    usrsctp_sysctl_set_sctp_initial_cwnd(10);
    usrsctp_sysctl_set_sctp_max_burst_default(10);
    usrsctp_sysctl_set_sctp_default_cc_module(0);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
    usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
    const int nimpl = IMPL_N;
#else
    const int nimpl = 1;
#endif
    /* SLUICE_BENCH_MBIT / SLUICE_BENCH_QUEUE_MS / SLUICE_BENCH_RTT_MS reshape the sim path */
    const char *e;
    uint32_t link_mbit = (e = getenv("SLUICE_BENCH_MBIT")) ? (uint32_t)atoi(e) : BENCH_LINK_MBIT;
    uint32_t queue_ms = (e = getenv("SLUICE_BENCH_QUEUE_MS")) ? (uint32_t)atoi(e) : BENCH_QUEUE_MS;
    uint32_t rtt_override = (e = getenv("SLUICE_BENCH_RTT_MS")) ? (uint32_t)atoi(e) : 0;
    if (!link_mbit) link_mbit = BENCH_LINK_MBIT;
    printf("sim: %u Mbit/s bottleneck, drop-tail queue %u ms, one-way delay RTT/2, random loss; "
           "mem: zero delay; udp: 127.0.0.1, one thread. DATA chunks, MTU %u, rwnd %u KiB.\n\n",
           link_mbit, queue_ms, BENCH_MTU, BENCH_RWND >> 10);
    printf("| scenario | sluice | usrsctp | ratio |\n|---|---|---|---|\n");
    fflush(stdout);
    for (size_t k = 0; k < sizeof scs / sizeof scs[0]; k++) {
        const scenario *sc = &scs[k];
        if (filter && !strstr(sc->name, filter)) continue;
        result res[IMPL_N];
        memset(res, 0, sizeof res);
        for (int impl = 0; impl < nimpl; impl++) {
            if (only_sluice && impl != IMPL_SLUICE) continue;
            linkcfg lc = {0, 0, 0, 0};
            if (sc->mode == MODE_SIM) {
                lc.delay_us = (rtt_override ? rtt_override : sc->rtt_ms) * 500u;
                lc.loss = sc->loss;
                lc.bw_bps = (uint64_t)(sc->mbit ? sc->mbit : link_mbit) * 1000000u;
                lc.qlimit_us = queue_ms * 1000u;
            }
            if (sc->mode == MODE_UDP) res[impl] = run_udp(impl, sc->msg, sc->total, 10.0);
            else res[impl] = run_sim(impl, sc->mode, &lc, sc->msg, sc->total, (sluice_time)sc->dur_s * 1000000u);
        }
        char a[96], b[96] = "n/a", ratio[32] = "n/a";
        fmt(a, sizeof a, sc, &res[0]);
        if (nimpl > 1) {
            fmt(b, sizeof b, sc, &res[1]);
            double x = sc->per_msg ? res[0].msgs_per_s : res[0].mbps, y = sc->per_msg ? res[1].msgs_per_s : res[1].mbps;
            if (y > 0) snprintf(ratio, sizeof ratio, "%.2f", x / y);
        }
        printf("| %s | %s | %s | %s |\n", sc->name, a, b, ratio);
        fflush(stdout);
    }
#ifdef SLUICE_HAVE_USRSCTP
    for (int i = 0; i < 100 && usrsctp_finish() != 0; i++) usrsctp_handle_timers(100);
#endif
    return 0;
}
