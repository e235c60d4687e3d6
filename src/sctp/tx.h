/* SCTP send queue (the "RRSendQueue" of dcsctp): per-stream FIFO queues of outgoing
 * messages, a round-robin scheduler across streams, fragmentation into DATA / I-DATA chunk
 * payloads, message lifetime (RFC 3758 "timed reliability") for messages not yet started,
 * buffered amount per stream with a low-threshold notification, and a bound on the total
 * queued bytes.
 *
 * Messages are stored once (one allocation, payload inline) and reference-counted: every
 * chunk handed out by sluice_sctp_tx_produce() holds a reference until the retransmission
 * queue releases it, so fragments are just (offset, length) into the message and no
 * per-chunk copy or allocation is made.
 *
 * SSN (DATA) / MID (I-DATA) numbers are assigned when a message's first fragment is
 * produced, so a message that expires before being sent costs no sequence number and needs
 * no FORWARD-TSN. Without I-DATA, a started message is sent to its end before the
 * scheduler moves to another stream (RFC 9260 §6.9: fragments take consecutive TSNs); with
 * I-DATA the scheduler may switch stream after every fragment (RFC 8260 §1: interleaving). */
#ifndef SLUICE_SCTP_TX_H
#define SLUICE_SCTP_TX_H

#include "util.h"
#include "sctp/sctp.h"

/** One outgoing message. Fields are read-only outside tx.c, except `abandoned`, which the
 *  retransmission queue sets (PR-SCTP): tx then drops whatever is still unsent of it. */
typedef struct sluice_sctp_msg {
    struct sluice_sctp_msg *next; /**< stream queue link (tx.c) */
    uint32_t refs;
    uint16_t stream;
    uint32_t ppid;
    uint32_t mid;         /**< SSN (DATA, 16 bit) or MID (I-DATA); valid once started */
    bool unordered;
    bool started;         /**< first fragment produced */
    bool abandoned;       /**< PR-SCTP: give up on it (set by retx or by lifetime expiry) */
    bool has_max_retransmits;
    uint16_t max_retransmits;
    sluice_time expires;  /**< SLUICE_TIME_NEVER when no lifetime */
    size_t len;
    size_t produced;      /**< bytes handed out as fragments so far */
    uint32_t next_fsn;    /**< I-DATA fragment sequence number of the next fragment */
    uint8_t data[];
} sluice_sctp_msg;

/** Take one more reference. */
static inline sluice_sctp_msg *sluice_sctp_msg_ref(sluice_sctp_msg *m) { m->refs++; return m; }
/** Drop a reference; frees the message at zero. */
void sluice_sctp_msg_unref(const sluice_allocator *alloc, sluice_sctp_msg *m);

/** One fragment to send. Holds one reference on `msg` (release with sluice_sctp_msg_unref). */
typedef struct sluice_sctp_tx_chunk {
    sluice_sctp_msg *msg;
    uint32_t offset;      /**< into msg->data */
    uint32_t len;
    uint32_t fsn;         /**< I-DATA FSN (0 on the first fragment) */
    bool beginning, ending;
} sluice_sctp_tx_chunk;

typedef struct sluice_sctp_tx_settings {
    size_t max_buffer;    /**< total bytes queued not yet produced, all streams, plus a header
                               charge (~90 bytes) per queued message; default 16 MiB */
    bool idata;           /**< I-DATA negotiated: MIDs and interleaving; default false */
    /** User data that fits an otherwise empty packet. A message no larger than this is never
     *  split across packets: produce returns 0 instead when it does not fit the room left,
     *  and the message starts the next packet (splitting small messages doubles their loss
     *  risk and has broken peers' reassembly). 0 = split anywhere (default). */
    size_t fresh_packet_payload;
    /** I-DATA: at most this many messages partly sent at once (0 = no limit). Interleaving
     *  every started message can fill the receiver's reassembly space with partial messages
     *  that never complete; keep this times the largest message below the peer's window. */
    size_t max_in_progress;
} sluice_sctp_tx_settings;

void sluice_sctp_tx_settings_default(sluice_sctp_tx_settings *s);

