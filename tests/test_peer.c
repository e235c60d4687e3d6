/* Two sluice peers in one process over the simulated network (sans-IO, virtual time):
 * the Godot flow end to end, and the API rules of GODOT_API.md one by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simnet.h"
#include "testkit_alloc.h"
#include "testkit_peer_node.h"
#include "sluice.h"
#include "util.h"
#include "peer.h" /* ICE roles after a restart */

#define SEC 1000000ull

typedef struct side {
    sluice_peer *pc;
    sluice_prng prng;
    sluice_addr addr;
    struct side *other;
    bool trickle;
    int conn_state;
    int offers, answers, candidates, errors;
    int last_mline_index;
    char last_mid[40];
    sluice_channel *received[16];
    int nreceived;
    int opened, closing, closed;
    bool saw_gathering_complete;
    bool drop_candidates; /* trickle, but lose every candidate */
    char last_error[256];
} side;

typedef struct world {
    sluice_simnet *sn;
    side a, b;
} world;


/* ---- signaling: events of one side act on the other ---- */

static void pump_events(side *s) {
    sluice_event ev;
    while (sluice_peer_poll_event(s->pc, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION:
            if (strcmp(ev.sdp_type, "offer") == 0) s->offers++;
            else s->answers++;
            assert_int_equal(sluice_peer_set_local_description(s->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            if (s->trickle) {
                assert_int_equal(sluice_peer_set_remote_description(s->other->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            }
            break;
        case SLUICE_EVENT_ICE_CANDIDATE:
            s->candidates++;
            s->last_mline_index = ev.mline_index;
            snprintf(s->last_mid, sizeof s->last_mid, "%s", ev.mid);
            if (s->trickle && !s->drop_candidates)
                assert_int_equal(sluice_peer_add_ice_candidate(s->other->pc, ev.mid, ev.mline_index, ev.candidate),
                                 SLUICE_OK);
            break;
        case SLUICE_EVENT_GATHERING_STATE:
            if (ev.state == SLUICE_GATHERING_COMPLETE) {
                s->saw_gathering_complete = true;
                if (!s->trickle) {
                    /* Non-trickle: send the complete local description now. */
                    char sdp[8192];
                    const char *type;
                    assert_true(sluice_peer_local_description(s->pc, sdp, sizeof sdp, &type) > 0);
                    assert_int_equal(sluice_peer_set_remote_description(s->other->pc, type, sdp), SLUICE_OK);
                }
            }
            break;
        case SLUICE_EVENT_CONNECTION_STATE: s->conn_state = ev.state; break;
        case SLUICE_EVENT_DATA_CHANNEL:
            if (s->nreceived < 16) s->received[s->nreceived++] = ev.channel;
            break;
        case SLUICE_EVENT_CHANNEL_OPEN: s->opened++; break;
        case SLUICE_EVENT_CHANNEL_CLOSING: s->closing++; break;
        case SLUICE_EVENT_CHANNEL_CLOSED: s->closed++; break;
        case SLUICE_EVENT_ERROR:
            s->errors++;
            snprintf(s->last_error, sizeof s->last_error, "%s", ev.reason);
            break;
        default: break;
        }
    }
}

/* Nonzero: overrides of both sides' config (a test sets them, and clears them after). */
static size_t g_max_message_size, g_max_send_buffer;

static void side_init(side *s, side *other, uint64_t seed, sluice_addr addr, bool trickle) {
    memset(s, 0, sizeof *s);
    sluice_prng_seed(&s->prng, seed);
    sluice_config cfg;
    sluice_config_default(&cfg);
    if (g_max_message_size) cfg.max_message_size = g_max_message_size;
    if (g_max_send_buffer) cfg.max_send_buffer = g_max_send_buffer;
    cfg.sans_io = true;
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = &s->prng;
    cfg.consent_disconnect_ms = 5000;
    cfg.consent_fail_ms = 30000;
    if (getenv("SLUICE_TEST_LOG")) {
        cfg.log_fn = sluice_log_stderr;
        cfg.log_level = SLUICE_LOG_DEBUG;
    }
    assert_int_equal(sluice_peer_new(&s->pc, &cfg, NULL, s), SLUICE_OK);
    s->addr = addr;
    s->other = other;
    s->trickle = trickle;
    assert_int_equal(sluice_peer_add_local_address(s->pc, &addr), SLUICE_OK);
}

static void world_init(world *w, uint64_t seed, double loss, uint32_t delay_us, bool trickle) {
    w->sn = sluice_simnet_new(seed, 1 * SEC);
    assert_non_null(w->sn);
    side_init(&w->a, &w->b, seed * 2 + 1, sluice_sim_addr4(10, 0, 0, 1, 40001), trickle);
    side_init(&w->b, &w->a, seed * 2 + 2, sluice_sim_addr4(10, 0, 0, 2, 40002), trickle);
    int na = sluice_simnet_add_node(w->sn, &peer_node_ops, &w->a.pc);
    int nb = sluice_simnet_add_node(w->sn, &peer_node_ops, &w->b.pc);
    sluice_simnet_bind(w->sn, na, &w->a.addr);
    sluice_simnet_bind(w->sn, nb, &w->b.addr);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.loss = loss;
    p.delay_us = delay_us;
    sluice_simnet_set_default_path(w->sn, &p);
}

static void world_free(world *w) {
    sluice_peer_free(w->a.pc);
    sluice_peer_free(w->b.pc);
    sluice_simnet_free(w->sn);
}

/* Run the network, pumping events, until cond(w) or the virtual deadline. */
static bool run_until(world *w, sluice_time limit, bool (*cond)(world *)) {
    sluice_time end = sluice_simnet_now(w->sn) + limit;
    for (;;) {
        pump_events(&w->a);
        pump_events(&w->b);
        if (cond(w)) return true;
        if (sluice_simnet_now(w->sn) >= end) return false;
        sluice_time step = sluice_simnet_now(w->sn) + 10000; /* at most 10 ms per step */
        if (step > end) step = end;
        sluice_simnet_step(w->sn, step);
    }
}

static bool both_connected(world *w) {
    return sluice_peer_connection_state(w->a.pc) == SLUICE_CONNECTION_CONNECTED &&
           sluice_peer_connection_state(w->b.pc) == SLUICE_CONNECTION_CONNECTED;
}

static sluice_channel *g_wait_ch;
static bool channel_open(world *w) {
    (void)w;
    return sluice_channel_ready_state(g_wait_ch) == SLUICE_CHANNEL_OPEN;
}
static bool b_received_channel(world *w) { return w->b.nreceived > 0; }

/* Offerer A with one in-band channel; B answers. Returns A's channel. */
static sluice_channel *connect_pair(world *w) {
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(w->a.pc, "chat", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_channel_id(ch), SLUICE_UNSET); /* no DTLS role yet */
    assert_int_equal(sluice_peer_create_offer(w->a.pc), SLUICE_OK);
    assert_true(run_until(w, 20 * SEC, both_connected));
    g_wait_ch = ch;
    assert_true(run_until(w, 10 * SEC, channel_open));
    assert_true(run_until(w, 10 * SEC, b_received_channel));
    return ch;
}

static sluice_channel *g_rx_ch;
static size_t g_rx_want;
static bool rx_has(world *w) {
    (void)w;
    return sluice_channel_available(g_rx_ch) >= g_rx_want;
}

static void test_peer_connects_and_exchanges_messages_trickle(void **state) {
    (void)state;
    world w;
    world_init(&w, 1, 0.0, 5000, true);
    sluice_channel *a_ch = connect_pair(&w);
    assert_int_equal(w.a.offers, 1);
    assert_int_equal(w.b.answers, 1); /* the answer was generated by set_remote_description */
    assert_true(w.a.candidates > 0);
    sluice_channel *b_ch = w.b.received[0];
    assert_string_equal(sluice_channel_label(b_ch), "chat");
    assert_int_equal(sluice_channel_id(a_ch), sluice_channel_id(b_ch));
    /* The answerer is the DTLS client here (answers actpass with active): even ids are its.
     * The offerer is server: odd. */
    assert_int_equal(sluice_channel_id(a_ch) % 2, 1);

    assert_int_equal(sluice_channel_send(a_ch, "hello", 5, true), SLUICE_OK);
    uint8_t bin[3] = {1, 2, 3};
    assert_int_equal(sluice_channel_send(a_ch, bin, 3, false), SLUICE_OK);
    assert_int_equal(sluice_channel_send(a_ch, "", 0, true), SLUICE_OK);
    g_rx_ch = b_ch;
    g_rx_want = 3;
    assert_true(run_until(&w, 10 * SEC, rx_has));
    char buf[16];
    bool text;
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, &text), 5);
    assert_true(text);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, &text), 3);
    assert_false(text);
    assert_false(sluice_channel_was_string(b_ch));
    assert_memory_equal(buf, bin, 3);
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, &text), 0);
    assert_true(text);
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, &text), SLUICE_ERR_AGAIN);
    world_free(&w);
}

