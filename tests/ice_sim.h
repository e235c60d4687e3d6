/* Test helpers shared by test_ice.c and test_turn.c: ICE agents as simnet nodes, a tiny
 * STUN server and a tiny TURN server (RFC 8656 subset: long-term auth, Allocate, Refresh,
 * CreatePermission, ChannelBind, Send/Data indications, ChannelData). Header-only
 * (static inline) so each test executable takes what it uses. */
#ifndef SLUICE_TESTS_ICE_SIM_H
#define SLUICE_TESTS_ICE_SIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ice.h"
#include "simnet.h"
#include "stun.h"
#include "turn.h"
#include "util.h"

#define SIM_MS(x) ((sluice_time)(x) * 1000u)
#define SIM_S(x) ((sluice_time)(x) * 1000000u)

/* ---- a queue of datagrams for the server nodes ---------------------------------- */

typedef struct sim_dgram {
    sluice_addr from, to;
    size_t len;
    uint8_t buf[1500];
} sim_dgram;

typedef struct sim_queue {
    sim_dgram q[64];
    size_t head, count;
} sim_queue;

static inline void simq_push(sim_queue *q, const sluice_addr *from, const sluice_addr *to, const uint8_t *d,
                             size_t n) {
    if (q->count == 64 || n > 1500) return;
    sim_dgram *g = &q->q[(q->head + q->count) % 64];
    g->from = *from;
    g->to = *to;
    g->len = n;
    memcpy(g->buf, d, n);
    q->count++;
}

static inline size_t simq_pop(sim_queue *q, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    if (!q->count) return 0;
    sim_dgram *g = &q->q[q->head];
    q->head = (q->head + 1) % 64;
    q->count--;
    if (g->len > cap) return 0;
    *from = g->from;
    *to = g->to;
    memcpy(buf, g->buf, g->len);
    return g->len;
}

/* ---- an ICE agent as a node ----------------------------------------------------------- */

typedef struct sim_agent {
    const char *name;
    sluice_ice_agent *ice;
    sluice_prng prng;
    sluice_rng rng;
    sluice_logger log;
    sluice_addr addr;
    struct sim_agent *peer;
    bool trickle;          /* forward candidates as they come */
    bool forward_done;     /* forward end-of-candidates */
    sluice_ice_state state;
    bool has_selected;
    int selected_events, role_changes, candidates;
    sluice_time disconnected_at, failed_at, connected_at;
    sluice_ice_candidate cands[16];
    int ncands;
    bool gathering_done;
    /* application data received (non-STUN) */
    int app_rx;
    uint8_t last_app[64];
    size_t last_app_len;
    sluice_simnet *sn;
} sim_agent;

static inline void sim_agent_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                                     const uint8_t *data, size_t len) {
    sim_agent *s = obj;
    if (len && (data[0] <= 3 || (data[0] >= 64 && data[0] <= 79))) {
        const uint8_t *app = NULL;
        size_t app_len = 0;
        sluice_addr app_from;
        assert_int_equal(sluice_ice_handle_datagram(s->ice, now, to, from, data, len, &app, &app_len, &app_from),
                         SLUICE_OK);
        if (app_len) {
            s->app_rx++;
            s->last_app_len = SLUICE_MIN(app_len, sizeof s->last_app);
            memcpy(s->last_app, app, s->last_app_len);
        }
    } else if (len) {
        s->app_rx++;
        s->last_app_len = SLUICE_MIN(len, sizeof s->last_app);
        memcpy(s->last_app, data, s->last_app_len);
    }
}

static inline size_t sim_agent_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf,
                                    size_t cap) {
    sim_agent *s = obj;
    int n = sluice_ice_poll_transmit(s->ice, now, from, to, buf, cap);
    return n > 0 ? (size_t)n : 0;
}

static inline sluice_time sim_agent_deadline(void *obj) { return sluice_ice_next_deadline(((sim_agent *)obj)->ice); }
static inline void sim_agent_timeout(void *obj, sluice_time now) { sluice_ice_handle_timeout(((sim_agent *)obj)->ice, now); }

static const sluice_sim_node_ops SIM_AGENT_OPS = {sim_agent_deliver, sim_agent_poll, sim_agent_deadline,
                                                  sim_agent_timeout};

