/* ICE agent: RFC 8445 (full agent, one component), RFC 8838 (trickle), RFC 7675 (consent
 * freshness), with srflx (RFC 8489 Binding) and relay (RFC 8656 TURN) gathering.
 * Sans-IO: every entry point takes `now`; datagrams go out through poll_transmit.
 *
 * Simplifications, chosen on purpose:
 *  - one check list, one component (WebRTC data channels use rtcp-mux / bundle);
 *  - frozen pairs are unfrozen highest priority first once no pair is Waiting (instead of
 *    per-foundation bookkeeping; §6.1.2.6 only needs the result to be fair);
 *  - a success whose mapped address is new (a local peer-reflexive candidate) validates
 *    the pair that was checked: it has the same base, so it sends the same way. */
#include "ice.h"

#include "crc.h"
#include "stun.h"
#include "turn.h"

#include <stdio.h>

#define ICE_MAX_ADDRS 8
#define ICE_MAX_LOCALS 24
#define ICE_MAX_EVENTS 32 /* > ICE_MAX_LOCALS + a few: one gathering burst fits */
#define ICE_MAX_OUT 16
#define ICE_OUT_MAX_LEN 256
#define ICE_MAX_GATHER 16
#define ICE_MAX_TURN 4
#define ICE_MAX_SERVERS 4
#define ICE_MAX_UNRESOLVED 8
#define ICE_MAX_AUTH_SRC 8
#define ICE_MAX_CONFLICT_487 4 /* 487s in a row before we give in to a peer that ignores them */
#define ICE_RTO_INITIAL_MS 500 /* RFC 8445 §14.3: RTO >= 500 ms for checks */
#define ICE_RTO_MAX_MS 1600
#define ICE_CHECK_MAX_SENDS 7  /* RFC 8489 §6.2.1 Rc */
#define ICE_CONSENT_MAX_SENDS 3
#define ICE_NOMINATION_WAIT_MS 1000
#define ICE_UFRAG_LEN 8        /* RFC 8839 §5.4: >= 4 chars */
#define ICE_PWD_LEN 24         /* RFC 8839 §5.4: >= 22 chars */

enum { PAIR_FROZEN, PAIR_WAITING, PAIR_IN_PROGRESS, PAIR_SUCCEEDED, PAIR_FAILED };

typedef struct ice_local {
    sluice_ice_candidate c;
    sluice_addr base;  /**< the socket the candidate sends from */
    int relay;         /**< TURN client index for relay candidates, else -1 */
    bool hidden;       /**< relay-only policy: a base, never signalled nor paired */
} ice_local;

typedef struct ice_pair {
    int local, remote;
    uint64_t prio;
    uint8_t state;
    bool valid, nominated, nominating, nominate_on_success, in_triggered;
    /* one outstanding Binding transaction */
    bool txn, txn_use_cand, txn_consent, txn_controlling;
    uint8_t tid[SLUICE_STUN_TID_LEN];
    sluice_time txn_next;
    uint32_t txn_rto;
    int txn_sends, txn_max;
    sluice_time last_ok;
} ice_pair;

typedef struct ice_out {
    sluice_addr local, remote;
    int relay;
    size_t len;
    uint8_t buf[ICE_OUT_MAX_LEN];
} ice_out;

typedef struct ice_gather {
    bool active;
    sluice_addr server, base;
    uint8_t tid[SLUICE_STUN_TID_LEN];
    sluice_time next;
    uint32_t rto;
    int sends;
} ice_gather;

struct sluice_ice_agent {
    sluice_ice_settings set;
    /* Every table below is allocated on first use and grows up to its bound (the constants
     * above, max_pairs): an agent with one host candidate and one pair costs ~5 KB, not 85. */
    sluice_ice_url *stun_urls, *turn_urls; /* sized to the settings' counts */
    char turn_user[129], turn_pass[129];
    const sluice_allocator *alloc;
    const sluice_rng *rng;
    const sluice_logger *log;

    char ufrag[257], pwd[257]; /* RFC 8839 §5.4: up to 256 chars */
    char rufrag[257], rpwd[257];
    bool have_remote, remote_lite, remote_done;
    bool peer_knows_us; /* an authenticated request arrived: the peer has our ufrag/pwd */
    uint64_t tiebreaker;
    uint32_t conflict_487s; /* role-conflict 487s answered in a row (see handle_request) */
    bool controlling;

    sluice_addr addrs[ICE_MAX_ADDRS];
    size_t naddrs;
    ice_local *locals;
    size_t nlocals, cap_locals;
    sluice_ice_candidate *remotes;
    size_t nremotes, cap_remotes;
    sluice_ice_candidate *unresolved; /* ICE_MAX_UNRESOLVED once the first name waits */
    size_t nunresolved;
    ice_pair *pairs;
    size_t npairs, cap_pairs;
    int *trig; /* ring of max_pairs, allocated with the first pair */
    size_t trig_head, trig_count;

    ice_out *out;
    size_t out_head, out_count, out_cap;
    sluice_ice_event *events; /* freed whenever drained: events come in rare bursts */
    size_t ev_head, ev_count, ev_cap;

    ice_gather gather[ICE_MAX_GATHER];
    size_t ngather;
    sluice_turn_client *turn; /* ICE_MAX_TURN, allocated with the first TURN client */
    bool turn_reported[ICE_MAX_TURN];
    size_t turn_url[ICE_MAX_TURN]; /* index into turn_urls */
    size_t nturn;
    bool gathering, gathering_done;

    sluice_ice_state state;
    bool started, closed;
    int selected;
    bool has_sel;
    sluice_addr sel_local, sel_remote;
    int sel_relay;
    sluice_time checking_since, first_valid, next_check, next_consent;
    uint64_t dropped;
    /* Sources of the last authenticated requests (a peer whose request came before we had a
     * local candidate to pair it with is not in `remotes`): see sluice_ice_remote_is_known. */
    sluice_addr auth_src[ICE_MAX_AUTH_SRC];
    size_t auth_src_next;
};

/* ---- small helpers ------------------------------------------------------------------ */

void sluice_ice_settings_default(sluice_ice_settings *s) {
    memset(s, 0, sizeof *s);
    s->ta_ms = 50;
    s->consent_interval_ms = 5000;
    s->disconnect_ms = 5000;
    s->fail_ms = 30000;
    s->connect_timeout_ms = 30000;
    s->max_remote_candidates = 64;
    s->max_pairs = 256;
}

static sluice_time ms(uint32_t v) { return (sluice_time)v * 1000u; }

/* Remote candidates are stored in an array that grows on demand up to
 * max_remote_candidates (most sessions have one or two). */
static bool remote_room(sluice_ice_agent *a) {
    if (a->nremotes < a->cap_remotes) return true;
    if (a->cap_remotes >= a->set.max_remote_candidates) return false;
    size_t ncap = a->cap_remotes ? a->cap_remotes * 2 : 4;
    if (ncap > a->set.max_remote_candidates) ncap = a->set.max_remote_candidates;
    sluice_ice_candidate *n = sluice_mem_realloc(a->alloc, a->remotes, ncap * sizeof *n);
    if (!n) return false;
    a->remotes = n;
    a->cap_remotes = ncap;
    return true;
}

/* Make room for one more element in an array of `*cap` elements holding `n`, doubling up to
 * `max` (from 4). Returns false at the bound or on NOMEM. */
static bool grow(sluice_ice_agent *a, void **arr, size_t *cap, size_t n, size_t max, size_t elem) {
    if (n < *cap) return true;
    if (*cap >= max) return false;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > max) ncap = max;
    void *p = sluice_mem_realloc(a->alloc, *arr, ncap * elem);
    if (!p) return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* As grow(), for a ring of `count` elements starting at `*head`: re-laid from index 0. */
static bool grow_ring(sluice_ice_agent *a, void **arr, size_t *cap, size_t *head, size_t count, size_t max,
                      size_t elem) {
    if (count < *cap) return true;
    if (*cap >= max) return false;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > max) ncap = max;
    uint8_t *p = sluice_mem_alloc(a->alloc, ncap * elem);
    if (!p) return false;
    for (size_t i = 0; i < count; i++)
        memcpy(p + i * elem, (uint8_t *)*arr + ((*head + i) % *cap) * elem, elem);
    sluice_mem_free(a->alloc, *arr);
    *arr = p;
    *cap = ncap;
    *head = 0;
    return true;
}

