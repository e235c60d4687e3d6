/* The association object behind sctp.h (internal): its TCB (RFC 9260 §14), the handshake,
 * shutdown and abort state machine with verification-tag rules (assoc.c), and the facade
 * that bundles chunks into packets and queues events (sctp.c). The data path units (tx,
 * retx, rx, reasm) and stream reset (reconfig) are owned here. */
#ifndef SLUICE_SCTP_ASSOC_H
#define SLUICE_SCTP_ASSOC_H

#include "sctp/cookie.h"
#include "sctp/packet.h"
#include "sctp/reasm.h"
#include "sctp/reconfig.h"
#include "sctp/retx.h"
#include "sctp/rx.h"
#include "sctp/sctp.h"
#include "sctp/tx.h"

#define SLUICE_SCTP_OUTQ_LEN 8     /**< prebuilt packets waiting (stateless replies, ABORT) */
#define SLUICE_SCTP_MAX_HB_INFO 1024 /**< longest HEARTBEAT info we echo */
#define SLUICE_SCTP_MAX_ERROR_CAUSES 256 /**< bytes of ERROR causes waiting to be sent */

/* One queued event without its reason text (see closed_reason). */
typedef struct sluice_sctp_ev_slot {
    sluice_sctp_message message;
    int error;
    uint16_t stream, num_outbound, num_inbound;
    uint8_t type;
} sluice_sctp_ev_slot;

typedef struct sluice_sctp_outpkt {
    size_t len;
    uint8_t *data; /**< mtu bytes, allocated at creation */
} sluice_sctp_outpkt;

struct sluice_sctp {
    sluice_sctp_settings s;
    const sluice_allocator *alloc;
    const sluice_rng *rng;
    const sluice_logger *log;
    sluice_sctp_state state;
    bool terminated;     /**< was up and is gone: no new association from this object */
    bool connect_called;
    uint8_t secret[SLUICE_SCTP_COOKIE_SECRET_LEN];

    /* TCB (valid from COOKIE_WAIT on) */
    uint32_t my_tag, peer_tag;
    uint32_t my_tsn, peer_tsn;      /**< initial TSNs */
    uint32_t peer_rwnd;
    uint16_t num_out, num_in;       /**< usable streams both ways once up */
    sluice_sctp_features peer_feat;
    bool idata, zero_tx;            /**< negotiated */
    bool up;                        /**< data path exists (ESTABLISHED reached) */

    /* handshake / shutdown timers: one control timer at a time (T1 or T2) */
    sluice_time t_ctrl;             /**< deadline (NEVER = off) */
    uint64_t t_ctrl_rto;            /**< current backed-off timeout */
    uint32_t t_ctrl_count;
    uint8_t *cookie_echo;           /**< cookie to echo (COOKIE_ECHOED) */
    size_t cookie_echo_len;
    uint32_t error_count;           /**< Association.Max.Retrans counter (§8.1) */
    bool sack_since_t3;             /**< a SACK came since the last T3-rtx expiry */
    uint32_t last_sack_rwnd;        /**< a_rwnd of the peer's last SACK */
    sluice_time hb_deadline;
    bool hb_outstanding;
    sluice_time t5;                 /**< T5-shutdown-guard deadline (§9.2), valid in
                                         SHUTDOWN-SENT / SHUTDOWN-ACK-SENT */

    /* control chunks to send */
    bool send_init, send_cookie_echo, send_cookie_ack, send_shutdown, send_shutdown_ack;
    bool shutdown_requested;
    uint8_t hb_ack[SLUICE_SCTP_MAX_HB_INFO + 4];
    size_t hb_ack_len;              /**< whole Heartbeat Info TLV to echo (0 = none) */
    bool send_hb;
    uint8_t err_causes[SLUICE_SCTP_MAX_ERROR_CAUSES];
    size_t err_len;                 /**< ERROR causes to send with the next packet */

    /* prebuilt packets */
    sluice_sctp_outpkt outq[SLUICE_SCTP_OUTQ_LEN];
    size_t outq_head, outq_n;

    /* data path */
    sluice_sctp_tx *tx;
    sluice_sctp_retx *retx;
    sluice_sctp_rx *rx;
    sluice_sctp_reasm *reasm;
    sluice_sctp_reconfig rc;
    bool rc_init;

