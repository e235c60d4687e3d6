/* The SCTP association as the peer layer sees it (RFC 9260 + RFC 3758 PR-SCTP + RFC 6525
 * stream reset + RFC 8260 I-DATA), sans-IO: SCTP packets in and out (carried in DTLS
 * records by the caller), messages in and out, one deadline. */
#ifndef SLUICE_SCTP_H
#define SLUICE_SCTP_H

#include "util.h"

typedef struct sluice_sctp_settings {
    uint16_t local_port, remote_port; /**< 5000 / from a=sctp-port */
    size_t mtu;                   /**< max SCTP packet size; default 1191 (1200 - DTLS overhead) */
    uint32_t rwnd;                /**< advertised receive window; default 4 MiB */
    size_t max_send_buffer;       /**< total bytes queued to send; default 16 MiB */
    size_t max_message_size;      /**< largest inbound message; larger → ABORT; default 256 KiB */
    size_t max_reassembly_bytes;  /**< inbound partial data cap; default (0) = rwnd +
                                       max_message_size; never below max_message_size + mtu */
    uint16_t num_streams;         /**< OS and MIS announced; default 65535 */
    uint32_t rto_initial_ms, rto_min_ms, rto_max_ms; /**< 1000 / 200 / 10000 */
    uint32_t max_init_retransmits;  /**< default 8 */
    uint32_t max_assoc_retransmits; /**< default 10 (Association.Max.Retrans) */
    uint32_t delayed_ack_ms;        /**< default 200 */
    uint32_t cookie_lifetime_ms;    /**< default 60000 */
    uint32_t heartbeat_interval_ms; /**< 0 = off (default: ICE consent covers liveness) */
    bool enable_idata;              /**< announce I-DATA/I-FORWARD-TSN; default true */
    bool zero_checksum;             /**< RFC 9653: announce and use; default false */
    /** Initial congestion window in packets; 0 (default) = RFC 9260 §7.2.1,
     *  min(4 MTU, max(2 MTU, 4380)) (a MUST there; usrsctp as libdatachannel sets it and
     *  dcsctp start at 10: see docs/BENCHMARKS.md for what it buys) */
    uint32_t initial_cwnd_mtus;
} sluice_sctp_settings;

void sluice_sctp_settings_default(sluice_sctp_settings *s);

typedef struct sluice_sctp sluice_sctp;

/** Create an association endpoint in CLOSED state. `rng` (tags, TSNs, cookie secret) and `log`
 *  must outlive it. Errors: NOMEM, CONFIG. */
int sluice_sctp_new(sluice_sctp **out, const sluice_sctp_settings *s, const sluice_allocator *alloc,
                    const sluice_rng *rng, const sluice_logger *log);
void sluice_sctp_free(sluice_sctp *a);

/** Send INIT (active open). In WebRTC both sides may call it (INIT collision is handled per
 *  RFC 9260 §5.2). Errors: INVALID_STATE. */
int sluice_sctp_connect(sluice_sctp *a, sluice_time now);

/** Feed one received SCTP packet (CRC checked). Bad packets are dropped and counted (OK). */
int sluice_sctp_handle_packet(sluice_sctp *a, sluice_time now, const uint8_t *data, size_t len);

/** Take the next SCTP packet to send: returns its length, 0 when none, NOBUFS. */
int sluice_sctp_poll_packet(sluice_sctp *a, sluice_time now, uint8_t *buf, size_t cap);

sluice_time sluice_sctp_next_deadline(const sluice_sctp *a);
void sluice_sctp_handle_timeout(sluice_sctp *a, sluice_time now);

typedef struct sluice_sctp_send_options {
    bool unordered;
    bool has_max_retransmits;
    uint16_t max_retransmits;
    bool has_lifetime;
    uint32_t lifetime_ms;
} sluice_sctp_send_options;

/** Queue one message (copied). Allowed before ESTABLISHED (sent once up).
 *  Errors: INVALID_ARGUMENT (stream >= negotiated outbound streams once known),
 *  BUFFER_FULL (max_send_buffer reached), TOO_LARGE (len > max_send_buffer: never fits),
 *  INVALID_STATE (shutting down/closed), NOMEM, CLOSED (stream is being reset). Zero-length messages are the caller's business (WebRTC sends
 *  one byte with PPID 56/57); a len of 0 is refused with INVALID_ARGUMENT. */
int sluice_sctp_send(sluice_sctp *a, sluice_time now, uint16_t stream, uint32_t ppid,
                     const uint8_t *data, size_t len, const sluice_sctp_send_options *opt);

/** Bytes queued (not yet sent for the first time) on `stream`. */
size_t sluice_sctp_buffered_amount(const sluice_sctp *a, uint16_t stream);
/** Fire SLUICE_SCTP_EVENT_BUFFERED_LOW on `stream` when its buffered amount drops to <= `bytes`. */
void sluice_sctp_set_buffered_low_threshold(sluice_sctp *a, uint16_t stream, size_t bytes);

/** Reset our outgoing side of these streams (RFC 6525 outgoing SSN reset request); queued
 *  data on them is sent first. Errors: INVALID_STATE, NOMEM. */
int sluice_sctp_reset_streams(sluice_sctp *a, sluice_time now, const uint16_t *streams, size_t n);

