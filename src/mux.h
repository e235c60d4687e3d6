/* The demultiplexer: one UDP port (a socket of its own, or the sans-IO caller's) shared by
 * many peer connections. Public API in sluice.h (sluice_mux_*, sluice_peer_new_on_mux);
 * this header holds what the peer layer calls and the routing core that tests drive.
 *
 * Routing of a received datagram (RFC 7983 §7 first byte, then):
 *   0..3 STUN: a Binding request goes to the peer whose local ufrag is the part of USERNAME
 *        before ':' (RFC 8445 §7.2.2); any other STUN message to the peer that sent the
 *        request with that transaction id (RFC 8489 §6.3); failing those, by address.
 *   20..63 DTLS, 64..79 TURN ChannelData: by remote address.
 *   anything else, or nobody's: dropped and counted.
 * A remote address is bound to a peer by what that peer sends: a Binding success response
 * (its ICE agent authenticated the request, RFC 8445 §7.3) or DTLS (only ever sent on a
 * validated path). The latest such peer wins (ICE restarts, NAT rebinding). The address
 * and transaction tables are fixed-size open-addressing hashes sized from the
 * configuration; when a probe window is full the least recently used entry is replaced:
 * bounded, no growth. Peers are indexed by ufrag (4 entries per peer slot) when their ICE
 * agent is made; each hit is checked against the peer's current ufrag.
 * No globals; entries name a peer by slot and generation, so a freed peer's entries are
 * dead at once. */
#ifndef SLUICE_MUX_H
#define SLUICE_MUX_H

#include "sluice.h"
#include "util.h"

/** Whether the mux is in sans-IO mode (its peers follow it). */
bool sluice_mux_is_sans_io(const sluice_mux *m);
/** The peer made its ICE agent (a new local ufrag): index it for routing by USERNAME. */
void sluice_mux_index_peer(sluice_mux *m, sluice_peer *pc);
/** The peer is being freed: forget it (its slot's entries die with its generation). */
void sluice_mux_detach(sluice_mux *m, sluice_peer *pc);
/** Socket mode: send every datagram `pc` has queued (no-op in sans-IO mode). */
void sluice_mux_flush_peer(sluice_mux *m, sluice_peer *pc);
/** Socket mode, from sluice_peer_poll(): read the shared socket (routing to every peer),
 *  run `pc`'s due timers, send its datagrams. */
void sluice_mux_service_peer(sluice_mux *m, sluice_peer *pc, sluice_time now);

/** Routing decision for one received datagram, without delivering it (tests, and the
 *  core of sluice_mux_handle_datagram). Returns the peer or NULL (counted as dropped). */
sluice_peer *sluice_mux_route(sluice_mux *m, const sluice_addr *remote, const uint8_t *data, size_t len);
/** Learn from one datagram `pc` sends to `remote` (transaction ids, validated addresses). */
void sluice_mux_note_sent(sluice_mux *m, sluice_peer *pc, const sluice_addr *remote, const uint8_t *data,
                          size_t len);

#endif
