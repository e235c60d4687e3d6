#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ice_sim.h"

/* ---- candidate lines ---------------------------------------------------------------- */

static void test_ice_candidate_parses_typical_lines(void **state) {
    (void)state;
    sluice_ice_candidate c;
    assert_int_equal(sluice_ice_candidate_parse("a=candidate:1 1 UDP 2114977791 127.0.0.1 53884 typ host", &c), SLUICE_OK);
    assert_string_equal(c.foundation, "1");
    assert_int_equal(c.component, 1);
    assert_false(c.tcp);
    assert_int_equal(c.priority, 2114977791u);
    assert_int_equal(c.addr.family, 4);
    assert_int_equal(c.addr.port, 53884);
    assert_int_equal(c.type, SLUICE_ICE_CAND_HOST);

    assert_int_equal(sluice_ice_candidate_parse("candidate:891985923 1 udp 2122260223 198.18.0.1 36838 typ host "
                                                "generation 0 ufrag p1wZ network-id 3 network-cost 50", &c),
                     SLUICE_OK);
    assert_string_equal(c.ufrag, "p1wZ");
    assert_int_equal(c.generation, 0);

    assert_int_equal(sluice_ice_candidate_parse("candidate:1876313031 1 tcp 1518222591 ::1 42007 typ host tcptype passive "
                                                "generation 0 network-id 2", &c),
                     SLUICE_OK);
    assert_true(c.tcp);
    assert_int_equal(c.addr.family, 6);

    assert_int_equal(sluice_ice_candidate_parse("candidate:2878742611 2 udp 2130706431 127.0.0.1 51900 typ host", &c), SLUICE_OK);
    assert_int_equal(c.component, 2);

    assert_int_equal(sluice_ice_candidate_parse("candidate:842163049 1 udp 1677729535 203.0.113.9 61234 typ srflx "
                                                "raddr 192.168.1.5 rport 61234 generation 0\r\n", &c),
                     SLUICE_OK);
    assert_int_equal(c.type, SLUICE_ICE_CAND_SRFLX);
    assert_true(c.has_related);
    assert_int_equal(c.related.port, 61234);

    assert_int_equal(sluice_ice_candidate_parse("candidate:3 1 udp 2113937151 6a0d3e0c-8a7b-4c1e-9d2f-1b2c3d4e5f60.local "
                                                "54321 typ host generation 0", &c),
                     SLUICE_OK);
    assert_int_equal(c.addr.family, 0);
    assert_string_equal(c.hostname, "6a0d3e0c-8a7b-4c1e-9d2f-1b2c3d4e5f60.local");
    assert_int_equal(c.addr.port, 54321);

    /* relay with raddr 0.0.0.0 (hidden) */
    assert_int_equal(sluice_ice_candidate_parse("candidate:5 1 udp 16777215 198.51.100.2 3478 typ relay raddr 0.0.0.0 rport 0", &c),
                     SLUICE_OK);
    assert_int_equal(c.type, SLUICE_ICE_CAND_RELAY);
}

static void test_ice_candidate_rejects_malformed_lines(void **state) {
    (void)state;
    const char *bad[] = {
        "",
        "candidate:",
        "candidate:1 1 udp 1 127.0.0.1 1 typ",
        "candidate:1 1 udp 1 127.0.0.1 1 typ bogus",
        "candidate:1 1 sctp 1 127.0.0.1 1 typ host",
        "candidate:1 0 udp 1 127.0.0.1 1 typ host",
        "candidate:1 1 udp 99999999999 127.0.0.1 1 typ host",
        "candidate:1 1 udp 1 127.0.0.1 65536 typ host",
        "candidate:1 1 udp 1 127.0.0.1 1 type host",
        "candidate:1 1 udp 1 bad!host 1 typ host",
        "candidate:1 1 udp 1 127.0.0.1 1 typ host generation",
        "candidate:123456789012345678901234567890123 1 udp 1 127.0.0.1 1 typ host",
        "candidate:a-b 1 udp 1 127.0.0.1 1 typ host",
    };
    sluice_ice_candidate c;
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(bad); i++)
        assert_int_equal(sluice_ice_candidate_parse(bad[i], &c), SLUICE_ERR_CANDIDATE);
    assert_int_equal(sluice_ice_candidate_parse(NULL, &c), SLUICE_ERR_INVALID_ARGUMENT);
}

static void check_line(const char *line, int *count) {
    sluice_ice_candidate c, d;
    assert_int_equal(sluice_ice_candidate_parse(line, &c), SLUICE_OK);
    char buf[600];
    int n = sluice_ice_candidate_format(&c, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(sluice_ice_candidate_parse(buf, &d), SLUICE_OK);
    assert_string_equal(c.foundation, d.foundation);
    assert_int_equal(c.priority, d.priority);
    assert_true(sluice_addr_equal(&c.addr, &d.addr));
    assert_int_equal(c.type, d.type);
    assert_int_equal(c.tcp, d.tcp);
    assert_int_equal(c.component, d.component);
    (*count)++;
}

static void test_ice_candidate_parses_every_real_peer_line(void **state) {
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sdp", SLUICE_SAMPLES_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int count = 0, trickled = 0;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        bool sdp = nl > 4 && strcmp(e->d_name + nl - 4, ".sdp") == 0;
        bool txt = nl > 15 && strcmp(e->d_name + nl - 15, "-candidates.txt") == 0;
        if (!sdp && !txt) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[2048];
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '#') continue;
            if (!strstr(line, "candidate:")) continue;
            check_line(line, &count);
            if (txt) trickled++;
        }
        fclose(f);
    }
    closedir(d);
    assert_true(count >= 30);
    assert_true(trickled >= 5);
}

static void test_ice_candidate_format_small_buffer(void **state) {
    (void)state;
    sluice_ice_candidate c;
    assert_int_equal(sluice_ice_candidate_parse("candidate:1 1 udp 2130706431 10.0.0.1 5000 typ srflx raddr 10.0.0.2 rport 5001", &c),
                     SLUICE_OK);
    char buf[256];
    int full = sluice_ice_candidate_format(&c, buf, sizeof buf);
    assert_true(full > 0);
    assert_string_equal(buf, "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ srflx raddr 10.0.0.2 rport 5001");
    for (int cap = 0; cap <= full; cap++) assert_int_equal(sluice_ice_candidate_format(&c, buf, (size_t)cap), SLUICE_ERR_NOBUFS);
}