static inline void sim_agent_init(sim_agent *s, sluice_simnet *sn, const char *name, uint64_t seed,
                                  const sluice_ice_settings *set, const sluice_addr *addr) {
    memset(s, 0, sizeof *s);
    s->name = name;
    s->sn = sn;
    sluice_prng_seed(&s->prng, seed);
    s->rng.fn = sluice_prng_random_fn;
    s->rng.user = &s->prng;
    s->log.fn = getenv("SLUICE_TEST_LOG") ? sluice_log_stderr : NULL;
    s->log.level = SLUICE_LOG_DEBUG;
    s->addr = *addr;
    s->disconnected_at = s->failed_at = s->connected_at = SLUICE_TIME_NEVER;
    assert_int_equal(sluice_ice_new(&s->ice, set, NULL, &s->rng, &s->log), SLUICE_OK);
    int node = sluice_simnet_add_node(sn, &SIM_AGENT_OPS, s);
    assert_true(node >= 0);
    assert_int_equal(sluice_simnet_bind(sn, node, addr), SLUICE_OK);
    assert_int_equal(sluice_ice_add_local_address(s->ice, addr), SLUICE_OK);
}

/* Drain events: remember state, forward candidates to the peer when trickling. */
static inline void sim_agent_events(sim_agent *s) {
    sluice_ice_event ev;
    sluice_time now = sluice_simnet_now(s->sn);
    while (sluice_ice_poll_event(s->ice, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_ICE_EVENT_LOCAL_CANDIDATE: {
            s->candidates++;
            if (s->ncands < 16) s->cands[s->ncands++] = ev.candidate;
            /* Round-trip through the text form, as signalling would. */
            char line[512];
            sluice_ice_candidate c;
            assert_true(sluice_ice_candidate_format(&ev.candidate, line, sizeof line) > 0);
            assert_int_equal(sluice_ice_candidate_parse(line, &c), SLUICE_OK);
            if (s->trickle && s->peer) assert_int_equal(sluice_ice_add_remote_candidate(s->peer->ice, now, &c), SLUICE_OK);
            break;
        }
        case SLUICE_ICE_EVENT_GATHERING_DONE:
            s->gathering_done = true;
            if (s->trickle && s->forward_done && s->peer) sluice_ice_remote_gathering_done(s->peer->ice);
            break;
        case SLUICE_ICE_EVENT_STATE:
            s->state = ev.state;
            if (ev.state == SLUICE_ICE_DISCONNECTED && s->disconnected_at == SLUICE_TIME_NEVER) s->disconnected_at = now;
            if (ev.state == SLUICE_ICE_FAILED && s->failed_at == SLUICE_TIME_NEVER) s->failed_at = now;
            if (ev.state == SLUICE_ICE_CONNECTED && s->connected_at == SLUICE_TIME_NEVER) s->connected_at = now;
            break;
        case SLUICE_ICE_EVENT_SELECTED_PAIR:
            s->has_selected = true;
            s->selected_events++;
            break;
        case SLUICE_ICE_EVENT_ROLE_CHANGED:
            s->role_changes++;
            break;
        }
    }
}

/* Non-trickle: hand all gathered candidates over at once, then end-of-candidates. */
static inline void sim_agent_give_all(sim_agent *from, sim_agent *to) {
    sluice_time now = sluice_simnet_now(from->sn);
    for (int i = 0; i < from->ncands; i++) {
        char line[512];
        sluice_ice_candidate c;
        assert_true(sluice_ice_candidate_format(&from->cands[i], line, sizeof line) > 0);
        assert_int_equal(sluice_ice_candidate_parse(line, &c), SLUICE_OK);
        assert_int_equal(sluice_ice_add_remote_candidate(to->ice, now, &c), SLUICE_OK);
    }
    sluice_ice_remote_gathering_done(to->ice);
}

static inline void sim_exchange_credentials(sim_agent *a, sim_agent *b) {
    assert_int_equal(sluice_ice_set_remote_credentials(a->ice, sluice_ice_local_ufrag(b->ice), sluice_ice_local_pwd(b->ice)),
                     SLUICE_OK);
    assert_int_equal(sluice_ice_set_remote_credentials(b->ice, sluice_ice_local_ufrag(a->ice), sluice_ice_local_pwd(a->ice)),
                     SLUICE_OK);
}