static bool a_gathered_b_gathered(world *w) { return w->a.saw_gathering_complete && w->b.saw_gathering_complete; }

static void test_peer_connects_without_trickle(void **state) {
    (void)state;
    world w;
    world_init(&w, 2, 0.0, 2000, false);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "x", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    assert_true(run_until(&w, 20 * SEC, a_gathered_b_gathered));
    assert_true(run_until(&w, 20 * SEC, both_connected));
    world_free(&w);
}

static bool b_closed_and_a_closed(world *w) {
    return w->a.closed > 0 && w->b.closed > 0;
}

static void test_peer_channel_close_reaches_closed_on_both_sides(void **state) {
    (void)state;
    world w;
    world_init(&w, 3, 0.0, 3000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.received[0];
    sluice_channel_close(a_ch);
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_CLOSING);
    assert_true(run_until(&w, 10 * SEC, b_closed_and_a_closed));
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_CLOSED);
    assert_int_equal(sluice_channel_ready_state(b_ch), SLUICE_CHANNEL_CLOSED);
    assert_true(w.b.closing > 0); /* the remote side went through CLOSING */
    world_free(&w);
}


static bool b_has_4_channels(world *w) { return w->b.nreceived >= 4 && w->a.nreceived >= 1; }

static sluice_channel *find_received(side *s, const char *label) {
    for (int i = 0; i < s->nreceived; i++)
        if (strcmp(sluice_channel_label(s->received[i]), label) == 0) return s->received[i];
    return NULL;
}

static void test_peer_inband_channels_carry_every_reliability_mode(void **state) {
    (void)state;
    world w;
    world_init(&w, 7, 0.02, 4000, true);
    sluice_channel *c[4];
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    o.ordered = false;
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "unordered", &o, &c[0]), SLUICE_OK);
    sluice_channel_options_default(&o);
    o.ordered = false;
    assert_int_equal(sluice_channel_options_set_int(&o, "maxRetransmits", 0), SLUICE_OK);
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "rexmit0", &o, &c[1]), SLUICE_OK);
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "maxPacketLifeTime", 150), SLUICE_OK);
    o.protocol = "game-v1";
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "timed", &o, &c[2]), SLUICE_OK);
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "reliable", &o, &c[3]), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    assert_true(run_until(&w, 20 * SEC, both_connected));
    /* The answerer opens one too, after the connection is up (W3C allows it). */
    sluice_channel *from_b;
    assert_int_equal(sluice_peer_create_channel(w.b.pc, "from-b", NULL, &from_b), SLUICE_OK);
    assert_int_equal(sluice_channel_id(from_b) % 2, 0); /* B is the DTLS client: even ids */
    assert_true(run_until(&w, 20 * SEC, b_has_4_channels));
    sluice_channel *r;
    assert_non_null(r = find_received(&w.b, "unordered"));
    assert_false(sluice_channel_ordered(r));
    assert_int_equal(sluice_channel_max_retransmits(r), SLUICE_UNSET);
    assert_non_null(r = find_received(&w.b, "rexmit0"));
    assert_false(sluice_channel_ordered(r));
    assert_int_equal(sluice_channel_max_retransmits(r), 0);
    assert_non_null(r = find_received(&w.b, "timed"));
    assert_true(sluice_channel_ordered(r));
    assert_int_equal(sluice_channel_max_packet_life_time(r), 150);
    assert_string_equal(sluice_channel_protocol(r), "game-v1");
    assert_non_null(r = find_received(&w.b, "reliable"));
    assert_true(sluice_channel_ordered(r));
    assert_int_equal(sluice_channel_max_packet_life_time(r), SLUICE_UNSET);
    assert_non_null(r = find_received(&w.a, "from-b"));
    assert_int_equal(sluice_channel_id(r), sluice_channel_id(from_b));

    /* Unreliable traffic over 2 % loss: never duplicated, never corrupted. */
    sluice_channel *rx = find_received(&w.b, "rexmit0");
    for (int i = 0; i < 300; i++) {
        uint8_t m[100];
        memset(m, i & 0xff, sizeof m);
        m[0] = (uint8_t)(i >> 8);
        assert_int_equal(sluice_channel_send(c[1], m, sizeof m, false), SLUICE_OK);
    }
    run_until(&w, 5 * SEC, b_closed_and_a_closed); /* just let it drain */
    bool seen[300];
    memset(seen, 0, sizeof seen);
    int got = 0;
    uint8_t m[200];
    int64_t n;
    while ((n = sluice_channel_recv(rx, m, sizeof m, NULL)) >= 0) {
        assert_int_equal(n, 100);
        int i = (m[0] << 8) | m[1];
        assert_true(i >= 0 && i < 300);
        assert_false(seen[i]);
        seen[i] = true;
        for (int k = 1; k < 100; k++) assert_int_equal(m[k], i & 0xff);
        got++;
    }
    assert_true(got > 200); /* 2 % loss, no retransmissions */
    world_free(&w);
}