static void test_ice_priority_formula(void **state) {
    (void)state;
    /* RFC 8445 §5.1.2.1: (2^24)*type + (2^8)*local + (256 - component) */
    assert_int_equal(sluice_ice_priority(SLUICE_ICE_CAND_HOST, 65535, 1), 2130706431u);
    assert_int_equal(sluice_ice_priority(SLUICE_ICE_CAND_SRFLX, 65535, 1), 1694498815u);
    assert_int_equal(sluice_ice_priority(SLUICE_ICE_CAND_PRFLX, 65535, 1), 1862270975u);
    assert_int_equal(sluice_ice_priority(SLUICE_ICE_CAND_RELAY, 65535, 1), 16777215u);
}

/* ---- two agents over the simulated network ----------------------------------------------- */

typedef struct scenario {
    uint64_t seed;
    double loss;
    bool a_controlling, b_controlling;
    bool a_aggressive, b_aggressive;
    bool trickle;
} scenario;

typedef struct world {
    sluice_simnet *sn;
    sim_agent a, b;
    sim_pair_ctx ctx;
    sluice_addr a_addr, b_addr;
} world;

static world *world_new(const scenario *sc, const sluice_addr *a_addr, const sluice_addr *b_addr) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->sn = sluice_simnet_new(sc->seed, 1000000);
    assert_non_null(w->sn);
    sluice_sim_path path;
    memset(&path, 0, sizeof path);
    path.loss = sc->loss;
    path.delay_us = 10000;
    path.jitter_us = 2000;
    sluice_simnet_set_default_path(w->sn, &path);
    w->a_addr = *a_addr;
    w->b_addr = *b_addr;
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = sc->a_controlling;
    s.aggressive_nomination = sc->a_aggressive;
    sim_agent_init(&w->a, w->sn, "A", sc->seed * 2 + 1, &s, a_addr);
    s.controlling = sc->b_controlling;
    s.aggressive_nomination = sc->b_aggressive;
    sim_agent_init(&w->b, w->sn, "B", sc->seed * 2 + 2, &s, b_addr);
    w->a.peer = &w->b;
    w->b.peer = &w->a;
    w->a.trickle = w->b.trickle = sc->trickle;
    w->a.forward_done = w->b.forward_done = true;
    w->ctx.a = &w->a;
    w->ctx.b = &w->b;
    return w;
}

static void world_free(world *w) {
    sluice_ice_free(w->a.ice);
    sluice_ice_free(w->b.ice);
    sluice_simnet_free(w->sn);
    free(w);
}

/* Offer/answer as the peer layer would do it: credentials, then candidates. */
static void world_signal(world *w, bool trickle) {
    sluice_time now = sluice_simnet_now(w->sn);
    sim_exchange_credentials(&w->a, &w->b);
    assert_int_equal(sluice_ice_gather(w->a.ice, now), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(w->b.ice, now), SLUICE_OK);
    if (trickle) return;
    /* Non-trickle: wait for gathering to finish on both sides, then hand everything over. */
    for (int i = 0; i < 1000 && !(w->a.gathering_done && w->b.gathering_done); i++) {
        sim_agent_events(&w->a);
        sim_agent_events(&w->b);
        if (w->a.gathering_done && w->b.gathering_done) break;
        sluice_simnet_step(w->sn, sluice_simnet_now(w->sn) + SIM_S(10));
    }
    sim_agent_events(&w->a);
    sim_agent_events(&w->b);
    assert_true(w->a.gathering_done && w->b.gathering_done);
    sim_agent_give_all(&w->a, &w->b);
    sim_agent_give_all(&w->b, &w->a);
}

static bool world_connect(world *w, sluice_time limit) {
    return sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + limit, sim_both_connected, &w->ctx);
}

static void run_scenario(const scenario *sc) {
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    world *w = world_new(sc, &a, &b);
    world_signal(w, sc->trickle);
    assert_true(world_connect(w, SIM_S(30)));
    /* Both agree on the path. */
    sluice_addr al, ar, bl, br;
    assert_true(sluice_ice_selected_pair(w->a.ice, &al, &ar));
    assert_true(sluice_ice_selected_pair(w->b.ice, &bl, &br));
    assert_true(sluice_addr_equal(&al, &br));
    assert_true(sluice_addr_equal(&ar, &bl));
    /* Exactly one side controls in the end. */
    assert_int_not_equal(sluice_ice_is_controlling(w->a.ice), sluice_ice_is_controlling(w->b.ice));
    if (sc->loss == 0) {
        sim_app_roundtrip(w->sn, &w->a, &w->b, &w->ctx);
        sim_app_roundtrip(w->sn, &w->b, &w->a, &w->ctx);
    }
    /* And it stays up (consent keeps working) for a while. */
    if (sc->loss < 0.2) {
        sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(40), sim_drain_only, &w->ctx);
        assert_true(sim_is_up(&w->a));
        assert_true(sim_is_up(&w->b));
        if (sc->loss == 0) {
            /* Both sides know all candidates and nothing is left to check. */
            assert_int_equal(w->a.state, SLUICE_ICE_COMPLETED);
            assert_int_equal(w->b.state, SLUICE_ICE_COMPLETED);
        }
    }
    world_free(w);
}

static void test_ice_connects_a_controlling_non_trickle(void **state) {
    (void)state;
    scenario sc = {.seed = 1, .a_controlling = true};
    run_scenario(&sc);
}

static void test_ice_connects_b_controlling_non_trickle(void **state) {
    (void)state;
    scenario sc = {.seed = 2, .b_controlling = true};
    run_scenario(&sc);
}

static void test_ice_connects_with_trickle(void **state) {
    (void)state;
    scenario sc = {.seed = 3, .a_controlling = true, .trickle = true};
    run_scenario(&sc);
    scenario sc2 = {.seed = 4, .b_controlling = true, .trickle = true};
    run_scenario(&sc2);
}

static void test_ice_connects_with_aggressive_nomination(void **state) {
    (void)state;
    scenario sc = {.seed = 5, .a_controlling = true, .a_aggressive = true};
    run_scenario(&sc);
    scenario sc2 = {.seed = 6, .b_controlling = true, .b_aggressive = true, .trickle = true};
    run_scenario(&sc2);
}

