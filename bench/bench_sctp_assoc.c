/* Throughput of two of our SCTP associations joined in memory (no DTLS, no sockets): what
 * the association layer costs per byte and per message. Prints one line per scenario. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sctp/sctp.h"

typedef struct pair {
    sluice_sctp *a, *b;
    sluice_prng pa, pb;
    sluice_rng ra, rb;
    sluice_time now;
    uint64_t rx_bytes, rx_msgs;
} pair;

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void events(pair *p, sluice_sctp *s) {
    sluice_sctp_event ev;
    while (sluice_sctp_poll_event(s, &ev) == 1)
        if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) {
            p->rx_bytes += ev.message.len;
            p->rx_msgs++;
            sluice_mem_free(NULL, ev.message.data);
        }
}

/* One round: move every packet both ways, advance virtual time 100 us, fire timers. */
static void pump(pair *p) {
    uint8_t buf[1500];
    int n;
    while ((n = sluice_sctp_poll_packet(p->a, p->now, buf, sizeof buf)) > 0)
        sluice_sctp_handle_packet(p->b, p->now, buf, (size_t)n);
    events(p, p->b);
    while ((n = sluice_sctp_poll_packet(p->b, p->now, buf, sizeof buf)) > 0)
        sluice_sctp_handle_packet(p->a, p->now, buf, (size_t)n);
    events(p, p->a);
    p->now += 100;
    if (sluice_sctp_next_deadline(p->a) <= p->now) sluice_sctp_handle_timeout(p->a, p->now);
    if (sluice_sctp_next_deadline(p->b) <= p->now) sluice_sctp_handle_timeout(p->b, p->now);
}

static void pair_up(pair *p, bool idata) {
    memset(p, 0, sizeof *p);
    p->now = 1000000;
    sluice_prng_seed(&p->pa, 1);
    sluice_prng_seed(&p->pb, 2);
    p->ra.fn = p->rb.fn = sluice_prng_random_fn;
    p->ra.user = &p->pa;
    p->rb.user = &p->pb;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.enable_idata = idata;
    if (sluice_sctp_new(&p->a, &s, NULL, &p->ra, NULL) || sluice_sctp_new(&p->b, &s, NULL, &p->rb, NULL)) exit(1);
    sluice_sctp_connect(p->a, p->now);
    for (int i = 0; i < 100 && sluice_sctp_get_state(p->b) != SLUICE_SCTP_ESTABLISHED; i++) pump(p);
}

static void run(const char *name, size_t msg, size_t total, bool idata, const sluice_sctp_send_options *o) {
    pair p;
    pair_up(&p, idata);
    uint8_t *data = calloc(1, msg);
    size_t sent = 0;
    double c0 = cpu_s();
    int idle = 0;
    while (p.rx_bytes < total && idle < 1000) {
        while (sent < total && sluice_sctp_send(p.a, p.now, 1, 53, data, msg, o) == SLUICE_OK) sent += msg;
        uint64_t before = p.rx_bytes;
        pump(&p);
        idle = (sent >= total && p.rx_bytes == before) ? idle + 1 : 0;
    }
    double c = cpu_s() - c0;
    sluice_sctp_stats st;
    sluice_sctp_get_stats(p.a, &st);
    printf("%-28s %8.1f MB/s %9.0f msgs/s (%.2f CPU s, %llu of %zu msgs, %llu abandoned, %llu retx)\n", name,
           (double)p.rx_bytes / c / 1e6, (double)p.rx_msgs / c, c, (unsigned long long)p.rx_msgs, total / msg,
           (unsigned long long)st.messages_abandoned, (unsigned long long)st.retransmissions);
    free(data);
    sluice_sctp_free(p.a);
    sluice_sctp_free(p.b);
}

int main(void) {
    sluice_sctp_send_options unrel;
    memset(&unrel, 0, sizeof unrel);
    unrel.unordered = true;
    unrel.has_max_retransmits = true;
    unrel.max_retransmits = 0;
    run("reliable 16 KiB, DATA", 16384, 64u << 20, false, NULL);
    run("reliable 16 KiB, I-DATA", 16384, 64u << 20, true, NULL);
    run("reliable 256 KiB, DATA", 256u << 10, 64u << 20, false, NULL);
    run("unreliable 100 B, DATA", 100, 20u << 20, false, &unrel);
    return 0;
}
