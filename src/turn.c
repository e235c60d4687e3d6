/* TURN client (RFC 8656): Allocate with long-term credentials, Refresh, CreatePermission,
 * ChannelBind, Send/Data indications and ChannelData. One allocation per client. */
#include "turn.h"

#include <stdio.h>

#define TURN_PERMISSION_S 300 /* RFC 8656 §9: permissions last 300 s */
#define TURN_PERMISSION_REFRESH_S 240
#define TURN_CHANNEL_REFRESH_S 540 /* §12: channels last 600 s */
#define TURN_TCP_TIMEOUT_MS 39500  /* RFC 8489 §6.2.2: Ti */
#define TURN_MAX_STALE_RETRIES 3

static sluice_time ms(uint32_t v) { return (sluice_time)v * 1000u; }
static sluice_time sec(uint32_t v) { return (sluice_time)v * 1000000u; }

void sluice_turn_settings_default(sluice_turn_settings *s) {
    memset(s, 0, sizeof *s);
    s->lifetime_s = 600;
    s->rto_ms = 500;
    s->max_sends = 7;
    s->use_channels = true;
}

int sluice_turn_init(sluice_turn_client *t, const sluice_turn_settings *s, const sluice_addr *server,
                     const sluice_addr *base, const char *username, const char *password, const sluice_rng *rng,
                     const sluice_logger *log) {
    if (!t || !server || !base || !username || !password) return SLUICE_ERR_INVALID_ARGUMENT;
    if (strlen(username) >= sizeof t->username || strlen(password) >= sizeof t->password)
        return SLUICE_ERR_INVALID_ARGUMENT;
    memset(t, 0, sizeof *t);
    if (s) t->set = *s;
    else sluice_turn_settings_default(&t->set);
    if (t->set.max_sends < 1) t->set.max_sends = 1;
    if (t->set.tcp) t->set.max_sends = 1; /* a reliable transport: no retransmissions */
    t->server = *server;
    t->base = *base;
    memcpy(t->username, username, strlen(username) + 1);
    memcpy(t->password, password, strlen(password) + 1);
    t->rng = rng;
    t->log = log;
    t->state = SLUICE_TURN_IDLE;
    return SLUICE_OK;
}

static sluice_turn_txn *start_txn(sluice_turn_client *t, sluice_time now, uint16_t method, int peer) {
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++) {
        sluice_turn_txn *x = &t->txns[i];
        if (x->active) continue;
        memset(x, 0, sizeof *x);
        x->active = true;
        x->method = method;
        x->peer = peer;
        x->next = now;
        x->rto_ms = t->set.rto_ms;
        x->send_now = true;
        sluice_stun_new_tid(t->rng, x->tid);
        return x;
    }
    t->dropped++;
    return NULL;
}

void sluice_turn_start(sluice_turn_client *t, sluice_time now) {
    if (t->state != SLUICE_TURN_IDLE) return;
    t->state = SLUICE_TURN_ALLOCATING;
    /* RFC 8656 §7.1: the first Allocate goes without credentials and draws a 401. */
    if (!start_txn(t, now, SLUICE_STUN_ALLOCATE, -1)) t->state = SLUICE_TURN_FAILED;
}

void sluice_turn_close(sluice_turn_client *t, sluice_time now) {
    if (t->state == SLUICE_TURN_CLOSED) return;
    bool had_allocation = t->state == SLUICE_TURN_READY;
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++) t->txns[i].active = false;
    t->state = SLUICE_TURN_CLOSED;
    if (had_allocation) {
        /* §7.2: Refresh with LIFETIME 0 deletes the allocation; sent once, best effort. */
        sluice_turn_txn *x = start_txn(t, now, SLUICE_STUN_REFRESH, -1);
        if (x) x->rto_ms = t->set.rto_ms;
    }
}

bool sluice_turn_owns(const sluice_turn_client *t, const sluice_addr *local, const sluice_addr *remote) {
    return t->state != SLUICE_TURN_IDLE && sluice_addr_equal(local, &t->base) && sluice_addr_equal(remote, &t->server);
}

static int find_peer(const sluice_turn_client *t, const sluice_addr *peer) {
    for (size_t i = 0; i < t->peer_count; i++)
        if (sluice_addr_equal(&t->peers[i].addr, peer)) return (int)i;
    return -1;
}