static void test_ice_connects_with_10_percent_loss(void **state) {
    (void)state;
    for (uint64_t seed = 10; seed < 14; seed++) {
        scenario sc = {.seed = seed, .loss = 0.10, .a_controlling = seed & 1, .b_controlling = !(seed & 1),
                       .trickle = seed & 2};
        run_scenario(&sc);
    }
}

static void test_ice_connects_with_30_percent_loss(void **state) {
    (void)state;
    for (uint64_t seed = 20; seed < 24; seed++) {
        scenario sc = {.seed = seed, .loss = 0.30, .a_controlling = seed & 1, .b_controlling = !(seed & 1),
                       .trickle = seed & 2, .a_aggressive = seed == 22};
        run_scenario(&sc);
    }
}

static void test_ice_role_conflict_both_controlling_resolves(void **state) {
    (void)state;
    for (uint64_t seed = 30; seed < 33; seed++) {
        sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
        scenario sc = {.seed = seed, .a_controlling = true, .b_controlling = true};
        world *w = world_new(&sc, &a, &b);
        world_signal(w, false);
        assert_true(world_connect(w, SIM_S(30)));
        assert_int_not_equal(sluice_ice_is_controlling(w->a.ice), sluice_ice_is_controlling(w->b.ice));
        assert_int_equal(w->a.role_changes + w->b.role_changes, 1);
        world_free(w);
    }
}

static void test_ice_role_conflict_both_controlled_resolves(void **state) {
    (void)state;
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 40, .trickle = true};
    world *w = world_new(&sc, &a, &b);
    world_signal(w, true);
    assert_true(world_connect(w, SIM_S(30)));
    assert_int_not_equal(sluice_ice_is_controlling(w->a.ice), sluice_ice_is_controlling(w->b.ice));
    world_free(w);
}

static void cut(world *w, bool down) {
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 10000;
    p.down = down;
    assert_int_equal(sluice_simnet_set_path(w->sn, &w->a_addr, &w->b_addr, &p), SLUICE_OK);
    assert_int_equal(sluice_simnet_set_path(w->sn, &w->b_addr, &w->a_addr, &p), SLUICE_OK);
}

static void test_ice_consent_loss_disconnects_then_fails(void **state) {
    (void)state;
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 50, .a_controlling = true};
    world *w = world_new(&sc, &a, &b);
    world_signal(w, false);
    assert_true(world_connect(w, SIM_S(30)));
    sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(12), sim_drain_only, &w->ctx);
    assert_true(sim_is_up(&w->a));
    sluice_time t_cut = sluice_simnet_now(w->sn);
    cut(w, true);
    assert_true(sluice_simnet_run(w->sn, t_cut + SIM_S(60), sim_either_failed, &w->ctx));
    sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(1), sim_drain_only, &w->ctx);
    /* RFC 7675: DISCONNECTED after disconnect_ms (5 s) without a response, FAILED after 30 s. */
    for (int i = 0; i < 2; i++) {
        sim_agent *s = i ? &w->b : &w->a;
        assert_int_equal(s->state, SLUICE_ICE_FAILED);
        assert_true(s->disconnected_at != SLUICE_TIME_NEVER);
        assert_true(s->disconnected_at <= t_cut + SIM_S(5) + SIM_MS(50));
        assert_true(s->disconnected_at >= t_cut + SIM_S(5) - SIM_S(7)); /* last response up to ~6 s before the cut */
        assert_true(s->failed_at <= t_cut + SIM_S(30) + SIM_MS(50));
        assert_true(s->failed_at - s->disconnected_at >= SIM_S(25) - SIM_MS(50));
    }
    uint8_t buf[64];
    sluice_addr l, r;
    assert_int_equal(sluice_ice_wrap_app_data(w->a.ice, (const uint8_t *)"x", 1, &l, &r, buf, sizeof buf),
                     SLUICE_ERR_INVALID_STATE);
    world_free(w);
}

static void test_ice_consent_recovers_after_short_outage(void **state) {
    (void)state;
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 51, .b_controlling = true};
    world *w = world_new(&sc, &a, &b);
    world_signal(w, false);
    assert_true(world_connect(w, SIM_S(30)));
    cut(w, true);
    sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + SIM_S(12), sim_drain_only, &w->ctx);
    assert_int_equal(w->a.state, SLUICE_ICE_DISCONNECTED);
    assert_int_equal(w->b.state, SLUICE_ICE_DISCONNECTED);
    cut(w, false);
    assert_true(world_connect(w, SIM_S(5)));
    sim_app_roundtrip(w->sn, &w->a, &w->b, &w->ctx);
    world_free(w);
}

static void test_ice_restart_reconnects_with_new_credentials(void **state) {
    (void)state;
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 60, .a_controlling = true};
    world *w = world_new(&sc, &a, &b);
    world_signal(w, false);
    assert_true(world_connect(w, SIM_S(30)));
    char old_ufrag[16];
    snprintf(old_ufrag, sizeof old_ufrag, "%s", sluice_ice_local_ufrag(w->a.ice));
    int sel_before = w->a.selected_events;
    sluice_time now = sluice_simnet_now(w->sn);
    /* JSEP restart: both sides get new credentials; candidates are signalled again. */
    w->a.ncands = w->b.ncands = 0;
    w->a.gathering_done = w->b.gathering_done = false;
    assert_int_equal(sluice_ice_restart(w->a.ice, now), SLUICE_OK);
    assert_int_equal(sluice_ice_restart(w->b.ice, now), SLUICE_OK);
    assert_string_not_equal(old_ufrag, sluice_ice_local_ufrag(w->a.ice));
    /* Data keeps flowing on the old pair meanwhile. */
    uint8_t buf[64];
    sluice_addr l, r;
    assert_true(sluice_ice_wrap_app_data(w->a.ice, (const uint8_t *)"\x17", 1, &l, &r, buf, sizeof buf) > 0);
    w->a.has_selected = w->b.has_selected = false;
    sim_agent_events(&w->a);
    sim_agent_events(&w->b);
    assert_true(w->a.ncands >= 1 && w->b.ncands >= 1);
    sim_exchange_credentials(&w->a, &w->b);
    sim_agent_give_all(&w->a, &w->b);
    sim_agent_give_all(&w->b, &w->a);
    assert_true(world_connect(w, SIM_S(30)));
    assert_true(w->a.selected_events > sel_before);
    sim_app_roundtrip(w->sn, &w->a, &w->b, &w->ctx);
    sim_app_roundtrip(w->sn, &w->b, &w->a, &w->ctx);
    world_free(w);
}


