/* The demultiplexer (see mux.h for the routing rules). */
#include "mux.h"

#include "ice.h"
#include "io.h"
#include "peer.h"
#include "stun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define MUX_BATCH 16
#define MUX_MAX_DATAGRAM 2048
#define MUX_PROBE 8           /* probe window of the address and transaction tables */
#define MUX_UFRAG_PROBE 32    /* probe window of the ufrag index (at most 1/4 full) */
#define MUX_BURST 16          /* datagrams taken from one peer before the next one's turn */
#define MUX_RECV_PER_POLL 4096

typedef struct mux_slot {
    sluice_peer *pc; /* NULL: free */
    uint32_t gen;    /* bumped on detach: entries naming an older generation are dead */
} mux_slot;

typedef struct mux_addr_entry {
    sluice_addr addr;
    uint32_t slot, gen;
    uint64_t used; /* 0: empty; else the mux's use counter when last touched */
} mux_addr_entry;

typedef struct mux_txn_entry {
    uint8_t tid[SLUICE_STUN_TID_LEN];
    uint32_t slot, gen;
    uint64_t used;
} mux_txn_entry;

/* ufrag -> peer. A peer's ufrag changes when ICE restarts (the peer layer indexes the new
 * one) or re-initialize makes a new agent (indexed again). Entries are checked against the
 * peer's current ufrag on every hit, so stale ones are harmless. */
typedef struct mux_ufrag_entry {
    uint32_t hash;
    uint32_t slot, gen;
    bool used;
} mux_ufrag_entry;

typedef struct mux_out {
    sluice_addr remote;
    size_t len;
    uint8_t data[MUX_MAX_DATAGRAM];
} mux_out;

struct sluice_mux {
    sluice_allocator alloc_copy;
    const sluice_allocator *alloc;
    sluice_logger log;
    bool sans_io;
    int fd;
    sluice_addr local;

    mux_slot *slots;
    size_t nslots, npeers;
    size_t cursor, burst; /* sans-IO poll_transmit: whose turn, how many taken from it */

    mux_addr_entry *addrs;
    size_t addr_mask;
    mux_txn_entry *txns;
    size_t txn_mask;
    mux_ufrag_entry *ufrags;
    size_t ufrag_mask;
    uint64_t ufrag_overflows; /* > 0: some peer is not indexed; misses fall back to a scan */
    uint64_t clock; /* use counter for least-recently-used replacement */

    /* socket mode: one receive batch and one send batch for every peer of the mux */
    uint8_t (*rx)[MUX_MAX_DATAGRAM];
    mux_out *out;
    size_t nout;
    sluice_time now;

    sluice_mux_stats st;
};

/* ---- configuration and lifecycle ------------------------------------------------------ */

void sluice_mux_config_default(sluice_mux_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = SLUICE_MUX_CONFIG_VERSION;
    cfg->max_peers = 1024;
    cfg->log_level = SLUICE_LOG_WARN;
}

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n && p < ((size_t)1 << 30)) p <<= 1;
    return p;
}

static int open_socket(sluice_mux *m) {
    int fd = socket(m->local.family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return SLUICE_ERR_IO;
    if (m->local.family == 6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    /* Many connections share this socket's kernel buffers (best effort, capped by rmem_max). */
    int bufsz = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    struct sockaddr_storage ss;
    socklen_t sl;
    sluice_io_addr_to_sockaddr(&m->local, &ss, &sl);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        SLUICE_LOG(&m->log, SLUICE_LOG_ERROR, "mux", "bind failed: %s", strerror(errno));
        close(fd);
        return SLUICE_ERR_IO;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bl) != 0 || !sluice_io_sockaddr_to_addr((const struct sockaddr *)&bound, &m->local)) {
        close(fd);
        return SLUICE_ERR_IO;
    }
    m->fd = fd;
    return SLUICE_OK;
}

