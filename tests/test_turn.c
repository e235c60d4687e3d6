#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ice_sim.h"
#include "testkit_coturn.h"

extern char **environ;

/* ---- a TURN client as a simnet node, and an echoing peer -------------------------------- */

typedef struct turn_node {
    sluice_turn_client t;
    sluice_prng prng;
    sluice_rng rng;
    sluice_logger log;
    int rx;
    uint8_t last[64];
    size_t last_len;
    sluice_addr last_peer;
} turn_node;

static void tn_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to, const uint8_t *data,
                       size_t len) {
    turn_node *n = obj;
    assert_true(sluice_turn_owns(&n->t, to, from));
    sluice_addr peer;
    const uint8_t *pl;
    size_t pn;
    if (sluice_turn_handle(&n->t, now, data, len, &peer, &pl, &pn) == 1) {
        n->rx++;
        n->last_len = SLUICE_MIN(pn, sizeof n->last);
        memcpy(n->last, pl, n->last_len);
        n->last_peer = peer;
    }
}

static size_t tn_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    turn_node *n = obj;
    int len = sluice_turn_poll_transmit(&n->t, now, buf, cap);
    if (len <= 0) return 0;
    *from = n->t.base;
    *to = n->t.server;
    return (size_t)len;
}

static sluice_time tn_deadline(void *obj) { return sluice_turn_next_deadline(&((turn_node *)obj)->t); }
static void tn_timeout(void *obj, sluice_time now) { sluice_turn_handle_timeout(&((turn_node *)obj)->t, now); }
static const sluice_sim_node_ops TN_OPS = {tn_deliver, tn_poll, tn_deadline, tn_timeout};

typedef struct echo_node {
    sim_queue out;
    int rx;
} echo_node;

static void echo_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                         const uint8_t *data, size_t len) {
    (void)now;
    echo_node *e = obj;
    e->rx++;
    simq_push(&e->out, to, from, data, len);
}

static size_t echo_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    (void)now;
    return simq_pop(&((echo_node *)obj)->out, from, to, buf, cap);
}

static const sluice_sim_node_ops ECHO_OPS = {echo_deliver, echo_poll, NULL, NULL};

typedef struct turn_world {
    sluice_simnet *sn;
    sim_turn_server srv;
    turn_node cl;
    echo_node echo;
    sluice_addr base, server, relay_ip, peer;
} turn_world;

static turn_world *tw_new(uint64_t seed, const char *password, bool channels, bool server_up) {
    turn_world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->sn = sluice_simnet_new(seed, 1000000);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 20000;
    sluice_simnet_set_default_path(w->sn, &p);
    w->base = sluice_sim_addr4(10, 0, 0, 1, 5000);
    w->server = sluice_sim_addr4(198, 51, 100, 5, 3478);
    w->relay_ip = sluice_sim_addr4(198, 51, 100, 5, 0);
    w->peer = sluice_sim_addr4(10, 9, 9, 9, 7000);
    if (server_up) sim_turn_server_init(&w->srv, w->sn, &w->server, &w->relay_ip);
    sluice_prng_seed(&w->cl.prng, seed);
    w->cl.rng.fn = sluice_prng_random_fn;
    w->cl.rng.user = &w->cl.prng;
    w->cl.log.fn = getenv("SLUICE_TEST_LOG") ? sluice_log_stderr : NULL;
    w->cl.log.level = SLUICE_LOG_DEBUG;
    sluice_turn_settings ts;
    sluice_turn_settings_default(&ts);
    ts.use_channels = channels;
    assert_int_equal(sluice_turn_init(&w->cl.t, &ts, &w->server, &w->base, "u", password, &w->cl.rng, &w->cl.log),
                     SLUICE_OK);
    int node = sluice_simnet_add_node(w->sn, &TN_OPS, &w->cl);
    assert_int_equal(sluice_simnet_bind(w->sn, node, &w->base), SLUICE_OK);
    node = sluice_simnet_add_node(w->sn, &ECHO_OPS, &w->echo);
    assert_int_equal(sluice_simnet_bind(w->sn, node, &w->peer), SLUICE_OK);
    sluice_turn_start(&w->cl.t, sluice_simnet_now(w->sn));
    return w;
}

static void tw_free(turn_world *w) {
    sluice_simnet_free(w->sn);
    free(w);
}

static bool tn_settled(void *user) {
    turn_node *n = user;
    return n->t.state != SLUICE_TURN_ALLOCATING;
}

static void tw_run(turn_world *w, sluice_time d) { sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + d, NULL, NULL); }

