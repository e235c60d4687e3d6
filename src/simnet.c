#include "simnet.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct sim_node {
    sluice_sim_node_ops ops;
    void *obj;
} sim_node;

typedef struct sim_binding {
    sluice_addr addr; /* port 0 = every port of that host */
    int node;
} sim_binding;

typedef struct sim_path {
    sluice_addr from, to; /* hosts (ports ignored) */
    sluice_sim_path p;
    bool inherit; /* made for a pair without its own path: uses the default settings */
    sluice_sim_counters c;
    sluice_time busy_until;
} sim_path;

typedef struct sim_mapping {
    sluice_addr inside;
    sluice_addr dest; /* symmetric NAT only */
    uint16_t public_port;
} sim_mapping;

typedef struct sim_nat {
    sluice_addr inside_host, public_host;
    bool symmetric;
    uint16_t next_port;
    sim_mapping *maps;
    size_t nmaps, capmaps;
} sim_nat;

typedef struct sim_packet {
    sluice_time at;
    uint64_t seq;
    sluice_addr from, to;
    uint8_t *data;
    size_t len;
    size_t path; /* index of the sender's path in sn->paths, for its counters */
} sim_packet;

struct sluice_simnet {
    sluice_time now;
    sluice_prng rng;
    uint64_t seq;
    sim_node *nodes;
    size_t nnodes, capnodes;
    sim_binding *binds;
    size_t nbinds, capbinds;
    sim_path *paths;
    size_t npaths, cappaths;
    sim_path defpath; /* only p is used: the settings of pairs without their own path */
    sluice_sim_counters total;
    sim_nat *nats;
    size_t nnats, capnats;
    sim_packet *heap;
    size_t nheap, capheap;
    uint8_t txbuf[65536];
};

static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

static bool same_host(const sluice_addr *a, const sluice_addr *b) {
    return a->family == b->family && memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

sluice_addr sluice_sim_addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    sluice_addr r;
    memset(&r, 0, sizeof r);
    r.family = 4;
    r.ip[0] = a; r.ip[1] = b; r.ip[2] = c; r.ip[3] = d;
    r.port = port;
    return r;
}

sluice_simnet *sluice_simnet_new(uint64_t seed, sluice_time start) {
    sluice_simnet *sn = calloc(1, sizeof *sn);
    if (!sn) return NULL;
    sn->now = start;
    sluice_prng_seed(&sn->rng, seed);
    return sn;
}

void sluice_simnet_free(sluice_simnet *sn) {
    if (!sn) return;
    for (size_t i = 0; i < sn->nheap; i++) free(sn->heap[i].data);
    for (size_t i = 0; i < sn->nnats; i++) free(sn->nats[i].maps);
    free(sn->heap);
    free(sn->nats);
    free(sn->paths);
    free(sn->binds);
    free(sn->nodes);
    free(sn);
}

sluice_time sluice_simnet_now(const sluice_simnet *sn) { return sn->now; }
uint64_t sluice_simnet_rand(sluice_simnet *sn) { return sluice_prng_next(&sn->rng); }

int sluice_simnet_add_node(sluice_simnet *sn, const sluice_sim_node_ops *ops, void *obj) {
    if (!sn || !ops) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!grow((void **)&sn->nodes, &sn->capnodes, sn->nnodes, sizeof *sn->nodes)) return SLUICE_ERR_NOMEM;
    sn->nodes[sn->nnodes].ops = *ops;
    sn->nodes[sn->nnodes].obj = obj;
    return (int)sn->nnodes++;
}

int sluice_simnet_bind(sluice_simnet *sn, int node, const sluice_addr *addr) {
    if (!sn || !addr || node < 0 || (size_t)node >= sn->nnodes) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!grow((void **)&sn->binds, &sn->capbinds, sn->nbinds, sizeof *sn->binds)) return SLUICE_ERR_NOMEM;
    sn->binds[sn->nbinds].addr = *addr;
    sn->binds[sn->nbinds].node = node;
    sn->nbinds++;
    return SLUICE_OK;
}

static sim_path *find_path(sluice_simnet *sn, const sluice_addr *from, const sluice_addr *to) {
    for (size_t i = 0; i < sn->npaths; i++)
        if (same_host(&sn->paths[i].from, from) && same_host(&sn->paths[i].to, to)) return &sn->paths[i];
    return NULL;
}