typedef struct sim_pair_ctx {
    sim_agent *a, *b;
} sim_pair_ctx;

static inline bool sim_is_up(const sim_agent *s) {
    return s->has_selected && (s->state == SLUICE_ICE_CONNECTED || s->state == SLUICE_ICE_COMPLETED);
}

static inline bool sim_both_connected(void *user) {
    sim_pair_ctx *c = user;
    sim_agent_events(c->a);
    sim_agent_events(c->b);
    return sim_is_up(c->a) && sim_is_up(c->b);
}

static inline bool sim_drain_only(void *user) {
    sim_pair_ctx *c = user;
    sim_agent_events(c->a);
    sim_agent_events(c->b);
    return false;
}

static inline bool sim_either_failed(void *user) {
    sim_pair_ctx *c = user;
    sim_agent_events(c->a);
    sim_agent_events(c->b);
    return c->a->state == SLUICE_ICE_FAILED || c->b->state == SLUICE_ICE_FAILED;
}

/* Send application bytes over the selected pair of `from` and check `to` gets them. */
static inline void sim_app_roundtrip(sluice_simnet *sn, sim_agent *from, sim_agent *to, sim_pair_ctx *ctx) {
    uint8_t payload[20] = {23, 0xfe, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    uint8_t buf[256];
    sluice_addr l, r;
    int before = to->app_rx;
    int n = sluice_ice_wrap_app_data(from->ice, payload, sizeof payload, &l, &r, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(sluice_simnet_send(sn, &l, &r, buf, (size_t)n), SLUICE_OK);
    sluice_simnet_run(sn, sluice_simnet_now(sn) + SIM_MS(500), sim_drain_only, ctx);
    assert_true(to->app_rx > before);
    assert_int_equal(to->last_app_len, sizeof payload);
    assert_memory_equal(to->last_app, payload, sizeof payload);
}

/* ---- a STUN server node: answers Binding requests with XOR-MAPPED-ADDRESS -------------- */

typedef struct sim_stun_server {
    sim_queue out;
    int requests;
} sim_stun_server;

static inline void sim_stun_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                                    const uint8_t *data, size_t len) {
    (void)now;
    sim_stun_server *s = obj;
    sluice_stun_msg m;
    if (sluice_stun_parse(data, len, &m) != SLUICE_OK || m.cls != SLUICE_STUN_REQUEST || m.method != SLUICE_STUN_BINDING)
        return;
    s->requests++;
    uint8_t buf[128];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_SUCCESS, m.tid);
    sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS, from);
    sluice_stun_add_fingerprint(&w);
    int n = sluice_stun_build_end(&w);
    simq_push(&s->out, to, from, buf, (size_t)n);
}

static inline size_t sim_server_poll_q(sim_queue *q, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    return simq_pop(q, from, to, buf, cap);
}

static inline size_t sim_stun_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf,
                                   size_t cap) {
    (void)now;
    return sim_server_poll_q(&((sim_stun_server *)obj)->out, from, to, buf, cap);
}

static const sluice_sim_node_ops SIM_STUN_OPS = {sim_stun_deliver, sim_stun_poll, NULL, NULL};

/* ---- a TURN server node ------------------------------------------------------------- */

typedef struct sim_turn_alloc {
    bool used;
    sluice_addr client, relay;
    sluice_addr perms[8];
    size_t nperms;
    struct { uint16_t num; sluice_addr peer; } ch[8];
    size_t nch;
    uint32_t lifetime;
} sim_turn_alloc;

typedef struct sim_turn_server {
    sluice_simnet *sn;
    int node;
    sluice_addr addr;    /* listening address */
    sluice_addr relay_ip;
    uint16_t next_port;
    char nonce[32];
    uint8_t key[16];
    sim_turn_alloc allocs[8];
    sim_queue out;
    int allocates, refreshes, permissions, channel_binds, sends, datas, channel_data_in, channel_data_out;
    int stale_nonce_after; /* answer 438 to the n-th authenticated request (0 = never) */
    int authed_requests;
} sim_turn_server;

static inline sim_turn_alloc *sim_turn_by_client(sim_turn_server *s, const sluice_addr *c) {
    for (size_t i = 0; i < 8; i++)
        if (s->allocs[i].used && sluice_addr_equal(&s->allocs[i].client, c)) return &s->allocs[i];
    return NULL;
}