bool sluice_turn_has_permission(const sluice_turn_client *t, const sluice_addr *peer) {
    /* Permissions are per IP address, ports ignored (RFC 8656 §9). */
    for (size_t i = 0; i < t->peer_count; i++) {
        const sluice_turn_peer *p = &t->peers[i];
        if (p->perm_expires && p->addr.family == peer->family &&
            memcmp(p->addr.ip, peer->ip, peer->family == 6 ? 16 : 4) == 0)
            return true;
    }
    return false;
}

/* When every transaction slot is busy, try again a second later (a deadline in the past
 * that nothing can act on would spin the caller's event loop). */
static void start_permission(sluice_turn_client *t, sluice_time now, int pi) {
    sluice_turn_peer *p = &t->peers[pi];
    if (p->perm_pending) return;
    if (start_txn(t, now, SLUICE_STUN_CREATE_PERMISSION, pi)) p->perm_pending = true;
    else p->perm_refresh_at = now + sec(1);
}

static void start_channel(sluice_turn_client *t, sluice_time now, int pi) {
    sluice_turn_peer *p = &t->peers[pi];
    if (p->channel_pending || !t->set.use_channels) return;
    if (start_txn(t, now, SLUICE_STUN_CHANNEL_BIND, pi)) p->channel_pending = true;
    else p->channel_refresh_at = now + sec(1);
}

int sluice_turn_add_peer(sluice_turn_client *t, sluice_time now, const sluice_addr *peer) {
    if (!t || !peer || !peer->family) return SLUICE_ERR_INVALID_ARGUMENT;
    if (find_peer(t, peer) >= 0) return SLUICE_OK;
    if (t->peer_count == SLUICE_TURN_MAX_PEERS) return SLUICE_ERR_EXHAUSTED;
    sluice_turn_peer *p = &t->peers[t->peer_count];
    memset(p, 0, sizeof *p);
    p->addr = *peer;
    p->channel = (uint16_t)(0x4000 + t->peer_count); /* §12: 0x4000..0x4FFF */
    int pi = (int)t->peer_count++;
    if (t->state != SLUICE_TURN_READY) return SLUICE_ERR_INVALID_STATE; /* started once READY */
    start_permission(t, now, pi);
    return SLUICE_OK;
}

static void add_auth(sluice_turn_client *t, sluice_wr *w) {
    if (!t->have_auth) return;
    sluice_stun_add_str(w, SLUICE_STUN_ATTR_USERNAME, t->username);
    sluice_stun_add_str(w, SLUICE_STUN_ATTR_REALM, t->realm);
    sluice_stun_add(w, SLUICE_STUN_ATTR_NONCE, t->nonce, t->nonce_len);
    sluice_stun_add_integrity(w, t->key, sizeof t->key);
}

static int build_request(sluice_turn_client *t, const sluice_turn_txn *x, uint8_t *buf, size_t cap) {
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_stun_build_begin(&w, x->method, SLUICE_STUN_REQUEST, x->tid);
    switch (x->method) {
    case SLUICE_STUN_ALLOCATE:
        sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_REQUESTED_TRANSPORT, 17u << 24); /* UDP */
        sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_LIFETIME, t->set.lifetime_s);
        break;
    case SLUICE_STUN_REFRESH:
        sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_LIFETIME, t->state == SLUICE_TURN_CLOSED ? 0 : t->set.lifetime_s);
        break;
    case SLUICE_STUN_CREATE_PERMISSION:
        sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_PEER_ADDRESS, &t->peers[x->peer].addr);
        break;
    case SLUICE_STUN_CHANNEL_BIND:
        sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_CHANNEL_NUMBER, (uint32_t)t->peers[x->peer].channel << 16);
        sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_PEER_ADDRESS, &t->peers[x->peer].addr);
        break;
    default:
        return SLUICE_ERR_INVALID_ARGUMENT;
    }
    add_auth(t, &w);
    sluice_stun_add_fingerprint(&w);
    return sluice_stun_build_end(&w);
}

int sluice_turn_poll_transmit(sluice_turn_client *t, sluice_time now, uint8_t *buf, size_t cap) {
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++) {
        sluice_turn_txn *x = &t->txns[i];
        if (!x->active || x->sends >= t->set.max_sends || (!x->send_now && now < x->next)) continue;
        int n = build_request(t, x, buf, cap);
        if (n < 0) return n;
        x->send_now = false;
        x->authed = t->have_auth;
        x->sends++;
        if (t->set.tcp) {
            x->next = now + ms(TURN_TCP_TIMEOUT_MS);
        } else {
            x->next = now + ms(x->rto_ms);
            x->rto_ms = SLUICE_MIN(x->rto_ms * 2, 8000u);
        }
        return n;
    }
    return 0;
}

