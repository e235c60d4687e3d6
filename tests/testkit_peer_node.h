/* A sans-IO sluice_peer as a node of the simulated network (src/simnet.h), shared by the
 * peer-level tests. The node's object is the address of a `sluice_peer *` (the test's own
 * field), so a test may free the peer and set the field to NULL: the node then goes quiet. */
#ifndef SLUICE_TESTKIT_PEER_NODE_H
#define SLUICE_TESTKIT_PEER_NODE_H

#include "simnet.h"
#include "sluice.h"

static void peer_node_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                              const uint8_t *data, size_t len) {
    sluice_peer *pc = *(sluice_peer **)obj;
    if (pc) sluice_peer_handle_datagram(pc, now, to, from, data, len);
}

static size_t peer_node_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf,
                             size_t cap) {
    sluice_peer *pc = *(sluice_peer **)obj;
    sluice_transmit tx;
    if (!pc || sluice_peer_poll_transmit(pc, now, buf, cap, &tx) != 1) return 0;
    *from = tx.local;
    *to = tx.remote;
    return tx.len;
}

static sluice_time peer_node_deadline(void *obj) {
    sluice_peer *pc = *(sluice_peer **)obj;
    return pc ? sluice_peer_next_deadline(pc) : SLUICE_TIME_NEVER;
}

static void peer_node_timeout(void *obj, sluice_time now) {
    sluice_peer *pc = *(sluice_peer **)obj;
    if (pc) sluice_peer_handle_timeout(pc, now);
}

static const sluice_sim_node_ops peer_node_ops = {peer_node_deliver, peer_node_poll, peer_node_deadline,
                                                  peer_node_timeout};

#endif