static void test_turn_allocates_with_long_term_credentials(void **state) {
    (void)state;
    turn_world *w = tw_new(1, "p", true, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    assert_int_equal(w->cl.t.state, SLUICE_TURN_READY);
    assert_int_equal(w->srv.allocates, 1);
    sluice_addr want = sluice_sim_addr4(198, 51, 100, 5, 50000);
    assert_true(sluice_addr_equal(&w->cl.t.relayed, &want));
    assert_true(sluice_addr_equal(&w->cl.t.mapped, &w->base));
    tw_free(w);
}

static void send_to_peer(turn_world *w, const char *msg) {
    uint8_t buf[256];
    int n = sluice_turn_wrap(&w->cl.t, &w->peer, (const uint8_t *)msg, strlen(msg), buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(sluice_simnet_send(w->sn, &w->base, &w->server, buf, (size_t)n), SLUICE_OK);
}

static void test_turn_permission_channel_bind_and_channel_data(void **state) {
    (void)state;
    turn_world *w = tw_new(2, "p", true, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    assert_int_equal(sluice_turn_add_peer(&w->cl.t, sluice_simnet_now(w->sn), &w->peer), SLUICE_OK);
    tw_run(w, SIM_S(2));
    assert_int_equal(w->srv.permissions, 1);
    assert_int_equal(w->srv.channel_binds, 1);
    assert_true(sluice_turn_has_permission(&w->cl.t, &w->peer));
    assert_true(w->cl.t.peers[0].channel_bound);
    send_to_peer(w, "hello relay");
    tw_run(w, SIM_S(1));
    assert_int_equal(w->srv.channel_data_in, 1);
    assert_int_equal(w->echo.rx, 1);
    assert_int_equal(w->srv.channel_data_out, 1);
    assert_int_equal(w->cl.rx, 1);
    assert_true(sluice_addr_equal(&w->cl.last_peer, &w->peer));
    assert_memory_equal(w->cl.last, "hello relay", 11);
    tw_free(w);
}

static void test_turn_send_and_data_indications_without_channels(void **state) {
    (void)state;
    turn_world *w = tw_new(3, "p", false, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    /* A peer added before READY is remembered and permitted once allocated. */
    assert_int_equal(sluice_turn_add_peer(&w->cl.t, sluice_simnet_now(w->sn), &w->peer), SLUICE_OK);
    tw_run(w, SIM_S(2));
    assert_int_equal(w->srv.channel_binds, 0);
    send_to_peer(w, "indication");
    tw_run(w, SIM_S(1));
    assert_int_equal(w->srv.sends, 1);
    assert_int_equal(w->srv.datas, 1);
    assert_int_equal(w->cl.rx, 1);
    assert_memory_equal(w->cl.last, "indication", 10);
    tw_free(w);
}

static void test_turn_refreshes_allocation_permission_and_channel(void **state) {
    (void)state;
    turn_world *w = tw_new(4, "p", true, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    assert_int_equal(sluice_turn_add_peer(&w->cl.t, sluice_simnet_now(w->sn), &w->peer), SLUICE_OK);
    tw_run(w, SIM_S(1300));
    assert_int_equal(w->cl.t.state, SLUICE_TURN_READY);
    assert_true(w->srv.refreshes >= 2);     /* 600 s lifetime, refreshed a minute early */
    assert_true(w->srv.permissions >= 5);   /* every 240 s */
    assert_true(w->srv.channel_binds >= 3); /* every 540 s */
    send_to_peer(w, "still here");
    tw_run(w, SIM_S(1));
    assert_int_equal(w->cl.rx, 1);
    tw_free(w);
}

static void test_turn_retries_on_stale_nonce(void **state) {
    (void)state;
    turn_world *w = tw_new(5, "p", true, true);
    w->srv.stale_nonce_after = 2; /* the CreatePermission draws a 438 */
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    assert_int_equal(w->cl.t.state, SLUICE_TURN_READY);
    assert_int_equal(sluice_turn_add_peer(&w->cl.t, sluice_simnet_now(w->sn), &w->peer), SLUICE_OK);
    tw_run(w, SIM_S(3));
    assert_true(sluice_turn_has_permission(&w->cl.t, &w->peer));
    assert_int_equal(w->srv.permissions, 1);
    assert_true(w->cl.t.nonce_len == strlen("nonce-2") && memcmp(w->cl.t.nonce, "nonce-2", 7) == 0);
    tw_free(w);
}

static void test_turn_wrong_password_fails_with_401(void **state) {
    (void)state;
    turn_world *w = tw_new(6, "bad", true, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    assert_int_equal(w->cl.t.state, SLUICE_TURN_FAILED);
    assert_int_equal(w->cl.t.error_code, 401);
    uint8_t buf[64];
    assert_int_equal(sluice_turn_wrap(&w->cl.t, &w->peer, (const uint8_t *)"x", 1, buf, sizeof buf),
                     SLUICE_ERR_INVALID_STATE);
    tw_free(w);
}

static void test_turn_unreachable_server_fails_after_retransmissions(void **state) {
    (void)state;
    turn_world *w = tw_new(7, "p", true, false);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(120), tn_settled, &w->cl));
    assert_int_equal(w->cl.t.state, SLUICE_TURN_FAILED);
    sluice_sim_counters c = sluice_simnet_counters(w->sn, NULL, NULL);
    assert_int_equal(c.sent, 7); /* Rc = 7 */
    tw_free(w);
}

static void test_turn_close_deallocates(void **state) {
    (void)state;
    turn_world *w = tw_new(8, "p", true, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    sluice_turn_close(&w->cl.t, sluice_simnet_now(w->sn));
    tw_run(w, SIM_S(2));
    assert_int_equal(w->srv.refreshes, 1);
    assert_false(w->srv.allocs[0].used);
    tw_free(w);
}

static void test_turn_drops_forged_and_unexpected_responses(void **state) {
    (void)state;
    turn_world *w = tw_new(9, "p", true, true);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(10), tn_settled, &w->cl));
    sluice_turn_client *t = &w->cl.t;
    assert_int_equal(sluice_turn_add_peer(t, sluice_simnet_now(w->sn), &w->peer), SLUICE_OK);
    uint8_t sent[256];
    assert_true(sluice_turn_poll_transmit(t, sluice_simnet_now(w->sn), sent, sizeof sent) > 0); /* lost */
    /* Forge a success for the pending CreatePermission with a wrong key. */
    sluice_turn_txn *x = NULL;
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++)
        if (t->txns[i].active) x = &t->txns[i];
    assert_non_null(x);
    uint8_t buf[128];
    sluice_wr wr = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&wr, SLUICE_STUN_CREATE_PERMISSION, SLUICE_STUN_SUCCESS, x->tid);
    sluice_stun_add_integrity(&wr, (const uint8_t *)"forged", 6);
    int n = sluice_stun_build_end(&wr);
    sluice_addr peer;
    const uint8_t *pl;
    size_t pn;
    assert_int_equal(sluice_turn_handle(t, sluice_simnet_now(w->sn), buf, (size_t)n, &peer, &pl, &pn),
                     SLUICE_ERR_INTEGRITY);
    assert_false(sluice_turn_has_permission(t, &w->peer));
    /* Garbage, unknown channels, unsolicited responses. */
    assert_true(sluice_turn_handle(t, 0, (const uint8_t *)"\x40\x05\x00\x01x", 5, &peer, &pl, &pn) < 0);
    assert_true(sluice_turn_handle(t, 0, (const uint8_t *)"\x01\x01\x00", 3, &peer, &pl, &pn) < 0);
    uint8_t tid[12] = {0};
    wr = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&wr, SLUICE_STUN_ALLOCATE, SLUICE_STUN_SUCCESS, tid);
    n = sluice_stun_build_end(&wr);
    assert_int_equal(sluice_turn_handle(t, 0, buf, (size_t)n, &peer, &pl, &pn), 0);
    assert_true(t->dropped >= 4);
    assert_int_equal(t->state, SLUICE_TURN_READY);
    tw_run(w, SIM_S(2));
    assert_true(sluice_turn_has_permission(t, &w->peer));
    tw_free(w);
}