int sluice_mux_new(const sluice_mux_config *cfg, sluice_mux **out) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!cfg || cfg->version != SLUICE_MUX_CONFIG_VERSION) return SLUICE_ERR_INVALID_ARGUMENT;
    if (cfg->max_peers == 0 || cfg->max_peers > (1u << 20) || !cfg->bind_address) return SLUICE_ERR_CONFIG;
    sluice_addr local;
    if (sluice_addr_parse(&local, cfg->bind_address, cfg->port) != SLUICE_OK) return SLUICE_ERR_CONFIG;
    static const uint8_t zero[16] = {0};
    /* The bound address is every peer's host candidate: a wildcard cannot be one. */
    if (memcmp(local.ip, zero, local.family == 4 ? 4 : 16) == 0) return SLUICE_ERR_CONFIG;
    if (cfg->sans_io && local.port == 0) return SLUICE_ERR_CONFIG;
    const sluice_allocator *a = cfg->allocator.malloc ? &cfg->allocator : NULL;
    sluice_mux *m = sluice_mem_calloc(a, 1, sizeof *m);
    if (!m) return SLUICE_ERR_NOMEM;
    if (a) {
        m->alloc_copy = *a;
        m->alloc = &m->alloc_copy;
    }
    m->log.fn = cfg->log_fn;
    m->log.user = cfg->log_user;
    m->log.level = cfg->log_level;
    m->sans_io = cfg->sans_io;
    m->fd = -1;
    m->local = local;
    m->nslots = cfg->max_peers;
    size_t naddr = cfg->max_addresses ? cfg->max_addresses : 4 * cfg->max_peers;
    size_t ntxn = cfg->max_transactions ? cfg->max_transactions : 8 * cfg->max_peers;
    /* Twice the bound, so that probe windows rarely fill before the bound is reached. */
    naddr = pow2_at_least(2 * naddr);
    ntxn = pow2_at_least(2 * ntxn);
    m->addr_mask = naddr - 1;
    m->txn_mask = ntxn - 1;
    size_t nufrag = pow2_at_least(4 * cfg->max_peers);
    m->ufrag_mask = nufrag - 1;
    int rc = SLUICE_ERR_NOMEM;
    if (!(m->slots = sluice_mem_calloc(m->alloc, m->nslots, sizeof *m->slots)) ||
        !(m->addrs = sluice_mem_calloc(m->alloc, naddr, sizeof *m->addrs)) ||
        !(m->txns = sluice_mem_calloc(m->alloc, ntxn, sizeof *m->txns)) ||
        !(m->ufrags = sluice_mem_calloc(m->alloc, nufrag, sizeof *m->ufrags)) ||
        (!m->sans_io && (!(m->rx = sluice_mem_alloc(m->alloc, (size_t)MUX_BATCH * MUX_MAX_DATAGRAM)) ||
                         !(m->out = sluice_mem_alloc(m->alloc, MUX_BATCH * sizeof *m->out)) ||
                         (rc = open_socket(m)) != SLUICE_OK))) {
        m->npeers = 0;
        sluice_mux_free(m);
        return rc;
    }
    char buf[64];
    sluice_addr_format(&m->local, buf, sizeof buf);
    SLUICE_LOG(&m->log, SLUICE_LOG_INFO, "mux", "serving up to %zu peers on %s%s", m->nslots, buf,
               m->sans_io ? " (sans-IO)" : "");
    *out = m;
    return SLUICE_OK;
}

int sluice_mux_free(sluice_mux *m) {
    if (!m) return SLUICE_OK;
    if (m->npeers) return SLUICE_ERR_INVALID_STATE;
    if (m->fd >= 0) close(m->fd);
    sluice_mem_free(m->alloc, m->slots);
    sluice_mem_free(m->alloc, m->addrs);
    sluice_mem_free(m->alloc, m->txns);
    sluice_mem_free(m->alloc, m->ufrags);
    sluice_mem_free(m->alloc, m->rx);
    sluice_mem_free(m->alloc, m->out);
    const sluice_allocator *a = m->alloc ? &m->alloc_copy : NULL;
    sluice_allocator copy;
    if (a) {
        copy = *a;
        a = &copy;
    }
    sluice_mem_free(a, m);
    return SLUICE_OK;
}