static void push_event(sluice_ice_agent *a, const sluice_ice_event *ev) {
    if (!grow_ring(a, (void **)&a->events, &a->ev_cap, &a->ev_head, a->ev_count, ICE_MAX_EVENTS, sizeof *ev)) {
        SLUICE_LOG(a->log, SLUICE_LOG_WARN, "ice", "event queue full, event %d dropped", (int)ev->type);
        return;
    }
    a->events[(a->ev_head + a->ev_count) % a->ev_cap] = *ev;
    a->ev_count++;
}

static void set_state(sluice_ice_agent *a, sluice_ice_state st) {
    if (a->state == st) return;
    SLUICE_LOG(a->log, SLUICE_LOG_DEBUG, "ice", "state %d -> %d", (int)a->state, (int)st);
    a->state = st;
    sluice_ice_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_ICE_EVENT_STATE;
    ev.state = st;
    push_event(a, &ev);
}

/* RFC 8445 §6.1.2.3 pair priority. */
static uint64_t pair_priority(const sluice_ice_agent *a, uint32_t local_prio, uint32_t remote_prio) {
    uint64_t g = a->controlling ? local_prio : remote_prio;
    uint64_t d = a->controlling ? remote_prio : local_prio;
    uint64_t mn = g < d ? g : d, mx = g < d ? d : g;
    return (mn << 32) + 2 * mx + (g > d ? 1 : 0);
}

static void recompute_priorities(sluice_ice_agent *a) {
    for (size_t i = 0; i < a->npairs; i++) {
        ice_pair *p = &a->pairs[i];
        p->prio = pair_priority(a, a->locals[p->local].c.priority, a->remotes[p->remote].priority);
    }
}

static void trigger(sluice_ice_agent *a, int pi);

static void switch_role(sluice_ice_agent *a, bool controlling) {
    if (a->controlling == controlling) return;
    a->controlling = controlling;
    recompute_priorities(a);
    /* Checks in flight claim the old role, and their retransmissions would keep claiming
     * it (a peer that drops conflicting requests never answers them): check again with
     * the new one at once. */
    for (size_t i = 0; i < a->npairs; i++) {
        ice_pair *p = &a->pairs[i];
        if (!p->txn || p->txn_consent || p->txn_controlling == controlling) continue;
        p->txn = false;
        if (p->state != PAIR_SUCCEEDED) p->state = PAIR_WAITING;
        trigger(a, (int)i);
    }
    SLUICE_LOG(a->log, SLUICE_LOG_INFO, "ice", "role: now %s", controlling ? "controlling" : "controlled");
    sluice_ice_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_ICE_EVENT_ROLE_CHANGED;
    push_event(a, &ev);
}

static void make_foundation(char out[33], sluice_ice_cand_type type, const sluice_addr *base, const sluice_addr *server) {
    /* RFC 8445 §5.1.1.3: same type, base IP, server and transport → same foundation. */
    uint8_t b[40];
    memset(b, 0, sizeof b);
    b[0] = (uint8_t)type;
    memcpy(b + 1, base->ip, 16);
    if (server) memcpy(b + 17, server->ip, 16);
    snprintf(out, 33, "%u", (unsigned)sluice_crc32(0, b, sizeof b));
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int new_credentials(sluice_ice_agent *a) {
    int rc = sluice_rng_ice_chars(a->rng, a->ufrag, ICE_UFRAG_LEN);
    if (rc == SLUICE_OK) rc = sluice_rng_ice_chars(a->rng, a->pwd, ICE_PWD_LEN);
    return rc;
}

int sluice_ice_new(sluice_ice_agent **out, const sluice_ice_settings *s, const sluice_allocator *alloc,
                   const sluice_rng *rng, const sluice_logger *log) {
    if (!out || !s) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (s->max_pairs == 0 || s->max_remote_candidates == 0 || s->ta_ms == 0) return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_ice_agent *a = sluice_mem_calloc(alloc, 1, sizeof *a);
    if (!a) return SLUICE_ERR_NOMEM;
    a->alloc = alloc;
    a->rng = rng;
    a->log = log;
    a->set = *s;
    size_t ns = SLUICE_MIN(s->stun_servers_count, (size_t)ICE_MAX_SERVERS);
    size_t nt = SLUICE_MIN(s->turn_servers_count, (size_t)ICE_MAX_SERVERS);
    if ((ns && !(a->stun_urls = sluice_mem_calloc(alloc, ns, sizeof *a->stun_urls))) ||
        (nt && !(a->turn_urls = sluice_mem_calloc(alloc, nt, sizeof *a->turn_urls)))) {
        sluice_ice_free(a);
        return SLUICE_ERR_NOMEM;
    }
    for (size_t i = 0; i < ns; i++) a->stun_urls[i] = s->stun_servers[i];
    for (size_t i = 0; i < nt; i++) a->turn_urls[i] = s->turn_servers[i];
    a->set.stun_servers = a->stun_urls;
    a->set.stun_servers_count = ns;
    a->set.turn_servers = a->turn_urls;
    a->set.turn_servers_count = nt;
    snprintf(a->turn_user, sizeof a->turn_user, "%s", s->turn_username ? s->turn_username : "");
    snprintf(a->turn_pass, sizeof a->turn_pass, "%s", s->turn_password ? s->turn_password : "");
    a->set.turn_username = a->turn_user;
    a->set.turn_password = a->turn_pass;
    a->controlling = s->controlling;
    a->tiebreaker = sluice_rng_u64(rng);
    a->selected = -1;
    a->sel_relay = -1;
    a->first_valid = SLUICE_TIME_NEVER;
    if (new_credentials(a) != SLUICE_OK) {
        sluice_ice_free(a);
        return SLUICE_ERR_CRYPTO;
    }
    *out = a;
    return SLUICE_OK;
}

void sluice_ice_free(sluice_ice_agent *a) {
    if (!a) return;
    sluice_mem_free(a->alloc, a->remotes);
    sluice_mem_free(a->alloc, a->pairs);
    sluice_mem_free(a->alloc, a->trig);
    sluice_mem_free(a->alloc, a->stun_urls);
    sluice_mem_free(a->alloc, a->turn_urls);
    sluice_mem_free(a->alloc, a->locals);
    sluice_mem_free(a->alloc, a->unresolved);
    sluice_mem_free(a->alloc, a->out);
    sluice_mem_free(a->alloc, a->events);
    sluice_mem_free(a->alloc, a->turn);
    sluice_mem_free(a->alloc, a);
}

static bool ice_chars_ok(const char *s, size_t min, size_t max) {
    size_t n = strlen(s);
    if (n < min || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return false;
    }
    return true;
}

int sluice_ice_set_local_credentials(sluice_ice_agent *a, const char *ufrag, const char *pwd) {
    if (!a || !ufrag || !pwd || !ice_chars_ok(ufrag, 4, sizeof a->ufrag - 1) || !ice_chars_ok(pwd, 22, sizeof a->pwd - 1))
        return SLUICE_ERR_INVALID_ARGUMENT;
    memcpy(a->ufrag, ufrag, strlen(ufrag) + 1);
    memcpy(a->pwd, pwd, strlen(pwd) + 1);
    for (size_t i = 0; i < a->nlocals; i++) snprintf(a->locals[i].c.ufrag, sizeof a->locals[i].c.ufrag, "%s", a->ufrag);
    return SLUICE_OK;
}

const char *sluice_ice_local_ufrag(const sluice_ice_agent *a) { return a->ufrag; }
const char *sluice_ice_local_pwd(const sluice_ice_agent *a) { return a->pwd; }
bool sluice_ice_is_controlling(const sluice_ice_agent *a) { return a->controlling; }
void sluice_ice_set_controlling(sluice_ice_agent *a, bool controlling) { switch_role(a, controlling); }
sluice_ice_state sluice_ice_get_state(const sluice_ice_agent *a) { return a->state; }

bool sluice_ice_selected_pair(const sluice_ice_agent *a, sluice_addr *local, sluice_addr *remote) {
    if (!a->has_sel) return false;
    if (local) *local = a->sel_local;
    if (remote) *remote = a->sel_remote;
    return true;
}

int sluice_ice_poll_event(sluice_ice_agent *a, sluice_ice_event *ev) {
    if (a->ev_count == 0) return 0;
    *ev = a->events[a->ev_head];
    a->ev_head = (a->ev_head + 1) % a->ev_cap;
    if (--a->ev_count == 0) {
        sluice_mem_free(a->alloc, a->events);
        a->events = NULL;
        a->ev_cap = a->ev_head = 0;
    }
    return 1;
}

/* Forget every pair (remote restart): the selected path stays usable for data. */
static void reset_pairs(sluice_ice_agent *a, bool drop_remotes) {
    if (drop_remotes) {
        a->nremotes = 0;
        a->nunresolved = 0;
        a->npairs = 0;
        a->remote_done = false;
    } else {
        for (size_t i = 0; i < a->npairs; i++) {
            ice_pair *p = &a->pairs[i];
            p->state = PAIR_FROZEN;
            p->valid = p->nominated = p->nominating = p->nominate_on_success = p->in_triggered = false;
            p->txn = false;
            p->last_ok = 0;
        }
    }
    a->trig_count = 0;
    a->selected = -1;
    a->started = false;
    a->first_valid = SLUICE_TIME_NEVER;
}

int sluice_ice_set_remote_credentials(sluice_ice_agent *a, const char *ufrag, const char *pwd) {
    if (!a || !ufrag || !pwd) return SLUICE_ERR_INVALID_ARGUMENT;
    size_t ul = strlen(ufrag), pl = strlen(pwd);
    if (ul == 0 || pl == 0 || ul >= sizeof a->rufrag || pl >= sizeof a->rpwd) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->have_remote && strcmp(a->rufrag, ufrag) == 0 && strcmp(a->rpwd, pwd) == 0) return SLUICE_OK;
    if (a->have_remote) {
        SLUICE_LOG(a->log, SLUICE_LOG_INFO, "ice", "remote ICE restart");
        reset_pairs(a, true);
    }
    memcpy(a->rufrag, ufrag, ul + 1);
    memcpy(a->rpwd, pwd, pl + 1);
    a->have_remote = true;
    return SLUICE_OK;
}