static void test_turn_tcp_framing(void **state) {
    (void)state;
    uint8_t s[64];
    uint8_t tid[12] = {1};
    sluice_wr wr = sluice_wr_make(s, sizeof s);
    sluice_stun_build_begin(&wr, SLUICE_STUN_ALLOCATE, SLUICE_STUN_REQUEST, tid);
    sluice_stun_add_u32(&wr, SLUICE_STUN_ATTR_LIFETIME, 1);
    int n = sluice_stun_build_end(&wr);
    uint8_t stream[128];
    memcpy(stream, s, (size_t)n);
    int m = sluice_stun_channel_data_build(stream + n, sizeof stream - (size_t)n, 0x4000, (const uint8_t *)"abcde", 5, true);
    assert_int_equal(m, 12);
    for (int cut = 0; cut < n; cut++) assert_int_equal(sluice_turn_tcp_frame(stream, (size_t)cut), 0);
    assert_int_equal(sluice_turn_tcp_frame(stream, (size_t)(n + m)), n);
    for (int cut = 0; cut < m; cut++) assert_int_equal(sluice_turn_tcp_frame(stream + n, (size_t)cut), 0);
    assert_int_equal(sluice_turn_tcp_frame(stream + n, (size_t)m), 12);
    assert_int_equal(sluice_turn_tcp_frame((const uint8_t *)"\x17\xfe\xfd\x00", 4), SLUICE_ERR_MALFORMED);
}