static inline bool sim_turn_perm(const sim_turn_alloc *al, const sluice_addr *peer) {
    for (size_t i = 0; i < al->nperms; i++)
        if (al->perms[i].family == peer->family && memcmp(al->perms[i].ip, peer->ip, 4) == 0) return true;
    return false;
}

static inline void sim_turn_reply(sim_turn_server *s, const sluice_addr *client, const sluice_stun_msg *m,
                                  uint16_t code, bool sign, const sim_turn_alloc *al, bool with_challenge) {
    uint8_t buf[256];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_stun_build_begin(&w, m->method, code ? SLUICE_STUN_ERROR : SLUICE_STUN_SUCCESS, m->tid);
    if (code) sluice_stun_add_error(&w, code, "err");
    if (with_challenge) {
        sluice_stun_add_str(&w, SLUICE_STUN_ATTR_REALM, "r");
        sluice_stun_add_str(&w, SLUICE_STUN_ATTR_NONCE, s->nonce);
    }
    if (!code && m->method == SLUICE_STUN_ALLOCATE) {
        sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_RELAYED_ADDRESS, &al->relay);
        sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS, client);
    }
    if (!code && (m->method == SLUICE_STUN_ALLOCATE || m->method == SLUICE_STUN_REFRESH))
        sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_LIFETIME, m->method == SLUICE_STUN_REFRESH && m->has_lifetime ? m->lifetime : 600);
    if (sign) sluice_stun_add_integrity(&w, s->key, 16);
    sluice_stun_add_fingerprint(&w);
    int n = sluice_stun_build_end(&w);
    assert_true(n > 0);
    simq_push(&s->out, &s->addr, client, buf, (size_t)n);
}