int sluice_mux_local_address(const sluice_mux *m, sluice_addr *out) {
    if (!m || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = m->local;
    return SLUICE_OK;
}

int sluice_peer_new_on_mux(sluice_mux *m, sluice_peer **out, const sluice_config *cfg, const sluice_callbacks *cb,
                           void *user) {
    if (!m || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    size_t slot = m->nslots;
    for (size_t i = 0; i < m->nslots && slot == m->nslots; i++)
        if (!m->slots[i].pc) slot = i;
    if (slot == m->nslots) return SLUICE_ERR_EXHAUSTED;
    sluice_config c;
    if (cfg) c = *cfg;
    else sluice_config_default(&c);
    /* The peer's transport is the mux: no sockets, no interface scan of its own. */
    c.sans_io = m->sans_io;
    c.bind_address = NULL;
    c.port_min = c.port_max = 0;
    sluice_peer *pc = NULL;
    int rc = sluice_peer_new(&pc, &c, cb, user);
    if (rc) return rc;
    pc->mux = m;
    pc->mux_slot = slot;
    rc = sluice_peer_add_local_address(pc, &m->local);
    if (rc) {
        pc->mux = NULL;
        sluice_peer_free(pc);
        return rc;
    }
    m->slots[slot].pc = pc;
    m->npeers++;
    *out = pc;
    return SLUICE_OK;
}

bool sluice_mux_is_sans_io(const sluice_mux *m) { return m && m->sans_io; }

void sluice_mux_detach(sluice_mux *m, sluice_peer *pc) {
    if (!m || !pc || pc->mux_slot >= m->nslots || m->slots[pc->mux_slot].pc != pc) return;
    m->slots[pc->mux_slot].pc = NULL;
    m->slots[pc->mux_slot].gen++;
    m->npeers--;
    pc->mux = NULL;
}

/* ---- the two tables ------------------------------------------------------------------- */

static uint32_t hash_bytes(const uint8_t *p, size_t n, uint32_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u; /* FNV-1a */
    return h;
}

static uint32_t addr_hash(const sluice_addr *a) {
    uint8_t b[3] = {a->family, (uint8_t)(a->port >> 8), (uint8_t)a->port};
    return hash_bytes(a->ip, a->family == 4 ? 4 : 16, hash_bytes(b, 3, 2166136261u));
}

static bool slot_live(const sluice_mux *m, uint32_t slot, uint32_t gen) {
    return slot < m->nslots && m->slots[slot].pc && m->slots[slot].gen == gen;
}

static sluice_peer *lookup_addr(sluice_mux *m, const sluice_addr *remote) {
    size_t h = addr_hash(remote);
    for (size_t i = 0; i < MUX_PROBE; i++) {
        mux_addr_entry *e = &m->addrs[(h + i) & m->addr_mask];
        if (e->used && sluice_addr_equal(&e->addr, remote)) {
            if (!slot_live(m, e->slot, e->gen)) return NULL;
            e->used = ++m->clock;
            return m->slots[e->slot].pc;
        }
    }
    return NULL;
}

static void bind_addr(sluice_mux *m, size_t slot, const sluice_addr *remote) {
    size_t h = addr_hash(remote);
    mux_addr_entry *victim = NULL;
    for (size_t i = 0; i < MUX_PROBE; i++) {
        mux_addr_entry *e = &m->addrs[(h + i) & m->addr_mask];
        if (e->used && sluice_addr_equal(&e->addr, remote)) {
            if (e->slot != slot || e->gen != m->slots[slot].gen) {
                if (slot_live(m, e->slot, e->gen)) {
                    char s[64];
                    sluice_addr_format(remote, s, sizeof s);
                    SLUICE_LOG(&m->log, SLUICE_LOG_INFO, "mux", "%s moves from peer %u to peer %zu", s,
                               (unsigned)e->slot, slot);
                    m->st.address_rebinds++;
                }
                e->slot = (uint32_t)slot;
                e->gen = m->slots[slot].gen;
            }
            e->used = ++m->clock;
            return;
        }
        /* Free, dead (freed peer) or else the least recently used entry of the window. */
        bool dead = !e->used || !slot_live(m, e->slot, e->gen);
        if (!victim || (dead && victim->used && slot_live(m, victim->slot, victim->gen)) ||
            (!dead && slot_live(m, victim->slot, victim->gen) && e->used < victim->used))
            victim = e;
    }
    victim->addr = *remote;
    victim->slot = (uint32_t)slot;
    victim->gen = m->slots[slot].gen;
    victim->used = ++m->clock;
}

static sluice_peer *lookup_txn(sluice_mux *m, const uint8_t tid[SLUICE_STUN_TID_LEN]) {
    size_t h = hash_bytes(tid, SLUICE_STUN_TID_LEN, 2166136261u);
    for (size_t i = 0; i < MUX_PROBE; i++) {
        mux_txn_entry *e = &m->txns[(h + i) & m->txn_mask];
        if (e->used && memcmp(e->tid, tid, SLUICE_STUN_TID_LEN) == 0)
            return slot_live(m, e->slot, e->gen) ? m->slots[e->slot].pc : NULL;
    }
    return NULL;
}

static void remember_txn(sluice_mux *m, size_t slot, const uint8_t tid[SLUICE_STUN_TID_LEN]) {
    size_t h = hash_bytes(tid, SLUICE_STUN_TID_LEN, 2166136261u);
    mux_txn_entry *victim = NULL;
    for (size_t i = 0; i < MUX_PROBE; i++) {
        mux_txn_entry *e = &m->txns[(h + i) & m->txn_mask];
        if (e->used && memcmp(e->tid, tid, SLUICE_STUN_TID_LEN) == 0) {
            victim = e; /* a retransmission: refresh */
            break;
        }
        if (!victim || !e->used || e->used < victim->used) victim = e;
        if (!e->used) break;
    }
    memcpy(victim->tid, tid, SLUICE_STUN_TID_LEN);
    victim->slot = (uint32_t)slot;
    victim->gen = m->slots[slot].gen;
    victim->used = ++m->clock;
}

/* ---- routing -------------------------------------------------------------------------- */

/* STUN header fields (RFC 8489 §5): class bits C1 C0 at 0x0100 / 0x0010. */
static uint8_t stun_class(const uint8_t *d) {
    uint16_t t = (uint16_t)(d[0] << 8 | d[1]);
    return (uint8_t)(((t >> 7) & 2) | ((t >> 4) & 1));
}

static uint16_t stun_method(const uint8_t *d) {
    uint16_t t = (uint16_t)(d[0] << 8 | d[1]);
    return (uint16_t)((t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80));
}

static bool ufrag_is(const sluice_peer *pc, const uint8_t *u, size_t len) {
    if (!pc || !pc->ice) return false;
    const char *mine = sluice_ice_local_ufrag(pc->ice);
    return strlen(mine) == len && memcmp(mine, u, len) == 0;
}

/* The index entry is live when its peer is and still has that ufrag. */
static bool ufrag_entry_live(const sluice_mux *m, const mux_ufrag_entry *e) {
    if (!e->used || !slot_live(m, e->slot, e->gen)) return false;
    const sluice_peer *pc = m->slots[e->slot].pc;
    if (!pc->ice) return false;
    const char *u = sluice_ice_local_ufrag(pc->ice);
    return hash_bytes((const uint8_t *)u, strlen(u), 2166136261u) == e->hash;
}

void sluice_mux_index_peer(sluice_mux *m, sluice_peer *pc) {
    if (!m || !pc || pc->mux != m || !pc->ice) return;
    const char *u = sluice_ice_local_ufrag(pc->ice);
    uint32_t h = hash_bytes((const uint8_t *)u, strlen(u), 2166136261u);
    for (size_t i = 0; i < MUX_UFRAG_PROBE; i++) {
        mux_ufrag_entry *e = &m->ufrags[(h + i) & m->ufrag_mask];
        if (ufrag_entry_live(m, e) && !(e->slot == pc->mux_slot && e->hash == h)) continue;
        e->hash = h;
        e->slot = (uint32_t)pc->mux_slot;
        e->gen = m->slots[pc->mux_slot].gen;
        e->used = true;
        return;
    }
    /* Practically never (the index is at most a quarter full): routing stays correct, by
     * scanning the peers on a miss. */
    m->ufrag_overflows++;
    SLUICE_LOG(&m->log, SLUICE_LOG_WARN, "mux", "ufrag index window full: lookups fall back to a scan");
}

static sluice_peer *peer_by_ufrag(sluice_mux *m, const uint8_t *u, size_t len) {
    uint32_t h = hash_bytes(u, len, 2166136261u);
    for (size_t i = 0; i < MUX_UFRAG_PROBE; i++) {
        mux_ufrag_entry *e = &m->ufrags[(h + i) & m->ufrag_mask];
        if (!e->used) break;
        if (e->hash == h && slot_live(m, e->slot, e->gen) && ufrag_is(m->slots[e->slot].pc, u, len))
            return m->slots[e->slot].pc;
    }
    if (!m->ufrag_overflows) return NULL;
    for (size_t i = 0; i < m->nslots; i++)
        if (ufrag_is(m->slots[i].pc, u, len)) return m->slots[i].pc;
    return NULL;
}

sluice_peer *sluice_mux_route(sluice_mux *m, const sluice_addr *remote, const uint8_t *data, size_t len) {
    if (!m || !remote || !data || len == 0) return NULL;
    uint8_t b = data[0];
    sluice_peer *pc = NULL;
    if (b <= 3) {
        if (!sluice_stun_looks_like(data, len)) {
            m->st.dropped_malformed++;
            return NULL;
        }
        uint8_t cls = stun_class(data);
        if (cls == SLUICE_STUN_REQUEST && stun_method(data) == SLUICE_STUN_BINDING) {
            sluice_stun_msg msg;
            if (sluice_stun_parse(data, len, &msg) != SLUICE_OK) {
                m->st.dropped_malformed++;
                return NULL;
            }
            if (msg.has_username) {
                /* RFC 8445 §7.2.2: USERNAME is "<receiver's ufrag>:<sender's ufrag>". */
                const uint8_t *colon = memchr(msg.username.p, ':', msg.username.len);
                size_t ulen = colon ? (size_t)(colon - msg.username.p) : msg.username.len;
                if ((pc = peer_by_ufrag(m, msg.username.p, ulen))) {
                    m->st.routed_ufrag++;
                    return pc;
                }
            }
        } else if ((pc = lookup_txn(m, data + 8))) {
            m->st.routed_transaction++;
            return pc;
        }
    } else if (!(b >= 20 && b <= 63) && !(b >= 64 && b <= 79)) {
        m->st.dropped_malformed++; /* RTP, ZRTP, QUIC...: never ours */
        return NULL;
    }
    if ((pc = lookup_addr(m, remote))) {
        m->st.routed_address++;
        return pc;
    }
    m->st.dropped_unknown++;
    return NULL;
}

void sluice_mux_note_sent(sluice_mux *m, sluice_peer *pc, const sluice_addr *remote, const uint8_t *data,
                          size_t len) {
    if (!m || !pc || pc->mux != m || len == 0) return;
    uint8_t b = data[0];
    if (b <= 3 && sluice_stun_looks_like(data, len)) {
        uint8_t cls = stun_class(data);
        if (cls == SLUICE_STUN_REQUEST) remember_txn(m, pc->mux_slot, data + 8);
        else if (cls == SLUICE_STUN_SUCCESS && stun_method(data) == SLUICE_STUN_BINDING)
            bind_addr(m, pc->mux_slot, remote); /* its ICE agent authenticated that request */
    } else if (b >= 20 && b <= 63) {
        bind_addr(m, pc->mux_slot, remote); /* DTLS goes only on a validated path */
    }
}

/* ---- sans-IO -------------------------------------------------------------------------- */

int sluice_mux_handle_datagram(sluice_mux *m, sluice_time now, const sluice_addr *remote, const uint8_t *data,
                               size_t len) {
    if (!m || !remote || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (len == 0) {
        m->st.dropped_malformed++;
        return SLUICE_OK;
    }
    sluice_peer *pc = sluice_mux_route(m, remote, data, len);
    if (pc) sluice_peer_handle_datagram(pc, now, &m->local, remote, data, len);
    return SLUICE_OK;
}

int sluice_mux_poll_transmit(sluice_mux *m, sluice_time now, uint8_t *buf, size_t cap, sluice_transmit *tx) {
    if (!m || !buf || !tx) return SLUICE_ERR_INVALID_ARGUMENT;
    if (cap < 1500) return SLUICE_ERR_NOBUFS;
    /* Stay with one peer for a burst (bulk senders are not slowed down by a scan of idle
     * peers per datagram), then give the next its turn; 0 after a full pass found nothing. */
    for (size_t scanned = 0; scanned <= m->nslots; scanned++) {
        if (m->cursor >= m->nslots) m->cursor = 0;
        sluice_peer *pc = m->slots[m->cursor].pc;
        if (pc && m->burst < MUX_BURST) {
            int r = sluice_peer_poll_transmit(pc, now, buf, cap, tx);
            if (r == 1) {
                m->burst++;
                sluice_mux_note_sent(m, pc, &tx->remote, buf, tx->len);
                return 1;
            }
            if (r < 0) return r;
        }
        m->cursor++;
        m->burst = 0;
    }
    return 0;
}

sluice_time sluice_mux_next_deadline(const sluice_mux *m) {
    sluice_time d = SLUICE_TIME_NEVER;
    if (!m) return d;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].pc) d = sluice_time_min(d, sluice_peer_next_deadline(m->slots[i].pc));
    return d;
}

int sluice_mux_handle_timeout(sluice_mux *m, sluice_time now) {
    if (!m) return SLUICE_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < m->nslots; i++) {
        sluice_peer *pc = m->slots[i].pc;
        if (pc && sluice_peer_next_deadline(pc) <= now) sluice_peer_handle_timeout(pc, now);
    }
    return SLUICE_OK;
}