/* ---- ICE through TURN: both agents behind symmetric NATs ------------------------------ */

static void run_symmetric(bool with_turn, bool tcp, double loss, uint64_t seed) {
    sluice_simnet *sn = sluice_simnet_new(seed, 1000000);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 15000;
    p.jitter_us = 1000;
    p.loss = loss;
    sluice_simnet_set_default_path(sn, &p);
    sluice_addr a = sluice_sim_addr4(192, 168, 1, 2, 5000), b = sluice_sim_addr4(192, 168, 2, 2, 6000);
    sluice_addr pa = sluice_sim_addr4(203, 0, 113, 1, 0), pb = sluice_sim_addr4(203, 0, 113, 2, 0);
    assert_int_equal(sluice_simnet_add_nat(sn, &a, &pa, true), SLUICE_OK);
    assert_int_equal(sluice_simnet_add_nat(sn, &b, &pb, true), SLUICE_OK);
    sluice_addr srv_addr = sluice_sim_addr4(198, 51, 100, 5, 3478), relay_ip = sluice_sim_addr4(198, 51, 100, 5, 0);
    sim_turn_server *srv = calloc(1, sizeof *srv);
    sim_turn_server_init(srv, sn, &srv_addr, &relay_ip);
    sluice_ice_url url;
    assert_int_equal(sluice_ice_url_parse(tcp ? "turn:198.51.100.5:3478?transport=tcp" : "turn:198.51.100.5:3478", &url),
                     SLUICE_OK);
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.connect_timeout_ms = 10000;
    if (with_turn) {
        s.turn_servers = &url;
        s.turn_servers_count = 1;
        s.turn_username = "u";
        s.turn_password = "p";
    }
    sim_agent *A = calloc(1, sizeof *A), *B = calloc(1, sizeof *B);
    s.controlling = true;
    sim_agent_init(A, sn, "A", seed * 2 + 1, &s, &a);
    s.controlling = false;
    sim_agent_init(B, sn, "B", seed * 2 + 2, &s, &b);
    A->peer = B;
    B->peer = A;
    A->trickle = B->trickle = true;
    A->forward_done = B->forward_done = true;
    sim_exchange_credentials(A, B);
    assert_int_equal(sluice_ice_gather(A->ice, sluice_simnet_now(sn)), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(B->ice, sluice_simnet_now(sn)), SLUICE_OK);
    sim_pair_ctx ctx = {A, B};
    if (!with_turn) {
        assert_true(sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_S(60), sim_either_failed, &ctx));
        sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_S(2), sim_drain_only, &ctx);
        assert_int_equal(A->state, SLUICE_ICE_FAILED);
        assert_int_equal(B->state, SLUICE_ICE_FAILED);
    } else {
        assert_true(sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_S(30), sim_both_connected, &ctx));
        sluice_addr l, r;
        assert_true(sluice_ice_selected_pair(A->ice, &l, &r));
        /* Some side of the path is a relay (TURN permissions are per IP, so a host
         * candidate may reach the peer's relay once the peer permitted its NAT's IP). */
        assert_true(memcmp(l.ip, relay_ip.ip, 4) == 0 || memcmp(r.ip, relay_ip.ip, 4) == 0);
        bool relay_cand = false;
        for (int i = 0; i < A->ncands; i++) relay_cand |= A->cands[i].type == SLUICE_ICE_CAND_RELAY;
        assert_true(relay_cand);
        if (loss == 0) {
            sim_app_roundtrip(sn, A, B, &ctx);
            sim_app_roundtrip(sn, B, A, &ctx);
        }
        assert_int_equal(sluice_ice_is_tcp_path(A->ice, &a, &srv_addr), tcp);
        /* Stays up across allocation / permission / channel refreshes. */
        sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_S(700), sim_drain_only, &ctx);
        assert_true(sim_is_up(A) && sim_is_up(B));
        if (loss == 0) sim_app_roundtrip(sn, A, B, &ctx);
        assert_true(srv->channel_binds >= 2);
        assert_true(srv->refreshes >= 2);
    }
    sluice_ice_free(A->ice);
    sluice_ice_free(B->ice);
    sluice_simnet_free(sn);
    free(A);
    free(B);
    free(srv);
}

