/* The demultiplexer: routing rules one by one (sans-IO, hand-made datagrams), then one
 * server mux serving 100 client PeerConnections on one port over the simulated network,
 * and a few over real loopback sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ice.h"
#include "mux.h"
#include "peer.h"
#include "simnet.h"
#include "stun.h"
#include "testkit_alloc.h"
#include "testkit_peer_node.h"
#include "sluice.h"
#include "util.h"

#define SEC 1000000ull

static sluice_mux *new_mux(size_t max_peers, size_t max_addresses) {
    sluice_mux_config mc;
    sluice_mux_config_default(&mc);
    mc.sans_io = true;
    mc.bind_address = "10.0.0.1";
    mc.port = 5000;
    mc.max_peers = max_peers;
    mc.max_addresses = max_addresses;
    sluice_mux *m = NULL;
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_OK);
    return m;
}

/* A peer on the mux with its ICE agent made (an offer was created), seeded. */
static sluice_peer *new_mux_peer(sluice_mux *m, sluice_prng *prng, uint64_t seed) {
    sluice_prng_seed(prng, seed);
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = prng;
    sluice_peer *pc = NULL;
    assert_int_equal(sluice_peer_new_on_mux(m, &pc, &cfg, NULL, NULL), SLUICE_OK);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(pc, "c", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(pc), SLUICE_OK);
    assert_non_null(pc->ice);
    return pc;
}

static size_t binding_request(uint8_t *buf, size_t cap, const char *username, uint8_t tid_byte) {
    uint8_t tid[SLUICE_STUN_TID_LEN];
    memset(tid, tid_byte, sizeof tid);
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, tid);
    sluice_stun_add(&w, SLUICE_STUN_ATTR_USERNAME, username, strlen(username));
    return sluice_wr_len(&w);
}

static size_t binding_message(uint8_t *buf, size_t cap, uint8_t cls, uint8_t tid_byte) {
    uint8_t tid[SLUICE_STUN_TID_LEN];
    memset(tid, tid_byte, sizeof tid);
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, cls, tid);
    return sluice_wr_len(&w);
}

static const uint8_t dtls_record[] = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};

static void test_mux_rejects_bad_configuration(void **state) {
    (void)state;
    sluice_mux_config mc;
    sluice_mux *m = (sluice_mux *)1;
    assert_int_equal(sluice_mux_new(NULL, &m), SLUICE_ERR_INVALID_ARGUMENT);
    assert_null(m);
    sluice_mux_config_default(&mc);
    mc.sans_io = true;
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_ERR_CONFIG); /* no address */
    mc.bind_address = "0.0.0.0";
    mc.port = 5000;
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_ERR_CONFIG); /* a wildcard is no candidate */
    mc.bind_address = "10.0.0.1";
    mc.port = 0;
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_ERR_CONFIG); /* sans-IO needs the port */
    mc.port = 5000;
    mc.max_peers = 0;
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_ERR_CONFIG);
    mc.max_peers = 4;
    mc.bind_address = "not an ip";
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_ERR_CONFIG);
    assert_int_equal(sluice_mux_free(NULL), SLUICE_OK);
}

static void test_mux_routes_binding_requests_by_local_ufrag(void **state) {
    (void)state;
    sluice_mux *m = new_mux(8, 0);
    sluice_prng p1, p2;
    sluice_peer *a = new_mux_peer(m, &p1, 1), *b = new_mux_peer(m, &p2, 2);
    assert_string_not_equal(sluice_ice_local_ufrag(a->ice), sluice_ice_local_ufrag(b->ice));
    sluice_addr r = sluice_sim_addr4(192, 0, 2, 7, 1234);
    uint8_t buf[256];
    char user[300];
    snprintf(user, sizeof user, "%s:remoteufrag", sluice_ice_local_ufrag(b->ice));
    size_t n = binding_request(buf, sizeof buf, user, 1);
    assert_ptr_equal(sluice_mux_route(m, &r, buf, n), b);
    snprintf(user, sizeof user, "%s:x", sluice_ice_local_ufrag(a->ice));
    n = binding_request(buf, sizeof buf, user, 2);
    assert_ptr_equal(sluice_mux_route(m, &r, buf, n), a);
    /* A prefix of a ufrag is not that ufrag. */
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%.3s:x", sluice_ice_local_ufrag(a->ice));
    n = binding_request(buf, sizeof buf, prefix, 3);
    assert_null(sluice_mux_route(m, &r, buf, n));
    sluice_mux_stats st;
    assert_int_equal(sluice_mux_get_stats(m, &st), SLUICE_OK);
    assert_int_equal(st.routed_ufrag, 2);
    assert_int_equal(st.dropped_unknown, 1);
    assert_int_equal(st.peers, 2);
    /* Routing by ufrag binds no address: the peer has not validated it yet. */
    assert_int_equal(st.addresses, 0);
    assert_null(sluice_mux_route(m, &r, dtls_record, sizeof dtls_record));
    sluice_peer_free(a);
    sluice_peer_free(b);
    assert_int_equal(sluice_mux_free(m), SLUICE_OK);
}