static void test_peer_channel_close_from_the_answerer(void **state) {
    (void)state;
    world w;
    world_init(&w, 8, 0.0, 3000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.received[0];
    sluice_channel_close(b_ch);
    assert_true(run_until(&w, 10 * SEC, b_closed_and_a_closed));
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_CLOSED);
    assert_true(w.a.closing > 0);
    assert_int_equal(sluice_channel_send(a_ch, "x", 1, true), SLUICE_ERR_INVALID_STATE);
    /* The stream id can be used again by a new channel. */
    sluice_channel *again;
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "again", NULL, &again), SLUICE_OK);
    g_wait_ch = again;
    assert_true(run_until(&w, 10 * SEC, channel_open));
    assert_int_equal(sluice_channel_id(again), sluice_channel_id(a_ch));
    world_free(&w);
}

static bool negotiated_open(world *w) {
    (void)w;
    return sluice_channel_ready_state(g_wait_ch) == SLUICE_CHANNEL_OPEN;
}

static void test_peer_negotiated_channels_like_godot_multiplayer(void **state) {
    (void)state;
    world w;
    world_init(&w, 4, 0.05, 10000, true);
    sluice_channel *a[3], *b[3];
    for (int i = 0; i < 3; i++) {
        sluice_channel_options o;
        sluice_channel_options_default(&o);
        assert_int_equal(sluice_channel_options_set_int(&o, "negotiated", 1), SLUICE_OK);
        assert_int_equal(sluice_channel_options_set_int(&o, "id", i + 1), SLUICE_OK);
        if (i > 0) assert_int_equal(sluice_channel_options_set_int(&o, "maxPacketLifetime", 500), SLUICE_OK);
        if (i == 2) o.ordered = false;
        assert_int_equal(sluice_peer_create_channel(w.a.pc, "g", &o, &a[i]), SLUICE_OK);
        assert_int_equal(sluice_peer_create_channel(w.b.pc, "g", &o, &b[i]), SLUICE_OK);
        assert_int_equal(sluice_channel_id(a[i]), i + 1);
    }
    assert_int_equal(sluice_channel_max_packet_life_time(a[1]), 500);
    assert_int_equal(sluice_channel_max_retransmits(a[1]), SLUICE_UNSET);
    assert_int_equal(sluice_channel_max_packet_life_time(a[0]), SLUICE_UNSET);
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    assert_true(run_until(&w, 20 * SEC, both_connected));
    g_wait_ch = b[0];
    assert_true(run_until(&w, 10 * SEC, negotiated_open));
    g_wait_ch = a[0];
    assert_true(run_until(&w, 10 * SEC, negotiated_open));
    assert_int_equal(w.b.nreceived, 0); /* never data_channel_received for negotiated */
    for (int i = 0; i < 50; i++) assert_int_equal(sluice_channel_send(a[0], "r", 1, true), SLUICE_OK);
    g_rx_ch = b[0];
    g_rx_want = 50;
    assert_true(run_until(&w, 30 * SEC, rx_has)); /* reliable despite 5 % loss */
    world_free(&w);
}

/* Firefox advertises a=max-message-size:1073741823, far above our 16 MiB send buffer. A
 * message within the remote's limit but larger than our whole send buffer can never be
 * queued: TOO_LARGE, not BUFFER_FULL (which tells the caller to retry, forever). Here:
 * 1 MiB advertised, 64 KiB send buffer. */
static void test_peer_send_larger_than_send_buffer_is_too_large(void **state) {
    (void)state;
    world w;
    g_max_message_size = 1 << 20;
    g_max_send_buffer = 65536;
    world_init(&w, 6, 0.0, 1000, true);
    g_max_message_size = g_max_send_buffer = 0;
    sluice_channel *a_ch = connect_pair(&w);
    assert_int_equal(sluice_peer_remote_max_message_size(w.a.pc), 1 << 20);
    uint8_t *big = calloc(1, 65537);
    assert_non_null(big);
    assert_int_equal(sluice_channel_send(a_ch, big, 65537, false), SLUICE_ERR_TOO_LARGE);
    assert_int_equal(sluice_channel_buffered_amount(a_ch), 0);
    /* The whole buffer is fine; after it, one byte more is back-pressure. */
    assert_int_equal(sluice_channel_send(a_ch, big, 65536, false), SLUICE_OK);
    assert_int_equal(sluice_channel_send(a_ch, big, 1, false), SLUICE_ERR_BUFFER_FULL);
    g_rx_ch = w.b.received[0];
    g_rx_want = 1;
    assert_true(run_until(&w, 20 * SEC, rx_has));
    assert_int_equal(sluice_channel_next_size(g_rx_ch), 65536);
    free(big);
    world_free(&w);
}

static void test_peer_max_message_size_enforced_at_send(void **state) {
    (void)state;
    world w;
    world_init(&w, 5, 0.0, 1000, true);
    sluice_channel *a_ch = connect_pair(&w);
    uint64_t max = sluice_peer_remote_max_message_size(w.a.pc);
    assert_int_equal(max, 262144); /* sluice's default advertisement */
    uint8_t *big = calloc(1, (size_t)max + 1);
    assert_non_null(big);
    assert_int_equal(sluice_channel_send(a_ch, big, (size_t)max + 1, false), SLUICE_ERR_TOO_LARGE);
    assert_int_equal(sluice_channel_send(a_ch, big, (size_t)max, false), SLUICE_OK);
    g_rx_ch = w.b.received[0];
    g_rx_want = 1;
    assert_true(run_until(&w, 20 * SEC, rx_has));
    assert_int_equal(sluice_channel_next_size(g_rx_ch), (int64_t)max);
    free(big);
    world_free(&w);
}

static bool both_closed_conn(world *w) {
    return sluice_peer_connection_state(w->b.pc) == SLUICE_CONNECTION_CLOSED;
}