static void test_ice_symmetric_nats_fail_without_turn(void **state) {
    (void)state;
    run_symmetric(false, false, 0, 100);
}

static void test_ice_symmetric_nats_connect_via_turn_with_10_percent_loss(void **state) {
    (void)state;
    for (uint64_t seed = 120; seed < 123; seed++) run_symmetric(true, false, 0.10, seed);
}

static void test_ice_symmetric_nats_connect_via_turn_over_tcp(void **state) {
    (void)state;
    run_symmetric(true, true, 0, 103);
}

static void test_ice_symmetric_nats_connect_via_turn_relay(void **state) {
    (void)state;
    run_symmetric(true, false, 0, 101);
    run_symmetric(true, false, 0, 102);
}


/* Relay-only policy (Godot's iceTransportPolicy "relay"): only the relay candidate is
 * signalled and checked; the host address serves as the base towards the TURN server. */
static bool sim_a_b_connected(void *user) { return sim_both_connected(user); }

static void test_ice_relay_only_policy_signals_and_uses_only_relay(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(110, 1000000);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 10000;
    sluice_simnet_set_default_path(sn, &p);
    sluice_addr srv_addr = sluice_sim_addr4(198, 51, 100, 5, 3478), relay_ip = sluice_sim_addr4(198, 51, 100, 5, 0);
    sim_turn_server *srv = calloc(1, sizeof *srv);
    sim_turn_server_init(srv, sn, &srv_addr, &relay_ip);
    sluice_ice_url url;
    assert_int_equal(sluice_ice_url_parse("turn:198.51.100.5", &url), SLUICE_OK);
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    sim_agent *A = calloc(1, sizeof *A), *B = calloc(1, sizeof *B);
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    s.controlling = false;
    sim_agent_init(B, sn, "B", 112, &s, &b);
    s.controlling = true;
    s.turn_servers = &url;
    s.turn_servers_count = 1;
    s.turn_username = "u";
    s.turn_password = "p";
    s.relay_only = true;
    sim_agent_init(A, sn, "A", 111, &s, &a);
    A->peer = B;
    B->peer = A;
    A->trickle = B->trickle = true;
    A->forward_done = B->forward_done = true;
    sim_exchange_credentials(A, B);
    assert_int_equal(sluice_ice_gather(A->ice, sluice_simnet_now(sn)), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(B->ice, sluice_simnet_now(sn)), SLUICE_OK);
    sim_pair_ctx ctx = {A, B};
    assert_true(sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_S(30), sim_a_b_connected, &ctx));
    assert_true(A->ncands >= 1);
    for (int i = 0; i < A->ncands; i++) assert_int_equal(A->cands[i].type, SLUICE_ICE_CAND_RELAY);
    sluice_addr l, r;
    assert_true(sluice_ice_selected_pair(A->ice, &l, &r));
    assert_true(memcmp(l.ip, relay_ip.ip, 4) == 0);
    assert_true(sluice_addr_equal(&r, &b));
    sim_app_roundtrip(sn, A, B, &ctx);
    sim_app_roundtrip(sn, B, A, &ctx);
    /* Closing deallocates. */
    sluice_ice_close(A->ice);
    uint8_t buf[600];
    sluice_addr ol, orr;
    int n = sluice_ice_poll_transmit(A->ice, sluice_simnet_now(sn), &ol, &orr, buf, sizeof buf);
    assert_true(n > 0);
    assert_true(sluice_addr_equal(&orr, &srv_addr));
    sluice_stun_msg m;
    assert_int_equal(sluice_stun_parse(buf, (size_t)n, &m), SLUICE_OK);
    assert_int_equal(m.method, SLUICE_STUN_REFRESH);
    assert_true(m.has_lifetime && m.lifetime == 0);
    sluice_ice_free(A->ice);
    sluice_ice_free(B->ice);
    sluice_simnet_free(sn);
    free(A);
    free(B);
    free(srv);
}

/* ---- a real coturn on loopback ----------------------------------------------------------- */

static int udp_socket(sluice_addr *bound) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    memset(bound, 0, sizeof *bound);
    bound->family = 4;
    memcpy(bound->ip, &sa.sin_addr, 4);
    bound->port = ntohs(sa.sin_port);
    return fd;
}

static void udp_sendto(int fd, const sluice_addr *to, const uint8_t *d, size_t n) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(to->port)};
    memcpy(&sa.sin_addr, to->ip, 4);
    assert_int_equal(sendto(fd, d, n, 0, (struct sockaddr *)&sa, sizeof sa), (ssize_t)n);
}