static void fail(sluice_turn_client *t, uint16_t code, const char *why) {
    SLUICE_LOG(t->log, SLUICE_LOG_WARN, "turn", "allocation failed: %s (%u)", why, (unsigned)code);
    t->state = SLUICE_TURN_FAILED;
    t->error_code = code;
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++) t->txns[i].active = false;
}

void sluice_turn_transport_closed(sluice_turn_client *t) {
    if (!t || t->state == SLUICE_TURN_IDLE || t->state == SLUICE_TURN_FAILED || t->state == SLUICE_TURN_CLOSED) return;
    /* RFC 8656 §3.1: over TCP/TLS the allocation is bound to the connection and dies with
     * it; an Allocate sent on a lost connection never gets an answer (no retransmission). */
    fail(t, 0, "connection to the server lost");
}

static void txn_gave_up(sluice_turn_client *t, sluice_turn_txn *x, sluice_time now) {
    x->active = false;
    if (t->state == SLUICE_TURN_CLOSED) return;
    switch (x->method) {
    case SLUICE_STUN_ALLOCATE: fail(t, 0, "no response"); break;
    case SLUICE_STUN_REFRESH:
        /* Try again while the allocation lives. */
        t->refresh_inflight = false;
        t->refresh_at = now + sec(5);
        break;
    case SLUICE_STUN_CREATE_PERMISSION:
        t->peers[x->peer].perm_pending = false;
        t->peers[x->peer].perm_refresh_at = now + sec(5);
        break;
    case SLUICE_STUN_CHANNEL_BIND:
        t->peers[x->peer].channel_pending = false;
        t->peers[x->peer].channel_refresh_at = now + sec(5);
        break;
    default: break;
    }
}

static sluice_time refresh_delay(uint32_t lifetime_s) {
    /* Refresh a minute early, or at half time for short lifetimes. */
    return lifetime_s > 120 ? sec(lifetime_s - 60) : sec(lifetime_s / 2 ? lifetime_s / 2 : 1);
}

void sluice_turn_handle_timeout(sluice_turn_client *t, sluice_time now) {
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++) {
        sluice_turn_txn *x = &t->txns[i];
        if (x->active && !x->send_now && x->sends >= t->set.max_sends && now >= x->next) txn_gave_up(t, x, now);
    }
    if (t->state != SLUICE_TURN_READY) return;
    if (now >= t->expires) {
        fail(t, 0, "allocation expired");
        return;
    }
    if (!t->refresh_inflight && now >= t->refresh_at) {
        if (start_txn(t, now, SLUICE_STUN_REFRESH, -1)) t->refresh_inflight = true;
        else t->refresh_at = now + sec(1);
    }
    for (size_t i = 0; i < t->peer_count; i++) {
        sluice_turn_peer *p = &t->peers[i];
        if (!p->perm_pending && p->perm_refresh_at && now >= p->perm_refresh_at) start_permission(t, now, (int)i);
        if (p->channel_bound && !p->channel_pending && now >= p->channel_refresh_at) start_channel(t, now, (int)i);
    }
}

sluice_time sluice_turn_next_deadline(const sluice_turn_client *t) {
    sluice_time d = SLUICE_TIME_NEVER;
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++) {
        const sluice_turn_txn *x = &t->txns[i];
        if (x->active) d = sluice_time_min(d, x->send_now ? 0 : x->next);
    }
    if (t->state != SLUICE_TURN_READY) return d;
    d = sluice_time_min(d, t->expires);
    if (!t->refresh_inflight) d = sluice_time_min(d, t->refresh_at);
    for (size_t i = 0; i < t->peer_count; i++) {
        const sluice_turn_peer *p = &t->peers[i];
        if (!p->perm_pending && p->perm_refresh_at) d = sluice_time_min(d, p->perm_refresh_at);
        if (p->channel_bound && !p->channel_pending) d = sluice_time_min(d, p->channel_refresh_at);
    }
    return d;
}

/* A 401 / 438 carries REALM and NONCE (RFC 8489 §9.2.4): adopt them and retry. */
static bool take_challenge(sluice_turn_client *t, const sluice_stun_msg *m) {
    if (!m->has_nonce || m->nonce.len > sizeof t->nonce) return false;
    if (m->has_realm) {
        if (sluice_stun_str_copy(m->realm, t->realm, sizeof t->realm) < 0) return false;
    } else if (!t->realm[0]) {
        return false;
    }
    memcpy(t->nonce, m->nonce.p, m->nonce.len);
    t->nonce_len = m->nonce.len;
    if (sluice_stun_long_term_key(t->username, t->realm, strlen(t->realm), t->password, t->key) != SLUICE_OK)
        return false;
    t->have_auth = true;
    return true;
}