bool sluice_ice_peer_knows_us(const sluice_ice_agent *a) { return a && (a->peer_knows_us || a->remote_lite); }


void sluice_ice_set_remote_lite(sluice_ice_agent *a, bool lite) {
    a->remote_lite = lite;
    /* RFC 8445 §6.1.1: a full agent facing a lite agent is controlling. */
    if (lite) switch_role(a, true);
}

void sluice_ice_remote_gathering_done(sluice_ice_agent *a) { a->remote_done = true; }

void sluice_ice_close(sluice_ice_agent *a) {
    if (a->closed) return;
    for (size_t i = 0; i < a->nturn; i++) sluice_turn_close(&a->turn[i], 0);
    a->closed = true;
    set_state(a, SLUICE_ICE_CLOSED);
}

/* ---- candidates and pairs ---------------------------------------------------------- */

static int find_remote(const sluice_ice_agent *a, const sluice_addr *addr) {
    for (size_t i = 0; i < a->nremotes; i++)
        if (sluice_addr_equal(&a->remotes[i].addr, addr)) return (int)i;
    return -1;
}

bool sluice_ice_remote_is_known(const sluice_ice_agent *a, const sluice_addr *remote) {
    if (!a || !remote) return false;
    /* Checked first: nearly every datagram comes from the pair in use (on every DTLS
     * record, so before the scan of the candidates). It also keeps data flowing during an
     * ICE restart, when the remote candidates are gone (RFC 8445 §9). */
    if (a->has_sel && sluice_addr_equal(&a->sel_remote, remote)) return true;
    if (find_remote(a, remote) >= 0) return true;
    for (size_t i = 0; i < ICE_MAX_AUTH_SRC; i++)
        if (sluice_addr_equal(&a->auth_src[i], remote)) return true;
    return false;
}

static int find_local(const sluice_ice_agent *a, const sluice_addr *base, int relay) {
    for (size_t i = 0; i < a->nlocals; i++) {
        const ice_local *l = &a->locals[i];
        if (relay >= 0) {
            if (l->relay == relay && l->c.type == SLUICE_ICE_CAND_RELAY) return (int)i;
        } else if (l->c.type == SLUICE_ICE_CAND_HOST && sluice_addr_equal(&l->base, base)) {
            return (int)i;
        }
    }
    return -1;
}

static int find_pair(const sluice_ice_agent *a, int l, int r) {
    for (size_t i = 0; i < a->npairs; i++)
        if (a->pairs[i].local == l && a->pairs[i].remote == r) return (int)i;
    return -1;
}

static void trigger(sluice_ice_agent *a, int pi) {
    ice_pair *p = &a->pairs[pi];
    if (p->in_triggered || a->trig_count == a->set.max_pairs) return;
    a->trig[(a->trig_head + a->trig_count) % a->set.max_pairs] = pi;
    a->trig_count++;
    p->in_triggered = true;
}

static int add_pair(sluice_ice_agent *a, sluice_time now, int l, int r) {
    const ice_local *lc = &a->locals[l];
    const sluice_ice_candidate *rc = &a->remotes[r];
    /* §6.1.2.4: pairs are formed from bases: host and relay locals only. */
    if (lc->hidden || (lc->c.type != SLUICE_ICE_CAND_HOST && lc->c.type != SLUICE_ICE_CAND_RELAY)) return -1;
    if (rc->addr.family == 0 || rc->addr.family != lc->c.addr.family) return -1;
    int pi = find_pair(a, l, r);
    if (pi >= 0) return pi;
    if (!a->trig && !(a->trig = sluice_mem_calloc(a->alloc, a->set.max_pairs, sizeof *a->trig))) {
        a->dropped++;
        return -1;
    }
    if (!grow(a, (void **)&a->pairs, &a->cap_pairs, a->npairs, a->set.max_pairs, sizeof *a->pairs)) {
        a->dropped++;
        return -1;
    }
    ice_pair *p = &a->pairs[a->npairs];
    memset(p, 0, sizeof *p);
    p->local = l;
    p->remote = r;
    p->state = PAIR_FROZEN;
    p->prio = pair_priority(a, lc->c.priority, rc->priority);
    if (lc->relay >= 0) (void)sluice_turn_add_peer(&a->turn[lc->relay], now, &rc->addr);
    return (int)a->npairs++;
}

static void pair_local(sluice_ice_agent *a, sluice_time now, int l) {
    for (size_t r = 0; r < a->nremotes; r++) (void)add_pair(a, now, l, (int)r);
}

static void pair_remote(sluice_ice_agent *a, sluice_time now, int r) {
    for (size_t l = 0; l < a->nlocals; l++) (void)add_pair(a, now, (int)l, r);
}

static int add_local(sluice_ice_agent *a, sluice_ice_cand_type type, const sluice_addr *addr, const sluice_addr *base,
                     const sluice_addr *server, int relay, uint16_t local_pref, bool hidden) {
    if (a->nlocals == ICE_MAX_LOCALS) return SLUICE_ERR_EXHAUSTED;
    for (size_t i = 0; i < a->nlocals; i++)
        if (a->locals[i].c.type == type && sluice_addr_equal(&a->locals[i].c.addr, addr)) return SLUICE_ERR_ID_IN_USE;
    if (!grow(a, (void **)&a->locals, &a->cap_locals, a->nlocals, ICE_MAX_LOCALS, sizeof *a->locals))
        return SLUICE_ERR_NOMEM;
    ice_local *l = &a->locals[a->nlocals];
    memset(l, 0, sizeof *l);
    l->c.component = 1;
    l->c.type = type;
    l->c.addr = *addr;
    l->c.priority = sluice_ice_priority(type, local_pref, 1);
    make_foundation(l->c.foundation, type, base, server);
    if (type != SLUICE_ICE_CAND_HOST) {
        l->c.has_related = true;
        l->c.related = type == SLUICE_ICE_CAND_RELAY && server ? *server : *base;
    }
    snprintf(l->c.ufrag, sizeof l->c.ufrag, "%s", a->ufrag);
    l->base = *base;
    l->relay = relay;
    l->hidden = hidden;
    if (!hidden) {
        sluice_ice_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = SLUICE_ICE_EVENT_LOCAL_CANDIDATE;
        ev.candidate = l->c;
        push_event(a, &ev);
    }
    return (int)a->nlocals++;
}