static ssize_t udp_recv(int fd, uint8_t *buf, size_t cap, sluice_addr *from, int timeout_ms) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return -1;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&sa, &sl);
    if (n >= 0 && from) {
        memset(from, 0, sizeof *from);
        from->family = 4;
        memcpy(from->ip, &sa.sin_addr, 4);
        from->port = ntohs(sa.sin_port);
    }
    return n;
}

static sluice_time wall_us(void) { return sluice_clock_monotonic_us(); }

/* Drive the client on its real socket until `cond` or `ms` elapse; returns cond. */
static bool drive(sluice_turn_client *t, int fd, int ms, bool (*cond)(sluice_turn_client *), int *rx,
                  uint8_t *last, size_t *last_len, sluice_time time_offset) {
    sluice_time end = wall_us() + (sluice_time)ms * 1000;
    while (wall_us() < end) {
        sluice_time now = wall_us() + time_offset;
        sluice_turn_handle_timeout(t, now);
        uint8_t buf[1500];
        int n;
        while ((n = sluice_turn_poll_transmit(t, now, buf, sizeof buf)) > 0) udp_sendto(fd, &t->server, buf, (size_t)n);
        if (cond && cond(t)) return true;
        sluice_addr from;
        ssize_t r = udp_recv(fd, buf, sizeof buf, &from, 20);
        if (r > 0) {
            sluice_addr peer;
            const uint8_t *pl;
            size_t pn;
            if (sluice_turn_handle(t, wall_us() + time_offset, buf, (size_t)r, &peer, &pl, &pn) == 1 && rx) {
                (*rx)++;
                *last_len = pn < 64 ? pn : 64;
                memcpy(last, pl, *last_len);
            }
        }
    }
    return cond ? cond(t) : false;
}

static bool is_settled(sluice_turn_client *t) { return t->state != SLUICE_TURN_ALLOCATING; }
static bool is_bound(sluice_turn_client *t) { return t->peer_count && t->peers[0].channel_bound; }
static bool is_permitted(sluice_turn_client *t) { return t->peer_count && t->peers[0].perm_expires; }
static bool refresh_done(sluice_turn_client *t) { return !t->refresh_inflight; }

static void test_turn_against_real_coturn(void **state) {
    coturn_proc *proc = *state;
    uint16_t port = start_coturn(proc, "test_turn_against_real_coturn");
    if (!port) skip();

    sluice_prng prng;
    sluice_prng_seed(&prng, 200);
    sluice_rng rng = {sluice_prng_random_fn, &prng};
    sluice_logger log = {getenv("SLUICE_TEST_LOG") ? sluice_log_stderr : NULL, NULL, SLUICE_LOG_DEBUG};
    sluice_addr base, peer_addr, server;
    int fd = udp_socket(&base);
    int peer_fd = udp_socket(&peer_addr);
    sluice_addr_parse(&server, "127.0.0.1", port);

    /* Wait until the server answers (the first Allocate draws a 401), up to ~5 s. */
    sluice_turn_client tc;
    sluice_turn_client *t = &tc;
    bool ready = false;
    for (int attempt = 0; attempt < 10 && !ready; attempt++) {
        sluice_turn_settings ts;
        sluice_turn_settings_default(&ts);
        ts.rto_ms = 100;
        ts.max_sends = 5;
        assert_int_equal(sluice_turn_init(t, &ts, &server, &base, "u", "p", &rng, &log), SLUICE_OK);
        sluice_turn_start(t, wall_us());
        drive(t, fd, 3000, is_settled, NULL, NULL, NULL, 0);
        ready = t->state == SLUICE_TURN_READY;
    }
    if (!ready) {
        close(fd);
        close(peer_fd);
        fail_msg("coturn allocation failed: state %d error %u", (int)t->state, (unsigned)t->error_code);
    }
    char rs[64];
    sluice_addr_format(&t->relayed, rs, sizeof rs);
    fprintf(stderr, "coturn: relayed address %s\n", rs);
    assert_int_equal(t->relayed.ip[0], 127);

    /* Permission, then channel. */
    sluice_turn_add_peer(t, wall_us(), &peer_addr);
    assert_true(drive(t, fd, 3000, is_permitted, NULL, NULL, NULL, 0));
    assert_true(drive(t, fd, 3000, is_bound, NULL, NULL, NULL, 0));

    /* Client → relay → peer, with ChannelData. */
    uint8_t buf[256];
    int n = sluice_turn_wrap(t, &peer_addr, (const uint8_t *)"ping via coturn", 15, buf, sizeof buf);
    assert_true(n > 0 && sluice_stun_is_channel_data(buf, (size_t)n));
    udp_sendto(fd, &server, buf, (size_t)n);
    sluice_addr from;
    uint8_t rbuf[256];
    ssize_t r = udp_recv(peer_fd, rbuf, sizeof rbuf, &from, 3000);
    assert_int_equal(r, 15);
    assert_memory_equal(rbuf, "ping via coturn", 15);
    assert_true(sluice_addr_equal(&from, &t->relayed));

    /* Peer → relay → client. */
    udp_sendto(peer_fd, &t->relayed, (const uint8_t *)"pong", 4);
    int rx = 0;
    uint8_t last[64];
    size_t last_len = 0;
    drive(t, fd, 1000, NULL, &rx, last, &last_len, 0);
    assert_int_equal(rx, 1);
    assert_int_equal(last_len, 4);
    assert_memory_equal(last, "pong", 4);

    /* Refresh: pretend the allocation is near its end by running the clock ahead. */
    sluice_time skew = t->refresh_at - wall_us() + 1000;
    sluice_time old_expiry = t->expires;
    sluice_turn_handle_timeout(t, wall_us() + skew);
    assert_true(t->refresh_inflight);
    assert_true(drive(t, fd, 3000, refresh_done, NULL, NULL, NULL, skew));
    assert_int_equal(t->state, SLUICE_TURN_READY);
    assert_true(t->expires > old_expiry);

    /* Deallocate. */
    sluice_turn_close(t, wall_us());
    n = sluice_turn_poll_transmit(t, wall_us(), buf, sizeof buf);
    assert_true(n > 0);
    udp_sendto(fd, &server, buf, (size_t)n);
    sluice_stun_msg m;
    bool deallocated = false;
    while (!deallocated && (r = udp_recv(fd, rbuf, sizeof rbuf, &from, 2000)) > 0) {
        /* Late answers (e.g. to a permission refresh) may come first. */
        assert_int_equal(sluice_stun_parse(rbuf, (size_t)r, &m), SLUICE_OK);
        deallocated = m.method == SLUICE_STUN_REFRESH && m.cls == SLUICE_STUN_SUCCESS;
    }
    assert_true(deallocated);

    close(fd);
    close(peer_fd);
}