static void retry(sluice_turn_client *t, sluice_time now, sluice_turn_txn *x) {
    uint16_t method = x->method;
    int peer = x->peer;
    x->active = false;
    (void)start_txn(t, now, method, peer);
}

static void handle_error(sluice_turn_client *t, sluice_time now, sluice_turn_txn *x, const sluice_stun_msg *m,
                         bool was_authed) {
    if (m->error_code == 401 && !was_authed && take_challenge(t, m)) {
        retry(t, now, x);
        return;
    }
    if (m->error_code == 438 && t->stale_nonce_retries < TURN_MAX_STALE_RETRIES && take_challenge(t, m)) {
        t->stale_nonce_retries++;
        retry(t, now, x);
        return;
    }
    SLUICE_LOG(t->log, SLUICE_LOG_WARN, "turn", "%s error %u", sluice_stun_method_name(x->method),
               (unsigned)m->error_code);
    if (x->method == SLUICE_STUN_ALLOCATE) {
        fail(t, m->error_code, "error response");
        return;
    }
    if (x->method == SLUICE_STUN_REFRESH && t->state == SLUICE_TURN_READY) {
        fail(t, m->error_code, "refresh refused"); /* e.g. 437 Allocation Mismatch */
        return;
    }
    txn_gave_up(t, x, now);
    /* Do not retry a refused permission or channel before its normal refresh. */
    if (x->peer >= 0) {
        t->peers[x->peer].perm_refresh_at = now + sec(TURN_PERMISSION_REFRESH_S);
        t->peers[x->peer].channel_refresh_at = now + sec(TURN_CHANNEL_REFRESH_S);
    }
}

static void handle_success(sluice_turn_client *t, sluice_time now, sluice_turn_txn *x, const sluice_stun_msg *m) {
    x->active = false;
    t->stale_nonce_retries = 0;
    switch (x->method) {
    case SLUICE_STUN_ALLOCATE: {
        if (!m->has_xor_relayed) {
            fail(t, 0, "no XOR-RELAYED-ADDRESS");
            return;
        }
        t->relayed = m->xor_relayed;
        if (m->has_xor_mapped) t->mapped = m->xor_mapped;
        uint32_t life = m->has_lifetime ? m->lifetime : t->set.lifetime_s;
        t->expires = now + sec(life);
        t->refresh_at = now + refresh_delay(life);
        t->state = SLUICE_TURN_READY;
        char rs[64];
        sluice_addr_format(&t->relayed, rs, sizeof rs);
        SLUICE_LOG(t->log, SLUICE_LOG_INFO, "turn", "allocated %s for %u s", rs, (unsigned)life);
        for (size_t i = 0; i < t->peer_count; i++) start_permission(t, now, (int)i);
        break;
    }
    case SLUICE_STUN_REFRESH: {
        t->refresh_inflight = false;
        uint32_t life = m->has_lifetime ? m->lifetime : t->set.lifetime_s;
        if (life == 0) {
            t->state = SLUICE_TURN_CLOSED;
            return;
        }
        t->expires = now + sec(life);
        t->refresh_at = now + refresh_delay(life);
        break;
    }
    case SLUICE_STUN_CREATE_PERMISSION: {
        sluice_turn_peer *p = &t->peers[x->peer];
        p->perm_pending = false;
        p->perm_expires = now + sec(TURN_PERMISSION_S);
        p->perm_refresh_at = now + sec(TURN_PERMISSION_REFRESH_S);
        if (!p->channel_bound) start_channel(t, now, x->peer);
        break;
    }
    case SLUICE_STUN_CHANNEL_BIND: {
        sluice_turn_peer *p = &t->peers[x->peer];
        p->channel_pending = false;
        p->channel_bound = true;
        p->channel_refresh_at = now + sec(TURN_CHANNEL_REFRESH_S);
        /* §12.2: a ChannelBind also installs or refreshes the permission. */
        p->perm_expires = now + sec(TURN_PERMISSION_S);
        break;
    }
    default: break;
    }
}