/* Only the remote side restarts (new ufrag/pwd, candidates again); ours stay. */
static void test_ice_remote_only_restart_reconnects(void **state) {
    (void)state;
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 61, .b_controlling = true};
    world *w = world_new(&sc, &a, &b);
    world_signal(w, false);
    assert_true(world_connect(w, SIM_S(30)));
    char a_ufrag[32];
    snprintf(a_ufrag, sizeof a_ufrag, "%s", sluice_ice_local_ufrag(w->a.ice));
    int sel_before = w->a.selected_events;
    w->b.ncands = 0;
    assert_int_equal(sluice_ice_restart(w->b.ice, sluice_simnet_now(w->sn)), SLUICE_OK);
    sim_agent_events(&w->b);
    assert_true(w->b.ncands >= 1);
    w->a.has_selected = w->b.has_selected = false;
    assert_int_equal(sluice_ice_set_remote_credentials(w->a.ice, sluice_ice_local_ufrag(w->b.ice),
                                                       sluice_ice_local_pwd(w->b.ice)), SLUICE_OK);
    /* The remote candidates are gone until signalled again, but DTLS from the pair in use
     * must still be taken (RFC 8445 §9: data stays on the old pair during a restart). */
    assert_true(sluice_ice_remote_is_known(w->a.ice, &b));
    sluice_addr stranger = sluice_sim_addr4(10, 0, 0, 9, 6000);
    assert_false(sluice_ice_remote_is_known(w->a.ice, &stranger));
    sim_agent_give_all(&w->b, &w->a);
    assert_true(world_connect(w, SIM_S(30)));
    assert_string_equal(a_ufrag, sluice_ice_local_ufrag(w->a.ice));
    assert_true(w->a.selected_events > sel_before);
    sim_app_roundtrip(w->sn, &w->a, &w->b, &w->ctx);
    world_free(w);
}

/* B sits behind a full-cone NAT; its host candidate is private and unreachable. The path
 * is found through peer-reflexive candidates (and, with a STUN server, srflx). */
static void run_nat(bool with_stun, bool b_controlling, bool symmetric, uint64_t seed) {
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(192, 168, 1, 2, 6000);
    sluice_addr pub = sluice_sim_addr4(203, 0, 113, 1, 0);
    sluice_addr stun = sluice_sim_addr4(198, 51, 100, 1, 3478);
    scenario sc = {.seed = seed, .a_controlling = !b_controlling, .b_controlling = b_controlling};
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->sn = sluice_simnet_new(seed, 1000000);
    sluice_sim_path path;
    memset(&path, 0, sizeof path);
    path.delay_us = 15000;
    sluice_simnet_set_default_path(w->sn, &path);
    assert_int_equal(sluice_simnet_add_nat(w->sn, &b, &pub, symmetric), SLUICE_OK);
    sim_stun_server *ss = calloc(1, sizeof *ss);
    int node = sluice_simnet_add_node(w->sn, &SIM_STUN_OPS, ss);
    assert_int_equal(sluice_simnet_bind(w->sn, node, &stun), SLUICE_OK);
    sluice_ice_url url;
    assert_int_equal(sluice_ice_url_parse("stun:198.51.100.1:3478", &url), SLUICE_OK);
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = sc.a_controlling;
    sim_agent_init(&w->a, w->sn, "A", seed * 2 + 1, &s, &a);
    s.controlling = sc.b_controlling;
    if (with_stun) {
        s.stun_servers = &url;
        s.stun_servers_count = 1;
    }
    sim_agent_init(&w->b, w->sn, "B", seed * 2 + 2, &s, &b);
    w->a.peer = &w->b;
    w->b.peer = &w->a;
    w->ctx.a = &w->a;
    w->ctx.b = &w->b;
    w->a_addr = a;
    w->b_addr = b;
    world_signal(w, false);
    if (with_stun) {
        assert_true(ss->requests >= 1);
        bool srflx = false;
        for (int i = 0; i < w->b.ncands; i++) srflx |= w->b.cands[i].type == SLUICE_ICE_CAND_SRFLX;
        assert_true(srflx);
    }
    assert_true(world_connect(w, SIM_S(30)));
    sluice_addr al, ar;
    assert_true(sluice_ice_selected_pair(w->a.ice, &al, &ar));
    assert_true(memcmp(ar.ip, pub.ip, 4) == 0); /* A talks to the NAT's public side */
    sim_app_roundtrip(w->sn, &w->a, &w->b, &w->ctx);
    sim_app_roundtrip(w->sn, &w->b, &w->a, &w->ctx);
    sluice_ice_free(w->a.ice);
    sluice_ice_free(w->b.ice);
    sluice_simnet_free(w->sn);
    free(ss);
    free(w);
}

static void test_ice_full_cone_nat_connects_via_prflx(void **state) {
    (void)state;
    run_nat(false, false, false, 70);
    run_nat(false, true, false, 71);
}

/* Behind a symmetric NAT the srflx candidate (mapping towards the STUN server) is useless to
 * the peer, but B's own checks open a mapping towards A, which A learns as peer-reflexive. */
static void test_ice_symmetric_nat_gathers_srflx_and_connects_via_prflx(void **state) {
    (void)state;
    run_nat(true, false, true, 74);
    run_nat(true, true, true, 75);
}

static void test_ice_full_cone_nat_connects_with_srflx(void **state) {
    (void)state;
    run_nat(true, false, false, 72);
    run_nat(true, true, false, 73);
}