int sluice_ice_add_remote_candidate(sluice_ice_agent *a, sluice_time now, const sluice_ice_candidate *c) {
    if (!a || !c) return SLUICE_ERR_INVALID_ARGUMENT;
    if (c->component != 1 || c->tcp) return SLUICE_OK;
    /* A candidate of an older generation (before an ICE restart) is ignored (RFC 8838 §11). */
    if (c->ufrag[0] && a->have_remote && strcmp(c->ufrag, a->rufrag) != 0) return SLUICE_OK;
    if (c->addr.family == 0) {
        /* An mDNS name: kept until the caller resolves it (RFC 8838 §6 allows late addition). */
        if (!c->hostname[0]) return SLUICE_OK;
        for (size_t i = 0; i < a->nunresolved; i++)
            if (a->unresolved[i].addr.port == c->addr.port && strcmp(a->unresolved[i].hostname, c->hostname) == 0)
                return SLUICE_OK;
        if (a->nunresolved == ICE_MAX_UNRESOLVED) return SLUICE_ERR_EXHAUSTED;
        if (!a->unresolved &&
            !(a->unresolved = sluice_mem_calloc(a->alloc, ICE_MAX_UNRESOLVED, sizeof *a->unresolved)))
            return SLUICE_ERR_NOMEM;
        a->unresolved[a->nunresolved++] = *c;
        return SLUICE_OK;
    }
    int r = find_remote(a, &c->addr);
    if (r >= 0) {
        /* Known already (perhaps as peer-reflexive): take the signalled type and priority. */
        if (a->remotes[r].type == SLUICE_ICE_CAND_PRFLX) {
            a->remotes[r] = *c;
            recompute_priorities(a);
        }
        return SLUICE_OK;
    }
    if (!remote_room(a)) return a->nremotes == a->set.max_remote_candidates ? SLUICE_ERR_EXHAUSTED : SLUICE_ERR_NOMEM;
    a->remotes[a->nremotes] = *c;
    r = (int)a->nremotes++;
    pair_remote(a, now, r);
    return SLUICE_OK;
}

size_t sluice_ice_unresolved_hostnames(const sluice_ice_agent *a, const char **names, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < a->nunresolved && n < max; i++) {
        bool seen = false;
        for (size_t j = 0; j < n; j++) seen |= strcmp(names[j], a->unresolved[i].hostname) == 0;
        if (!seen) names[n++] = a->unresolved[i].hostname;
    }
    return n;
}

int sluice_ice_resolve_hostname(sluice_ice_agent *a, sluice_time now, const char *name, const sluice_addr *ip) {
    if (!a || !name || !ip || (ip->family != 4 && ip->family != 6)) return SLUICE_ERR_INVALID_ARGUMENT;
    int added = 0;
    size_t keep = 0;
    for (size_t i = 0; i < a->nunresolved; i++) {
        sluice_ice_candidate c = a->unresolved[i];
        if (sluice_strcasecmp(c.hostname, name) != 0) {
            a->unresolved[keep++] = c;
            continue;
        }
        uint16_t port = c.addr.port;
        c.addr = *ip;
        c.addr.port = port;
        c.hostname[0] = 0;
        if (sluice_ice_add_remote_candidate(a, now, &c) == SLUICE_OK) added++;
    }
    a->nunresolved = keep;
    return added;
}

int sluice_ice_add_local_address(sluice_ice_agent *a, const sluice_addr *local) {
    if (!a || !local || (local->family != 4 && local->family != 6)) return SLUICE_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < a->naddrs; i++)
        if (sluice_addr_equal(&a->addrs[i], local)) return SLUICE_OK;
    if (a->naddrs == ICE_MAX_ADDRS) return SLUICE_ERR_EXHAUSTED;
    a->addrs[a->naddrs++] = *local;
    if (a->gathering) {
        int l = add_local(a, SLUICE_ICE_CAND_HOST, local, local, NULL, -1,
                          (uint16_t)(65535 - (a->naddrs - 1) * 256), a->set.relay_only);
        if (l >= 0) pair_local(a, 0, l);
    }
    return SLUICE_OK;
}

static bool url_addr(const sluice_ice_url *u, bool tcp_ok, sluice_addr *out) {
    /* stuns: would learn a TCP mapping, useless for our UDP candidates: not supported. */
    if (u->scheme == SLUICE_ICE_SCHEME_STUNS) return false;
    if (u->transport == SLUICE_ICE_TRANSPORT_TCP && !tcp_ok) return false;
    return sluice_addr_parse(out, u->host, u->port) == SLUICE_OK;
}

static void emit_gathering_done_if(sluice_ice_agent *a) {
    if (!a->gathering || a->gathering_done) return;
    for (size_t i = 0; i < a->ngather; i++)
        if (a->gather[i].active) return;
    for (size_t i = 0; i < a->nturn; i++)
        if (a->turn[i].state == SLUICE_TURN_ALLOCATING || a->turn[i].state == SLUICE_TURN_IDLE) return;
    a->gathering_done = true;
    sluice_ice_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_ICE_EVENT_GATHERING_DONE;
    push_event(a, &ev);
}

int sluice_ice_gather(sluice_ice_agent *a, sluice_time now) {
    if (!a) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->closed) return SLUICE_ERR_CLOSED;
    if (a->gathering) return SLUICE_OK;
    a->gathering = true;
    for (size_t i = 0; i < a->naddrs; i++) {
        int l = add_local(a, SLUICE_ICE_CAND_HOST, &a->addrs[i], &a->addrs[i], NULL, -1,
                          (uint16_t)(65535 - i * 256), a->set.relay_only);
        if (l >= 0) pair_local(a, now, l);
    }
    for (size_t s = 0; s < a->set.stun_servers_count && !a->set.relay_only; s++) {
        sluice_addr srv;
        if (!url_addr(&a->stun_urls[s], false, &srv)) {
            SLUICE_LOG(a->log, SLUICE_LOG_WARN, "ice", "STUN server %s skipped (%s)", a->stun_urls[s].host,
                       a->stun_urls[s].scheme == SLUICE_ICE_SCHEME_STUNS ? "stuns: is not supported"
                                                                         : "needs an IP literal, UDP");
            continue;
        }
        for (size_t i = 0; i < a->naddrs && a->ngather < ICE_MAX_GATHER; i++) {
            if (a->addrs[i].family != srv.family) continue;
            ice_gather *g = &a->gather[a->ngather++];
            memset(g, 0, sizeof *g);
            g->active = true;
            g->server = srv;
            g->base = a->addrs[i];
            g->next = now;
            g->rto = ICE_RTO_INITIAL_MS;
            sluice_stun_new_tid(a->rng, g->tid);
        }
    }
    for (size_t s = 0; s < a->set.turn_servers_count; s++) {
        sluice_addr srv;
        if (!url_addr(&a->turn_urls[s], true, &srv)) {
            SLUICE_LOG(a->log, SLUICE_LOG_WARN, "ice", "TURN server %s skipped (needs an IP literal)",
                       a->turn_urls[s].host);
            continue;
        }
        for (size_t i = 0; i < a->naddrs && a->nturn < ICE_MAX_TURN; i++) {
            if (a->addrs[i].family != srv.family) continue;
            sluice_turn_settings ts;
            sluice_turn_settings_default(&ts);
            /* RFC 8656 §3.1 / RFC 6062: TURN over TCP or TLS (turns:, always a stream); the
             * relay towards peers stays UDP. */
            ts.tcp = a->turn_urls[s].transport == SLUICE_ICE_TRANSPORT_TCP ||
                     a->turn_urls[s].scheme == SLUICE_ICE_SCHEME_TURNS;
            if (!a->turn && !(a->turn = sluice_mem_calloc(a->alloc, ICE_MAX_TURN, sizeof *a->turn))) break;
            sluice_turn_client *t = &a->turn[a->nturn];
            if (sluice_turn_init(t, &ts, &srv, &a->addrs[i], a->turn_user, a->turn_pass, a->rng, a->log) != SLUICE_OK)
                continue;
            a->turn_reported[a->nturn] = false;
            a->turn_url[a->nturn] = s;
            a->nturn++;
            sluice_turn_start(t, now);
        }
    }
    emit_gathering_done_if(a);
    return SLUICE_OK;
}