int sluice_turn_handle(sluice_turn_client *t, sluice_time now, const uint8_t *data, size_t len, sluice_addr *peer,
                       const uint8_t **payload, size_t *payload_len) {
    if (!t || (!data && len) || !peer || !payload || !payload_len) return SLUICE_ERR_INVALID_ARGUMENT;
    if (sluice_stun_is_channel_data(data, len)) {
        uint16_t ch;
        const uint8_t *pl;
        size_t pn;
        if (sluice_stun_channel_data_parse(data, len, &ch, &pl, &pn) == SLUICE_OK) {
            for (size_t i = 0; i < t->peer_count; i++) {
                if (t->peers[i].channel == ch && t->peers[i].channel_bound) {
                    *peer = t->peers[i].addr;
                    *payload = pl;
                    *payload_len = pn;
                    return 1;
                }
            }
        }
        t->dropped++;
        return SLUICE_ERR_MALFORMED;
    }
    sluice_stun_msg m;
    int rc = sluice_stun_parse(data, len, &m);
    if (rc != SLUICE_OK) {
        t->dropped++;
        return rc;
    }
    if (m.cls == SLUICE_STUN_INDICATION) {
        /* §11.6 Data indication: XOR-PEER-ADDRESS + DATA, from a permitted peer. */
        if (m.method != SLUICE_STUN_DATA || m.xor_peer_count < 1 || !m.has_data) {
            t->dropped++;
            return SLUICE_ERR_MALFORMED;
        }
        *peer = m.xor_peer[0];
        *payload = m.data.p;
        *payload_len = m.data.len;
        return 1;
    }
    if (m.cls == SLUICE_STUN_REQUEST) {
        t->dropped++;
        return SLUICE_ERR_MALFORMED;
    }
    sluice_turn_txn *x = NULL;
    for (size_t i = 0; i < SLUICE_TURN_MAX_TXNS; i++)
        if (t->txns[i].active && memcmp(t->txns[i].tid, m.tid, SLUICE_STUN_TID_LEN) == 0) x = &t->txns[i];
    if (!x || m.method != x->method || x->sends == 0) {
        t->dropped++;
        return 0;
    }
    /* An authenticated request gets a response signed with the same key (RFC 8489 §9.2.4);
     * once we hold credentials every request is authenticated. */
    if (m.cls == SLUICE_STUN_SUCCESS) {
        if ((x->authed || t->have_auth) && sluice_stun_check_integrity(&m, t->key, sizeof t->key) != SLUICE_OK) {
            t->dropped++;
            return SLUICE_ERR_INTEGRITY;
        }
        handle_success(t, now, x, &m);
        return 0;
    }
    if (!m.has_error) {
        t->dropped++;
        return SLUICE_ERR_MALFORMED;
    }
    handle_error(t, now, x, &m, x->authed);
    return 0;
}

int sluice_turn_wrap(sluice_turn_client *t, const sluice_addr *peer, const uint8_t *data, size_t len, uint8_t *buf,
                     size_t cap) {
    if (!t || !peer || (!data && len) || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    if (t->state != SLUICE_TURN_READY) return SLUICE_ERR_INVALID_STATE;
    int pi = find_peer(t, peer);
    if (pi >= 0 && t->peers[pi].channel_bound)
        return sluice_stun_channel_data_build(buf, cap, t->peers[pi].channel, data, len, t->set.tcp);
    /* §11.1 Send indication: not authenticated, carries XOR-PEER-ADDRESS and DATA. */
    uint8_t tid[SLUICE_STUN_TID_LEN];
    sluice_stun_new_tid(t->rng, tid);
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_stun_build_begin(&w, SLUICE_STUN_SEND, SLUICE_STUN_INDICATION, tid);
    sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_PEER_ADDRESS, peer);
    sluice_stun_add(&w, SLUICE_STUN_ATTR_DATA, data, len);
    return sluice_stun_build_end(&w);
}

int sluice_turn_tcp_frame(const uint8_t *data, size_t len) {
    if (len < 4) return 0;
    if (data[0] <= 3) {
        size_t total = 20 + (size_t)sluice_load_be16(data + 2);
        if ((total & 3) != 0) return SLUICE_ERR_MALFORMED;
        return len >= total ? (int)total : 0;
    }
    if (data[0] >= 0x40 && data[0] <= 0x4F) {
        size_t n = sluice_load_be16(data + 2);
        size_t total = 4 + ((n + 3) & ~(size_t)3); /* RFC 8656 §12.5: padded over TCP */
        return len >= total ? (int)total : 0;
    }
    return SLUICE_ERR_MALFORMED;
}