/* Dual stack: pairs form only within an address family; both families work. */
static void test_ice_dual_stack_pairs_by_family(void **state) {
    (void)state;
    sluice_addr a4 = sluice_sim_addr4(10, 0, 0, 1, 5000), b4 = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 95, .a_controlling = true};
    world *w = world_new(&sc, &a4, &b4);
    sluice_addr a6, b6;
    sluice_addr_parse(&a6, "2001:db8::1", 5000);
    sluice_addr_parse(&b6, "2001:db8::2", 6000);
    /* The v6 addresses join the same nodes (node indexes 0 and 1). */
    assert_int_equal(sluice_simnet_bind(w->sn, 0, &a6), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(w->sn, 1, &b6), SLUICE_OK);
    assert_int_equal(sluice_ice_add_local_address(w->a.ice, &a6), SLUICE_OK);
    assert_int_equal(sluice_ice_add_local_address(w->b.ice, &b6), SLUICE_OK);
    /* Break IPv4 between them: only IPv6 can work. */
    cut(w, true);
    world_signal(w, false);
    assert_int_equal(w->a.ncands, 2);
    assert_true(world_connect(w, SIM_S(30)));
    sluice_addr l, r;
    assert_true(sluice_ice_selected_pair(w->a.ice, &l, &r));
    assert_int_equal(l.family, 6);
    assert_true(sluice_addr_equal(&r, &b6));
    world_free(w);
}


/* A remote host candidate hidden behind an mDNS name connects once the name is resolved
 * (the lead's I/O layer does the query with mdns.h). */
static void test_ice_mdns_candidate_waits_for_resolution(void **state) {
    (void)state;
    sluice_addr a = sluice_sim_addr4(10, 0, 0, 1, 5000), b = sluice_sim_addr4(10, 0, 0, 2, 6000);
    scenario sc = {.seed = 96, .a_controlling = true};
    world *w = world_new(&sc, &a, &b);
    sim_exchange_credentials(&w->a, &w->b);
    sluice_time now = sluice_simnet_now(w->sn);
    assert_int_equal(sluice_ice_gather(w->a.ice, now), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(w->b.ice, now), SLUICE_OK);
    sim_agent_events(&w->a);
    sim_agent_events(&w->b);
    /* A learns B only as "<uuid>.local"; B learns A's address. A must not check yet. */
    const char *name = "0f6e7a2b-1c3d-4e5f-8a9b-0c1d2e3f4a5b.local";
    char line[256];
    snprintf(line, sizeof line, "candidate:1 1 udp 2130706431 %s 6000 typ host", name);
    sluice_ice_candidate c;
    assert_int_equal(sluice_ice_candidate_parse(line, &c), SLUICE_OK);
    assert_int_equal(sluice_ice_add_remote_candidate(w->a.ice, now, &c), SLUICE_OK);
    assert_int_equal(sluice_ice_add_remote_candidate(w->a.ice, now, &c), SLUICE_OK); /* duplicate */
    const char *names[4];
    assert_int_equal(sluice_ice_unresolved_hostnames(w->a.ice, names, 4), 1);
    assert_string_equal(names[0], name);
    sluice_simnet_run(w->sn, now + SIM_S(1), sim_drain_only, &w->ctx);
    assert_int_equal(sluice_simnet_counters(w->sn, &a, &b).sent, 0);
    /* Resolved (e.g. from an mDNS answer): checks start and the pair comes up. */
    assert_int_equal(sluice_ice_resolve_hostname(w->a.ice, sluice_simnet_now(w->sn), "0F6E7A2B-1C3D-4E5F-8A9B-0C1D2E3F4A5B.local", &b), 1);
    assert_int_equal(sluice_ice_unresolved_hostnames(w->a.ice, names, 4), 0);
    sim_agent_give_all(&w->a, &w->b);
    assert_true(world_connect(w, SIM_S(30)));
    sim_app_roundtrip(w->sn, &w->a, &w->b, &w->ctx);
    world_free(w);
}

/* ---- an ICE-lite peer: answers checks, never sends its own ---------------------------- */

typedef struct lite_peer {
    sluice_addr addr;
    char ufrag[8], pwd[32];
    sim_queue out;
    int requests;
    bool nominated;
    int answer_limit; /* 0 = answer all */
} lite_peer;

static void lite_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                         const uint8_t *data, size_t len) {
    (void)now;
    lite_peer *p = obj;
    sluice_stun_msg m;
    if (sluice_stun_parse(data, len, &m) != SLUICE_OK || m.cls != SLUICE_STUN_REQUEST) return;
    assert_int_equal(sluice_stun_check_integrity(&m, (const uint8_t *)p->pwd, strlen(p->pwd)), SLUICE_OK);
    assert_true(m.has_controlling);
    p->requests++;
    if (p->answer_limit && p->requests > p->answer_limit) return;
    if (m.use_candidate) p->nominated = true;
    uint8_t buf[200];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_SUCCESS, m.tid);
    sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS, from);
    sluice_stun_add_integrity(&w, (const uint8_t *)p->pwd, strlen(p->pwd));
    sluice_stun_add_fingerprint(&w);
    simq_push(&p->out, to, from, buf, (size_t)sluice_stun_build_end(&w));
}

static size_t lite_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    (void)now;
    return simq_pop(&((lite_peer *)obj)->out, from, to, buf, cap);
}

static const sluice_sim_node_ops LITE_OPS = {lite_deliver, lite_poll, NULL, NULL};

static bool a_up(void *user) {
    sim_agent *a = user;
    sim_agent_events(a);
    return sim_is_up(a);
}

static void test_ice_remote_lite_peer_is_nominated_by_full_agent(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(80, 1000000);
    sluice_sim_path path;
    memset(&path, 0, sizeof path);
    path.delay_us = 5000;
    sluice_simnet_set_default_path(sn, &path);
    lite_peer *lp = calloc(1, sizeof *lp);
    lp->addr = sluice_sim_addr4(10, 0, 0, 9, 443);
    snprintf(lp->ufrag, sizeof lp->ufrag, "lite");
    snprintf(lp->pwd, sizeof lp->pwd, "litepasswordlitepassword");
    int node = sluice_simnet_add_node(sn, &LITE_OPS, lp);
    assert_int_equal(sluice_simnet_bind(sn, node, &lp->addr), SLUICE_OK);
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = false; /* answerer facing a lite offerer: must become controlling */
    sim_agent a;
    sluice_addr aa = sluice_sim_addr4(10, 0, 0, 1, 5000);
    sim_agent_init(&a, sn, "A", 81, &s, &aa);
    sluice_ice_set_remote_lite(a.ice, true);
    assert_true(sluice_ice_is_controlling(a.ice));
    assert_int_equal(sluice_ice_set_remote_credentials(a.ice, lp->ufrag, lp->pwd), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(a.ice, sluice_simnet_now(sn)), SLUICE_OK);
    sluice_ice_candidate c;
    assert_int_equal(sluice_ice_candidate_parse("candidate:1 1 udp 2130706431 10.0.0.9 443 typ host", &c), SLUICE_OK);
    assert_int_equal(sluice_ice_add_remote_candidate(a.ice, sluice_simnet_now(sn), &c), SLUICE_OK);
    sluice_ice_remote_gathering_done(a.ice);
    assert_true(sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_S(10), a_up, &a));
    assert_true(lp->nominated);
    sluice_ice_free(a.ice);
    sluice_simnet_free(sn);
    free(lp);
}