    /* events: a ring of control events (and messages moved out of reassembly when order
     * matters, e.g. before a stream reset or CLOSED). Slots are compact (a reset of every
     * stream queues 65535 of them); the one CLOSED event's reason is kept aside. */
    sluice_sctp_ev_slot *ev;
    char closed_reason[128];
    size_t ev_head, ev_n, ev_cap;
    bool connected_queued;
    uint8_t *reset_marks; /**< bits [3][65536]: a STREAM_RESET / _DONE / _REQUESTED of that stream is queued */
    size_t ev_msg_bytes;  /**< messages moved from reassembly into `ev` (+ overhead each): they
                               still count against the window and the reassembly cap */
    size_t reasm_max;     /**< the reassembly cap (sluice_sctp_reasm_settings.max_bytes) */

    uint32_t last_adv_rwnd;         /**< a_rwnd of our last SACK */
    sluice_sctp_stats st;
};

/* ---- assoc.c: control chunks, timers ---------------------------------------------- */

/** Dispatch one received control chunk; returns false to stop processing the packet. */
bool sluice_sctp_assoc_chunk(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                             const sluice_sctp_chunk *c, size_t nchunks);
/** Out-of-the-blue packet (no association): RFC 9260 §8.4. */
void sluice_sctp_assoc_ootb(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                            const uint8_t *pkt, size_t len);
/** Control timers (T1, T2, heartbeat). */
void sluice_sctp_assoc_timeout(sluice_sctp *a, sluice_time now);
sluice_time sluice_sctp_assoc_deadline(const sluice_sctp *a);
/** Start the active open: choose tags/TSN, queue INIT, start T1-init. */
int sluice_sctp_assoc_connect(sluice_sctp *a, sluice_time now);
/** Write pending control chunks for an established-phase packet (before SACK/DATA). */
void sluice_sctp_assoc_write_control(sluice_sctp *a, sluice_time now, sluice_sctp_pkt *p);
/** Build a handshake packet (INIT / COOKIE-ECHO) when one is due: length or 0. */
size_t sluice_sctp_assoc_handshake_packet(sluice_sctp *a, sluice_time now, uint8_t *buf, size_t cap);
/** Check shutdown progress after data moved (SHUTDOWN_PENDING → send SHUTDOWN etc.). */
void sluice_sctp_assoc_shutdown_progress(sluice_sctp *a, sluice_time now);
/** Count a retransmission timeout against Association.Max.Retrans; may abort. */
void sluice_sctp_assoc_count_error(sluice_sctp *a, sluice_time now, const char *what);
/** Tear down with ABORT (cause code + text) sent to the peer and CLOSED(err) reported. */
void sluice_sctp_assoc_abort(sluice_sctp *a, sluice_time now, uint16_t cause, const char *text, int err);

/* ---- sctp.c helpers used by assoc.c ------------------------------------------------- */

/** Queue a prebuilt packet (dropped when the queue is full: stateless replies only). */
uint8_t *sluice_sctp_outq_reserve(sluice_sctp *a);
void sluice_sctp_outq_commit(sluice_sctp *a, size_t len);
/** Queue a one-chunk packet. */
void sluice_sctp_send_single(sluice_sctp *a, uint32_t vtag, uint8_t type, uint8_t flags,
                             const uint8_t *value, size_t len);
/** Push an event (messages of reassembly are moved first when `drain`). */
void sluice_sctp_push_event(sluice_sctp *a, const sluice_sctp_event *ev, bool drain);
/** A send queue with this association's settings. Errors: NOMEM. */
int sluice_sctp_new_send_queue(const sluice_sctp *a, sluice_sctp_tx **out);
/** Create the data path (retx, rx, reasm, reconfig) from the TCB. Errors: NOMEM. */
int sluice_sctp_datapath_start(sluice_sctp *a);
void sluice_sctp_datapath_stop(sluice_sctp *a);
/** Enter CLOSED, stop timers, report CLOSED(err, reason). */
void sluice_sctp_enter_closed(sluice_sctp *a, int err, const char *reason);
/** Queue an ERROR cause for the next packet (dropped when no room). */
void sluice_sctp_queue_error_cause(sluice_sctp *a, uint16_t code, const uint8_t *info, size_t len);

#endif