static sim_path *add_path(sluice_simnet *sn, const sluice_addr *from, const sluice_addr *to) {
    if (!grow((void **)&sn->paths, &sn->cappaths, sn->npaths, sizeof *sn->paths)) return NULL;
    sim_path *sp = &sn->paths[sn->npaths++];
    memset(sp, 0, sizeof *sp);
    sp->from = *from;
    sp->to = *to;
    return sp;
}

int sluice_simnet_set_path(sluice_simnet *sn, const sluice_addr *from, const sluice_addr *to,
                           const sluice_sim_path *p) {
    if (!sn || !from || !to || !p) return SLUICE_ERR_INVALID_ARGUMENT;
    sim_path *sp = find_path(sn, from, to);
    if (!sp && !(sp = add_path(sn, from, to))) return SLUICE_ERR_NOMEM;
    sp->p = *p;
    sp->inherit = false;
    return SLUICE_OK;
}

void sluice_simnet_set_default_path(sluice_simnet *sn, const sluice_sim_path *p) { sn->defpath.p = *p; }

int sluice_simnet_add_nat(sluice_simnet *sn, const sluice_addr *inside_host,
                          const sluice_addr *public_host, bool symmetric) {
    if (!sn || !inside_host || !public_host) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!grow((void **)&sn->nats, &sn->capnats, sn->nnats, sizeof *sn->nats)) return SLUICE_ERR_NOMEM;
    sim_nat *n = &sn->nats[sn->nnats++];
    memset(n, 0, sizeof *n);
    n->inside_host = *inside_host;
    n->public_host = *public_host;
    n->symmetric = symmetric;
    n->next_port = 40000;
    return SLUICE_OK;
}

/* ---- the event heap, ordered by (arrival time, sequence) for determinism ---- */

static bool pkt_before(const sim_packet *a, const sim_packet *b) {
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int heap_push(sluice_simnet *sn, const sim_packet *pk) {
    if (!grow((void **)&sn->heap, &sn->capheap, sn->nheap, sizeof *sn->heap)) return SLUICE_ERR_NOMEM;
    size_t i = sn->nheap++;
    sn->heap[i] = *pk;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pkt_before(&sn->heap[i], &sn->heap[parent])) break;
        sim_packet t = sn->heap[i];
        sn->heap[i] = sn->heap[parent];
        sn->heap[parent] = t;
        i = parent;
    }
    return SLUICE_OK;
}

static sim_packet heap_pop(sluice_simnet *sn) {
    sim_packet top = sn->heap[0];
    sn->heap[0] = sn->heap[--sn->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < sn->nheap && pkt_before(&sn->heap[l], &sn->heap[m])) m = l;
        if (r < sn->nheap && pkt_before(&sn->heap[r], &sn->heap[m])) m = r;
        if (m == i) break;
        sim_packet t = sn->heap[i];
        sn->heap[i] = sn->heap[m];
        sn->heap[m] = t;
        i = m;
    }
    return top;
}

/* ---- NAT ---- */

static sim_nat *nat_for_inside(sluice_simnet *sn, const sluice_addr *a) {
    for (size_t i = 0; i < sn->nnats; i++)
        if (same_host(&sn->nats[i].inside_host, a)) return &sn->nats[i];
    return NULL;
}

/* Hosts behind NATs with the same public address share a LAN and reach each other
 * directly, without translation. */
static bool same_lan(sluice_simnet *sn, const sluice_addr *a, const sluice_addr *b) {
    if (same_host(a, b)) return true;
    sim_nat *na = nat_for_inside(sn, a), *nb = nat_for_inside(sn, b);
    return na && nb && same_host(&na->public_host, &nb->public_host);
}

/* A public port unused by every NAT sharing this public address: each NAT's next_port
 * is one past its last mapping, so the maximum over them is free. */
static uint16_t nat_alloc_port(sluice_simnet *sn, sim_nat *n) {
    uint16_t port = n->next_port;
    for (size_t i = 0; i < sn->nnats; i++)
        if (same_host(&sn->nats[i].public_host, &n->public_host) && sn->nats[i].next_port > port)
            port = sn->nats[i].next_port;
    n->next_port = (uint16_t)(port + 1);
    return port;
}