/* ---- real peers' checks: every Binding request of the samples, fed to an agent holding
 * the receiver's credentials, draws a signed success with the sender's address and a
 * triggered check back (peer-reflexive remote, as with Chromium on loopback). */

static void parse_hostport(const char *s, sluice_addr *out) {
    char ip[64];
    const char *colon = strrchr(s, ':');
    assert_non_null(colon);
    snprintf(ip, sizeof ip, "%.*s", (int)(colon - s), s);
    assert_int_equal(sluice_addr_parse(out, ip, (uint16_t)atoi(colon + 1)), SLUICE_OK);
}

static void replay_request(const char *run_line, const char *cred_line, const uint8_t *pkt, size_t n, int *count) {
    sluice_stun_msg req;
    assert_int_equal(sluice_stun_parse(pkt, n, &req), SLUICE_OK);
    if (req.cls != SLUICE_STUN_REQUEST) return;
    char user[128], recv_ufrag[128], send_ufrag[128], key_pwd[64];
    sluice_stun_str_copy(req.username, user, sizeof user);
    char *colon = strchr(user, ':');
    assert_non_null(colon);
    *colon = 0;
    snprintf(recv_ufrag, sizeof recv_ufrag, "%s", user);
    snprintf(send_ufrag, sizeof send_ufrag, "%s", colon + 1);
    const char *q = strchr(strstr(cred_line, "MESSAGE-INTEGRITY key = "), '"');
    snprintf(key_pwd, sizeof key_pwd, "%.*s", (int)(strchr(q + 1, '"') - q - 1), q + 1);
    /* "sender a:b -> receiver c:d" in the run line */
    const char *semi = strchr(run_line, ';'); /* "run x -> y (...); sender ip:port -> receiver ip:port; ..." */
    assert_non_null(semi);
    const char *arrow = strstr(semi, " -> ");
    assert_non_null(arrow);
    const char *sb = arrow;
    while (sb > semi && sb[-1] != ' ') sb--;
    char from_s[64], to_s[64];
    snprintf(from_s, sizeof from_s, "%.*s", (int)(arrow - sb), sb);
    const char *tb = strchr(arrow + 4, ' ') + 1;
    snprintf(to_s, sizeof to_s, "%.*s", (int)strcspn(tb, ";"), tb);
    sluice_addr from, to;
    parse_hostport(from_s, &from);
    parse_hostport(to_s, &to);

    sluice_prng p;
    sluice_prng_seed(&p, 100 + (uint64_t)*count);
    sluice_rng rng = {sluice_prng_random_fn, &p};
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = req.has_controlled; /* no role conflict */
    sluice_ice_agent *a;
    assert_int_equal(sluice_ice_new(&a, &s, NULL, &rng, NULL), SLUICE_OK);
    assert_int_equal(sluice_ice_set_local_credentials(a, recv_ufrag, key_pwd), SLUICE_OK);
    assert_int_equal(sluice_ice_set_remote_credentials(a, send_ufrag, "0123456789012345678901"), SLUICE_OK);
    assert_int_equal(sluice_ice_add_local_address(a, &to), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(a, 0), SLUICE_OK);
    assert_int_equal(sluice_ice_handle_datagram(a, 1000, &to, &from, pkt, n, NULL, NULL, NULL), SLUICE_OK);
    uint8_t out[600];
    sluice_addr ol, orr;
    int m = sluice_ice_poll_transmit(a, 1000, &ol, &orr, out, sizeof out);
    assert_true(m > 0);
    assert_true(sluice_addr_equal(&ol, &to) && sluice_addr_equal(&orr, &from));
    sluice_stun_msg resp;
    assert_int_equal(sluice_stun_parse(out, (size_t)m, &resp), SLUICE_OK);
    assert_int_equal(resp.cls, SLUICE_STUN_SUCCESS);
    assert_memory_equal(resp.tid, req.tid, 12);
    assert_true(resp.has_xor_mapped && sluice_addr_equal(&resp.xor_mapped, &from));
    assert_int_equal(sluice_stun_check_integrity(&resp, (const uint8_t *)key_pwd, strlen(key_pwd)), SLUICE_OK);
    assert_true(resp.fingerprint_off > 0);
    /* The triggered check towards the (peer-reflexive) sender. */
    m = sluice_ice_poll_transmit(a, 1000, &ol, &orr, out, sizeof out);
    assert_true(m > 0);
    assert_true(sluice_addr_equal(&orr, &from));
    sluice_stun_msg chk;
    assert_int_equal(sluice_stun_parse(out, (size_t)m, &chk), SLUICE_OK);
    assert_int_equal(chk.cls, SLUICE_STUN_REQUEST);
    char want_user[300];
    snprintf(want_user, sizeof want_user, "%s:%s", send_ufrag, recv_ufrag);
    assert_true(sluice_stun_str_eq(chk.username, want_user));
    sluice_ice_free(a);
    (*count)++;
}