static void test_peer_close_is_noticed_and_reinitialize_reconnects(void **state) {
    (void)state;
    world w;
    world_init(&w, 6, 0.0, 2000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_peer_close(w.a.pc);
    assert_int_equal(sluice_peer_connection_state(w.a.pc), SLUICE_CONNECTION_CLOSED);
    assert_int_equal(sluice_peer_signaling_state(w.a.pc), SLUICE_SIGNALING_CLOSED);
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_CLOSED);
    assert_true(run_until(&w, 10 * SEC, both_closed_conn));
    /* Both re-initialize and connect again. */
    assert_int_equal(sluice_peer_initialize(w.a.pc, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_initialize(w.b.pc, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_connection_state(w.a.pc), SLUICE_CONNECTION_NEW);
    w.b.nreceived = 0;
    connect_pair(&w);
    world_free(&w);
}

static void test_peer_lossy_link_20_percent(void **state) {
    (void)state;
    for (uint64_t seed = 10; seed < 13; seed++) {
        world w;
        world_init(&w, seed, 0.2, 20000, true);
        sluice_channel *a_ch = connect_pair(&w);
        for (int i = 0; i < 100; i++) {
            char m[32];
            int n = snprintf(m, sizeof m, "msg %d", i);
            assert_int_equal(sluice_channel_send(a_ch, m, (size_t)n, true), SLUICE_OK);
        }
        g_rx_ch = w.b.received[0];
        g_rx_want = 100;
        assert_true(run_until(&w, 60 * SEC, rx_has));
        for (int i = 0; i < 100; i++) {
            char m[32], got[32];
            int n = snprintf(m, sizeof m, "msg %d", i);
            assert_int_equal(sluice_channel_recv(g_rx_ch, got, sizeof got, NULL), n);
            assert_memory_equal(got, m, (size_t)n);
        }
        world_free(&w);
    }
}

static bool a_disconnected(world *w) { return w->a.conn_state == SLUICE_CONNECTION_DISCONNECTED; }
static bool a_failed(world *w) { return w->a.conn_state == SLUICE_CONNECTION_FAILED; }
static bool a_connected(world *w) { return w->a.conn_state == SLUICE_CONNECTION_CONNECTED; }

static void test_peer_link_cut_goes_disconnected_then_failed_and_recovers(void **state) {
    (void)state;
    world w;
    world_init(&w, 9, 0.0, 5000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_sim_path down;
    memset(&down, 0, sizeof down);
    down.down = true;
    sluice_sim_path up;
    memset(&up, 0, sizeof up);
    up.delay_us = 5000;
    /* A short outage: DISCONNECTED (consent, RFC 7675), then back to CONNECTED. */
    sluice_simnet_set_default_path(w.sn, &down);
    sluice_time t0 = sluice_simnet_now(w.sn);
    assert_true(run_until(&w, 15 * SEC, a_disconnected));
    assert_true(sluice_simnet_now(w.sn) - t0 <= 11 * SEC);
    sluice_simnet_set_default_path(w.sn, &up);
    assert_true(run_until(&w, 15 * SEC, a_connected));
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_OPEN);
    /* A long one: FAILED within the 30 s consent limit, channels closed. */
    sluice_simnet_set_default_path(w.sn, &down);
    t0 = sluice_simnet_now(w.sn);
    assert_true(run_until(&w, 45 * SEC, a_failed));
    assert_true(sluice_simnet_now(w.sn) - t0 <= 36 * SEC);
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_CLOSED);
    world_free(&w);
}

/* A man in the middle (or a mangled SDP) changes the fingerprint: DTLS must fail with a
 * readable reason and the connection go FAILED on both sides. */
static bool both_failed(world *w) {
    return w->a.conn_state == SLUICE_CONNECTION_FAILED && w->b.conn_state == SLUICE_CONNECTION_FAILED;
}

static void test_peer_wrong_fingerprint_fails_the_connection(void **state) {
    (void)state;
    world w;
    world_init(&w, 12, 0.0, 2000, true);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "x", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    sluice_event ev;
    char offer[8192] = "";
    while (sluice_peer_poll_event(w.a.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(offer, sizeof offer, "%s", ev.sdp);
    assert_int_equal(sluice_peer_set_local_description(w.a.pc, "offer", offer), SLUICE_OK);
    /* Flip one hex digit of the fingerprint B will check A's certificate against. */
    char *fp = strstr(offer, "a=fingerprint:sha-256 ");
    assert_non_null(fp);
    fp += strlen("a=fingerprint:sha-256 ");
    fp[0] = fp[0] == 'A' ? 'B' : 'A';
    assert_int_equal(sluice_peer_set_remote_description(w.b.pc, "offer", offer), SLUICE_OK);
    assert_true(run_until(&w, 30 * SEC, both_failed));
    assert_non_null(strstr(w.b.last_error, "fingerprint"));
    assert_int_equal(sluice_channel_ready_state(ch), SLUICE_CHANNEL_CLOSED);
    world_free(&w);
}

/* Socket mode (sluice_peer_poll) over IPv6 loopback: the real I/O path, not the simulator. */
static void relay_events(sluice_peer *from, sluice_peer *to) {
    sluice_event ev;
    while (sluice_peer_poll_event(from, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            assert_int_equal(sluice_peer_set_local_description(from, ev.sdp_type, ev.sdp), SLUICE_OK);
            assert_int_equal(sluice_peer_set_remote_description(to, ev.sdp_type, ev.sdp), SLUICE_OK);
        } else if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            assert_int_equal(sluice_peer_add_ice_candidate(to, ev.mid, ev.mline_index, ev.candidate), SLUICE_OK);
        }
    }
}

static void test_peer_sockets_over_ipv6_loopback(void **state) {
    (void)state;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.bind_address = "::1";
    cfg.ice_loopback = true;
    sluice_peer *a, *b;
    assert_int_equal(sluice_peer_new(&a, &cfg, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_new(&b, &cfg, NULL, NULL), SLUICE_OK);
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    o.negotiated = true;
    o.has_id = true;
    o.id = 5;
    sluice_channel *ca, *cb;
    assert_int_equal(sluice_peer_create_channel(a, "v6", &o, &ca), SLUICE_OK);
    assert_int_equal(sluice_peer_create_channel(b, "v6", &o, &cb), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(a), SLUICE_OK);
    bool sent = false;
    char buf[32];
    int64_t n = SLUICE_ERR_AGAIN;
    for (int i = 0; i < 1000 && n < 0; i++) {
        int rc = sluice_peer_poll(a);
        if (rc == SLUICE_OK) rc = sluice_peer_poll(b);
        if (rc != SLUICE_OK) break;
        relay_events(a, b);
        relay_events(b, a);
        if (sluice_peer_connection_state(a) == SLUICE_CONNECTION_FAILED) break;
        if (!sent && sluice_channel_ready_state(ca) == SLUICE_CHANNEL_OPEN)
            sent = sluice_channel_send(ca, "over v6", 7, true) == SLUICE_OK;
        n = sluice_channel_recv(cb, buf, sizeof buf, NULL);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    sluice_peer_stats st;
    sluice_peer_get_stats(a, &st);
    if (n < 0 && !st.has_selected_pair && sluice_peer_gathering_state(a) != SLUICE_GATHERING_COMPLETE) {
        print_message("IPv6 loopback not usable here: skipped\n");
        sluice_peer_free(a);
        sluice_peer_free(b);
        skip();
    }
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "over v6", 7);
    assert_true(st.has_selected_pair);
    assert_int_equal(st.selected_local.family, 6);
    sluice_peer_free(a);
    sluice_peer_free(b);
}

/* Signaling races: candidates that reach the answerer before the offer are kept. */
static void test_peer_candidates_before_the_remote_description_are_kept(void **state) {
    (void)state;
    world w;
    world_init(&w, 13, 0.0, 2000, true);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(w.a.pc, "early", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    sluice_event ev;
    char offer[8192] = "", cand[512] = "", mid[40] = "";
    int index = -1;
    while (sluice_peer_poll_event(w.a.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(offer, sizeof offer, "%s", ev.sdp);
    assert_int_equal(sluice_peer_set_local_description(w.a.pc, "offer", offer), SLUICE_OK);
    while (sluice_peer_poll_event(w.a.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            snprintf(cand, sizeof cand, "%s", ev.candidate);
            snprintf(mid, sizeof mid, "%s", ev.mid);
            index = ev.mline_index;
        }
    assert_true(cand[0] != '\0');
    /* B gets the candidate first (with "a=" as libdatachannel writes it), then the offer. */
    char with_a[520];
    snprintf(with_a, sizeof with_a, "a=%s", cand);
    assert_int_equal(sluice_peer_add_ice_candidate(w.b.pc, mid, index, with_a), SLUICE_OK);
    assert_int_equal(sluice_peer_set_remote_description(w.b.pc, "offer", offer), SLUICE_OK);
    /* A's candidate was delivered by hand; B's are lost, so only B's checks towards A's
     * early candidate can connect (A learns B as peer-reflexive). */
    w.a.trickle = false;
    w.b.drop_candidates = true;
    assert_true(run_until(&w, 20 * SEC, both_connected));
    world_free(&w);
}

/* ---- API rules (no network needed) ---- */

static void test_api_create_offer_without_channel_fails(void **state) {
    (void)state;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, NULL, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(pc), SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_peer_connection_state(pc), SLUICE_CONNECTION_NEW);
    assert_int_equal(sluice_peer_gathering_state(pc), SLUICE_GATHERING_NEW);
    assert_int_equal(sluice_peer_signaling_state(pc), SLUICE_SIGNALING_STABLE);
    sluice_peer_free(pc);
}

static void test_api_channel_option_rules(void **state) {
    (void)state;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, NULL, NULL, NULL), SLUICE_OK);
    sluice_channel_options o;
    sluice_channel *ch = (sluice_channel *)1;
    sluice_channel_options_default(&o);
    o.negotiated = true; /* without id */
    assert_int_equal(sluice_peer_create_channel(pc, "x", &o, &ch), SLUICE_ERR_CONFIG);
    assert_null(ch);
    sluice_channel_options_default(&o);
    o.has_max_retransmits = true;
    o.max_retransmits = 3;
    o.has_max_packet_life_time = true;
    o.max_packet_life_time = 100;
    assert_int_equal(sluice_peer_create_channel(pc, "x", &o, &ch), SLUICE_ERR_CONFIG);
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_peer_create_channel(pc, "x", &o, &ch), SLUICE_OK);
    assert_int_equal(sluice_channel_id(ch), 65535);
    assert_int_equal(sluice_channel_max_retransmits(ch), 65535);
    assert_int_equal(sluice_channel_max_packet_life_time(ch), 65535);
    assert_true(sluice_channel_ordered(ch));
    assert_false(sluice_channel_negotiated(ch));
    assert_int_equal(sluice_channel_ready_state(ch), SLUICE_CHANNEL_CONNECTING);
    assert_int_equal(sluice_channel_send(ch, "a", 1, true), SLUICE_ERR_INVALID_STATE);
    sluice_channel_options_default(&o);
    o.negotiated = true;
    o.has_id = true;
    o.id = 7;
    assert_int_equal(sluice_peer_create_channel(pc, "n", &o, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_channel(pc, "n2", &o, &ch), SLUICE_ERR_ID_IN_USE);
    sluice_peer_free(pc);
}

static void test_api_bad_remote_sdp_leaves_state_unchanged(void **state) {
    (void)state;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, NULL, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_set_remote_description(pc, "offer", "garbage"), SLUICE_ERR_SDP);
    assert_int_equal(sluice_peer_signaling_state(pc), SLUICE_SIGNALING_STABLE);
    const char *no_data = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                          "c=IN IP4 0.0.0.0\r\na=mid:0\r\n";
    assert_int_equal(sluice_peer_set_remote_description(pc, "offer", no_data), SLUICE_ERR_SDP);
    assert_int_equal(sluice_peer_set_remote_description(pc, "answer", no_data), SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_peer_set_remote_description(pc, "pranswer?", no_data), SLUICE_ERR_INVALID_ARGUMENT);
    sluice_event ev;
    int errors = 0;
    while (sluice_peer_poll_event(pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_ERROR) {
            errors++;
            assert_true(strlen(ev.reason) > 0);
        }
    assert_true(errors >= 2);
    assert_int_equal(sluice_peer_add_ice_candidate(pc, "0", 0, "candidate:garbage"), SLUICE_ERR_CANDIDATE);
    assert_int_equal(sluice_peer_signaling_state(pc), SLUICE_SIGNALING_STABLE);
    sluice_peer_free(pc);
}

static void test_api_answer_is_generated_from_real_chromium_offer(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/sdp/chromium-offer.sdp", SLUICE_SAMPLES_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("samples not found at %s\n", path);
        skip();
    }
    char sdp[8192];
    size_t n = fread(sdp, 1, sizeof sdp - 1, f);
    fclose(f);
    sdp[n] = '\0';
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, &cfg, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_set_remote_description(pc, "offer", sdp), SLUICE_OK);
    assert_int_equal(sluice_peer_signaling_state(pc), SLUICE_SIGNALING_HAVE_REMOTE_OFFER);
    sluice_event ev;
    bool got_answer = false;
    while (sluice_peer_poll_event(pc, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            assert_string_equal(ev.sdp_type, "answer");
            assert_non_null(strstr(ev.sdp, "a=setup:active"));
            assert_non_null(strstr(ev.sdp, "a=mid:0"));
            assert_non_null(strstr(ev.sdp, "webrtc-datachannel"));
            got_answer = true;
        }
    }
    assert_true(got_answer);
    sluice_peer_free(pc);
}


static void test_api_candidate_index_is_the_real_mline_index(void **state) {
    (void)state;
    /* An offer whose data channel is the second m= section (mid "1"), as a browser makes
     * when audio was added first. The answer must reject audio (port 0) and every local
     * candidate must name mid "1" and index 1 (Godot's plugin always said 0). */
    const char *offer =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\na=setup:actpass\r\n"
        "a=fingerprint:sha-256 FF:1B:AD:94:0A:7A:D9:CF:FA:81:12:69:1D:79:6B:9E:AA:E5:83:05:12:A7:94:85:84:86:6F:D8:A8:A7:DF:17\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\na=setup:actpass\r\n"
        "a=fingerprint:sha-256 FF:1B:AD:94:0A:7A:D9:CF:FA:81:12:69:1D:79:6B:9E:AA:E5:83:05:12:A7:94:85:84:86:6F:D8:A8:A7:DF:17\r\n"
        "a=sctp-port:5000\r\na=max-message-size:262144\r\n";
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, &cfg, NULL, NULL), SLUICE_OK);
    sluice_addr local = sluice_sim_addr4(10, 0, 0, 9, 4000);
    assert_int_equal(sluice_peer_add_local_address(pc, &local), SLUICE_OK);
    assert_int_equal(sluice_peer_set_remote_description(pc, "offer", offer), SLUICE_OK);
    sluice_event ev;
    char answer[8192] = "";
    while (sluice_peer_poll_event(pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(answer, sizeof answer, "%s", ev.sdp);
    assert_non_null(strstr(answer, "m=audio 0 "));
    assert_non_null(strstr(answer, "a=mid:1"));
    assert_int_equal(sluice_peer_set_local_description(pc, "answer", answer), SLUICE_OK);
    int candidates = 0;
    while (sluice_peer_poll_event(pc, &ev) == 1) {
        if (ev.type != SLUICE_EVENT_ICE_CANDIDATE) continue;
        candidates++;
        assert_string_equal(ev.mid, "1");
        assert_int_equal(ev.mline_index, 1);
        assert_non_null(strstr(ev.candidate, "10.0.0.9 4000 typ host"));
    }
    assert_int_equal(candidates, 1);
    assert_int_equal(sluice_peer_signaling_state(pc), SLUICE_SIGNALING_STABLE);
    assert_int_equal(sluice_peer_gathering_state(pc), SLUICE_GATHERING_COMPLETE);
    sluice_peer_free(pc);
}

/* Every allocation of the offer path may fail: each failure is an error or absorbed, and
 * nothing leaks (OpenSSL's own allocations are outside the hook). */
static int offer_path_scenario(testkit_alloc *t, void *user) {
    (void)user;
    sluice_prng prng;
    sluice_prng_seed(&prng, 99);
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    cfg.allocator = t->a;
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = &prng;
    sluice_peer *pc;
    int rc = sluice_peer_new(&pc, &cfg, NULL, NULL);
    if (rc) return rc;
    sluice_addr local = sluice_sim_addr4(10, 0, 0, 1, 1000);
    sluice_channel *ch;
    if (!(rc = sluice_peer_add_local_address(pc, &local)) && !(rc = sluice_peer_create_channel(pc, "x", NULL, &ch)) &&
        !(rc = sluice_peer_create_offer(pc))) {
        sluice_event ev;
        char sdp[4096] = "";
        while (sluice_peer_poll_event(pc, &ev) == 1)
            if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(sdp, sizeof sdp, "%s", ev.sdp);
        rc = sluice_peer_set_local_description(pc, "offer", sdp);
        while (sluice_peer_poll_event(pc, &ev) == 1) {
        }
    }
    sluice_peer_free(pc);
    return rc;
}

static void test_api_every_allocation_failure_on_the_offer_path_is_handled(void **state) {
    (void)state;
    char why[256];
    if (!testkit_alloc_sweep(offer_path_scenario, NULL, TESTKIT_SWEEP_ALLOW_OK, why, sizeof why)) fail_msg("%s", why);
}

static char g_log[4096];
static void capture_log(void *user, sluice_log_level level, const char *module, const char *msg) {
    (void)user;
    (void)level;
    (void)module;
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
}

/* STUN/TURN servers may be given by name: resolved once; unresolvable ones are skipped. */
static void test_api_ice_server_names_are_resolved_or_skipped(void **state) {
    (void)state;
    const char *urls1[] = {"stun:localhost:3478"};
    const char *urls2[] = {"stun:no-such-host.invalid:3478"};
    sluice_ice_server servers[2] = {{urls1, 1, NULL, NULL}, {urls2, 1, NULL, NULL}};
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.ice_servers = servers;
    cfg.ice_servers_count = 2;
    cfg.bind_address = "127.0.0.1";
    cfg.ice_loopback = true;
    cfg.log_fn = capture_log;
    cfg.log_level = SLUICE_LOG_INFO;
    g_log[0] = '\0';
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, &cfg, NULL, NULL), SLUICE_OK);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(pc, "x", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(pc), SLUICE_OK);
    struct addrinfo *res = NULL;
    if (getaddrinfo("localhost", NULL, NULL, &res) == 0) {
        freeaddrinfo(res);
        assert_true(strstr(g_log, "ICE server localhost is 127.0.0.1") || strstr(g_log, "ICE server localhost is ::1"));
    } else {
        print_message("this machine cannot resolve 'localhost': only the unresolvable case is checked\n");
    }
    assert_non_null(strstr(g_log, "no-such-host.invalid does not resolve: skipped"));
    sluice_peer_free(pc);
}