/* Outbound translation; false on allocation failure. */
static bool nat_out(sluice_simnet *sn, sim_nat *n, sluice_addr *from, const sluice_addr *to) {
    for (size_t i = 0; i < n->nmaps; i++) {
        sim_mapping *m = &n->maps[i];
        if (sluice_addr_equal(&m->inside, from) && (!n->symmetric || sluice_addr_equal(&m->dest, to))) {
            uint16_t port = m->public_port;
            *from = n->public_host;
            from->port = port;
            return true;
        }
    }
    if (!grow((void **)&n->maps, &n->capmaps, n->nmaps, sizeof *n->maps)) return false;
    sim_mapping *m = &n->maps[n->nmaps++];
    m->inside = *from;
    m->dest = *to;
    m->public_port = nat_alloc_port(sn, n);
    *from = n->public_host;
    from->port = m->public_port;
    return true;
}

/* Inbound translation; false when no mapping admits the datagram. */
static bool nat_in(sim_nat *n, const sluice_addr *from, sluice_addr *to) {
    for (size_t i = 0; i < n->nmaps; i++) {
        sim_mapping *m = &n->maps[i];
        if (m->public_port != to->port) continue;
        if (n->symmetric && !sluice_addr_equal(&m->dest, from)) continue;
        *to = m->inside;
        return true;
    }
    return false;
}

/* ---- sending ---- */