static void test_ice_answers_real_peer_checks_from_samples(void **state) {
    (void)state;
    const char *peers[] = {"aiortc", "chromium", "ndc", "pion", "werift", "wrtc"};
    int count = 0;
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(peers); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/stun/%s.hex", SLUICE_SAMPLES_DIR, peers[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[4096], run[4096] = "", cred[4096] = "";
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "# run", 5) == 0) { snprintf(run, sizeof run, "%s", line); continue; }
            if (strstr(line, "ufrags:")) { snprintf(cred, sizeof cred, "%s", line); continue; }
            if (line[0] == '#' || line[0] == '\n') continue;
            uint8_t pkt[1500];
            size_t n = 0;
            for (const char *h = line; h[0] && h[1] && h[0] != '\n'; h += 2) {
                unsigned v;
                sscanf(h, "%2x", &v);
                pkt[n++] = (uint8_t)v;
            }
            replay_request(run, cred, pkt, n, &count);
        }
        fclose(f);
    }
    assert_true(count >= 12);
}


/* A valid pair whose nomination then fails must not leave a deadline in the past (an event
 * loop would spin): the simulated clock keeps advancing with few steps. */
static void test_ice_failed_nomination_leaves_no_stale_deadline(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(82, 1000000);
    sluice_sim_path path;
    memset(&path, 0, sizeof path);
    path.delay_us = 5000;
    sluice_simnet_set_default_path(sn, &path);
    lite_peer *lp = calloc(1, sizeof *lp);
    lp->addr = sluice_sim_addr4(10, 0, 0, 9, 443);
    lp->answer_limit = 1;
    snprintf(lp->ufrag, sizeof lp->ufrag, "lite");
    snprintf(lp->pwd, sizeof lp->pwd, "litepasswordlitepassword");
    int node = sluice_simnet_add_node(sn, &LITE_OPS, lp);
    assert_int_equal(sluice_simnet_bind(sn, node, &lp->addr), SLUICE_OK);
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = true;
    sim_agent a;
    sluice_addr aa = sluice_sim_addr4(10, 0, 0, 1, 5000);
    sim_agent_init(&a, sn, "A", 83, &s, &aa);
    sluice_ice_set_remote_lite(a.ice, true);
    assert_int_equal(sluice_ice_set_remote_credentials(a.ice, lp->ufrag, lp->pwd), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(a.ice, sluice_simnet_now(sn)), SLUICE_OK);
    sluice_ice_candidate c;
    assert_int_equal(sluice_ice_candidate_parse("candidate:1 1 udp 2130706431 10.0.0.9 443 typ host", &c), SLUICE_OK);
    assert_int_equal(sluice_ice_add_remote_candidate(a.ice, sluice_simnet_now(sn), &c), SLUICE_OK);
    /* No end-of-candidates: the agent stays CHECKING after the nomination fails. */
    sluice_time end = sluice_simnet_now(sn) + SIM_S(25);
    int steps = 0;
    while (sluice_simnet_now(sn) < end && steps < 5000) {
        sluice_simnet_step(sn, end);
        sim_agent_events(&a);
        steps++;
    }
    assert_true(steps < 5000);
    assert_true(sluice_simnet_now(sn) >= end);
    assert_true(lp->requests >= 2); /* the nomination check went out */
    assert_false(a.has_selected);
    assert_true(sluice_ice_next_deadline(a.ice) > sluice_simnet_now(sn));
    sluice_ice_free(a.ice);
    sluice_simnet_free(sn);
    free(lp);
}

/* ---- robustness ------------------------------------------------------------------------ */

static void test_ice_drops_garbage_and_answers_bad_credentials_with_401(void **state) {
    (void)state;
    sluice_prng p;
    sluice_prng_seed(&p, 90);
    sluice_rng rng = {sluice_prng_random_fn, &p};
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    sluice_ice_agent *a;
    assert_int_equal(sluice_ice_new(&a, &s, NULL, &rng, NULL), SLUICE_OK);
    sluice_addr l = sluice_sim_addr4(10, 0, 0, 1, 5000), r = sluice_sim_addr4(10, 0, 0, 2, 6000);
    assert_int_equal(sluice_ice_add_local_address(a, &l), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(a, 0), SLUICE_OK);
    assert_int_equal(sluice_ice_set_remote_credentials(a, "rem", "remotepasswordremotepass"), SLUICE_OK);
    /* Random bytes with a STUN-looking first byte. */
    uint8_t buf[600];
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(sluice_prng_next(&p) % 200);
        sluice_prng_random_fn(&p, buf, n);
        if (n) buf[0] &= 3;
        if (n >= 8) sluice_store_be32(buf + 4, SLUICE_STUN_MAGIC);
        if (n >= 4) sluice_store_be16(buf + 2, (uint16_t)((n - 20) & ~3u));
        const uint8_t *app;
        size_t app_len;
        sluice_addr from;
        assert_int_equal(sluice_ice_handle_datagram(a, 1000, &l, &r, buf, n, &app, &app_len, &from), SLUICE_OK);
    }
    uint8_t out[600];
    sluice_addr ol, orr;
    while (sluice_ice_poll_transmit(a, 2000, &ol, &orr, out, sizeof out) > 0) {}
    /* A request signed with the wrong password gets a 401. */
    uint8_t tid[12] = {1};
    char user[64];
    snprintf(user, sizeof user, "%s:rem", sluice_ice_local_ufrag(a));
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, tid);
    sluice_stun_add_str(&w, SLUICE_STUN_ATTR_USERNAME, user);
    sluice_stun_add_u64(&w, SLUICE_STUN_ATTR_ICE_CONTROLLING, 1);
    sluice_stun_add_integrity(&w, (const uint8_t *)"wrong", 5);
    sluice_stun_add_fingerprint(&w);
    int n = sluice_stun_build_end(&w);
    assert_int_equal(sluice_ice_handle_datagram(a, 3000, &l, &r, buf, (size_t)n, NULL, NULL, NULL), SLUICE_OK);
    int m = sluice_ice_poll_transmit(a, 3000, &ol, &orr, out, sizeof out);
    assert_true(m > 0);
    sluice_stun_msg resp;
    assert_int_equal(sluice_stun_parse(out, (size_t)m, &resp), SLUICE_OK);
    assert_int_equal(resp.cls, SLUICE_STUN_ERROR);
    assert_int_equal(resp.error_code, 401);
    assert_true(sluice_addr_equal(&orr, &r));
    /* An unknown comprehension-required attribute draws a signed 420 listing it. */
    w = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, tid);
    sluice_stun_add_str(&w, SLUICE_STUN_ATTR_USERNAME, user);
    sluice_stun_add(&w, 0x7ABC, "zz", 2);
    sluice_stun_add_integrity(&w, (const uint8_t *)sluice_ice_local_pwd(a), strlen(sluice_ice_local_pwd(a)));
    sluice_stun_add_fingerprint(&w);
    n = sluice_stun_build_end(&w);
    assert_int_equal(sluice_ice_handle_datagram(a, 3000, &l, &r, buf, (size_t)n, NULL, NULL, NULL), SLUICE_OK);
    m = sluice_ice_poll_transmit(a, 3000, &ol, &orr, out, sizeof out);
    assert_int_equal(sluice_stun_parse(out, (size_t)m, &resp), SLUICE_OK);
    assert_int_equal(resp.error_code, 420);
    assert_int_equal(resp.unknown_listed_count, 1);
    assert_int_equal(resp.unknown_listed[0], 0x7ABC);
    assert_int_equal(sluice_stun_check_integrity(&resp, (const uint8_t *)sluice_ice_local_pwd(a),
                                                 strlen(sluice_ice_local_pwd(a))), SLUICE_OK);
    assert_int_equal(sluice_ice_get_state(a), SLUICE_ICE_NEW);
    sluice_ice_free(a);
}