int sluice_ice_restart(sluice_ice_agent *a, sluice_time now) {
    if (!a) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->closed) return SLUICE_ERR_CLOSED;
    if (new_credentials(a) != SLUICE_OK) return SLUICE_ERR_CRYPTO;
    a->peer_knows_us = false;
    reset_pairs(a, false);
    if (a->state != SLUICE_ICE_NEW) set_state(a, SLUICE_ICE_CHECKING);
    a->checking_since = now;
    /* RFC 8445 §9: gather again; our candidates are re-signalled with the new ufrag. */
    for (size_t i = 0; i < a->nlocals; i++) {
        ice_local *l = &a->locals[i];
        snprintf(l->c.ufrag, sizeof l->c.ufrag, "%s", a->ufrag);
        l->c.generation++;
        if (l->hidden || l->c.type == SLUICE_ICE_CAND_PRFLX) continue;
        sluice_ice_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = SLUICE_ICE_EVENT_LOCAL_CANDIDATE;
        ev.candidate = l->c;
        push_event(a, &ev);
    }
    if (a->gathering_done) {
        sluice_ice_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = SLUICE_ICE_EVENT_GATHERING_DONE;
        push_event(a, &ev);
    }
    return SLUICE_OK;
}

/* ---- sending ------------------------------------------------------------------------ */

static void queue_out(sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote, int relay,
                      const uint8_t *msg, size_t len) {
    if (len > ICE_OUT_MAX_LEN ||
        !grow_ring(a, (void **)&a->out, &a->out_cap, &a->out_head, a->out_count, ICE_MAX_OUT, sizeof *a->out)) {
        a->dropped++;
        return;
    }
    ice_out *o = &a->out[(a->out_head + a->out_count) % a->out_cap];
    o->local = *local;
    o->remote = *remote;
    o->relay = relay;
    o->len = len;
    memcpy(o->buf, msg, len);
    a->out_count++;
}

/* Put `msg` on the wire: raw from the base, or wrapped for the TURN server. */
static int emit(sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote, int relay,
                const uint8_t *msg, size_t len, sluice_addr *out_local, sluice_addr *out_remote, uint8_t *buf,
                size_t cap) {
    if (relay >= 0) {
        sluice_turn_client *t = &a->turn[relay];
        int n = sluice_turn_wrap(t, remote, msg, len, buf, cap);
        if (n < 0) return n;
        *out_local = t->base;
        *out_remote = t->server;
        return n;
    }
    if (len > cap) return SLUICE_ERR_NOBUFS;
    memcpy(buf, msg, len);
    *out_local = *local;
    *out_remote = *remote;
    return (int)len;
}

static void respond(sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote, int relay,
                    const sluice_stun_msg *req, uint16_t code, bool sign) {
    uint8_t msg[ICE_OUT_MAX_LEN];
    sluice_wr w = sluice_wr_make(msg, sizeof msg);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, code ? SLUICE_STUN_ERROR : SLUICE_STUN_SUCCESS, req->tid);
    if (code) {
        const char *reason = code == 487 ? "Role Conflict" : code == 401 ? "Unauthorized"
                             : code == 420 ? "Unknown Attribute" : "Bad Request";
        sluice_stun_add_error(&w, code, reason);
        if (code == 420) {
            uint8_t ua[2 * SLUICE_STUN_MAX_UNKNOWN];
            for (size_t i = 0; i < req->unknown_count; i++) sluice_store_be16(ua + 2 * i, req->unknown[i]);
            sluice_stun_add(&w, SLUICE_STUN_ATTR_UNKNOWN_ATTRIBUTES, ua, 2 * req->unknown_count);
        }
    } else {
        sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS, remote);
    }
    /* RFC 8445 §7.3: responses are signed with our password (short-term credentials). */
    if (sign) sluice_stun_add_integrity(&w, (const uint8_t *)a->pwd, strlen(a->pwd));
    sluice_stun_add_fingerprint(&w);
    int n = sluice_stun_build_end(&w);
    if (n > 0) queue_out(a, local, remote, relay, msg, (size_t)n);
}

static int build_check(sluice_ice_agent *a, const ice_pair *p, uint8_t *msg, size_t cap) {
    const ice_local *l = &a->locals[p->local];
    char user[sizeof a->rufrag + sizeof a->ufrag + 1];
    snprintf(user, sizeof user, "%s:%s", a->rufrag, a->ufrag);
    /* §7.1.1: PRIORITY is what a peer-reflexive candidate of ours would get. */
    uint32_t prflx = sluice_ice_priority(SLUICE_ICE_CAND_PRFLX, (uint16_t)(l->c.priority >> 8), 1);
    sluice_wr w = sluice_wr_make(msg, cap);
    sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, p->tid);
    sluice_stun_add_str(&w, SLUICE_STUN_ATTR_USERNAME, user);
    sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_PRIORITY, prflx);
    sluice_stun_add_u64(&w, p->txn_controlling ? SLUICE_STUN_ATTR_ICE_CONTROLLING : SLUICE_STUN_ATTR_ICE_CONTROLLED,
                        a->tiebreaker);
    if (p->txn_use_cand) sluice_stun_add(&w, SLUICE_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    sluice_stun_add_integrity(&w, (const uint8_t *)a->rpwd, strlen(a->rpwd));
    sluice_stun_add_fingerprint(&w);
    return sluice_stun_build_end(&w);
}

static void start_txn(sluice_ice_agent *a, ice_pair *p, sluice_time now, bool consent) {
    p->txn = true;
    p->txn_consent = consent;
    p->txn_controlling = a->controlling;
    p->txn_use_cand = !consent && a->controlling && (a->set.aggressive_nomination || p->nominating);
    p->txn_sends = 0;
    p->txn_next = now;
    p->txn_rto = ICE_RTO_INITIAL_MS;
    p->txn_max = consent ? ICE_CONSENT_MAX_SENDS : ICE_CHECK_MAX_SENDS;
    sluice_stun_new_tid(a->rng, p->tid);
    if (!consent && p->state != PAIR_SUCCEEDED) p->state = PAIR_IN_PROGRESS;
}

static int send_txn(sluice_ice_agent *a, ice_pair *p, sluice_time now, sluice_addr *local, sluice_addr *remote,
                    uint8_t *buf, size_t cap) {
    uint8_t msg[ICE_OUT_MAX_LEN + 300];
    int n = build_check(a, p, msg, sizeof msg);
    if (n < 0) return n;
    p->txn_sends++;
    p->txn_next = now + ms(p->txn_rto);
    p->txn_rto = SLUICE_MIN(p->txn_rto * 2, (uint32_t)ICE_RTO_MAX_MS);
    const ice_local *l = &a->locals[p->local];
    return emit(a, &l->base, &a->remotes[p->remote].addr, l->relay, msg, (size_t)n, local, remote, buf, cap);
}

/* ---- selection, nomination, timers --------------------------------------------------- */

static sluice_time consent_delay(sluice_ice_agent *a) {
    /* RFC 7675 §5.1: randomised between 0.8 and 1.2 of the interval. Checks must also come
     * often enough that one lost answer does not reach disconnect_ms: at most half of it. */
    uint32_t base = SLUICE_MIN(a->set.consent_interval_ms, a->set.disconnect_ms / 2);
    if (base < 10) base = 10;
    uint32_t lo = base - base / 5, span = base / 5 * 2 + 1;
    return ms(lo + sluice_rng_below(a->rng, span));
}

static void update_selected(sluice_ice_agent *a, sluice_time now) {
    int best = -1;
    for (size_t i = 0; i < a->npairs; i++) {
        const ice_pair *p = &a->pairs[i];
        if (p->nominated && p->valid && p->state != PAIR_FAILED && (best < 0 || p->prio > a->pairs[best].prio))
            best = (int)i;
    }
    if (best < 0 || best == a->selected) return;
    a->selected = best;
    ice_pair *p = &a->pairs[best];
    const ice_local *l = &a->locals[p->local];
    a->has_sel = true;
    a->sel_local = l->relay >= 0 ? l->c.addr : l->base;
    a->sel_remote = a->remotes[p->remote].addr;
    a->sel_relay = l->relay;
    if (!p->last_ok) p->last_ok = now;
    a->next_consent = now + consent_delay(a);
    char ls[64], rs[64];
    sluice_addr_format(&a->sel_local, ls, sizeof ls);
    sluice_addr_format(&a->sel_remote, rs, sizeof rs);
    SLUICE_LOG(a->log, SLUICE_LOG_INFO, "ice", "selected pair %s -> %s", ls, rs);
    sluice_ice_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_ICE_EVENT_SELECTED_PAIR;
    ev.local = a->sel_local;
    ev.remote = a->sel_remote;
    push_event(a, &ev);
    if (a->state != SLUICE_ICE_CONNECTED && a->state != SLUICE_ICE_COMPLETED) set_state(a, SLUICE_ICE_CONNECTED);
}

