/* RFC 6525 stream reconfiguration as WebRTC uses it (RFC 8831 §6.7): closing a data channel
 * resets the outgoing stream (Outgoing SSN Reset Request); the peer answers and resets its
 * own outgoing side in turn. This unit keeps the request/response state of one association:
 * which of our streams wait for a reset, the one request in flight (§5.1.1: one at a time)
 * with its retransmission timer, the expected request sequence number of the peer and the
 * last result sent (to answer retransmissions identically, §5.2.1), and the responses still
 * to send. A peer's Incoming SSN Reset Request (§5.2.3, which no WebRTC stack sends) is
 * performed: its streams join ours and our next request answers it. It writes RE-CONFIG
 * chunk values and reports what to do through callbacks; it never touches the data path
 * itself. */
#ifndef SLUICE_SCTP_RECONFIG_H
#define SLUICE_SCTP_RECONFIG_H

#include "sctp/packet.h"

/** What the association does when the peer's requests or responses take effect. */
typedef struct sluice_sctp_reconfig_ops {
    /** True when nothing of our outgoing `stream` is still queued (request may go out). */
    bool (*stream_drained)(void *ctx, uint16_t stream);
    /** The peer reset its outgoing streams (our incoming): reset reassembly, emit events. */
    void (*incoming_reset)(void *ctx, const uint16_t *streams, size_t n);
    /** Our request for `stream` got a final answer (performed or refused): reset our SSN. */
    void (*outgoing_reset_done)(void *ctx, uint16_t stream, uint32_t result);
    void *ctx;
    /** The peer asked us to reset our outgoing `streams` (Incoming SSN Reset Request) and
     *  they are now queued for our own request: refuse new data on them, tell the user.
     *  NULL: such requests are denied. */
    void (*outgoing_reset_requested)(void *ctx, const uint16_t *streams, size_t n);
} sluice_sctp_reconfig_ops;

#define SLUICE_SCTP_RECONFIG_MAX_RESPONSES 4
/** Streams carried in one request (keeps a RE-CONFIG chunk well inside one packet). */
#define SLUICE_SCTP_RECONFIG_MAX_BATCH 256

typedef struct sluice_sctp_reconfig {
    const sluice_allocator *alloc;
    sluice_sctp_reconfig_ops ops;
    uint16_t num_inbound;      /**< peer requests for streams >= this are denied */
    uint16_t num_outbound;     /**< same for Incoming SSN Reset Requests (0 = deny them) */
    /* our side */
    uint32_t next_req_seq;     /**< §5.1.1: starts at our initial TSN */
    uint16_t *pending;         /**< streams waiting to be reset, FIFO, no duplicates */
    uint8_t *resetting;        /**< bit per stream: pending or in flight (8 KiB, on first use),
                                    so membership costs O(1) whatever a peer asks for */
    size_t n_pending, cap_pending, max_pending;
    bool inflight;
    uint32_t inflight_seq;
    uint16_t inflight_streams[SLUICE_SCTP_RECONFIG_MAX_BATCH];
    size_t n_inflight;
    uint32_t inflight_last_tsn; /**< sent identically on retransmission */
    bool resend;               /**< timer fired: send the same request again */
    bool waiting_in_progress;  /**< the peer answered "in progress" */
    bool answer_pending;       /**< next request answers the peer's Incoming SSN Reset */
    uint32_t answer_seq;       /**< ... whose request sequence number is this */
    uint32_t inflight_resp_seq; /**< Response Sequence Number of the request in flight */
    sluice_time deadline;      /**< retransmission of the in-flight request */
    /* peer side */
    uint32_t peer_next_seq;    /**< next request seq expected from the peer (its initial TSN) */
    uint32_t last_result;      /**< result sent for peer_next_seq - 1 */
    struct { uint32_t seq, result; } responses[SLUICE_SCTP_RECONFIG_MAX_RESPONSES];
    size_t n_responses;
    uint64_t requests_sent, retransmissions, requests_received, denied;
} sluice_sctp_reconfig;

/** Embedded init (no allocation). `local_tsn` / `peer_tsn`: the initial TSNs of both sides
 *  (they seed the request sequence numbers, §5.1.1). `max_pending` bounds the queue. */
void sluice_sctp_reconfig_init(sluice_sctp_reconfig *rc, const sluice_allocator *alloc,
                               const sluice_sctp_reconfig_ops *ops, uint32_t local_tsn,
                               uint32_t peer_tsn, uint16_t num_inbound, size_t max_pending);
void sluice_sctp_reconfig_clear(sluice_sctp_reconfig *rc);
/** Our outgoing stream count: the peer may ask us to reset streams below it (RFC 6525
 *  §5.2.3); before this is set such requests are denied. */
void sluice_sctp_reconfig_set_num_outbound(sluice_sctp_reconfig *rc, uint16_t num_outbound);

/** Queue our outgoing `streams` for reset (duplicates ignored). Errors: NOMEM, BUFFER_FULL. */
int sluice_sctp_reconfig_request(sluice_sctp_reconfig *rc, const uint16_t *streams, size_t n);
/** True when `stream` is queued or in flight (the send path refuses it with CLOSED). */
bool sluice_sctp_reconfig_is_resetting(const sluice_sctp_reconfig *rc, uint16_t stream);

/** Something to send now: responses, a new request whose streams are drained, or a resend. */
bool sluice_sctp_reconfig_wants_to_send(const sluice_sctp_reconfig *rc);
/** Size of the RE-CONFIG value sluice_sctp_reconfig_write would produce now (0 = nothing). */
size_t sluice_sctp_reconfig_pending_size(const sluice_sctp_reconfig *rc);
/** Write a RE-CONFIG chunk value (responses, then at most one request) into w.
 *  `last_tsn`: our last assigned TSN; `rto_us`: retransmission timeout. Returns bytes
 *  written (0 = nothing) or NOBUFS (nothing changed). */
int sluice_sctp_reconfig_write(sluice_sctp_reconfig *rc, sluice_time now, sluice_wr *w,
                               uint32_t last_tsn, uint64_t rto_us);

/** Process a received RE-CONFIG value. `peer_cum_tsn`: our cumulative TSN ack of the peer's
 *  data (a reset whose last TSN is beyond it is answered "in progress", §5.2.2).
 *  Returns 1 when a response of ours was accepted (the association resets its error
 *  counter), 0 otherwise, MALFORMED (nothing done). */
int sluice_sctp_reconfig_handle(sluice_sctp_reconfig *rc, sluice_time now, const uint8_t *value,
                                size_t len, uint32_t peer_cum_tsn);

sluice_time sluice_sctp_reconfig_next_deadline(const sluice_sctp_reconfig *rc);
/** Returns 1 when the request timer expired (counts as an association error, §8.1). */
int sluice_sctp_reconfig_handle_timeout(sluice_sctp_reconfig *rc, sluice_time now);

#endif
