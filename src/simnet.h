/* The simulated network every protocol test uses: a virtual clock and sans-IO nodes
 * joined by per-direction paths with seeded loss, duplication, reordering, delay +
 * jitter, bandwidth limit, queue limit and MTU. Deterministic: same seed, same run.
 *
 * Part of the test kit (libsluice_testkit.a), not of the installed library. */
#ifndef SLUICE_SIMNET_H
#define SLUICE_SIMNET_H

#include "sluice.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sluice_simnet sluice_simnet;

/** The four sans-IO operations a node offers the simulator. Any may be NULL. */
typedef struct sluice_sim_node_ops {
    /** A datagram arrives for this node (sent from `from` to `to`, one of the node's addresses). */
    void (*deliver)(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                    const uint8_t *data, size_t len);
    /** Produce the next datagram to send into buf; return its length, or 0 when none. */
    size_t (*poll_transmit)(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to,
                            uint8_t *buf, size_t cap);
    /** The node's next deadline (SLUICE_TIME_NEVER for none). */
    sluice_time (*next_deadline)(void *obj);
    /** Called when now >= the node's deadline. */
    void (*handle_timeout)(void *obj, sluice_time now);
} sluice_sim_node_ops;

/** Impairments of one direction of a path. Zero-initialised = perfect, instant link. */
typedef struct sluice_sim_path {
    double loss;          /**< drop probability, 0..1 */
    double duplicate;     /**< probability a datagram is delivered twice */
    double reorder;       /**< probability a datagram gets an extra delay of reorder_delay_us */
    uint32_t reorder_delay_us;
    uint32_t delay_us;    /**< one-way propagation delay */
    uint32_t jitter_us;   /**< uniform extra delay in [0, jitter_us] (may reorder) */
    uint64_t bandwidth_bps; /**< 0 = unlimited */
    size_t queue_bytes;   /**< with a bandwidth: tail-drop beyond this backlog (0 = 256 KiB) */
    size_t mtu;           /**< datagrams larger than this are dropped (0 = no limit) */
    bool down;            /**< cut: every datagram dropped */
} sluice_sim_path;

/** Counters of one direction of a path (or of the whole network). */
typedef struct sluice_sim_counters {
    uint64_t sent, delivered, lost, duplicated, reordered, too_big, queue_drops, unroutable;
    uint64_t bytes_delivered;
} sluice_sim_counters;

/** Create a simulator whose clock starts at `start` with a PRNG seeded by `seed`. NULL on OOM. */
sluice_simnet *sluice_simnet_new(uint64_t seed, sluice_time start);
void sluice_simnet_free(sluice_simnet *sn);

sluice_time sluice_simnet_now(const sluice_simnet *sn);

/** Register a node. Returns its index (>= 0) or NOMEM. */
int sluice_simnet_add_node(sluice_simnet *sn, const sluice_sim_node_ops *ops, void *obj);

/** Make `addr` route to `node`. A node may own several addresses. Errors: INVALID_ARGUMENT, NOMEM. */
int sluice_simnet_bind(sluice_simnet *sn, int node, const sluice_addr *addr);

/** Impairments for packets sent from host `from` to host `to` (ports ignored). */
int sluice_simnet_set_path(sluice_simnet *sn, const sluice_addr *from, const sluice_addr *to,
                           const sluice_sim_path *p);
/** Impairments used for every pair without its own path (each such pair still has its own
 * bandwidth queue and counters). */
void sluice_simnet_set_default_path(sluice_simnet *sn, const sluice_sim_path *p);

/**
 * A NAT in front of `inside_host` (ports ignored): datagrams from it to anything outside get
 * their source rewritten to `public_host` with a mapped port; replies are mapped back.
 * `symmetric`: one mapping per (inside addr, destination) (endpoint-dependent); otherwise one
 * per inside addr (full cone: anyone may send to the mapping once it exists).
 * The inside host is reachable only through a mapping, or directly from hosts behind a NAT
 * with the same public address (one LAN; several add_nat calls may share `public_host`).
 */
int sluice_simnet_add_nat(sluice_simnet *sn, const sluice_addr *inside_host,
                          const sluice_addr *public_host, bool symmetric);

/** Inject a datagram as if `from` had sent it (goes through path impairments). */
int sluice_simnet_send(sluice_simnet *sn, const sluice_addr *from, const sluice_addr *to,
                       const uint8_t *data, size_t len);

/**
 * One step: collect every node's output, then advance the clock to the earliest event
 * (datagram arrival or node deadline, but not past `limit`) and process what is due.
 * Returns true if the clock could advance or something was processed, false when the
 * network is idle up to `limit` (the clock then stands at `limit` if it is finite).
 */
bool sluice_simnet_step(sluice_simnet *sn, sluice_time limit);

/** Step until `done(user)` is true (checked after each step) or the clock reaches `until`. Returns done(). */
bool sluice_simnet_run(sluice_simnet *sn, sluice_time until, bool (*done)(void *user), void *user);

/** Counters of one direction (from→to hosts, as the sender addressed them, before NAT), or
 * of the whole network when both are NULL. */
sluice_sim_counters sluice_simnet_counters(const sluice_simnet *sn, const sluice_addr *from,
                                           const sluice_addr *to);

/** The simulator's PRNG (tests may draw seeded values from it). */
uint64_t sluice_simnet_rand(sluice_simnet *sn);

/** Convenience: an IPv4 sluice_addr a.b.c.d:port. */
sluice_addr sluice_sim_addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);

#endif