static bool pairs_pending(const sluice_ice_agent *a) {
    for (size_t i = 0; i < a->npairs; i++) {
        const ice_pair *p = &a->pairs[i];
        if (p->state == PAIR_WAITING || p->state == PAIR_IN_PROGRESS || p->state == PAIR_FROZEN) return true;
    }
    return false;
}

/* Regular nomination by the controlling agent (RFC 8445 §8.1.1): nominate the best valid
 * pair once no better pair can still succeed, or after a bounded wait. */
static void maybe_nominate(sluice_ice_agent *a, sluice_time now) {
    if (!a->controlling || a->set.aggressive_nomination || a->selected >= 0) return;
    int best = -1;
    for (size_t i = 0; i < a->npairs; i++) {
        const ice_pair *p = &a->pairs[i];
        if (p->nominating) return;
        if (p->valid && p->state != PAIR_FAILED && (best < 0 || p->prio > a->pairs[best].prio)) best = (int)i;
    }
    if (best < 0) return;
    bool better_pending = false;
    for (size_t i = 0; i < a->npairs; i++) {
        const ice_pair *p = &a->pairs[i];
        if (p->prio > a->pairs[best].prio &&
            (p->state == PAIR_WAITING || p->state == PAIR_IN_PROGRESS || p->state == PAIR_FROZEN))
            better_pending = true;
    }
    if (better_pending && now < a->first_valid + ms(ICE_NOMINATION_WAIT_MS)) return;
    a->pairs[best].nominating = true;
    trigger(a, best);
    /* The nomination goes out at once rather than a Ta later: the pair is already valid,
     * so it opens no new binding, and connection setup is one RTT shorter (50 ms here). */
    a->next_check = now;
}

static void txn_failed(sluice_ice_agent *a, ice_pair *p, sluice_time now) {
    p->txn = false;
    if (p->txn_consent) {
        /* RFC 7675: consent is judged by time since the last response; try again soon. */
        a->next_consent = now + ms(SLUICE_MIN(a->set.consent_interval_ms, 1000u));
        return;
    }
    p->state = PAIR_FAILED;
    p->valid = false;
    p->nominating = false;
    if (a->pairs + a->selected == p) a->selected = -1;
}

static void expire_txns(sluice_ice_agent *a, sluice_time now) {
    for (size_t i = 0; i < a->npairs; i++) {
        ice_pair *p = &a->pairs[i];
        if (p->txn && p->txn_sends >= p->txn_max && now >= p->txn_next) txn_failed(a, p, now);
    }
    for (size_t i = 0; i < a->ngather; i++) {
        ice_gather *g = &a->gather[i];
        if (g->active && g->sends >= ICE_CHECK_MAX_SENDS && now >= g->next) g->active = false;
    }
}

static void maybe_start(sluice_ice_agent *a, sluice_time now) {
    if (a->started || a->closed || !a->have_remote || a->npairs == 0) return;
    a->started = true;
    a->checking_since = now;
    a->next_check = now;
    if (a->state == SLUICE_ICE_NEW) set_state(a, SLUICE_ICE_CHECKING);
}

static void check_turn(sluice_ice_agent *a, sluice_time now) {
    for (size_t i = 0; i < a->nturn; i++) {
        sluice_turn_client *t = &a->turn[i];
        if (a->turn_reported[i] || t->state == SLUICE_TURN_ALLOCATING || t->state == SLUICE_TURN_IDLE) continue;
        a->turn_reported[i] = true;
        if (t->state != SLUICE_TURN_READY) {
            SLUICE_LOG(a->log, SLUICE_LOG_WARN, "ice", "TURN allocation failed (error %u)", (unsigned)t->error_code);
            continue;
        }
        int l = add_local(a, SLUICE_ICE_CAND_RELAY, &t->relayed, &t->base, &t->server, (int)i,
                          (uint16_t)(65535 - i * 256), false);
        if (l >= 0) {
            /* The related address of a relay candidate is the mapped address (RFC 8839 §5.1). */
            if (t->mapped.family) a->locals[l].c.related = t->mapped;
            pair_local(a, now, l);
        }
    }
    emit_gathering_done_if(a);
}

void sluice_ice_handle_timeout(sluice_ice_agent *a, sluice_time now) {
    if (a->closed) return;
    for (size_t i = 0; i < a->nturn; i++) sluice_turn_handle_timeout(&a->turn[i], now);
    check_turn(a, now);
    expire_txns(a, now);
    emit_gathering_done_if(a);
    maybe_start(a, now);
    maybe_nominate(a, now);
    if (a->state == SLUICE_ICE_FAILED) return;
    if (a->selected >= 0) {
        const ice_pair *p = &a->pairs[a->selected];
        sluice_time silent = now > p->last_ok ? now - p->last_ok : 0;
        if (silent >= ms(a->set.fail_ms)) {
            SLUICE_LOG(a->log, SLUICE_LOG_WARN, "ice", "consent expired");
            set_state(a, SLUICE_ICE_FAILED);
        } else if (silent >= ms(a->set.disconnect_ms)) {
            set_state(a, SLUICE_ICE_DISCONNECTED);
        } else if (a->state == SLUICE_ICE_CONNECTED && a->remote_done && a->gathering_done && !a->trig_count &&
                   !pairs_pending(a)) {
            set_state(a, SLUICE_ICE_COMPLETED);
        }
    } else if (a->started && a->state == SLUICE_ICE_CHECKING) {
        bool all_failed = a->remote_done && a->npairs > 0;
        for (size_t i = 0; i < a->npairs && all_failed; i++)
            if (a->pairs[i].state != PAIR_FAILED) all_failed = false;
        if (all_failed || now >= a->checking_since + ms(a->set.connect_timeout_ms)) {
            SLUICE_LOG(a->log, SLUICE_LOG_WARN, "ice", "no working candidate pair");
            set_state(a, SLUICE_ICE_FAILED);
        }
    }
}

static bool check_work(const sluice_ice_agent *a) {
    if (!a->started || a->state == SLUICE_ICE_FAILED) return false;
    if (a->trig_count) return true;
    if (a->selected >= 0) return false;
    for (size_t i = 0; i < a->npairs; i++)
        if (a->pairs[i].state == PAIR_WAITING || a->pairs[i].state == PAIR_FROZEN) return true;
    return false;
}

sluice_time sluice_ice_next_deadline(const sluice_ice_agent *a) {
    if (a->closed) return SLUICE_TIME_NEVER;
    if (a->out_count) return 0;
    sluice_time d = SLUICE_TIME_NEVER;
    for (size_t i = 0; i < a->nturn; i++) d = sluice_time_min(d, sluice_turn_next_deadline(&a->turn[i]));
    for (size_t i = 0; i < a->nturn; i++)
        if (!a->turn_reported[i] && a->turn[i].state != SLUICE_TURN_ALLOCATING && a->turn[i].state != SLUICE_TURN_IDLE)
            return 0;
    for (size_t i = 0; i < a->ngather; i++)
        if (a->gather[i].active) d = sluice_time_min(d, a->gather[i].next);
    for (size_t i = 0; i < a->npairs; i++)
        if (a->pairs[i].txn) d = sluice_time_min(d, a->pairs[i].txn_next);
    if (!a->started && a->have_remote && a->npairs) return 0;
    if (check_work(a)) d = sluice_time_min(d, a->next_check);
    if (a->state == SLUICE_ICE_FAILED) return d;
    if (a->selected >= 0) {
        const ice_pair *p = &a->pairs[a->selected];
        if (!p->txn) d = sluice_time_min(d, a->next_consent);
        if (a->state != SLUICE_ICE_DISCONNECTED) d = sluice_time_min(d, p->last_ok + ms(a->set.disconnect_ms));
        d = sluice_time_min(d, p->last_ok + ms(a->set.fail_ms));
    } else if (a->started && a->state == SLUICE_ICE_CHECKING) {
        d = sluice_time_min(d, a->checking_since + ms(a->set.connect_timeout_ms));
        if (a->controlling && !a->set.aggressive_nomination && a->first_valid != SLUICE_TIME_NEVER) {
            /* Only while maybe_nominate() can act: a valid pair and no nomination under way. */
            bool nominating = false, valid = false;
            for (size_t i = 0; i < a->npairs; i++) {
                nominating |= a->pairs[i].nominating;
                valid |= a->pairs[i].valid && a->pairs[i].state != PAIR_FAILED;
            }
            if (!nominating && valid) d = sluice_time_min(d, a->first_valid + ms(ICE_NOMINATION_WAIT_MS));
        }
    }
    return d;
}

