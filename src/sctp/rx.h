/* SCTP receive-side TSN tracker (dcsctp's DataTracker): which TSNs arrived, the cumulative
 * TSN ack, gap ack blocks and duplicate TSNs for the SACK (RFC 9260 §3.3.4, §6.2), the
 * delayed-ack rule (SACK every second packet carrying DATA or after delayed_ack_ms, §6.2;
 * immediately on gaps, duplicates, gap changes, or the I bit of RFC 7053), and the
 * cumulative-TSN jump of an (I-)FORWARD-TSN (RFC 3758 §3.6).
 *
 * The tracker does not hold payload. The association feeds every DATA / I-DATA chunk as:
 *     r = sluice_sctp_rx_check(rx, d.tsn);
 *     if (r == SLUICE_SCTP_RX_NEW || r == SLUICE_SCTP_RX_NEW_NEXT) {
 *         e = sluice_sctp_reasm_add(reasm, &d, r == SLUICE_SCTP_RX_NEW_NEXT);
 *         if (e == SLUICE_ERR_TOO_LARGE) -> ABORT;
 *         if (e < 0) -> drop the chunk, do NOT record it (the peer retransmits);
 *         else sluice_sctp_rx_on_data(rx, now, d.tsn, d.immediate);
 *     } else if (r == SLUICE_SCTP_RX_DUPLICATE) sluice_sctp_rx_on_data(rx, now, d.tsn, d.immediate);
 *     else drop and count (too far ahead);
 * and after the whole packet: sluice_sctp_rx_on_packet_end(rx, now). A SACK is then wanted
 * when sluice_sctp_rx_sack_due() says so; write it with sluice_sctp_rx_write_sack(). */
#ifndef SLUICE_SCTP_RX_H
#define SLUICE_SCTP_RX_H

#include "util.h"
#include "sctp/data.h"

typedef struct sluice_sctp_rx_settings {
    uint32_t delayed_ack_ms;  /**< default 200 (RFC 9260 §6.2: at most 500) */
    size_t max_gap_blocks;    /**< ranges tracked above the cum ack; default 128 (the
                                   association uses rwnd / mtu). Allocated on demand. TSNs that
                                   would need more are dropped (the peer retransmits). */
    size_t max_dups;          /**< duplicate TSNs remembered for the next SACK; default 32 */
    uint32_t max_tsn_ahead;   /**< DATA with TSN > cum + this is dropped; default 65535 (gap
                                   block offsets are 16 bit) */
    uint32_t max_fwd_tsn_ahead; /**< FORWARD-TSN jumping further is refused; default 1 << 24 */
} sluice_sctp_rx_settings;

void sluice_sctp_rx_settings_default(sluice_sctp_rx_settings *s);

typedef struct sluice_sctp_rx sluice_sctp_rx;

/** Heap object. `peer_initial_tsn` from the peer's INIT / INIT-ACK (cum ack starts at it - 1).
 *  Errors: NOMEM, INVALID_ARGUMENT. */
int sluice_sctp_rx_new(sluice_sctp_rx **out, const sluice_sctp_rx_settings *s, const sluice_allocator *alloc,
                       uint32_t peer_initial_tsn);
void sluice_sctp_rx_free(sluice_sctp_rx *rx);

enum {
    SLUICE_SCTP_RX_DUPLICATE = 0, /**< already received (or <= cum ack) */
    SLUICE_SCTP_RX_NEW = 1,       /**< new */
    SLUICE_SCTP_RX_NEW_NEXT = 2,  /**< new and exactly cum ack + 1 (must be accepted when
                                       possible, to avoid a receive-window deadlock, §6.2) */
};

/** Classify a received TSN without recording it. Returns one of the values above, or
 *  SLUICE_ERR_BUFFER_FULL when it is too far ahead / would need too many gap blocks. */
int sluice_sctp_rx_check(const sluice_sctp_rx *rx, uint32_t tsn);
/** Record a received TSN (new or duplicate). Returns SLUICE_SCTP_RX_* as check() would have,
 *  or BUFFER_FULL (dropped, nothing recorded). `immediate`: the RFC 7053 I bit. */
int sluice_sctp_rx_on_data(sluice_sctp_rx *rx, sluice_time now, uint32_t tsn, bool immediate);
/** Call once after each received packet that carried DATA / I-DATA (counts packets for
 *  the every-second-packet rule and arms the delayed-ack timer). */
void sluice_sctp_rx_on_packet_end(sluice_sctp_rx *rx, sluice_time now);

/** Ask for a SACK at the next opportunity (e.g. window update, SHUTDOWN, FORWARD-TSN). */
void sluice_sctp_rx_force_sack(sluice_sctp_rx *rx);
/** A SACK should be sent now. */
bool sluice_sctp_rx_sack_due(const sluice_sctp_rx *rx);
/** Some received DATA is not yet acknowledged (a SACK is due or delayed): RFC 9260 §6.2
 *  says to bundle a SACK with outgoing DATA then. */
bool sluice_sctp_rx_has_unacked(const sluice_sctp_rx *rx);
/** Write a SACK chunk with our state and `a_rwnd` (the association computes it: its receive
 *  window minus bytes held in reassembly). Clears the due flag, the delayed-ack timer and
 *  the reported duplicates. Errors: NOBUFS (nothing changed). Gap blocks that do not fit in
 *  the writer are left out (the highest ones first). */
int sluice_sctp_rx_write_sack(sluice_sctp_rx *rx, sluice_time now, sluice_wr *w, uint32_t a_rwnd);

/** Delayed-ack deadline (SLUICE_TIME_NEVER if none). */
sluice_time sluice_sctp_rx_next_deadline(const sluice_sctp_rx *rx);
/** When the delayed-ack timer expired, the SACK becomes due. */
void sluice_sctp_rx_handle_timeout(sluice_sctp_rx *rx, sluice_time now);

/** RFC 3758 §3.6: move the cum ack to `new_cum_tsn` (if ahead) and then past any contiguous
 *  received TSNs; always makes a SACK due. Returns 1 when the cum ack moved, 0 when stale,
 *  MALFORMED when it jumps further than max_fwd_tsn_ahead (nothing changed). */
int sluice_sctp_rx_handle_forward_tsn(sluice_sctp_rx *rx, sluice_time now, uint32_t new_cum_tsn);

/** Cumulative TSN ack (last TSN received in sequence). Also for SHUTDOWN (§3.3.8). */
uint32_t sluice_sctp_rx_cum_tsn(const sluice_sctp_rx *rx);
/** Any TSN received above the cum ack. */
bool sluice_sctp_rx_has_gaps(const sluice_sctp_rx *rx);

typedef struct sluice_sctp_rx_stats {
    uint64_t data_chunks, duplicates, dropped_too_far, sacks_sent;
} sluice_sctp_rx_stats;
void sluice_sctp_rx_get_stats(const sluice_sctp_rx *rx, sluice_sctp_rx_stats *out);

#endif /* SLUICE_SCTP_RX_H */