static void free_in_callback(sluice_peer *pc, const sluice_event *ev, void *user) {
    (void)ev;
    int *calls = user;
    (*calls)++;
    sluice_peer_free(pc); /* must be safe */
    sluice_peer_close(pc);
}

static void test_api_free_inside_callback_is_safe(void **state) {
    (void)state;
    int calls = 0;
    sluice_callbacks cb = {free_in_callback};
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, &cfg, &cb, &calls), SLUICE_OK);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(pc, "x", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(pc), SLUICE_OK);
    assert_int_equal(sluice_peer_poll(pc), SLUICE_ERR_CLOSED);
    assert_int_equal(calls, 1);
}


/* ---- renegotiation (subsequent offers) and ICE restart ---- */

static bool both_stable(world *w) {
    return sluice_peer_signaling_state(w->a.pc) == SLUICE_SIGNALING_STABLE &&
           sluice_peer_signaling_state(w->b.pc) == SLUICE_SIGNALING_STABLE;
}

/* One message each way on an open channel pair; fails the test when it does not arrive. */
static void roundtrip(world *w, sluice_channel *a_ch, sluice_channel *b_ch, const char *text) {
    char buf[64];
    bool is_text;
    assert_int_equal(sluice_channel_send(a_ch, text, strlen(text), true), SLUICE_OK);
    g_rx_ch = b_ch;
    g_rx_want = 1;
    assert_true(run_until(w, 20 * SEC, rx_has));
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, &is_text), (int)strlen(text));
    assert_memory_equal(buf, text, strlen(text));
    assert_int_equal(sluice_channel_send(b_ch, text, strlen(text), true), SLUICE_OK);
    g_rx_ch = a_ch;
    assert_true(run_until(w, 20 * SEC, rx_has));
    assert_int_equal(sluice_channel_recv(a_ch, buf, sizeof buf, &is_text), (int)strlen(text));
}