static void test_ice_bounds_remote_candidates(void **state) {
    (void)state;
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.max_remote_candidates = 4;
    s.max_pairs = 3;
    sluice_prng p;
    sluice_prng_seed(&p, 91);
    sluice_rng rng = {sluice_prng_random_fn, &p};
    sluice_ice_agent *a;
    assert_int_equal(sluice_ice_new(&a, &s, NULL, &rng, NULL), SLUICE_OK);
    sluice_addr l = sluice_sim_addr4(10, 0, 0, 1, 5000);
    assert_int_equal(sluice_ice_add_local_address(a, &l), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(a, 0), SLUICE_OK);
    for (int i = 0; i < 6; i++) {
        char line[128];
        sluice_ice_candidate c;
        snprintf(line, sizeof line, "candidate:%d 1 udp 2130706431 10.0.1.%d 7000 typ host", i, i + 1);
        assert_int_equal(sluice_ice_candidate_parse(line, &c), SLUICE_OK);
        int rc = sluice_ice_add_remote_candidate(a, 0, &c);
        assert_int_equal(rc, i < 4 ? SLUICE_OK : SLUICE_ERR_EXHAUSTED);
    }
    /* Component 2 and TCP are accepted and ignored. */
    sluice_ice_candidate c;
    assert_int_equal(sluice_ice_candidate_parse("candidate:9 2 udp 1 10.0.2.1 1 typ host", &c), SLUICE_OK);
    assert_int_equal(sluice_ice_add_remote_candidate(a, 0, &c), SLUICE_OK);
    sluice_ice_free(a);
}

/* Allocation failure at every point of sluice_ice_new: NOMEM, nothing leaked (ASan). */
typedef struct fail_alloc {
    int left;
} fail_alloc;

static void *fa_malloc(size_t n, void *user) {
    fail_alloc *f = user;
    if (f->left-- <= 0) return NULL;
    return malloc(n);
}
static void *fa_realloc(void *p, size_t n, void *user) {
    fail_alloc *f = user;
    if (f->left-- <= 0) return NULL;
    return realloc(p, n);
}
static void fa_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void test_ice_new_handles_allocation_failure(void **state) {
    (void)state;
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    sluice_prng p;
    sluice_prng_seed(&p, 92);
    sluice_rng rng = {sluice_prng_random_fn, &p};
    for (int k = 0; k < 10; k++) {
        fail_alloc f = {k};
        sluice_allocator al = {fa_malloc, fa_realloc, fa_free, &f};
        sluice_ice_agent *a = NULL;
        int rc = sluice_ice_new(&a, &s, &al, &rng, NULL);
        if (rc == SLUICE_OK) {
            sluice_ice_free(a);
            assert_true(k >= 1); /* the agent; its tables grow on demand */
            break;
        }
        assert_int_equal(rc, SLUICE_ERR_NOMEM);
        assert_null(a);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ice_candidate_parses_typical_lines),
        cmocka_unit_test(test_ice_candidate_rejects_malformed_lines),
        cmocka_unit_test(test_ice_candidate_parses_every_real_peer_line),
        cmocka_unit_test(test_ice_candidate_format_small_buffer),
        cmocka_unit_test(test_ice_priority_formula),
        cmocka_unit_test(test_ice_connects_a_controlling_non_trickle),
        cmocka_unit_test(test_ice_connects_b_controlling_non_trickle),
        cmocka_unit_test(test_ice_connects_with_trickle),
        cmocka_unit_test(test_ice_connects_with_aggressive_nomination),
        cmocka_unit_test(test_ice_connects_with_10_percent_loss),
        cmocka_unit_test(test_ice_connects_with_30_percent_loss),
        cmocka_unit_test(test_ice_role_conflict_both_controlling_resolves),
        cmocka_unit_test(test_ice_role_conflict_both_controlled_resolves),
        cmocka_unit_test(test_ice_consent_loss_disconnects_then_fails),
        cmocka_unit_test(test_ice_consent_recovers_after_short_outage),
        cmocka_unit_test(test_ice_restart_reconnects_with_new_credentials),
        cmocka_unit_test(test_ice_remote_only_restart_reconnects),
        cmocka_unit_test(test_ice_dual_stack_pairs_by_family),
        cmocka_unit_test(test_ice_mdns_candidate_waits_for_resolution),
        cmocka_unit_test(test_ice_full_cone_nat_connects_via_prflx),
        cmocka_unit_test(test_ice_full_cone_nat_connects_with_srflx),
        cmocka_unit_test(test_ice_symmetric_nat_gathers_srflx_and_connects_via_prflx),
        cmocka_unit_test(test_ice_remote_lite_peer_is_nominated_by_full_agent),
        cmocka_unit_test(test_ice_failed_nomination_leaves_no_stale_deadline),
        cmocka_unit_test(test_ice_answers_real_peer_checks_from_samples),
        cmocka_unit_test(test_ice_drops_garbage_and_answers_bad_credentials_with_401),
        cmocka_unit_test(test_ice_bounds_remote_candidates),
        cmocka_unit_test(test_ice_new_handles_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
