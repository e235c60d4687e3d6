/* SCTP outstanding-data tracker and congestion control (dcsctp's OutstandingData +
 * RetransmissionQueue + RetransmissionTimeout): assigns TSNs to fragments pulled from the
 * send queue (tx), writes DATA / I-DATA chunks within cwnd and the peer's rwnd, processes
 * SACKs (cumulative ack, gap blocks, duplicates), measures RTT (Karn's rule) and keeps the
 * RTO (RFC 9260 §6.3, RFC 6298), runs T3-rtx with back-off, fast retransmit on the third
 * miss indication with fast recovery (§7.2.4; a lost fast retransmission is fast-
 * retransmitted again once three TSNs sent after it are acked, instead of waiting for
 * T3-rtx), slow start / congestion avoidance / partial bytes acked (§7.2.1-7.2.3), Max.Burst
 * (§6.1 D), and PR-SCTP abandonment (max retransmissions, lifetime) with the advanced peer
 * ack point and the (I-)FORWARD-TSN it needs (RFC 3758 §3.5, RFC 8260 §2.3).
 *
 * Typical use by the association, per outgoing packet:
 *     if (sluice_sctp_retx_fwd_tsn_pending(r)) sluice_sctp_retx_write_fwd_tsn(r, now, &w);
 *     n = sluice_sctp_retx_write_data(r, now, &w);   // retransmissions first, then new data
 * and on input: sluice_sctp_retx_handle_sack(); on deadline: sluice_sctp_retx_handle_timeout().
 * Sans-IO: one deadline (T3-rtx). Lifetime and max-retransmit limits of sent messages are
 * checked when a chunk is about to be retransmitted (RFC 3758 §3.5 A3). */
#ifndef SLUICE_SCTP_RETX_H
#define SLUICE_SCTP_RETX_H

#include "util.h"
#include "sctp/data.h"
#include "sctp/tx.h"

typedef struct sluice_sctp_retx_settings {
    size_t mtu;                 /**< max SCTP packet size: cwnd unit (default 1191) */
    uint32_t rto_initial_ms;    /**< RFC 9260 §16: 1000 */
    uint32_t rto_min_ms;        /**< default 200 (WebRTC practice; RFC says 1000) */
    uint32_t rto_max_ms;        /**< default 10000 (RFC says 60000) */
    size_t max_outstanding;     /**< cap on chunks in flight (table size); default 32768 */
    size_t max_retained_bytes;  /**< wire bytes from the cum ack to the newest TSN (gap-acked
                                     ones included: a receiver may renege, so they are kept);
                                     no new chunk beyond it. 0 = no limit (default) */
    bool idata;                 /**< send I-DATA / I-FORWARD-TSN; default false */
    /** RFC 9260 §6.1 D Max.Burst (packets; §16: 4; 0 = off), applied to SACKs that end a
     *  stall: one that opens a window the peer had shut lets the flight grow at most this
     *  many packets above its level before the SACK; one after half an RTO without SACKs,
     *  at most this many above what is still in flight. */
    uint32_t max_burst;
    /** Initial cwnd in packets; 0 (default) = RFC 9260 §7.2.1 min(4 MTU, max(2 MTU, 4380)) */
    uint32_t initial_cwnd_mtus;
} sluice_sctp_retx_settings;

void sluice_sctp_retx_settings_default(sluice_sctp_retx_settings *s);

typedef struct sluice_sctp_retx sluice_sctp_retx;

/** Heap object. `tx` is the send queue new data is pulled from; it must outlive retx.
 *  TSNs start at `initial_tsn` (our INIT's Initial TSN) and the peer's window at `peer_rwnd`
 *  (its a_rwnd from INIT / INIT-ACK). Errors: NOMEM, INVALID_ARGUMENT. */
int sluice_sctp_retx_new(sluice_sctp_retx **out, const sluice_sctp_retx_settings *s, const sluice_allocator *alloc,
                         sluice_sctp_tx *tx, uint32_t initial_tsn, uint32_t peer_rwnd);
/** Releases outstanding chunks' message references. */
void sluice_sctp_retx_free(sluice_sctp_retx *r);

/** Switch DATA/I-DATA (after negotiation, before any data was sent). */
void sluice_sctp_retx_set_idata(sluice_sctp_retx *r, bool idata);