int sluice_simnet_send(sluice_simnet *sn, const sluice_addr *from_in, const sluice_addr *to,
                       const uint8_t *data, size_t len) {
    if (!sn || !from_in || !to || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    sim_path *sp = find_path(sn, from_in, to);
    if (!sp) {
        /* A pair without its own path gets an entry inheriting the default settings, so
         * that it has its own bandwidth queue and counters: opposite directions and
         * unrelated flows must not share one bottleneck. */
        if (!(sp = add_path(sn, from_in, to))) return SLUICE_ERR_NOMEM;
        sp->inherit = true;
    }
    const sluice_sim_path *p = sp->inherit ? &sn->defpath.p : &sp->p;
    sluice_sim_counters *c = &sp->c;
    c->sent++;
    sn->total.sent++;

    sluice_addr from = *from_in;
    sim_nat *nat = nat_for_inside(sn, &from);
    if (nat && !same_lan(sn, &from, to) && !nat_out(sn, nat, &from, to)) return SLUICE_ERR_NOMEM;

    if (p->down || (p->mtu && len > p->mtu)) {
        if (p->down) { c->lost++; sn->total.lost++; }
        else { c->too_big++; sn->total.too_big++; }
        return SLUICE_OK;
    }
    if (p->loss > 0 && sluice_prng_unit(&sn->rng) < p->loss) {
        c->lost++;
        sn->total.lost++;
        return SLUICE_OK;
    }
    sluice_time depart = sn->now;
    if (p->bandwidth_bps) {
        sluice_time busy = sp->busy_until;
        if (busy < sn->now) busy = sn->now;
        size_t qlimit = p->queue_bytes ? p->queue_bytes : 256 * 1024;
        double backlog_bytes = (double)(busy - sn->now) * (double)p->bandwidth_bps / 8e6;
        if (backlog_bytes + (double)len > (double)qlimit) {
            c->queue_drops++;
            sn->total.queue_drops++;
            return SLUICE_OK;
        }
        sluice_time ser = (sluice_time)((double)len * 8e6 / (double)p->bandwidth_bps);
        depart = busy + ser;
        sp->busy_until = depart;
    }
    int copies = 1;
    if (p->duplicate > 0 && sluice_prng_unit(&sn->rng) < p->duplicate) {
        copies = 2;
        c->duplicated++;
        sn->total.duplicated++;
    }
    for (int k = 0; k < copies; k++) {
        sluice_time at = depart + p->delay_us;
        if (p->jitter_us) at += sluice_prng_next(&sn->rng) % ((uint64_t)p->jitter_us + 1);
        if (p->reorder > 0 && sluice_prng_unit(&sn->rng) < p->reorder) {
            at += p->reorder_delay_us ? p->reorder_delay_us : 1000;
            c->reordered++;
            sn->total.reordered++;
        }
        sim_packet pk = {at, sn->seq++, from, *to, NULL, len, (size_t)(sp - sn->paths)};
        pk.data = malloc(len ? len : 1);
        if (!pk.data) return SLUICE_ERR_NOMEM;
        if (len) memcpy(pk.data, data, len);
        if (heap_push(sn, &pk)) { free(pk.data); return SLUICE_ERR_NOMEM; }
    }
    return SLUICE_OK;
}

static int route(sluice_simnet *sn, const sluice_addr *to) {
    int best = -1;
    for (size_t i = 0; i < sn->nbinds; i++) {
        const sluice_addr *b = &sn->binds[i].addr;
        if (!same_host(b, to)) continue;
        if (b->port == to->port) return sn->binds[i].node;
        if (b->port == 0) best = sn->binds[i].node;
    }
    return best;
}

static void deliver(sluice_simnet *sn, sim_packet *pk) {
    /* Counters belong to the path of the pre-NAT hosts as the sender saw them. */
    sluice_addr to = pk->to;
    sluice_sim_counters *c = &sn->paths[pk->path].c;
    /* Several inside hosts may share one public address: try each of their NATs. */
    bool behind_nat = false, admitted = false;
    for (size_t i = 0; i < sn->nnats && !admitted; i++) {
        if (!same_host(&sn->nats[i].public_host, &to)) continue;
        behind_nat = true;
        admitted = nat_in(&sn->nats[i], &pk->from, &to);
    }
    /* A host behind a NAT is reachable through a mapping or from its own LAN only. */
    if (behind_nat ? !admitted : (nat_for_inside(sn, &to) && !same_lan(sn, &pk->from, &to))) {
        c->unroutable++;
        sn->total.unroutable++;
        return;
    }
    int node = route(sn, &to);
    if (node < 0) {
        c->unroutable++;
        sn->total.unroutable++;
        return;
    }
    c->delivered++;
    c->bytes_delivered += pk->len;
    sn->total.delivered++;
    sn->total.bytes_delivered += pk->len;
    sim_node *n = &sn->nodes[node];
    if (n->ops.deliver) n->ops.deliver(n->obj, sn->now, &pk->from, &to, pk->data, pk->len);
}

static void collect_output(sluice_simnet *sn) {
    for (size_t i = 0; i < sn->nnodes; i++) {
        sim_node *n = &sn->nodes[i];
        if (!n->ops.poll_transmit) continue;
        for (;;) {
            sluice_addr from, to;
            memset(&from, 0, sizeof from);
            memset(&to, 0, sizeof to);
            size_t len = n->ops.poll_transmit(n->obj, sn->now, &from, &to, sn->txbuf, sizeof sn->txbuf);
            if (len == 0) break;
            sluice_simnet_send(sn, &from, &to, sn->txbuf, len);
        }
    }
}

bool sluice_simnet_step(sluice_simnet *sn, sluice_time limit) {
    collect_output(sn);
    sluice_time next = SLUICE_TIME_NEVER;
    if (sn->nheap) next = sn->heap[0].at;
    for (size_t i = 0; i < sn->nnodes; i++)
        if (sn->nodes[i].ops.next_deadline)
            next = sluice_time_min(next, sn->nodes[i].ops.next_deadline(sn->nodes[i].obj));
    if (next == SLUICE_TIME_NEVER || next > limit) {
        if (limit != SLUICE_TIME_NEVER && limit > sn->now) {
            sn->now = limit;
            return true;
        }
        return false;
    }
    if (next > sn->now) sn->now = next;
    while (sn->nheap && sn->heap[0].at <= sn->now) {
        sim_packet pk = heap_pop(sn);
        deliver(sn, &pk);
        free(pk.data);
    }
    for (size_t i = 0; i < sn->nnodes; i++) {
        sim_node *n = &sn->nodes[i];
        if (n->ops.next_deadline && n->ops.handle_timeout && n->ops.next_deadline(n->obj) <= sn->now)
            n->ops.handle_timeout(n->obj, sn->now);
    }
    return true;
}

bool sluice_simnet_run(sluice_simnet *sn, sluice_time until, bool (*done)(void *user), void *user) {
    for (;;) {
        if (done && done(user)) return true;
        if (sn->now >= until) return done ? done(user) : false;
        if (!sluice_simnet_step(sn, until)) return done ? done(user) : false;
    }
}

sluice_sim_counters sluice_simnet_counters(const sluice_simnet *sn, const sluice_addr *from,
                                           const sluice_addr *to) {
    if (!from || !to) return sn->total;
    for (size_t i = 0; i < sn->npaths; i++)
        if (same_host(&sn->paths[i].from, from) && same_host(&sn->paths[i].to, to)) return sn->paths[i].c;
    sluice_sim_counters z;
    memset(&z, 0, sizeof z);
    return z;
}