static void test_mux_drops_unknown_and_malformed_datagrams(void **state) {
    (void)state;
    sluice_mux *m = new_mux(4, 0);
    sluice_prng p1;
    sluice_peer *a = new_mux_peer(m, &p1, 3);
    sluice_addr r = sluice_sim_addr4(192, 0, 2, 8, 999);
    uint8_t buf[256];
    /* RTP (128..191), a byte no protocol here uses, STUN-looking garbage, a truncated STUN. */
    uint8_t rtp[12] = {0x80, 96};
    assert_null(sluice_mux_route(m, &r, rtp, sizeof rtp));
    uint8_t odd[4] = {200, 1, 2, 3};
    assert_null(sluice_mux_route(m, &r, odd, sizeof odd));
    size_t n = binding_request(buf, sizeof buf, "whatever:x", 4);
    buf[4] ^= 0xff; /* magic cookie broken */
    assert_null(sluice_mux_route(m, &r, buf, n));
    n = binding_request(buf, sizeof buf, "whatever:x", 4);
    assert_null(sluice_mux_route(m, &r, buf, n - 4));
    assert_null(sluice_mux_route(m, &r, buf, 0));
    /* Well formed but nobody's: an unknown ufrag, DTLS and ChannelData from an unknown address. */
    assert_null(sluice_mux_route(m, &r, buf, n));
    assert_null(sluice_mux_route(m, &r, dtls_record, sizeof dtls_record));
    uint8_t chd[8] = {0x40, 0x00, 0, 4, 1, 2, 3, 4};
    assert_null(sluice_mux_route(m, &r, chd, sizeof chd));
    /* Fed through the sans-IO entry point, none reaches the peer. */
    uint64_t before = a->packets_received;
    assert_int_equal(sluice_mux_handle_datagram(m, 1, &r, rtp, sizeof rtp), SLUICE_OK);
    assert_int_equal(sluice_mux_handle_datagram(m, 1, &r, dtls_record, sizeof dtls_record), SLUICE_OK);
    assert_int_equal(sluice_mux_handle_datagram(m, 1, &r, NULL, 0), SLUICE_OK);
    assert_int_equal(sluice_mux_handle_datagram(m, 1, NULL, rtp, sizeof rtp), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(a->packets_received, before);
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    assert_int_equal(st.dropped_malformed, 6);
    assert_int_equal(st.dropped_unknown, 4);
    assert_int_equal(st.routed_ufrag + st.routed_address + st.routed_transaction, 0);
    sluice_peer_free(a);
    sluice_mux_free(m);
}

static void test_mux_routes_stun_responses_by_transaction_id(void **state) {
    (void)state;
    sluice_mux *m = new_mux(4, 0);
    sluice_prng p1, p2;
    sluice_peer *a = new_mux_peer(m, &p1, 5), *b = new_mux_peer(m, &p2, 6);
    /* Both ask the same STUN server: only the transaction id tells the answers apart. */
    sluice_addr server = sluice_sim_addr4(198, 51, 100, 1, 3478);
    uint8_t buf[256];
    size_t n = binding_message(buf, sizeof buf, SLUICE_STUN_REQUEST, 0xa1);
    sluice_mux_note_sent(m, a, &server, buf, n);
    n = binding_message(buf, sizeof buf, SLUICE_STUN_REQUEST, 0xb2);
    sluice_mux_note_sent(m, b, &server, buf, n);
    n = binding_message(buf, sizeof buf, SLUICE_STUN_SUCCESS, 0xb2);
    assert_ptr_equal(sluice_mux_route(m, &server, buf, n), b);
    n = binding_message(buf, sizeof buf, SLUICE_STUN_ERROR, 0xa1);
    assert_ptr_equal(sluice_mux_route(m, &server, buf, n), a);
    n = binding_message(buf, sizeof buf, SLUICE_STUN_SUCCESS, 0xc3); /* never asked */
    assert_null(sluice_mux_route(m, &server, buf, n));
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    assert_int_equal(st.routed_transaction, 2);
    assert_int_equal(st.addresses, 0); /* asking a server validates nothing */
    sluice_peer_free(a);
    sluice_peer_free(b);
    sluice_mux_free(m);
}

static void test_mux_binds_an_address_when_its_peer_answers_or_sends_dtls(void **state) {
    (void)state;
    sluice_mux *m = new_mux(4, 0);
    sluice_prng p1, p2;
    sluice_peer *a = new_mux_peer(m, &p1, 7), *b = new_mux_peer(m, &p2, 8);
    sluice_addr r1 = sluice_sim_addr4(192, 0, 2, 1, 1111), r2 = sluice_sim_addr4(192, 0, 2, 2, 2222);
    uint8_t buf[256];
    /* A Binding success response from A to r1: A authenticated r1's check. */
    size_t n = binding_message(buf, sizeof buf, SLUICE_STUN_SUCCESS, 0x11);
    sluice_mux_note_sent(m, a, &r1, buf, n);
    assert_ptr_equal(sluice_mux_route(m, &r1, dtls_record, sizeof dtls_record), a);
    /* Consent checks (requests) from r1 with a stale ufrag still reach A by address. */
    n = binding_request(buf, sizeof buf, "stale:x", 0x12);
    assert_ptr_equal(sluice_mux_route(m, &r1, buf, n), a);
    /* A request sent, or an error response, binds nothing. */
    n = binding_message(buf, sizeof buf, SLUICE_STUN_REQUEST, 0x13);
    sluice_mux_note_sent(m, b, &r2, buf, n);
    n = binding_message(buf, sizeof buf, SLUICE_STUN_ERROR, 0x14);
    sluice_mux_note_sent(m, b, &r2, buf, n);
    assert_null(sluice_mux_route(m, &r2, dtls_record, sizeof dtls_record));
    /* DTLS sent by B to r2 binds it; the port is part of the address. */
    sluice_mux_note_sent(m, b, &r2, dtls_record, sizeof dtls_record);
    assert_ptr_equal(sluice_mux_route(m, &r2, dtls_record, sizeof dtls_record), b);
    sluice_addr r2b = r2;
    r2b.port++;
    assert_null(sluice_mux_route(m, &r2b, dtls_record, sizeof dtls_record));
    /* The latest validating peer wins (ICE restart, NAT rebinding). */
    sluice_mux_note_sent(m, b, &r1, dtls_record, sizeof dtls_record);
    assert_ptr_equal(sluice_mux_route(m, &r1, dtls_record, sizeof dtls_record), b);
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    assert_int_equal(st.address_rebinds, 1);
    assert_int_equal(st.addresses, 2);
    sluice_peer_free(a);
    sluice_peer_free(b);
    sluice_mux_free(m);
}

static void test_mux_forgets_a_freed_peer_at_once(void **state) {
    (void)state;
    sluice_mux *m = new_mux(2, 0);
    sluice_prng p1, p2, p3;
    sluice_peer *a = new_mux_peer(m, &p1, 9);
    sluice_addr r = sluice_sim_addr4(192, 0, 2, 3, 3333), server = sluice_sim_addr4(198, 51, 100, 1, 3478);
    uint8_t buf[256];
    sluice_mux_note_sent(m, a, &r, dtls_record, sizeof dtls_record);
    size_t n = binding_message(buf, sizeof buf, SLUICE_STUN_REQUEST, 0x21);
    sluice_mux_note_sent(m, a, &server, buf, n);
    sluice_peer_free(a);
    assert_null(sluice_mux_route(m, &r, dtls_record, sizeof dtls_record));
    n = binding_message(buf, sizeof buf, SLUICE_STUN_SUCCESS, 0x21);
    assert_null(sluice_mux_route(m, &server, buf, n));
    /* Its slot is reused by a new peer, which does not inherit the old bindings. */
    sluice_peer *b = new_mux_peer(m, &p2, 10);
    assert_null(sluice_mux_route(m, &r, dtls_record, sizeof dtls_record));
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    assert_int_equal(st.peers, 1);
    assert_int_equal(st.addresses, 0);
    /* max_peers is a bound; the mux cannot go while peers use it. */
    sluice_peer *c = new_mux_peer(m, &p3, 11), *d = NULL;
    assert_int_equal(sluice_peer_new_on_mux(m, &d, NULL, NULL, NULL), SLUICE_ERR_EXHAUSTED);
    assert_null(d);
    assert_int_equal(sluice_mux_free(m), SLUICE_ERR_INVALID_STATE);
    sluice_peer_free(b);
    sluice_peer_free(c);
    assert_int_equal(sluice_mux_free(m), SLUICE_OK);
}

static void test_mux_address_table_stays_bounded(void **state) {
    (void)state;
    sluice_mux *m = new_mux(2, 4); /* 4 addresses: a table of 16 entries */
    sluice_prng p1;
    sluice_peer *a = new_mux_peer(m, &p1, 12);
    for (int i = 0; i < 1000; i++) {
        sluice_addr r = sluice_sim_addr4(10, 9, (uint8_t)(i >> 8), (uint8_t)i, (uint16_t)(1000 + i));
        sluice_mux_note_sent(m, a, &r, dtls_record, sizeof dtls_record);
        /* The address just validated always routes. */
        assert_ptr_equal(sluice_mux_route(m, &r, dtls_record, sizeof dtls_record), a);
    }
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    assert_true(st.addresses <= 16);
    assert_true(st.addresses >= 4);
    sluice_peer_free(a);
    sluice_mux_free(m);
}

static void test_mux_peer_stays_on_the_mux_after_initialize(void **state) {
    (void)state;
    sluice_mux *m = new_mux(2, 0);
    sluice_prng p1;
    sluice_peer *a = new_mux_peer(m, &p1, 13);
    char old_user[300];
    snprintf(old_user, sizeof old_user, "%s:x", sluice_ice_local_ufrag(a->ice));
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = &p1;
    cfg.sans_io = false; /* would open sockets on a plain peer */
    assert_int_equal(sluice_peer_initialize(a, &cfg), SLUICE_OK);
    assert_true(a->cfg.sans_io);
    int fd;
    assert_int_equal(sluice_peer_fds(a, &fd, 1), 0);
    sluice_event ev;
    while (sluice_peer_poll_event(a, &ev) == 1) continue; /* the first session's events */
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(a, "again", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(a), SLUICE_OK);
    while (sluice_peer_poll_event(a, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION)
            assert_int_equal(sluice_peer_set_local_description(a, ev.sdp_type, ev.sdp), SLUICE_OK);
    /* Its only host candidate is still the mux's address. */
    char sdp[8192];
    assert_true(sluice_peer_local_description(a, sdp, sizeof sdp, NULL) > 0);
    assert_non_null(strstr(sdp, "10.0.0.1 5000 typ host"));
    assert_null(a->io);
    /* Its new ufrag routes to it, the old one no longer does. */
    uint8_t buf[256];
    char user[300];
    snprintf(user, sizeof user, "%s:x", sluice_ice_local_ufrag(a->ice));
    assert_string_not_equal(user, old_user);
    sluice_addr r = sluice_sim_addr4(192, 0, 2, 10, 1010);
    size_t n = binding_request(buf, sizeof buf, user, 0x31);
    assert_ptr_equal(sluice_mux_route(m, &r, buf, n), a);
    n = binding_request(buf, sizeof buf, old_user, 0x32);
    assert_null(sluice_mux_route(m, &r, buf, n));
    sluice_peer_free(a);
    assert_int_equal(sluice_mux_free(m), SLUICE_OK);
}

/* Every allocation of a mux's life may fail (the mux, its tables, a peer on it, routing
 * and learning): each failure is an error or absorbed, nothing leaks. */
static int mux_life_scenario(testkit_alloc *t, void *user) {
    (void)user;
    sluice_mux_config mc;
    sluice_mux_config_default(&mc);
    mc.sans_io = true;
    mc.bind_address = "10.0.0.1";
    mc.port = 5000;
    mc.max_peers = 4;
    mc.allocator = t->a;
    sluice_mux *m = NULL;
    int rc = sluice_mux_new(&mc, &m);
    if (rc) return rc;
    sluice_prng prng;
    sluice_prng_seed(&prng, 14);
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.allocator = t->a;
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = &prng;
    sluice_peer *pc = NULL;
    sluice_channel *ch;
    if (!(rc = sluice_peer_new_on_mux(m, &pc, &cfg, NULL, NULL)) && !(rc = sluice_peer_create_channel(pc, "x", NULL, &ch)) &&
        !(rc = sluice_peer_create_offer(pc))) {
        sluice_event ev;
        char sdp[4096] = "";
        while (sluice_peer_poll_event(pc, &ev) == 1)
            if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(sdp, sizeof sdp, "%s", ev.sdp);
        rc = sluice_peer_set_local_description(pc, "offer", sdp);
        while (sluice_peer_poll_event(pc, &ev) == 1) continue;
        sluice_addr r = sluice_sim_addr4(192, 0, 2, 9, 9999);
        sluice_mux_note_sent(m, pc, &r, dtls_record, sizeof dtls_record);
        sluice_mux_handle_datagram(m, 1, &r, dtls_record, sizeof dtls_record);
        uint8_t buf[1500];
        sluice_transmit tx;
        while (sluice_mux_poll_transmit(m, 1, buf, sizeof buf, &tx) == 1) continue;
    }
    sluice_peer_free(pc);
    int frc = sluice_mux_free(m);
    return rc ? rc : frc;
}

static void test_mux_every_allocation_failure_is_handled(void **state) {
    (void)state;
    char why[256];
    if (!testkit_alloc_sweep(mux_life_scenario, NULL, TESTKIT_SWEEP_ALLOW_OK, why, sizeof why)) fail_msg("%s", why);
}

/* ---- one server mux, many clients, over the simulated network ---------------------- */

#define N_CLIENTS 100

typedef struct client {
    sluice_peer *pc;   /* own sans-IO peer, own address */
    sluice_peer *srv;  /* its peer on the server mux */
    sluice_prng prng, srv_prng;
    sluice_addr addr;
    sluice_channel *ch, *srv_ch;
    bool echoed;
} client;

typedef struct farm {
    sluice_simnet *sn;
    sluice_mux *mux;
    sluice_addr mux_addr;
    client c[N_CLIENTS];
} farm;


static void mux_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                        const uint8_t *data, size_t len) {
    (void)to;
    sluice_mux_handle_datagram(((farm *)obj)->mux, now, from, data, len);
}
static size_t mux_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    sluice_transmit tx;
    if (sluice_mux_poll_transmit(((farm *)obj)->mux, now, buf, cap, &tx) != 1) return 0;
    *from = tx.local;
    *to = tx.remote;
    return tx.len;
}
static sluice_time mux_deadline(void *obj) { return sluice_mux_next_deadline(((farm *)obj)->mux); }
static void mux_timeout(void *obj, sluice_time now) { sluice_mux_handle_timeout(((farm *)obj)->mux, now); }
static const sluice_sim_node_ops mux_ops = {mux_deliver, mux_poll, mux_deadline, mux_timeout};