int sluice_mux_get_stats(const sluice_mux *m, sluice_mux_stats *out) {
    if (!m || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = m->st;
    out->peers = m->npeers;
    out->addresses = 0;
    for (size_t i = 0; i <= m->addr_mask; i++)
        if (m->addrs[i].used && slot_live(m, m->addrs[i].slot, m->addrs[i].gen)) out->addresses++;
    return SLUICE_OK;
}

/* ---- socket mode ---------------------------------------------------------------------- */

static void mux_send_batch(sluice_mux *m) {
    struct mmsghdr msgs[MUX_BATCH];
    struct iovec iov[MUX_BATCH];
    struct sockaddr_storage to[MUX_BATCH];
    for (size_t i = 0; i < m->nout; i++) {
        socklen_t sl;
        sluice_io_addr_to_sockaddr(&m->out[i].remote, &to[i], &sl);
        iov[i].iov_base = m->out[i].data;
        iov[i].iov_len = m->out[i].len;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_name = &to[i];
        msgs[i].msg_hdr.msg_namelen = sl;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    size_t done = 0;
    while (done < m->nout) {
        int r = sendmmsg(m->fd, msgs + done, (unsigned)(m->nout - done), MSG_DONTWAIT);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            m->st.send_drops++; /* EAGAIN / ENOBUFS / unreachable: the protocols retransmit */
            done++;
            continue;
        }
        done += (size_t)r;
    }
    m->nout = 0;
}

static void flush_one(sluice_mux *m, sluice_peer *pc, sluice_time now) {
    sluice_transmit tx;
    for (int i = 0; i < 4096; i++) {
        if (m->nout == MUX_BATCH) mux_send_batch(m);
        mux_out *o = &m->out[m->nout];
        if (sluice_peer_poll_transmit(pc, now, o->data, sizeof o->data, &tx) != 1) break;
        if (tx.remote.family != m->local.family) continue; /* never routable from this socket */
        o->remote = tx.remote;
        o->len = tx.len;
        sluice_mux_note_sent(m, pc, &tx.remote, o->data, tx.len);
        m->nout++;
    }
}

void sluice_mux_flush_peer(sluice_mux *m, sluice_peer *pc) {
    if (!m || !pc || m->sans_io || pc->mux != m) return;
    flush_one(m, pc, sluice_peer_now(pc));
    if (m->nout) mux_send_batch(m);
}

static void mux_recv(sluice_mux *m, sluice_time now) {
    struct mmsghdr msgs[MUX_BATCH];
    struct iovec iov[MUX_BATCH];
    struct sockaddr_storage from[MUX_BATCH];
    size_t total = 0;
    while (total < MUX_RECV_PER_POLL) {
        memset(msgs, 0, sizeof msgs);
        for (size_t i = 0; i < MUX_BATCH; i++) {
            iov[i].iov_base = m->rx[i];
            iov[i].iov_len = MUX_MAX_DATAGRAM;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int n = recvmmsg(m->fd, msgs, MUX_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) {
            sluice_addr remote;
            if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || !sluice_io_sockaddr_to_addr((const struct sockaddr *)&from[i], &remote)) {
                m->st.dropped_malformed++;
                continue;
            }
            (void)sluice_mux_handle_datagram(m, now, &remote, m->rx[i], msgs[i].msg_len);
        }
        total += (size_t)n;
        if (n < MUX_BATCH) break;
    }
}

void sluice_mux_service_peer(sluice_mux *m, sluice_peer *pc, sluice_time now) {
    if (!m || !pc || m->sans_io || pc->mux != m) return;
    mux_recv(m, now);
    if (sluice_peer_next_deadline(pc) <= now) sluice_peer_handle_timeout(pc, now);
    sluice_mux_flush_peer(m, pc);
}

int sluice_mux_fds(const sluice_mux *m, int *fds, size_t cap) {
    if (!m || (!fds && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (m->fd < 0) return 0;
    if (cap) fds[0] = m->fd;
    return 1;
}

int sluice_mux_poll(sluice_mux *m) {
    if (!m) return SLUICE_ERR_INVALID_ARGUMENT;
    if (m->sans_io) return SLUICE_ERR_INVALID_STATE;
    sluice_time now = sluice_clock_monotonic_us();
    mux_recv(m, now);
    for (size_t i = 0; i < m->nslots; i++) {
        sluice_peer *pc = m->slots[i].pc;
        if (!pc) continue;
        sluice_time t = sluice_peer_now(pc);
        if (sluice_peer_next_deadline(pc) <= t) sluice_peer_handle_timeout(pc, t);
        flush_one(m, pc, t);
    }
    if (m->nout) mux_send_batch(m);
    return SLUICE_OK;
}

int sluice_mux_timeout_ms(const sluice_mux *m) {
    if (!m) return -1;
    sluice_time d = sluice_mux_next_deadline(m);
    if (d == SLUICE_TIME_NEVER) return -1;
    sluice_time now = sluice_clock_monotonic_us();
    if (d <= now) return 0;
    uint64_t ms = (d - now + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}