typedef struct sluice_sctp_tx sluice_sctp_tx;

/** Heap object. Errors: NOMEM, INVALID_ARGUMENT. */
int sluice_sctp_tx_new(sluice_sctp_tx **out, const sluice_sctp_tx_settings *s, const sluice_allocator *alloc);
/** Frees queued messages (dropping tx's references; chunks still held elsewhere stay valid). */
void sluice_sctp_tx_free(sluice_sctp_tx *tx);

/** Switch to I-DATA (after negotiation, before anything was produced). */
void sluice_sctp_tx_set_idata(sluice_sctp_tx *tx, bool idata);

/** Queue one message (copied). `opt` may be NULL (reliable, ordered).
 *  Errors: INVALID_ARGUMENT (len 0), TOO_LARGE (len > max_buffer: it can never fit),
 *  BUFFER_FULL (max_buffer would be exceeded now; nothing queued), CLOSED (stream closed
 *  for a pending reset), NOMEM. */
int sluice_sctp_tx_push(sluice_sctp_tx *tx, sluice_time now, uint16_t stream, uint32_t ppid, const uint8_t *data,
                        size_t len, const sluice_sctp_send_options *opt);

/** Produce the next fragment, at most `max_payload` bytes of user data (> 0), choosing the
 *  stream round-robin. Messages whose lifetime expired before they started are dropped
 *  (counted as abandoned). Returns 1 and fills `out`, or 0 when nothing is queued. */
int sluice_sctp_tx_produce(sluice_sctp_tx *tx, sluice_time now, size_t max_payload, sluice_sctp_tx_chunk *out);

/** True when some stream has data to produce (cheap). */
bool sluice_sctp_tx_has_data(const sluice_sctp_tx *tx);

/** Drop unstarted messages whose lifetime has passed and the unsent rest of abandoned
 *  messages. Called by produce; call it on a timer to update buffered amounts promptly. */
void sluice_sctp_tx_expire(sluice_sctp_tx *tx, sluice_time now);

/** First instant at which a queued, unstarted message is expired (lifetimes are inclusive),
 *  SLUICE_TIME_NEVER if none: call sluice_sctp_tx_expire() then. */
sluice_time sluice_sctp_tx_next_expiry(const sluice_sctp_tx *tx);

/** Bytes queued on `stream` not yet produced. */
size_t sluice_sctp_tx_buffered_amount(const sluice_sctp_tx *tx, uint16_t stream);
/** Total bytes queued not yet produced. */
size_t sluice_sctp_tx_total_buffered(const sluice_sctp_tx *tx);
/** Set the buffered-low threshold of `stream` (default 0). Errors: NOMEM. */
int sluice_sctp_tx_set_buffered_low_threshold(sluice_sctp_tx *tx, uint16_t stream, size_t bytes);
/** Pop one stream whose buffered amount fell from above its threshold to <= it.
 *  Returns 1 and sets *stream, or 0. */
int sluice_sctp_tx_poll_buffered_low(sluice_sctp_tx *tx, uint16_t *stream);

/** RFC 6525 outgoing reset, step 1: refuse new messages on `stream` (push returns CLOSED);
 *  queued ones are still sent. A stream that never had a message is left alone (no state is
 *  made for it; the association refuses sends while its reset is pending). */
void sluice_sctp_tx_close_stream(sluice_sctp_tx *tx, uint16_t stream);
/** True when nothing of `stream` remains to produce (so its reset request may be sent). */
bool sluice_sctp_tx_stream_drained(const sluice_sctp_tx *tx, uint16_t stream);
/** RFC 6525 §5.1.2 step 2, once the peer performed the reset: next SSN/MID 0, reopen. */
void sluice_sctp_tx_reset_stream(sluice_sctp_tx *tx, uint16_t stream);

typedef struct sluice_sctp_tx_stats {
    uint64_t messages_queued, messages_abandoned_unsent;
} sluice_sctp_tx_stats;
void sluice_sctp_tx_get_stats(const sluice_sctp_tx *tx, sluice_sctp_tx_stats *out);

#endif /* SLUICE_SCTP_TX_H */