/* ---- the same over TCP (RFC 8656 §3.1, framing RFC 8656 §12.5 / RFC 6062) ----------------- */

typedef struct tcp_stream {
    uint8_t buf[8192];
    size_t len;
} tcp_stream;

static bool drive_tcp(sluice_turn_client *t, int fd, tcp_stream *st, int ms, bool (*cond)(sluice_turn_client *),
                      int *rx, uint8_t *last, size_t *last_len, int *frames) {
    sluice_time end = wall_us() + (sluice_time)ms * 1000;
    while (wall_us() < end) {
        sluice_time now = wall_us();
        sluice_turn_handle_timeout(t, now);
        uint8_t out[1500];
        int n;
        while ((n = sluice_turn_poll_transmit(t, now, out, sizeof out)) > 0)
            assert_int_equal(send(fd, out, (size_t)n, MSG_NOSIGNAL), n);
        if (cond && cond(t)) return true;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0) continue;
        ssize_t r = recv(fd, st->buf + st->len, sizeof st->buf - st->len, 0);
        assert_true(r > 0);
        st->len += (size_t)r;
        int f;
        while ((f = sluice_turn_tcp_frame(st->buf, st->len)) > 0) {
            if (frames) (*frames)++;
            sluice_addr peer;
            const uint8_t *pl;
            size_t pn;
            if (sluice_turn_handle(t, wall_us(), st->buf, (size_t)f, &peer, &pl, &pn) == 1 && rx) {
                (*rx)++;
                *last_len = pn < 64 ? pn : 64;
                memcpy(last, pl, *last_len);
            }
            memmove(st->buf, st->buf + f, st->len - (size_t)f);
            st->len -= (size_t)f;
        }
        assert_true(f == 0);
    }
    return cond ? cond(t) : false;
}