/* Signaling in memory: client events act on its server peer and back; the server echoes. */
static void pump_client(client *c) {
    sluice_event ev;
    while (sluice_peer_poll_event(c->pc, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            assert_int_equal(sluice_peer_set_local_description(c->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            assert_int_equal(sluice_peer_set_remote_description(c->srv, ev.sdp_type, ev.sdp), SLUICE_OK);
        } else if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            assert_int_equal(sluice_peer_add_ice_candidate(c->srv, ev.mid, ev.mline_index, ev.candidate), SLUICE_OK);
        } else if (ev.type == SLUICE_EVENT_CHANNEL_OPEN) {
            char msg[32];
            int n = snprintf(msg, sizeof msg, "hello %p", (void *)c);
            assert_int_equal(sluice_channel_send(c->ch, msg, (size_t)n, true), SLUICE_OK);
        } else if (ev.type == SLUICE_EVENT_CHANNEL_MESSAGE) {
            char got[64], want[32];
            int64_t n = sluice_channel_recv(c->ch, got, sizeof got - 1, NULL);
            assert_true(n > 0);
            got[n] = 0;
            snprintf(want, sizeof want, "hello %p", (void *)c);
            assert_string_equal(got, want);
            c->echoed = true;
        }
    }
    while (sluice_peer_poll_event(c->srv, &ev) == 1) {
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) {
            assert_int_equal(sluice_peer_set_local_description(c->srv, ev.sdp_type, ev.sdp), SLUICE_OK);
            assert_int_equal(sluice_peer_set_remote_description(c->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
        } else if (ev.type == SLUICE_EVENT_ICE_CANDIDATE) {
            assert_int_equal(sluice_peer_add_ice_candidate(c->pc, ev.mid, ev.mline_index, ev.candidate), SLUICE_OK);
        } else if (ev.type == SLUICE_EVENT_DATA_CHANNEL) {
            c->srv_ch = ev.channel;
        } else if (ev.type == SLUICE_EVENT_CHANNEL_MESSAGE) {
            uint8_t buf[64];
            bool text = false;
            int64_t n = sluice_channel_recv(ev.channel, buf, sizeof buf, &text);
            assert_true(n > 0);
            assert_int_equal(sluice_channel_send(ev.channel, buf, (size_t)n, text), SLUICE_OK);
        }
    }
}

/* A server mux on the simulated network and n clients, each with its own sans-IO peer
 * offering one "echo" channel to its own peer on the mux. Returns the farm; client i's
 * simnet node id is i + 1. */
static farm *farm_new(uint64_t seed, int n, uint8_t net, uint32_t delay_us, uint32_t jitter_us, double loss) {
    farm *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->sn = sluice_simnet_new(seed, 1 * SEC);
    f->mux = new_mux((size_t)n, 0);
    sluice_mux_local_address(f->mux, &f->mux_addr);
    int mn = sluice_simnet_add_node(f->sn, &mux_ops, f);
    sluice_simnet_bind(f->sn, mn, &f->mux_addr);
    sluice_sim_path path;
    memset(&path, 0, sizeof path);
    path.delay_us = delay_us;
    path.jitter_us = jitter_us;
    path.loss = loss;
    sluice_simnet_set_default_path(f->sn, &path);
    for (int i = 0; i < n; i++) {
        client *c = &f->c[i];
        c->addr = sluice_sim_addr4(10, net, (uint8_t)(i / 200), (uint8_t)(1 + i % 200), 40000);
        sluice_prng_seed(&c->prng, seed * 1000 + (uint64_t)i);
        sluice_prng_seed(&c->srv_prng, seed * 1000 + 500 + (uint64_t)i);
        sluice_config cfg;
        sluice_config_default(&cfg);
        cfg.sans_io = true;
        cfg.random_fn = sluice_prng_random_fn;
        cfg.random_user = &c->prng;
        assert_int_equal(sluice_peer_new(&c->pc, &cfg, NULL, c), SLUICE_OK);
        assert_int_equal(sluice_peer_add_local_address(c->pc, &c->addr), SLUICE_OK);
        cfg.sans_io = false; /* ignored on a mux: the mux decides */
        cfg.random_user = &c->srv_prng;
        assert_int_equal(sluice_peer_new_on_mux(f->mux, &c->srv, &cfg, NULL, c), SLUICE_OK);
        int node = sluice_simnet_add_node(f->sn, &peer_node_ops, &c->pc);
        assert_int_equal(node, i + 1);
        sluice_simnet_bind(f->sn, node, &c->addr);
        assert_int_equal(sluice_peer_create_channel(c->pc, "echo", NULL, &c->ch), SLUICE_OK);
        assert_int_equal(sluice_peer_create_offer(c->pc), SLUICE_OK);
    }
    return f;
}

/* Run until the n first clients all got their echo (or the virtual limit): how many did. */
static int farm_run_until_echoed(farm *f, int n, sluice_time limit) {
    sluice_time end = sluice_simnet_now(f->sn) + limit;
    int done = 0;
    while (sluice_simnet_now(f->sn) < end && done < n) {
        done = 0;
        for (int i = 0; i < n; i++) {
            pump_client(&f->c[i]);
            done += f->c[i].echoed;
        }
        sluice_simnet_step(f->sn, sluice_simnet_now(f->sn) + 10000);
    }
    return done;
}

static void farm_free(farm *f, int n) {
    for (int i = 0; i < n; i++) {
        sluice_peer_free(f->c[i].pc);
        sluice_peer_free(f->c[i].srv);
    }
    assert_int_equal(sluice_mux_free(f->mux), SLUICE_OK);
    sluice_simnet_free(f->sn);
    free(f);
}

static void test_mux_one_port_serves_100_clients_each_echoing_on_a_channel(void **state) {
    (void)state;
    farm *f = farm_new(77, N_CLIENTS, 1, 10000, 2000, 0.01);
    int done = farm_run_until_echoed(f, N_CLIENTS, 60 * SEC);
    assert_int_equal(done, N_CLIENTS);
    sluice_mux_stats st;
    sluice_mux_get_stats(f->mux, &st);
    assert_int_equal(st.peers, N_CLIENTS);
    assert_true(st.addresses >= N_CLIENTS);
    assert_true(st.routed_ufrag >= N_CLIENTS);
    assert_true(st.routed_address > N_CLIENTS);
    if (getenv("SLUICE_TEST_VERBOSE"))
        fprintf(stderr, "%d clients echoed after %.2f s virtual; ufrag %llu txn %llu addr %llu unknown %llu malformed %llu, %zu addresses\n",
                done, (double)(sluice_simnet_now(f->sn) - 1 * SEC) / 1e6, (unsigned long long)st.routed_ufrag,
                (unsigned long long)st.routed_transaction, (unsigned long long)st.routed_address,
                (unsigned long long)st.dropped_unknown, (unsigned long long)st.dropped_malformed, st.addresses);
    for (int i = 0; i < N_CLIENTS; i++) {
        /* Every server-side connection runs on the one port. */
        sluice_peer_stats ps;
        sluice_peer_get_stats(f->c[i].srv, &ps);
        assert_true(ps.has_selected_pair);
        assert_true(sluice_addr_equal(&ps.selected_local, &f->mux_addr));
        assert_true(sluice_addr_equal(&ps.selected_remote, &f->c[i].addr));
        assert_int_equal(sluice_peer_connection_state(f->c[i].srv), SLUICE_CONNECTION_CONNECTED);
    }
    farm_free(f, N_CLIENTS);
}


/* A client whose network changes restarts ICE from a new address: the server peer on the
 * mux answers with a new ufrag, which the mux must route, and the channel carries on. */
static void test_mux_client_ice_restart_from_a_new_address_is_routed(void **state) {
    (void)state;
    enum { N = 3 };
    farm *f = farm_new(78, N, 2, 5000, 0, 0.0);
    const int node0 = 1;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(farm_run_until_echoed(f, N, 30 * SEC), N);
        if (round == 1) break;
        /* Client 0 moves: the old address goes dead, a new one appears, ICE restarts. */
        client *c = &f->c[0];
        sluice_sim_path down;
        memset(&down, 0, sizeof down);
        down.down = true;
        sluice_simnet_set_path(f->sn, &c->addr, &f->mux_addr, &down);
        sluice_simnet_set_path(f->sn, &f->mux_addr, &c->addr, &down);
        sluice_addr moved = sluice_sim_addr4(10, 3, 0, 1, 40001);
        assert_int_equal(sluice_simnet_bind(f->sn, node0, &moved), SLUICE_OK);
        assert_int_equal(sluice_peer_add_local_address(c->pc, &moved), SLUICE_OK);
        assert_int_equal(sluice_peer_restart_ice(c->pc), SLUICE_OK);
        assert_int_equal(sluice_peer_create_offer(c->pc), SLUICE_OK);
        c->addr = moved;
        for (int i = 0; i < N; i++) {
            f->c[i].echoed = false;
            char msg[32];
            int n = snprintf(msg, sizeof msg, "hello %p", (void *)&f->c[i]);
            if (i) assert_int_equal(sluice_channel_send(f->c[i].ch, msg, (size_t)n, true), SLUICE_OK);
        }
        /* Client 0 sends once its new path is up (its message would otherwise go down the
         * dead one first and wait for a retransmission: fine, but slower). */
        char msg[32];
        int n = snprintf(msg, sizeof msg, "hello %p", (void *)c);
        assert_int_equal(sluice_channel_send(c->ch, msg, (size_t)n, true), SLUICE_OK);
    }
    sluice_peer_stats ps;
    sluice_peer_get_stats(f->c[0].srv, &ps);
    assert_true(sluice_addr_equal(&ps.selected_remote, &f->c[0].addr));
    farm_free(f, N);
}

/* ---- socket mode over loopback ------------------------------------------------------ */

#define N_SOCK 4

static void test_mux_socket_mode_serves_clients_on_one_loopback_port(void **state) {
    (void)state;
    sluice_mux_config mc;
    sluice_mux_config_default(&mc);
    mc.bind_address = "127.0.0.1";
    mc.max_peers = N_SOCK;
    sluice_mux *m = NULL;
    assert_int_equal(sluice_mux_new(&mc, &m), SLUICE_OK);
    sluice_addr ma;
    sluice_mux_local_address(m, &ma);
    assert_true(ma.port != 0);
    int fd;
    assert_int_equal(sluice_mux_fds(m, &fd, 1), 1);
    client *c = calloc(N_SOCK, sizeof *c);
    for (int i = 0; i < N_SOCK; i++) {
        sluice_config cfg;
        sluice_config_default(&cfg);
        cfg.bind_address = "127.0.0.1";
        cfg.ice_loopback = true;
        assert_int_equal(sluice_peer_new(&c[i].pc, &cfg, NULL, &c[i]), SLUICE_OK);
        assert_int_equal(sluice_peer_new_on_mux(m, &c[i].srv, &cfg, NULL, &c[i]), SLUICE_OK);
        int pfd;
        assert_int_equal(sluice_peer_fds(c[i].srv, &pfd, 1), 1);
        assert_int_equal(pfd, fd); /* the peer's socket is the mux's */
        assert_int_equal(sluice_peer_create_channel(c[i].pc, "echo", NULL, &c[i].ch), SLUICE_OK);
        assert_int_equal(sluice_peer_create_offer(c[i].pc), SLUICE_OK);
    }
    int done = 0;
    /* Bounded by iterations of at most 10 ms each (no timing assertion). */
    for (int it = 0; it < 2000 && done < N_SOCK; it++) {
        struct pollfd pfds[N_SOCK + 1];
        int k = 0;
        pfds[k++] = (struct pollfd){fd, POLLIN, 0};
        for (int i = 0; i < N_SOCK; i++) {
            int cfd;
            if (sluice_peer_fds(c[i].pc, &cfd, 1) >= 1) pfds[k++] = (struct pollfd){cfd, POLLIN, 0};
        }
        int to = sluice_mux_timeout_ms(m);
        poll(pfds, (nfds_t)k, to < 0 || to > 10 ? 10 : to);
        /* Alternate the two ways of driving the mux: its own poll, or only the peers'. */
        if (it % 2 == 0) assert_int_equal(sluice_mux_poll(m), SLUICE_OK);
        done = 0;
        for (int i = 0; i < N_SOCK; i++) {
            sluice_peer_poll(c[i].pc);
            sluice_peer_poll(c[i].srv);
            pump_client(&c[i]);
            done += c[i].echoed;
        }
    }
    assert_int_equal(done, N_SOCK);
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    assert_int_equal(st.peers, N_SOCK);
    for (int i = 0; i < N_SOCK; i++) {
        sluice_peer_stats ps;
        sluice_peer_get_stats(c[i].srv, &ps);
        assert_true(sluice_addr_equal(&ps.selected_local, &ma));
        sluice_peer_free(c[i].pc);
        sluice_peer_free(c[i].srv);
    }
    free(c);
    assert_int_equal(sluice_mux_poll(m), SLUICE_OK);
    assert_int_equal(sluice_mux_free(m), SLUICE_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mux_rejects_bad_configuration),
        cmocka_unit_test(test_mux_routes_binding_requests_by_local_ufrag),
        cmocka_unit_test(test_mux_drops_unknown_and_malformed_datagrams),
        cmocka_unit_test(test_mux_routes_stun_responses_by_transaction_id),
        cmocka_unit_test(test_mux_binds_an_address_when_its_peer_answers_or_sends_dtls),
        cmocka_unit_test(test_mux_forgets_a_freed_peer_at_once),
        cmocka_unit_test(test_mux_address_table_stays_bounded),
        cmocka_unit_test(test_mux_peer_stays_on_the_mux_after_initialize),
        cmocka_unit_test(test_mux_every_allocation_failure_is_handled),
        cmocka_unit_test(test_mux_one_port_serves_100_clients_each_echoing_on_a_channel),
        cmocka_unit_test(test_mux_client_ice_restart_from_a_new_address_is_routed),
        cmocka_unit_test(test_mux_socket_mode_serves_clients_on_one_loopback_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