/** Write as many DATA / I-DATA chunks as fit in `w`'s remaining space and the windows:
 *  chunks marked for retransmission first (fast retransmit ignores cwnd for the first
 *  packet, §7.2.4 (3); after a T3-rtx only one packet goes until the next SACK, §6.3.3
 *  E3), then new fragments from tx, cut to the room left in `w` (so a packet is filled
 *  and a message may start at the end of one packet). Allows one chunk in flight when the
 *  peer's rwnd is 0 (zero window probe, §6.1 A). Sets the RFC 7053 I bit on a new chunk
 *  after which the sender has to wait anyway (tx empty or windows full). Decays cwnd after
 *  an idle period (§7.2.1). Starts T3-rtx if needed. Chunks are padded to 4 bytes, so
 *  pass a writer whose size is what the packet may still take.
 *  Returns the number of chunks written (0: nothing to send or not allowed now). */
int sluice_sctp_retx_write_data(sluice_sctp_retx *r, sluice_time now, sluice_wr *w);

/** True when something is waiting to be sent now (retransmission or new data within the
 *  windows, or a FORWARD-TSN), i.e. the association should build a packet. */
bool sluice_sctp_retx_wants_to_send(const sluice_sctp_retx *r);

/** Process a SACK (RFC 9260 §6.2.1). Stale SACKs (cum ack behind ours) are ignored.
 *  Returns 1 when new data was acknowledged (the association resets its error counter,
 *  §8.3), 0 otherwise, or MALFORMED when the SACK acknowledges TSNs never sent (nothing
 *  changed; the association may ABORT with "protocol violation", §6.2.1). */
int sluice_sctp_retx_handle_sack(sluice_sctp_retx *r, sluice_time now, const sluice_sctp_sack *sack);

/** An RTT measurement taken elsewhere (HEARTBEAT-ACK), in microseconds. */
void sluice_sctp_retx_add_rtt_sample(sluice_sctp_retx *r, uint64_t rtt_us);

/** T3-rtx deadline (SLUICE_TIME_NEVER if not running). */
sluice_time sluice_sctp_retx_next_deadline(const sluice_sctp_retx *r);
/** Handle an expired T3-rtx: marks everything outstanding for retransmission, sets
 *  cwnd to one MTU and doubles the RTO (§6.3.3).
 *  Returns 1 when T3-rtx expired (the association increments its error counter and aborts
 *  after Association.Max.Retrans, §8.1), else 0. */
int sluice_sctp_retx_handle_timeout(sluice_sctp_retx *r, sluice_time now);

/** PR-SCTP: the advanced peer ack point is beyond the peer's cumulative ack, so an
 *  (I-)FORWARD-TSN should be sent (RFC 3758 §3.5 C). */
bool sluice_sctp_retx_fwd_tsn_pending(const sluice_sctp_retx *r);
/** Write the (I-)FORWARD-TSN: new cumulative TSN = advanced peer ack point, plus for every
 *  stream with abandoned data the highest abandoned SSN (ordered only, FORWARD-TSN) or MID
 *  (I-FORWARD-TSN, ordered and unordered). Errors: NOBUFS (writer unchanged). */
int sluice_sctp_retx_write_fwd_tsn(sluice_sctp_retx *r, sluice_time now, sluice_wr *w);

/** Next TSN to assign; next_tsn - 1 is the "sender's last assigned TSN" of a stream reset
 *  request (RFC 6525 §4.1). */
uint32_t sluice_sctp_retx_next_tsn(const sluice_sctp_retx *r);
/** Nothing outstanding (all acked or abandoned-and-forwarded): for SHUTDOWN (§9.2). */
bool sluice_sctp_retx_is_idle(const sluice_sctp_retx *r);
/** Current RTO in microseconds (also the base of other association timers). */
uint64_t sluice_sctp_retx_rto_us(const sluice_sctp_retx *r);

typedef struct sluice_sctp_retx_stats {
    uint32_t srtt_us, rttvar_us, rto_ms;
    uint32_t cwnd, ssthresh, peer_rwnd, bytes_in_flight;
    uint64_t data_chunks_sent, retransmissions, fast_retransmits, t3_expirations;
    uint64_t messages_abandoned;  /**< abandoned after (partly) being sent */
    uint64_t bad_sacks;           /**< SACKs refused as MALFORMED */
    uint64_t burst_limited;       /**< SACKs after which Max.Burst held new data back */
} sluice_sctp_retx_stats;
void sluice_sctp_retx_get_stats(const sluice_sctp_retx *r, sluice_sctp_retx_stats *out);

#endif /* SLUICE_SCTP_RETX_H */