static int next_check_pair(sluice_ice_agent *a) {
    while (a->trig_count) {
        int pi = a->trig[a->trig_head];
        a->trig_head = (a->trig_head + 1) % a->set.max_pairs;
        a->trig_count--;
        a->pairs[pi].in_triggered = false;
        if (!a->pairs[pi].txn || a->pairs[pi].txn_consent) return pi;
    }
    if (a->selected >= 0) return -1; /* §8.1.2: ordinary checks end with a nomination */
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++) {
        uint8_t want = pass == 0 ? PAIR_WAITING : PAIR_FROZEN;
        for (size_t i = 0; i < a->npairs; i++)
            if (a->pairs[i].state == want && (best < 0 || a->pairs[i].prio > a->pairs[best].prio)) best = (int)i;
    }
    return best;
}

int sluice_ice_poll_transmit(sluice_ice_agent *a, sluice_time now, sluice_addr *local, sluice_addr *remote,
                             uint8_t *buf, size_t cap) {
    if (!a || !local || !remote || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->closed) {
        /* Deallocation requests of TURN still go out once. */
        for (size_t i = 0; i < a->nturn; i++) {
            int n = sluice_turn_poll_transmit(&a->turn[i], now, buf, cap);
            if (n != 0) {
                *local = a->turn[i].base;
                *remote = a->turn[i].server;
                return n;
            }
        }
        return 0;
    }
    while (a->out_count) {
        ice_out *o = &a->out[a->out_head];
        a->out_head = (a->out_head + 1) % a->out_cap;
        a->out_count--;
        int n = emit(a, &o->local, &o->remote, o->relay, o->buf, o->len, local, remote, buf, cap);
        if (n > 0 || n == SLUICE_ERR_NOBUFS) return n;
    }
    for (size_t i = 0; i < a->nturn; i++) {
        int n = sluice_turn_poll_transmit(&a->turn[i], now, buf, cap);
        if (n != 0) {
            *local = a->turn[i].base;
            *remote = a->turn[i].server;
            return n;
        }
    }
    check_turn(a, now);
    expire_txns(a, now);
    for (size_t i = 0; i < a->ngather; i++) {
        ice_gather *g = &a->gather[i];
        if (!g->active || now < g->next || g->sends >= ICE_CHECK_MAX_SENDS) continue;
        sluice_wr w = sluice_wr_make(buf, cap);
        sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, g->tid);
        sluice_stun_add_fingerprint(&w);
        int n = sluice_stun_build_end(&w);
        if (n < 0) return n;
        g->sends++;
        g->next = now + ms(g->rto);
        g->rto = SLUICE_MIN(g->rto * 2, (uint32_t)ICE_RTO_MAX_MS);
        *local = g->base;
        *remote = g->server;
        return n;
    }
    maybe_start(a, now);
    if (!a->have_remote) return 0;
    for (size_t i = 0; i < a->npairs; i++) {
        ice_pair *p = &a->pairs[i];
        if (p->txn && p->txn_sends < p->txn_max && now >= p->txn_next) {
            int n = send_txn(a, p, now, local, remote, buf, cap);
            if (n != 0) return n;
        }
    }
    if (a->state == SLUICE_ICE_FAILED) return 0;
    if (check_work(a) && now >= a->next_check) {
        int pi = next_check_pair(a);
        if (pi >= 0) {
            ice_pair *p = &a->pairs[pi];
            start_txn(a, p, now, false);
            /* §6.1.4.2 pacing: one new check every Ta. */
            a->next_check = now + ms(a->set.ta_ms);
            int n = send_txn(a, p, now, local, remote, buf, cap);
            if (n != 0) return n;
        }
    }
    if (a->selected >= 0 && now >= a->next_consent) {
        ice_pair *p = &a->pairs[a->selected];
        if (!p->txn) {
            start_txn(a, p, now, true);
            a->next_consent = now + consent_delay(a);
            int n = send_txn(a, p, now, local, remote, buf, cap);
            if (n != 0) return n;
        }
    }
    return 0;
}

int sluice_ice_wrap_app_data(sluice_ice_agent *a, const uint8_t *data, size_t len, sluice_addr *local,
                             sluice_addr *remote, uint8_t *buf, size_t cap) {
    if (!a || (!data && len) || !local || !remote || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!a->has_sel || a->closed || a->state == SLUICE_ICE_FAILED) return SLUICE_ERR_INVALID_STATE;
    const sluice_addr *base = &a->sel_local;
    if (a->sel_relay >= 0) base = &a->turn[a->sel_relay].base;
    return emit(a, base, &a->sel_remote, a->sel_relay, data, len, local, remote, buf, cap);
}

static int path_turn(const sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote) {
    for (size_t i = 0; i < a->nturn; i++)
        if (a->turn[i].set.tcp && sluice_addr_equal(local, &a->turn[i].base) &&
            sluice_addr_equal(remote, &a->turn[i].server))
            return (int)i;
    return -1;
}

void sluice_ice_path_closed(sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote) {
    if (!a || !local || !remote) return;
    int i = path_turn(a, local, remote);
    /* check_turn() reports it at the next deadline (now): no relay candidate, or pairs on
     * it fail by consent; gathering completes without waiting for a timeout. */
    if (i >= 0) sluice_turn_transport_closed(&a->turn[i]);
}

bool sluice_ice_is_tcp_path(const sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote) {
    return path_turn(a, local, remote) >= 0;
}

sluice_ice_path_transport sluice_ice_path_transport_of(const sluice_ice_agent *a, const sluice_addr *local,
                                                       const sluice_addr *remote) {
    int i = path_turn(a, local, remote);
    if (i < 0) return SLUICE_ICE_PATH_UDP;
    return a->turn_urls[a->turn_url[i]].scheme == SLUICE_ICE_SCHEME_TURNS ? SLUICE_ICE_PATH_TLS : SLUICE_ICE_PATH_TCP;
}

const char *sluice_ice_path_server_name(const sluice_ice_agent *a, const sluice_addr *local,
                                        const sluice_addr *remote) {
    int i = path_turn(a, local, remote);
    if (i < 0) return NULL;
    const sluice_ice_url *u = &a->turn_urls[a->turn_url[i]];
    return u->server_name[0] ? u->server_name : u->host;
}

void sluice_ice_note_traffic(sluice_ice_agent *a, sluice_time now, const sluice_addr *local,
                             const sluice_addr *remote) {
    (void)a; (void)now; (void)local; (void)remote;
    /* RFC 7675 §5.1: only authenticated STUN responses refresh consent; data does not. */
}

/* ---- receiving ---------------------------------------------------------------------- */