static void test_peer_subsequent_offers_from_either_side_keep_the_connection(void **state) {
    (void)state;
    world w;
    world_init(&w, 31, 0.0, 5000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.received[0];
    char a_ufrag[300], b_ufrag[300], sdp[8192];
    const char *type;
    /* The answerer offers (as a browser does on negotiationneeded), then the offerer. */
    assert_int_equal(sluice_peer_create_offer(w.b.pc), SLUICE_OK);
    assert_true(run_until(&w, 5 * SEC, both_stable));
    assert_int_equal(w.b.offers, 1);
    assert_int_equal(w.a.answers, 1);
    assert_true(sluice_peer_local_description(w.a.pc, sdp, sizeof sdp, &type) > 0);
    assert_string_equal(type, "answer");
    /* The offerer was DTLS server (it answered actpass with... it offered actpass, the
     * answerer took active): as answerer now it must stay passive. */
    assert_non_null(strstr(sdp, "a=setup:passive"));
    snprintf(a_ufrag, sizeof a_ufrag, "%s", strstr(sdp, "a=ice-ufrag:"));
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    assert_true(run_until(&w, 5 * SEC, both_stable));
    assert_int_equal(w.a.offers, 2);
    assert_int_equal(w.b.answers, 2);
    assert_true(sluice_peer_local_description(w.b.pc, sdp, sizeof sdp, &type) > 0);
    assert_non_null(strstr(sdp, "a=setup:active"));
    snprintf(b_ufrag, sizeof b_ufrag, "%s", strstr(sdp, "a=ice-ufrag:"));
    /* No ICE restart: the credentials stayed; nothing failed; data still flows. */
    assert_true(sluice_peer_local_description(w.a.pc, sdp, sizeof sdp, &type) > 0);
    assert_memory_equal(strstr(sdp, "a=ice-ufrag:"), a_ufrag, 16);
    assert_int_equal(w.a.errors + w.b.errors, 0);
    assert_int_equal(sluice_peer_connection_state(w.a.pc), SLUICE_CONNECTION_CONNECTED);
    roundtrip(&w, a_ch, b_ch, "after renegotiation");
    (void)b_ufrag;
    world_free(&w);
}

/* The offerer's network changes: its old address stops working, a new one appears. It
 * restarts ICE; the answerer answers with new credentials; the channel survives. */
static void test_peer_ice_restart_moves_the_connection_to_a_new_address(void **state) {
    (void)state;
    world w;
    world_init(&w, 32, 0.0, 5000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.received[0];
    char b_ufrag_before[64];
    const char *type;
    char sdp[8192];
    assert_true(sluice_peer_local_description(w.b.pc, sdp, sizeof sdp, &type) > 0);
    snprintf(b_ufrag_before, sizeof b_ufrag_before, "%.40s", strstr(sdp, "a=ice-ufrag:"));
    sluice_sim_path down;
    memset(&down, 0, sizeof down);
    down.down = true;
    assert_int_equal(sluice_simnet_set_path(w.sn, &w.a.addr, &w.b.addr, &down), SLUICE_OK);
    assert_int_equal(sluice_simnet_set_path(w.sn, &w.b.addr, &w.a.addr, &down), SLUICE_OK);
    sluice_addr fresh = sluice_sim_addr4(10, 0, 0, 3, 40003);
    assert_int_equal(sluice_simnet_bind(w.sn, 0, &fresh), SLUICE_OK);
    assert_int_equal(sluice_peer_add_local_address(w.a.pc, &fresh), SLUICE_OK);
    assert_int_equal(sluice_peer_restart_ice(w.a.pc), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    assert_true(run_until(&w, 5 * SEC, both_stable));
    /* RFC 8839 §4.4.1.1.1: the answerer restarted too. */
    assert_true(sluice_peer_local_description(w.b.pc, sdp, sizeof sdp, &type) > 0);
    assert_null(strstr(sdp, b_ufrag_before));
    roundtrip(&w, a_ch, b_ch, "over the new address");
    sluice_peer_stats st;
    assert_int_equal(sluice_peer_get_stats(w.a.pc, &st), SLUICE_OK);
    assert_true(st.has_selected_pair);
    assert_true(sluice_addr_equal(&st.selected_local, &fresh));
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_OPEN);
    assert_int_equal(w.a.errors + w.b.errors, 0);
    world_free(&w);
}

/* The answerer restarts ICE with its own offer: the original offerer, now answering,
 * takes new credentials too, and the connection carries on. */
static void test_peer_remote_ice_restart_offer_restarts_our_side(void **state) {
    (void)state;
    world w;
    world_init(&w, 33, 0.0, 5000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.received[0];
    char before[64], sdp[8192];
    const char *type;
    assert_true(sluice_peer_local_description(w.a.pc, sdp, sizeof sdp, &type) > 0);
    snprintf(before, sizeof before, "%.40s", strstr(sdp, "a=ice-ufrag:"));
    assert_int_equal(sluice_peer_restart_ice(w.b.pc), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w.b.pc), SLUICE_OK);
    assert_true(run_until(&w, 5 * SEC, both_stable));
    assert_true(sluice_peer_local_description(w.a.pc, sdp, sizeof sdp, &type) > 0);
    assert_string_equal(type, "answer");
    assert_null(strstr(sdp, before));
    /* The roles are chosen again (RFC 8839 §4.4.2.1): B offered the restart, B controls. */
    assert_true(sluice_ice_is_controlling(w.b.pc->ice));
    assert_false(sluice_ice_is_controlling(w.a.pc->ice));
    roundtrip(&w, a_ch, b_ch, "after a remote restart");
    assert_int_equal(w.a.errors + w.b.errors, 0);
    world_free(&w);
}

static void replace_once(char *s, const char *from, const char *to) {
    char *p = strstr(s, from);
    assert_non_null(p);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(p + tl, p + fl, strlen(p + fl) + 1);
    memcpy(p, to, tl);
}

/* What a subsequent description may not change while the associations stay. */
static void test_api_renegotiation_refuses_a_new_certificate_roles_port_or_mid(void **state) {
    (void)state;
    world w;
    world_init(&w, 34, 0.0, 5000, true);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.received[0];
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    sluice_event ev;
    char offer[8192] = "", bad[8192];
    while (sluice_peer_poll_event(w.a.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(offer, sizeof offer, "%s", ev.sdp);
    assert_true(offer[0]);
    assert_int_equal(sluice_peer_set_local_description(w.a.pc, "offer", offer), SLUICE_OK);
    /* A subsequent offer states the role the offerer has (the DTLS server here). */
    assert_non_null(strstr(offer, "a=setup:passive"));
    static const char *const edits[][2] = {
        {"a=fingerprint:sha-256 ", "a=fingerprint:sha-256 00:"},   /* another certificate */
        {"a=setup:passive", "a=setup:active"},                    /* the server would turn client */
        {"a=sctp-port:5000", "a=sctp-port:5001"},                 /* a new SCTP association */
        {"a=mid:0", "a=mid:data2"},                               /* another m= section */
    };
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(edits); i++) {
        snprintf(bad, sizeof bad, "%s", offer);
        replace_once(bad, edits[i][0], edits[i][1]);
        int errors = w.b.errors;
        assert_int_equal(sluice_peer_set_remote_description(w.b.pc, "offer", bad), SLUICE_ERR_SDP);
        pump_events(&w.b);
        assert_int_equal(w.b.errors, errors + 1);
        assert_int_equal(sluice_peer_signaling_state(w.b.pc), SLUICE_SIGNALING_STABLE);
    }
    /* Nothing changed: the real offer still goes through, and data flows. */
    assert_int_equal(sluice_peer_set_remote_description(w.b.pc, "offer", offer), SLUICE_OK);
    assert_true(run_until(&w, 5 * SEC, both_stable));
    roundtrip(&w, a_ch, b_ch, "still fine");
    /* An answer may not bring new ICE credentials unless we restarted. */
    assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
    while (sluice_peer_poll_event(w.a.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(offer, sizeof offer, "%s", ev.sdp);
    assert_int_equal(sluice_peer_set_local_description(w.a.pc, "offer", offer), SLUICE_OK);
    assert_int_equal(sluice_peer_set_remote_description(w.b.pc, "offer", offer), SLUICE_OK);
    char answer[8192] = "";
    while (sluice_peer_poll_event(w.b.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(answer, sizeof answer, "%s", ev.sdp);
    assert_true(answer[0]);
    assert_int_equal(sluice_peer_set_local_description(w.b.pc, "answer", answer), SLUICE_OK);
    snprintf(bad, sizeof bad, "%s", answer);
    replace_once(bad, "a=ice-ufrag:", "a=ice-ufrag:x");
    assert_int_equal(sluice_peer_set_remote_description(w.a.pc, "answer", bad), SLUICE_ERR_SDP);
    assert_int_equal(sluice_peer_signaling_state(w.a.pc), SLUICE_SIGNALING_HAVE_LOCAL_OFFER);
    /* An answer whose a=setup contradicts the running association (pion 3.1 answers
     * "active" whatever its role) is taken, the setup ignored: roles stay, data flows. */
    snprintf(bad, sizeof bad, "%s", answer);
    replace_once(bad, "a=setup:active", "a=setup:passive");
    assert_int_equal(sluice_peer_set_remote_description(w.a.pc, "answer", bad), SLUICE_OK);
    assert_int_equal(sluice_peer_signaling_state(w.a.pc), SLUICE_SIGNALING_STABLE);
    assert_true(run_until(&w, 5 * SEC, both_stable));
    roundtrip(&w, a_ch, b_ch, "roles kept");
    assert_int_equal(sluice_peer_restart_ice(NULL), SLUICE_ERR_INVALID_ARGUMENT);
    world_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_create_offer_without_channel_fails),
        cmocka_unit_test(test_api_channel_option_rules),
        cmocka_unit_test(test_api_bad_remote_sdp_leaves_state_unchanged),
        cmocka_unit_test(test_api_answer_is_generated_from_real_chromium_offer),
        cmocka_unit_test(test_api_free_inside_callback_is_safe),
        cmocka_unit_test(test_api_ice_server_names_are_resolved_or_skipped),
        cmocka_unit_test(test_api_every_allocation_failure_on_the_offer_path_is_handled),
        cmocka_unit_test(test_api_candidate_index_is_the_real_mline_index),
        cmocka_unit_test(test_peer_connects_and_exchanges_messages_trickle),
        cmocka_unit_test(test_peer_connects_without_trickle),
        cmocka_unit_test(test_peer_channel_close_reaches_closed_on_both_sides),
        cmocka_unit_test(test_peer_negotiated_channels_like_godot_multiplayer),
        cmocka_unit_test(test_peer_max_message_size_enforced_at_send),
        cmocka_unit_test(test_peer_send_larger_than_send_buffer_is_too_large),
        cmocka_unit_test(test_peer_close_is_noticed_and_reinitialize_reconnects),
        cmocka_unit_test(test_peer_lossy_link_20_percent),
        cmocka_unit_test(test_peer_inband_channels_carry_every_reliability_mode),
        cmocka_unit_test(test_peer_channel_close_from_the_answerer),
        cmocka_unit_test(test_peer_link_cut_goes_disconnected_then_failed_and_recovers),
        cmocka_unit_test(test_peer_wrong_fingerprint_fails_the_connection),
        cmocka_unit_test(test_peer_sockets_over_ipv6_loopback),
        cmocka_unit_test(test_peer_candidates_before_the_remote_description_are_kept),
        cmocka_unit_test(test_peer_subsequent_offers_from_either_side_keep_the_connection),
        cmocka_unit_test(test_peer_ice_restart_moves_the_connection_to_a_new_address),
        cmocka_unit_test(test_peer_remote_ice_restart_offer_restarts_our_side),
        cmocka_unit_test(test_api_renegotiation_refuses_a_new_certificate_roles_port_or_mid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