/** Graceful shutdown (SHUTDOWN after all data acked). */
void sluice_sctp_shutdown(sluice_sctp *a, sluice_time now);
/** ABORT with a user-initiated-abort cause containing `reason`. */
void sluice_sctp_abort(sluice_sctp *a, sluice_time now, const char *reason);

/* Event notes (sctp.c / assoc.c):
 *  - CONNECTED comes again if the peer restarts the association (RFC 9260 §5.2.4 action
 *    A): everything of the old association, queued sends included, is gone by then.
 *  - STREAM_RESET comes after every message of that stream that preceded the reset; the
 *    peer layer answers with sluice_sctp_reset_streams() for the same stream (RFC 8831
 *    §6.7) unless it already reset it. STREAM_RESET_DONE also comes when the peer refused
 *    the request (logged): the stream is reusable either way.
 *  - STREAM_RESET_REQUESTED: the peer asked for the reset of our outgoing stream (no
 *    WebRTC stack does, but RFC 6525 allows it); treat it like a local close of the
 *    channel: STREAM_RESET_DONE follows as for sluice_sctp_reset_streams().
 *  - CLOSED: error 0 after a graceful shutdown; ABORTED (peer's ABORT, or ours from
 *    sluice_sctp_abort()) with the cause in `reason`; TIMEOUT (INIT/COOKIE-ECHO never
 *    answered, or Association.Max.Retrans exceeded); TOO_LARGE (inbound message over
 *    max_message_size); SCTP (protocol violation); NOMEM. No event follows CLOSED. */
typedef enum sluice_sctp_event_type {
    SLUICE_SCTP_EVENT_CONNECTED = 1,      /**< ESTABLISHED; num_outbound/num_inbound valid */
    SLUICE_SCTP_EVENT_MESSAGE = 2,        /**< `message` (ownership passes to the caller) */
    SLUICE_SCTP_EVENT_STREAM_RESET = 3,   /**< the peer reset its outgoing `stream` (our incoming) */
    SLUICE_SCTP_EVENT_STREAM_RESET_DONE = 4, /**< our outgoing reset of `stream` was performed */
    SLUICE_SCTP_EVENT_BUFFERED_LOW = 5,   /**< `stream` buffered amount crossed its threshold */
    SLUICE_SCTP_EVENT_CLOSED = 6,         /**< association gone: `error` + `reason` (0 = graceful) */
    /** The peer asked us to reset our outgoing `stream` (RFC 6525 Incoming SSN Reset
     *  Request): it is being reset as if sluice_sctp_reset_streams() had been called (sends
     *  on it fail with CLOSED; STREAM_RESET_DONE follows). */
    SLUICE_SCTP_EVENT_STREAM_RESET_REQUESTED = 7,
} sluice_sctp_event_type;

/** A received message. Free `data` with sluice_mem_free(alloc, data). */
typedef struct sluice_sctp_message {
    uint16_t stream;
    uint32_t ppid;
    bool unordered;
    uint8_t *data;
    size_t len;
} sluice_sctp_message;

typedef struct sluice_sctp_event {
    sluice_sctp_event_type type;
    uint16_t stream;
    sluice_sctp_message message;
    uint16_t num_outbound, num_inbound;
    int error;
    char reason[128];
} sluice_sctp_event;

/** Pull the next event: 1 when written, 0 when none. */
int sluice_sctp_poll_event(sluice_sctp *a, sluice_sctp_event *ev);

typedef enum sluice_sctp_state {
    SLUICE_SCTP_CLOSED = 0,
    SLUICE_SCTP_COOKIE_WAIT = 1,
    SLUICE_SCTP_COOKIE_ECHOED = 2,
    SLUICE_SCTP_ESTABLISHED = 3,
    SLUICE_SCTP_SHUTDOWN_PENDING = 4,
    SLUICE_SCTP_SHUTDOWN_SENT = 5,
    SLUICE_SCTP_SHUTDOWN_RECEIVED = 6,
    SLUICE_SCTP_SHUTDOWN_ACK_SENT = 7,
} sluice_sctp_state;

sluice_sctp_state sluice_sctp_get_state(const sluice_sctp *a);

typedef struct sluice_sctp_stats {
    uint32_t srtt_us, rttvar_us, rto_ms;
    uint32_t cwnd, ssthresh, peer_rwnd, bytes_in_flight;
    uint64_t packets_sent, packets_received, packets_dropped;
    uint64_t data_chunks_sent, data_chunks_received, retransmissions, fast_retransmits, t3_expirations;
    uint64_t messages_sent, messages_received, messages_abandoned;
    uint64_t burst_limited; /**< SACKs after which Max.Burst (not cwnd) held new data back */
    uint64_t tail_probes;   /**< tail-loss probes sent (RFC 8985 §7 applied to SCTP) */
    bool idata, zero_checksum;
} sluice_sctp_stats;

void sluice_sctp_get_stats(const sluice_sctp *a, sluice_sctp_stats *out);

/** True when the DTLS payload is an SCTP packet we should feed (length >= 12). */
static inline bool sluice_sctp_looks_like_packet(const uint8_t *d, size_t len) {
    (void)d;
    return len >= 12;
}

#endif