static inline void sim_turn_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                                    const uint8_t *data, size_t len) {
    (void)now;
    sim_turn_server *s = obj;
    if (!sluice_addr_equal(to, &s->addr)) {
        /* Towards a relayed address: from a peer. */
        for (size_t i = 0; i < 8; i++) {
            sim_turn_alloc *al = &s->allocs[i];
            if (!al->used || !sluice_addr_equal(&al->relay, to)) continue;
            if (!sim_turn_perm(al, from)) return; /* §9: no permission, dropped */
            for (size_t c = 0; c < al->nch; c++) {
                if (sluice_addr_equal(&al->ch[c].peer, from)) {
                    uint8_t buf[1600];
                    int n = sluice_stun_channel_data_build(buf, sizeof buf, al->ch[c].num, data, len, false);
                    s->channel_data_out++;
                    simq_push(&s->out, &s->addr, &al->client, buf, (size_t)n);
                    return;
                }
            }
            uint8_t tid[12] = {7};
            uint8_t buf[1600];
            sluice_wr w = sluice_wr_make(buf, sizeof buf);
            sluice_stun_build_begin(&w, SLUICE_STUN_DATA, SLUICE_STUN_INDICATION, tid);
            sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_PEER_ADDRESS, from);
            sluice_stun_add(&w, SLUICE_STUN_ATTR_DATA, data, len);
            int n = sluice_stun_build_end(&w);
            s->datas++;
            simq_push(&s->out, &s->addr, &al->client, buf, (size_t)n);
            return;
        }
        return;
    }
    sim_turn_alloc *al = sim_turn_by_client(s, from);
    if (sluice_stun_is_channel_data(data, len)) {
        uint16_t ch;
        const uint8_t *pl;
        size_t pn;
        if (!al || sluice_stun_channel_data_parse(data, len, &ch, &pl, &pn) != SLUICE_OK) return;
        for (size_t c = 0; c < al->nch; c++)
            if (al->ch[c].num == ch) {
                s->channel_data_in++;
                simq_push(&s->out, &al->relay, &al->ch[c].peer, pl, pn);
            }
        return;
    }
    sluice_stun_msg m;
    if (sluice_stun_parse(data, len, &m) != SLUICE_OK) return;
    if (m.cls == SLUICE_STUN_INDICATION) {
        if (m.method == SLUICE_STUN_SEND && al && m.xor_peer_count && m.has_data && sim_turn_perm(al, &m.xor_peer[0])) {
            s->sends++;
            simq_push(&s->out, &al->relay, &m.xor_peer[0], m.data.p, m.data.len);
        }
        return;
    }
    if (m.cls != SLUICE_STUN_REQUEST) return;
    if (!m.integrity_off || !m.has_username) {
        sim_turn_reply(s, from, &m, 401, false, NULL, true);
        return;
    }
    if (!sluice_stun_str_eq(m.username, "u") || sluice_stun_check_integrity(&m, s->key, 16) != SLUICE_OK) {
        sim_turn_reply(s, from, &m, 401, false, NULL, true);
        return;
    }
    s->authed_requests++;
    if (s->stale_nonce_after && s->authed_requests == s->stale_nonce_after) {
        snprintf(s->nonce, sizeof s->nonce, "nonce-%d", s->authed_requests);
    }
    if (!sluice_stun_str_eq(m.nonce, s->nonce)) {
        sim_turn_reply(s, from, &m, 438, false, NULL, true);
        return;
    }
    switch (m.method) {
    case SLUICE_STUN_ALLOCATE:
        if (!al) {
            for (size_t i = 0; i < 8 && !al; i++)
                if (!s->allocs[i].used) al = &s->allocs[i];
            assert_non_null(al);
            memset(al, 0, sizeof *al);
            al->used = true;
            al->client = *from;
            al->relay = s->relay_ip;
            al->relay.port = s->next_port++;
            assert_int_equal(sluice_simnet_bind(s->sn, s->node, &al->relay), SLUICE_OK);
        }
        s->allocates++;
        sim_turn_reply(s, from, &m, 0, true, al, false);
        break;
    case SLUICE_STUN_REFRESH:
        if (!al) { sim_turn_reply(s, from, &m, 437, true, NULL, false); break; }
        s->refreshes++;
        if (m.has_lifetime && m.lifetime == 0) al->used = false;
        sim_turn_reply(s, from, &m, 0, true, al, false);
        break;
    case SLUICE_STUN_CREATE_PERMISSION:
        if (!al || !m.xor_peer_count) { sim_turn_reply(s, from, &m, 437, true, NULL, false); break; }
        s->permissions++;
        if (!sim_turn_perm(al, &m.xor_peer[0]) && al->nperms < 8) al->perms[al->nperms++] = m.xor_peer[0];
        sim_turn_reply(s, from, &m, 0, true, al, false);
        break;
    case SLUICE_STUN_CHANNEL_BIND:
        if (!al || !m.xor_peer_count || !m.has_channel_number) { sim_turn_reply(s, from, &m, 400, true, NULL, false); break; }
        s->channel_binds++;
        if (!sim_turn_perm(al, &m.xor_peer[0]) && al->nperms < 8) al->perms[al->nperms++] = m.xor_peer[0];
        {
            bool found = false;
            for (size_t c = 0; c < al->nch; c++) found |= al->ch[c].num == m.channel_number;
            if (!found && al->nch < 8) {
                al->ch[al->nch].num = m.channel_number;
                al->ch[al->nch].peer = m.xor_peer[0];
                al->nch++;
            }
        }
        sim_turn_reply(s, from, &m, 0, true, al, false);
        break;
    default:
        sim_turn_reply(s, from, &m, 400, true, NULL, false);
    }
}

static inline size_t sim_turn_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf,
                                   size_t cap) {
    (void)now;
    return sim_server_poll_q(&((sim_turn_server *)obj)->out, from, to, buf, cap);
}

static const sluice_sim_node_ops SIM_TURN_OPS = {sim_turn_deliver, sim_turn_poll, NULL, NULL};

static inline void sim_turn_server_init(sim_turn_server *s, sluice_simnet *sn, const sluice_addr *addr,
                                        const sluice_addr *relay_ip) {
    memset(s, 0, sizeof *s);
    s->sn = sn;
    s->addr = *addr;
    s->relay_ip = *relay_ip;
    s->next_port = 50000;
    snprintf(s->nonce, sizeof s->nonce, "nonce-0");
    assert_int_equal(sluice_stun_long_term_key("u", "r", 1, "p", s->key), SLUICE_OK);
    s->node = sluice_simnet_add_node(sn, &SIM_TURN_OPS, s);
    assert_true(s->node >= 0);
    assert_int_equal(sluice_simnet_bind(sn, s->node, addr), SLUICE_OK);
}

#endif