static void handle_request(sluice_ice_agent *a, sluice_time now, const sluice_addr *local,
                           const sluice_addr *remote, int relay, const sluice_stun_msg *m) {
    size_t ul = strlen(a->ufrag);
    /* RFC 8489 §9.1.3: missing USERNAME or MESSAGE-INTEGRITY → 400; wrong ones → 401. */
    if (!m->has_username || (!m->integrity_off && !m->integrity_sha256_off)) {
        respond(a, local, remote, relay, m, 400, false);
        a->dropped++;
        return;
    }
    if (m->username.len <= ul || memcmp(m->username.p, a->ufrag, ul) != 0 || m->username.p[ul] != ':' ||
        sluice_stun_check_integrity(m, (const uint8_t *)a->pwd, strlen(a->pwd)) != SLUICE_OK) {
        respond(a, local, remote, relay, m, 401, false);
        a->dropped++;
        return;
    }
    a->peer_knows_us = true;
    if (find_remote(a, remote) < 0) {
        bool seen = false;
        for (size_t i = 0; i < ICE_MAX_AUTH_SRC && !seen; i++) seen = sluice_addr_equal(&a->auth_src[i], remote);
        if (!seen) {
            a->auth_src[a->auth_src_next] = *remote;
            a->auth_src_next = (a->auth_src_next + 1) % ICE_MAX_AUTH_SRC;
        }
    }
    if (m->unknown_count) {
        respond(a, local, remote, relay, m, 420, true);
        return;
    }
    /* RFC 8445 §7.3.1.1 role conflict. A peer that ignores our 487 and keeps claiming the
     * same role (pion 3.1 after an ICE restart keeps its old role and drops conflicting
     * requests without an answer) would stall both sides: after ICE_MAX_CONFLICT_487
     * answers in a row we take the other role ourselves. */
    bool conflict = (a->controlling && m->has_controlling) || (!a->controlling && m->has_controlled);
    if (!conflict) a->conflict_487s = 0;
    if (conflict && a->conflict_487s >= ICE_MAX_CONFLICT_487) {
        SLUICE_LOG(a->log, SLUICE_LOG_INFO, "ice", "the peer ignores role conflicts: taking the other role");
        a->conflict_487s = 0;
        switch_role(a, !a->controlling);
    } else if (a->controlling && m->has_controlling) {
        if (a->tiebreaker >= m->tiebreaker) {
            a->conflict_487s++;
            respond(a, local, remote, relay, m, 487, true);
            return;
        }
        switch_role(a, false);
    } else if (!a->controlling && m->has_controlled) {
        if (a->tiebreaker >= m->tiebreaker) {
            switch_role(a, true);
        } else {
            a->conflict_487s++;
            respond(a, local, remote, relay, m, 487, true);
            return;
        }
    }
    respond(a, local, remote, relay, m, 0, true);

    int l = find_local(a, local, relay);
    if (l < 0) return; /* not gathered yet: nothing to pair with */
    int r = find_remote(a, remote);
    if (r < 0) {
        /* §7.3.1.3: a peer-reflexive remote candidate, priority from the request. */
        if (!remote_room(a)) {
            a->dropped++;
            return;
        }
        sluice_ice_candidate *c = &a->remotes[a->nremotes];
        memset(c, 0, sizeof *c);
        c->component = 1;
        c->type = SLUICE_ICE_CAND_PRFLX;
        c->addr = *remote;
        c->priority = m->has_priority ? m->priority : sluice_ice_priority(SLUICE_ICE_CAND_PRFLX, 65535, 1);
        snprintf(c->foundation, sizeof c->foundation, "prflx%u", (unsigned)a->nremotes);
        r = (int)a->nremotes++;
        char rs[64];
        sluice_addr_format(remote, rs, sizeof rs);
        SLUICE_LOG(a->log, SLUICE_LOG_DEBUG, "ice", "peer-reflexive remote %s", rs);
    }
    int pi = add_pair(a, now, l, r);
    if (pi < 0) return;
    ice_pair *p = &a->pairs[pi];
    /* §7.3.1.5: USE-CANDIDATE nominates, now or when our own check succeeds. */
    if (m->use_candidate && !a->controlling) {
        if (p->valid) {
            p->nominated = true;
            update_selected(a, now);
        } else {
            p->nominate_on_success = true;
        }
    }
    /* §7.3.1.4 triggered check. */
    if (p->state == PAIR_SUCCEEDED) return;
    if (p->state == PAIR_IN_PROGRESS && p->txn) {
        if (p->txn_next > now + ms(a->set.ta_ms)) p->txn_next = now; /* retransmit at once */
        return;
    }
    p->state = PAIR_WAITING;
    trigger(a, pi);
    maybe_start(a, now);
}

static void handle_gather_response(sluice_ice_agent *a, ice_gather *g, const sluice_stun_msg *m) {
    g->active = false;
    if (m->cls != SLUICE_STUN_SUCCESS) return;
    const sluice_addr *mapped = m->has_xor_mapped ? &m->xor_mapped : m->has_mapped ? &m->mapped : NULL;
    if (!mapped || sluice_addr_equal(mapped, &g->base)) return;
    size_t idx = 0;
    for (size_t i = 0; i < a->naddrs; i++)
        if (sluice_addr_equal(&a->addrs[i], &g->base)) idx = i;
    (void)add_local(a, SLUICE_ICE_CAND_SRFLX, mapped, &g->base, &g->server, -1, (uint16_t)(65535 - idx * 256), false);
    emit_gathering_done_if(a);
}

static void handle_response(sluice_ice_agent *a, sluice_time now, const sluice_addr *local,
                            const sluice_addr *remote, int relay, const sluice_stun_msg *m) {
    for (size_t i = 0; i < a->ngather; i++) {
        ice_gather *g = &a->gather[i];
        if (g->active && relay < 0 && memcmp(g->tid, m->tid, SLUICE_STUN_TID_LEN) == 0 &&
            sluice_addr_equal(remote, &g->server)) {
            handle_gather_response(a, g, m);
            return;
        }
    }
    ice_pair *p = NULL;
    for (size_t i = 0; i < a->npairs; i++)
        if (a->pairs[i].txn && memcmp(a->pairs[i].tid, m->tid, SLUICE_STUN_TID_LEN) == 0) p = &a->pairs[i];
    if (!p || sluice_stun_check_integrity(m, (const uint8_t *)a->rpwd, strlen(a->rpwd)) != SLUICE_OK) {
        a->dropped++;
        return;
    }
    if (m->cls == SLUICE_STUN_ERROR) {
        if (m->error_code == 487) {
            /* §7.2.5.1: switch role if we still hold the role the request claimed, retry. */
            if (p->txn_controlling == a->controlling) switch_role(a, !a->controlling);
            p->txn = false;
            if (p->state != PAIR_SUCCEEDED) p->state = PAIR_WAITING;
            trigger(a, (int)(p - a->pairs));
            return;
        }
        txn_failed(a, p, now);
        return;
    }
    /* §7.2.5.2.1: the response must come from where the request went, to where it left. */
    const ice_local *l = &a->locals[p->local];
    bool symmetric = sluice_addr_equal(remote, &a->remotes[p->remote].addr) &&
                     (relay >= 0 ? l->relay == relay : (l->relay < 0 && sluice_addr_equal(local, &l->base)));
    if (!symmetric) {
        if (!p->txn_consent) {
            p->txn = false;
            p->state = PAIR_FAILED;
        }
        return;
    }
    bool consent = p->txn_consent;
    p->txn = false;
    p->state = PAIR_SUCCEEDED;
    p->valid = true;
    p->last_ok = now;
    if (a->first_valid == SLUICE_TIME_NEVER) a->first_valid = now;
    if (!consent) {
        if (p->txn_use_cand && a->controlling) p->nominated = true;
        if (p->nominate_on_success && !a->controlling) p->nominated = true;
        p->nominating = false;
    } else if (a->state == SLUICE_ICE_DISCONNECTED && a->pairs + a->selected == p) {
        set_state(a, SLUICE_ICE_CONNECTED);
    }
    update_selected(a, now);
    maybe_nominate(a, now);
}

static void handle_stun(sluice_ice_agent *a, sluice_time now, const sluice_addr *local, const sluice_addr *remote,
                        int relay, const uint8_t *data, size_t len) {
    sluice_stun_msg m;
    if (sluice_stun_parse(data, len, &m) != SLUICE_OK || m.method != SLUICE_STUN_BINDING) {
        a->dropped++;
        return;
    }
    if (m.cls == SLUICE_STUN_REQUEST) handle_request(a, now, local, remote, relay, &m);
    else if (m.cls == SLUICE_STUN_SUCCESS || m.cls == SLUICE_STUN_ERROR) handle_response(a, now, local, remote, relay, &m);
    /* Binding indications are keepalives (RFC 8445 §11): nothing to do. */
}

int sluice_ice_handle_datagram(sluice_ice_agent *a, sluice_time now, const sluice_addr *local,
                               const sluice_addr *remote, const uint8_t *data, size_t len, const uint8_t **app,
                               size_t *app_len, sluice_addr *app_from) {
    if (!a || !local || !remote || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (app_len) *app_len = 0;
    if (a->closed) return SLUICE_OK;
    for (size_t i = 0; i < a->nturn; i++) {
        sluice_turn_client *t = &a->turn[i];
        if (!sluice_turn_owns(t, local, remote)) continue;
        sluice_addr peer;
        const uint8_t *pl;
        size_t pn;
        int rc = sluice_turn_handle(t, now, data, len, &peer, &pl, &pn);
        check_turn(a, now);
        if (rc == 1) {
            if (sluice_stun_looks_like(pl, pn)) {
                handle_stun(a, now, &t->relayed, &peer, (int)i, pl, pn);
            } else if (app && app_len) {
                *app = pl;
                *app_len = pn;
                if (app_from) *app_from = peer;
            }
        }
        return SLUICE_OK;
    }
    if (!sluice_stun_looks_like(data, len)) {
        a->dropped++;
        return SLUICE_OK;
    }
    handle_stun(a, now, local, remote, -1, data, len);
    return SLUICE_OK;
}

uint64_t sluice_ice_dropped(const sluice_ice_agent *a) { return a ? a->dropped : 0; }