static void test_turn_over_tcp_against_real_coturn(void **state) {
    coturn_proc *proc = *state;
    uint16_t port = start_coturn(proc, "test_turn_over_tcp_against_real_coturn");
    if (!port) skip();
    sluice_addr server, peer_addr;
    sluice_addr_parse(&server, "127.0.0.1", port);
    int peer_fd = udp_socket(&peer_addr);
    /* Connect, retrying while coturn starts (real sockets: this test only). */
    int fd = -1;
    for (int i = 0; i < 50 && fd < 0; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            fd = -1;
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(fd >= 0);
    struct sockaddr_in la;
    socklen_t ll = sizeof la;
    getsockname(fd, (struct sockaddr *)&la, &ll);
    sluice_addr base;
    memset(&base, 0, sizeof base);
    base.family = 4;
    memcpy(base.ip, &la.sin_addr, 4);
    base.port = ntohs(la.sin_port);

    sluice_prng prng;
    sluice_prng_seed(&prng, 300);
    sluice_rng rng = {sluice_prng_random_fn, &prng};
    sluice_logger log = {getenv("SLUICE_TEST_LOG") ? sluice_log_stderr : NULL, NULL, SLUICE_LOG_DEBUG};
    sluice_turn_settings ts;
    sluice_turn_settings_default(&ts);
    ts.tcp = true;
    sluice_turn_client tc;
    sluice_turn_client *t = &tc;
    assert_int_equal(sluice_turn_init(t, &ts, &server, &base, "u", "p", &rng, &log), SLUICE_OK);
    tcp_stream *st = calloc(1, sizeof *st);
    sluice_turn_start(t, wall_us());
    int frames = 0;
    drive_tcp(t, fd, st, 5000, is_settled, NULL, NULL, NULL, &frames);
    if (t->state != SLUICE_TURN_READY) {
        close(fd);
        close(peer_fd);
        free(st);
        fail_msg("coturn TCP allocation failed: state %d error %u", (int)t->state, (unsigned)t->error_code);
    }
    assert_true(frames >= 2); /* 401, then the allocation */
    assert_int_equal(t->relayed.ip[0], 127);
    sluice_turn_add_peer(t, wall_us(), &peer_addr);
    assert_true(drive_tcp(t, fd, st, 3000, is_bound, NULL, NULL, NULL, NULL));

    /* An odd-length payload: the ChannelData is padded on the stream. */
    uint8_t buf[256];
    int n = sluice_turn_wrap(t, &peer_addr, (const uint8_t *)"tcp ping", 7, buf, sizeof buf);
    assert_int_equal(n, 12);
    assert_int_equal(send(fd, buf, (size_t)n, MSG_NOSIGNAL), n);
    uint8_t rbuf[256];
    sluice_addr from;
    ssize_t r = udp_recv(peer_fd, rbuf, sizeof rbuf, &from, 3000);
    assert_int_equal(r, 7);
    assert_memory_equal(rbuf, "tcp pin", 7);
    assert_true(sluice_addr_equal(&from, &t->relayed));

    /* Two datagrams from the peer arrive on the stream back to back. */
    udp_sendto(peer_fd, &t->relayed, (const uint8_t *)"pong1", 5);
    udp_sendto(peer_fd, &t->relayed, (const uint8_t *)"pong22", 6);
    int rx = 0;
    uint8_t last[64];
    size_t last_len = 0;
    drive_tcp(t, fd, st, 1000, NULL, &rx, last, &last_len, NULL);
    assert_int_equal(rx, 2);
    assert_int_equal(last_len, 6);
    assert_memory_equal(last, "pong22", 6);
    close(fd);
    close(peer_fd);
    free(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turn_allocates_with_long_term_credentials),
        cmocka_unit_test(test_turn_permission_channel_bind_and_channel_data),
        cmocka_unit_test(test_turn_send_and_data_indications_without_channels),
        cmocka_unit_test(test_turn_refreshes_allocation_permission_and_channel),
        cmocka_unit_test(test_turn_retries_on_stale_nonce),
        cmocka_unit_test(test_turn_wrong_password_fails_with_401),
        cmocka_unit_test(test_turn_unreachable_server_fails_after_retransmissions),
        cmocka_unit_test(test_turn_close_deallocates),
        cmocka_unit_test(test_turn_drops_forged_and_unexpected_responses),
        cmocka_unit_test(test_turn_tcp_framing),
        cmocka_unit_test(test_ice_symmetric_nats_fail_without_turn),
        cmocka_unit_test(test_ice_symmetric_nats_connect_via_turn_relay),
        cmocka_unit_test(test_ice_symmetric_nats_connect_via_turn_with_10_percent_loss),
        cmocka_unit_test(test_ice_symmetric_nats_connect_via_turn_over_tcp),
        cmocka_unit_test(test_ice_relay_only_policy_signals_and_uses_only_relay),
        cmocka_unit_test_setup_teardown(test_turn_against_real_coturn, coturn_setup, coturn_teardown),
        cmocka_unit_test_setup_teardown(test_turn_over_tcp_against_real_coturn, coturn_setup, coturn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
