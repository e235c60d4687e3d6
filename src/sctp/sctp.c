/* The SCTP facade (sctp.h): packet input demultiplexing, bundling of control chunks, SACK,
 * FORWARD-TSN and DATA into packets <= mtu (RFC 9260 §6.10), the event queue and stats.
 * Handshake/shutdown logic lives in assoc.c, stream reset in reconfig.c, the data path in
 * tx/retx/rx/reasm. */
#include "sctp/assoc.h"

#include "sctp/serial.h"

#include <stdio.h>

#define MODULE "sctp"

void sluice_sctp_settings_default(sluice_sctp_settings *s) {
    memset(s, 0, sizeof *s);
    s->local_port = 5000;
    s->remote_port = 5000;
    s->mtu = 1191;
    s->rwnd = 4u << 20;
    s->max_send_buffer = 16u << 20;
    s->max_message_size = 256u << 10;
    s->max_reassembly_bytes = 0;
    s->num_streams = 65535;
    s->rto_initial_ms = 1000;
    s->rto_min_ms = 200;
    s->rto_max_ms = 10000;
    s->max_init_retransmits = 8;
    s->max_assoc_retransmits = 10;
    s->delayed_ack_ms = 200;
    s->cookie_lifetime_ms = 60000;
    s->heartbeat_interval_ms = 0;
    /* RFC 8260: a large message no longer blocks small ones on other streams. The send queue
     * bounds the messages in progress (max_in_progress), so partial messages cannot fill
     * the peer's reassembly space (seen with 60 x 256 KiB before that bound). */
    s->enable_idata = true;
    s->zero_checksum = false;
}

/* ---- events --------------------------------------------------------------------------- */

/* Our advertised receive window: the setting minus what reassembly holds (§6.2). */
static uint32_t our_rwnd(const sluice_sctp *a) {
    size_t held = (a->reasm ? sluice_sctp_reasm_buffered(a->reasm) : 0) + a->ev_msg_bytes;
    return held >= a->s.rwnd ? 0 : (uint32_t)(a->s.rwnd - held);
}


/* What a message waiting in the event ring is charged (as reassembly charges it). */
#define EV_MSG_OVERHEAD 128u
static size_t ev_msg_cost(const sluice_sctp_message *m) { return m->len + EV_MSG_OVERHEAD; }

static bool ev_push_raw(sluice_sctp *a, const sluice_sctp_event *ev) {
    if (a->ev_n == a->ev_cap) {
        size_t cap = a->ev_cap ? a->ev_cap * 2 : 16;
        sluice_sctp_ev_slot *n = sluice_mem_alloc(a->alloc, cap * sizeof *n);
        if (!n) return false;
        for (size_t i = 0; i < a->ev_n; i++) n[i] = a->ev[(a->ev_head + i) % a->ev_cap];
        sluice_mem_free(a->alloc, a->ev);
        a->ev = n;
        a->ev_cap = cap;
        a->ev_head = 0;
    }
    sluice_sctp_ev_slot *sl = &a->ev[(a->ev_head + a->ev_n) % a->ev_cap];
    sl->type = (uint8_t)ev->type;
    sl->stream = ev->stream;
    sl->message = ev->message;
    sl->num_outbound = ev->num_outbound;
    sl->num_inbound = ev->num_inbound;
    sl->error = ev->error;
    if (ev->type == SLUICE_SCTP_EVENT_CLOSED) snprintf(a->closed_reason, sizeof a->closed_reason, "%s", ev->reason);
    a->ev_n++;
    return true;
}

/* Move every deliverable message out of reassembly, so that an event pushed next (stream
 * reset, CLOSED) is seen after the data that preceded it on the wire. */
static void drain_reasm(sluice_sctp *a) {
    if (!a->reasm) return;
    sluice_sctp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_SCTP_EVENT_MESSAGE;
    while (sluice_sctp_reasm_poll(a->reasm, &ev.message) == 1) {
        ev.stream = ev.message.stream;
        a->st.messages_received++;
        if (!ev_push_raw(a, &ev)) {
            SLUICE_LOG(a->log, SLUICE_LOG_ERROR, MODULE, "out of memory: message on stream %u dropped",
                       (unsigned)ev.stream);
            sluice_mem_free(a->alloc, ev.message.data);
        } else {
            /* Still unread: keeps its place in the window, or a peer alternating "fill the
             * window" and "reset a stream" (which drains reassembly) grows this ring without
             * bound while the application is not reading. */
            a->ev_msg_bytes += ev_msg_cost(&ev.message);
        }
    }
}

/* One pending STREAM_RESET / STREAM_RESET_DONE / STREAM_RESET_REQUESTED per stream at most:
 * a peer repeating reset requests while the application does not poll cannot grow the
 * queue without bound. A bit per (type, stream), allocated on the first reset. Returns the
 * bit index or -1. */
static long reset_mark(sluice_sctp *a, const sluice_sctp_event *ev, bool create) {
    unsigned plane;
    switch (ev->type) {
    case SLUICE_SCTP_EVENT_STREAM_RESET: plane = 0; break;
    case SLUICE_SCTP_EVENT_STREAM_RESET_DONE: plane = 1; break;
    case SLUICE_SCTP_EVENT_STREAM_RESET_REQUESTED: plane = 2; break;
    default: return -1;
    }
    if (!a->reset_marks) {
        if (!create) return -1;
        a->reset_marks = sluice_mem_calloc(a->alloc, 3u * 65536u / 8u, 1);
        if (!a->reset_marks) return -1;
    }
    return (long)(plane * 65536u + ev->stream);
}
static bool mark_get(const sluice_sctp *a, long i) { return (a->reset_marks[i >> 3] >> (i & 7)) & 1; }
static void mark_set(sluice_sctp *a, long i, bool v) {
    if (v) a->reset_marks[i >> 3] |= (uint8_t)(1u << (i & 7));
    else a->reset_marks[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

void sluice_sctp_push_event(sluice_sctp *a, const sluice_sctp_event *ev, bool drain) {
    if (drain) drain_reasm(a);
    long mark = reset_mark(a, ev, true);
    if (mark >= 0 && mark_get(a, mark)) return;
    /* restarts repeated by the peer: one CONNECTED waiting is enough */
    if (ev->type == SLUICE_SCTP_EVENT_CONNECTED && a->connected_queued) return;
    if (!ev_push_raw(a, ev)) {
        SLUICE_LOG(a->log, SLUICE_LOG_ERROR, MODULE, "out of memory: event %d dropped", (int)ev->type);
        return;
    }
    if (mark >= 0) mark_set(a, mark, true);
    if (ev->type == SLUICE_SCTP_EVENT_CONNECTED) a->connected_queued = true;
}

int sluice_sctp_poll_event(sluice_sctp *a, sluice_sctp_event *ev) {
    if (!a || !ev) return 0;
    if (a->ev_n) {
        const sluice_sctp_ev_slot *sl = &a->ev[a->ev_head];
        memset(ev, 0, sizeof *ev);
        ev->type = (sluice_sctp_event_type)sl->type;
        ev->stream = sl->stream;
        ev->message = sl->message;
        ev->num_outbound = sl->num_outbound;
        ev->num_inbound = sl->num_inbound;
        ev->error = sl->error;
        if (ev->type == SLUICE_SCTP_EVENT_CLOSED) snprintf(ev->reason, sizeof ev->reason, "%s", a->closed_reason);
        a->ev_head = (a->ev_head + 1) % a->ev_cap;
        a->ev_n--;
        long mark = reset_mark(a, ev, false);
        if (mark >= 0) mark_set(a, mark, false);
        if (ev->type == SLUICE_SCTP_EVENT_CONNECTED) a->connected_queued = false;
        if (ev->type == SLUICE_SCTP_EVENT_MESSAGE) {
            a->ev_msg_bytes -= ev_msg_cost(&ev->message);
            if (a->rx && our_rwnd(a) >= a->last_adv_rwnd + SLUICE_MAX(a->s.rwnd / 4, 2 * a->s.mtu))
                sluice_sctp_rx_force_sack(a->rx);
        }
        return 1;
    }
    memset(ev, 0, sizeof *ev);
    if (a->reasm && sluice_sctp_reasm_poll(a->reasm, &ev->message) == 1) {
        ev->type = SLUICE_SCTP_EVENT_MESSAGE;
        ev->stream = ev->message.stream;
        a->st.messages_received++;
        /* §6.2: once the application frees enough of a window we had advertised small,
         * tell the peer right away instead of letting it probe. */
        if (a->rx && our_rwnd(a) >= a->last_adv_rwnd + SLUICE_MAX(a->s.rwnd / 4, 2 * a->s.mtu))
            sluice_sctp_rx_force_sack(a->rx);
        return 1;
    }
    uint16_t stream;
    if (a->tx && !a->terminated && sluice_sctp_tx_poll_buffered_low(a->tx, &stream) == 1) {
        ev->type = SLUICE_SCTP_EVENT_BUFFERED_LOW;
        ev->stream = stream;
        return 1;
    }
    return 0;
}

/* ---- prebuilt packets ------------------------------------------------------------------- */

uint8_t *sluice_sctp_outq_reserve(sluice_sctp *a) {
    if (a->outq_n == SLUICE_SCTP_OUTQ_LEN) return NULL;
    return a->outq[(a->outq_head + a->outq_n) % SLUICE_SCTP_OUTQ_LEN].data;
}

void sluice_sctp_outq_commit(sluice_sctp *a, size_t len) {
    a->outq[(a->outq_head + a->outq_n) % SLUICE_SCTP_OUTQ_LEN].len = len;
    a->outq_n++;
}

void sluice_sctp_send_single(sluice_sctp *a, uint32_t vtag, uint8_t type, uint8_t flags,
                             const uint8_t *value, size_t len) {
    uint8_t *buf = sluice_sctp_outq_reserve(a);
    if (!buf) return; /* replies are best effort: a flood must not grow memory */
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, a->s.mtu, a->s.local_port, a->s.remote_port, vtag);
    if (sluice_sctp_pkt_chunk(&p, type, flags, value, len) < 0) return;
    sluice_sctp_outq_commit(a, sluice_sctp_pkt_end(&p, false));
}

void sluice_sctp_queue_error_cause(sluice_sctp *a, uint16_t code, const uint8_t *info, size_t len) {
    size_t need = sluice_sctp_pad4(4 + len);
    if (a->err_len + need > sizeof a->err_causes) return;
    sluice_wr w = sluice_wr_make(a->err_causes + a->err_len, need);
    sluice_sctp_cause_write(&w, code, info, len);
    if (!w.err) a->err_len += need;
}

/* ---- data path lifecycle --------------------------------------------------------------- */

static bool rc_stream_drained(void *ctx, uint16_t stream) {
    sluice_sctp *a = ctx;
    return sluice_sctp_tx_stream_drained(a->tx, stream);
}

static void rc_incoming_reset(void *ctx, const uint16_t *streams, size_t n) {
    sluice_sctp *a = ctx;
    /* Deliver what came before the reset first (RFC 6525 §5.2.2), then forget the rest. */
    drain_reasm(a);
    sluice_sctp_reasm_reset_streams(a->reasm, streams, n);
    sluice_sctp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_SCTP_EVENT_STREAM_RESET;
    for (size_t i = 0; i < n; i++) {
        ev.stream = streams[i];
        sluice_sctp_push_event(a, &ev, false);
    }
}

static void rc_outgoing_done(void *ctx, uint16_t stream, uint32_t result) {
    sluice_sctp *a = ctx;
    if (result != SLUICE_SCTP_RESULT_PERFORMED && result != SLUICE_SCTP_RESULT_NOTHING)
        SLUICE_LOG(a->log, SLUICE_LOG_WARN, MODULE, "peer refused reset of stream %u (result %u)",
                   (unsigned)stream, (unsigned)result);
    /* The channel is closed either way; reopen the stream with SSN 0 (§5.1.2 step 2). */
    sluice_sctp_tx_reset_stream(a->tx, stream);
    sluice_sctp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_SCTP_EVENT_STREAM_RESET_DONE;
    ev.stream = stream;
    sluice_sctp_push_event(a, &ev, false);
}

static void rc_outgoing_requested(void *ctx, const uint16_t *streams, size_t n) {
    sluice_sctp *a = ctx;
    sluice_sctp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_SCTP_EVENT_STREAM_RESET_REQUESTED;
    for (size_t i = 0; i < n; i++) {
        /* as sluice_sctp_reset_streams(): no new data, what is queued goes first */
        sluice_sctp_tx_close_stream(a->tx, streams[i]);
        ev.stream = streams[i];
        sluice_sctp_push_event(a, &ev, false);
    }
}

int sluice_sctp_datapath_start(sluice_sctp *a) {
    sluice_sctp_datapath_stop(a);
    sluice_sctp_retx_settings rs;
    sluice_sctp_retx_settings_default(&rs);
    rs.mtu = a->s.mtu;
    rs.rto_initial_ms = a->s.rto_initial_ms;
    rs.rto_min_ms = a->s.rto_min_ms;
    rs.rto_max_ms = a->s.rto_max_ms;
    rs.initial_cwnd_mtus = a->s.initial_cwnd_mtus;
    rs.idata = a->idata;
    /* What we keep for retransmission (gap-acked data included) is bounded like the send
     * queue: by max_send_buffer, or our window setting when that is larger (so a small
     * send buffer does not throttle a long path). */
    rs.max_retained_bytes = SLUICE_MAX(a->s.max_send_buffer, (size_t)a->s.rwnd);
    sluice_sctp_rx_settings xs;
    sluice_sctp_rx_settings_default(&xs);
    xs.delayed_ack_ms = a->s.delayed_ack_ms;
    /* One range per packet of a full window: a burst of scattered losses (a drop-tail queue
     * overflowing in slow start) must not make us discard the data that did arrive, or T3
     * resends the whole window. Allocated on demand, so a clean path pays nothing. */
    size_t per_window = (size_t)a->s.rwnd / (a->s.mtu ? a->s.mtu : 1200) + 1;
    xs.max_gap_blocks = SLUICE_MIN(SLUICE_MAX(xs.max_gap_blocks, per_window), (size_t)65535);
    /* §6.2: a SACK reports as many duplicate TSNs as fit in one packet beside the gap
     * blocks (which come first): remember that many. */
    xs.max_dups = SLUICE_MIN((a->s.mtu - SLUICE_SCTP_HEADER_LEN - 16) / 4, (size_t)1024);
    sluice_sctp_reasm_settings qs;
    sluice_sctp_reasm_settings_default(&qs);
    /* A message of max_message_size must always be able to complete, even when a full
     * window of out-of-order data sits next to it, or the association deadlocks (the peer
     * keeps retransmitting what we keep refusing). */
    qs.max_bytes = a->s.max_reassembly_bytes ? a->s.max_reassembly_bytes : (size_t)a->s.rwnd + a->s.max_message_size;
    if (qs.max_bytes < a->s.max_message_size + a->s.mtu) qs.max_bytes = a->s.max_message_size + a->s.mtu;
    qs.max_message_size = a->s.max_message_size;
    qs.idata = a->idata;
    qs.num_streams = a->num_in;
    a->reasm_max = qs.max_bytes;
    sluice_sctp_tx_set_idata(a->tx, a->idata);
    if (sluice_sctp_retx_new(&a->retx, &rs, a->alloc, a->tx, a->my_tsn, a->peer_rwnd) < 0 ||
        sluice_sctp_rx_new(&a->rx, &xs, a->alloc, a->peer_tsn) < 0 ||
        sluice_sctp_reasm_new(&a->reasm, &qs, a->alloc) < 0) {
        sluice_sctp_datapath_stop(a);
        return SLUICE_ERR_NOMEM;
    }
    sluice_sctp_reconfig_ops ops = {rc_stream_drained, rc_incoming_reset, rc_outgoing_done, a, rc_outgoing_requested};
    sluice_sctp_reconfig_init(&a->rc, a->alloc, &ops, a->my_tsn, a->peer_tsn, a->num_in, a->num_out);
    sluice_sctp_reconfig_set_num_outbound(&a->rc, a->num_out);
    a->rc_init = true;
    a->up = true;
    a->last_adv_rwnd = a->s.rwnd;
    return SLUICE_OK;
}

void sluice_sctp_datapath_stop(sluice_sctp *a) {
    if (a->retx) sluice_sctp_retx_free(a->retx);
    if (a->rx) sluice_sctp_rx_free(a->rx);
    if (a->reasm) sluice_sctp_reasm_free(a->reasm);
    if (a->rc_init) sluice_sctp_reconfig_clear(&a->rc);
    a->retx = NULL;
    a->rx = NULL;
    a->reasm = NULL;
    a->rc_init = false;
    a->up = false;
}

void sluice_sctp_enter_closed(sluice_sctp *a, int err, const char *reason) {
    if (a->state == SLUICE_SCTP_CLOSED && a->terminated) return;
    bool report = a->state != SLUICE_SCTP_CLOSED || a->connect_called;
    a->state = SLUICE_SCTP_CLOSED;
    a->terminated = true;
    a->t_ctrl = SLUICE_TIME_NEVER;
    a->hb_deadline = SLUICE_TIME_NEVER;
    a->send_init = a->send_cookie_echo = a->send_cookie_ack = false;
    a->send_shutdown = a->send_shutdown_ack = a->send_hb = false;
    a->hb_ack_len = a->err_len = 0;
    sluice_mem_free(a->alloc, a->cookie_echo);
    a->cookie_echo = NULL;
    a->cookie_echo_len = 0;
    /* An ABORT (ours or the peer's) is how WebRTC stacks close: not worth a warning. */
    SLUICE_LOG(a->log, err && err != SLUICE_ERR_ABORTED ? SLUICE_LOG_WARN : SLUICE_LOG_INFO, MODULE,
               "association closed: %s",
               reason ? reason : "");
    if (report) {
        sluice_sctp_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = SLUICE_SCTP_EVENT_CLOSED;
        ev.error = err;
        snprintf(ev.reason, sizeof ev.reason, "%s", reason ? reason : "");
        sluice_sctp_push_event(a, &ev, true);
    }
    sluice_sctp_datapath_stop(a);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int sluice_sctp_new_send_queue(const sluice_sctp *a, sluice_sctp_tx **out) {
    sluice_sctp_tx_settings ts;
    sluice_sctp_tx_settings_default(&ts);
    ts.max_buffer = a->s.max_send_buffer;
    /* Common header 12, I-DATA chunk header 20 (the larger of DATA's and I-DATA's), and the
     * 4-byte rounding retx applies to the room it offers. */
    ts.fresh_packet_payload = (a->s.mtu - 12 - 20) & ~(size_t)3;
    /* I-DATA: small messages (one fragment) still interleave freely between streams; large
     * ones are carried two at a time so partial messages never fill the peer's window. */
    ts.max_in_progress = 2;
    return sluice_sctp_tx_new(out, &ts, a->alloc);
}

int sluice_sctp_new(sluice_sctp **out, const sluice_sctp_settings *s, const sluice_allocator *alloc,
                    const sluice_rng *rng, const sluice_logger *log) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_sctp_settings d;
    if (!s) {
        sluice_sctp_settings_default(&d);
        s = &d;
    }
    /* Room for an INIT-ACK with its cookie, and a sane window / stream count. */
    if (s->mtu < 256 || s->mtu > 65535 || s->rwnd < 1500 || s->num_streams == 0 ||
        s->max_message_size == 0 || s->rto_min_ms == 0 || s->rto_min_ms > s->rto_max_ms ||
        s->rto_initial_ms == 0 || s->cookie_lifetime_ms == 0)
        return SLUICE_ERR_CONFIG;
    sluice_sctp *a = sluice_mem_calloc(alloc, 1, sizeof *a);
    if (!a) return SLUICE_ERR_NOMEM;
    a->s = *s;
    a->alloc = alloc;
    a->rng = rng;
    a->log = log;
    a->state = SLUICE_SCTP_CLOSED;
    a->t_ctrl = SLUICE_TIME_NEVER;
    a->hb_deadline = SLUICE_TIME_NEVER;
    for (size_t i = 0; i < SLUICE_SCTP_OUTQ_LEN; i++) {
        a->outq[i].data = sluice_mem_alloc(alloc, s->mtu);
        if (!a->outq[i].data) goto nomem;
    }
    if (sluice_sctp_new_send_queue(a, &a->tx) < 0) goto nomem;
    /* §5.1.3: a secret of our own for the cookie MAC. */
    if (sluice_rng_bytes(rng, a->secret, sizeof a->secret) < 0) {
        sluice_sctp_free(a);
        return SLUICE_ERR_CRYPTO;
    }
    *out = a;
    return SLUICE_OK;
nomem:
    sluice_sctp_free(a);
    return SLUICE_ERR_NOMEM;
}

void sluice_sctp_free(sluice_sctp *a) {
    if (!a) return;
    sluice_sctp_datapath_stop(a);
    if (a->tx) sluice_sctp_tx_free(a->tx);
    for (size_t i = 0; i < SLUICE_SCTP_OUTQ_LEN; i++) sluice_mem_free(a->alloc, a->outq[i].data);
    while (a->ev_n) {
        if (a->ev[a->ev_head].type == SLUICE_SCTP_EVENT_MESSAGE) sluice_mem_free(a->alloc, a->ev[a->ev_head].message.data);
        a->ev_head = (a->ev_head + 1) % a->ev_cap;
        a->ev_n--;
    }
    sluice_mem_free(a->alloc, a->ev);
    sluice_mem_free(a->alloc, a->reset_marks);
    sluice_mem_free(a->alloc, a->cookie_echo);
    sluice_mem_free(a->alloc, a);
}

int sluice_sctp_connect(sluice_sctp *a, sluice_time now) {
    if (!a) return SLUICE_ERR_INVALID_ARGUMENT;
    return sluice_sctp_assoc_connect(a, now);
}

sluice_sctp_state sluice_sctp_get_state(const sluice_sctp *a) { return a ? a->state : SLUICE_SCTP_CLOSED; }

/* ---- input ------------------------------------------------------------------------------ */

static bool data_state(const sluice_sctp *a) {
    return a->up && a->state >= SLUICE_SCTP_ESTABLISHED;
}

/* One DATA / I-DATA chunk. Returns false when the association must abort. */
static bool handle_data(sluice_sctp *a, sluice_time now, const sluice_sctp_chunk *c, bool *had_data) {
    sluice_sctp_data d;
    bool is_idata = c->type == SLUICE_SCTP_CHUNK_IDATA;
    int rc = is_idata ? sluice_sctp_idata_parse(c->flags, c->value, c->value_len, &d)
                      : sluice_sctp_data_parse(c->flags, c->value, c->value_len, &d);
    if (rc < 0) {
        if (c->value_len == (is_idata ? 16u : 12u)) {
            /* §6.2: a DATA chunk without user data: ABORT with "No User Data" and its TSN. */
            uint8_t v[8];
            sluice_wr w = sluice_wr_make(v, sizeof v);
            sluice_sctp_cause_write(&w, SLUICE_SCTP_CAUSE_NO_USER_DATA, c->value, 4);
            sluice_sctp_send_single(a, a->peer_tag, SLUICE_SCTP_CHUNK_ABORT, 0, v, sizeof v);
            a->peer_tag = 0; /* already sent: assoc_abort must not send another */
            sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_NO_USER_DATA, NULL, SLUICE_ERR_SCTP);
            return false;
        }
        a->st.packets_dropped++;
        return true;
    }
    if (is_idata != a->idata) {
        /* RFC 8260 §2.2: using the wrong one is a protocol violation. */
        sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_PROTOCOL_VIOLATION,
                                is_idata ? "I-DATA not negotiated" : "DATA while I-DATA negotiated",
                                SLUICE_ERR_SCTP);
        return false;
    }
    *had_data = true;
    a->st.data_chunks_received++;
    int r = sluice_sctp_rx_check(a->rx, d.tsn);
    if (r == SLUICE_SCTP_RX_NEW || r == SLUICE_SCTP_RX_NEW_NEXT) {
        if (d.stream >= a->num_in) {
            /* §6.5: report the bad stream, acknowledge the TSN, drop the data. */
            uint8_t info[4];
            sluice_store_be16(info, d.stream);
            sluice_store_be16(info + 2, 0);
            sluice_sctp_queue_error_cause(a, SLUICE_SCTP_CAUSE_INVALID_STREAM, info, 4);
            sluice_sctp_rx_on_data(a->rx, now, d.tsn, true);
            return true;
        }
        /* Messages already moved to the event ring count against the reassembly cap too
         * (same rule as in reassembly: cum ack + 1 may use up to twice the cap). */
        size_t cap = r == SLUICE_SCTP_RX_NEW_NEXT ? 2 * a->reasm_max : a->reasm_max;
        if (a->ev_msg_bytes && sluice_sctp_reasm_buffered(a->reasm) + a->ev_msg_bytes + d.len > cap) {
            /* not recorded: the peer retransmits once the application reads */
            sluice_sctp_rx_force_sack(a->rx);
            return true;
        }
        int e = sluice_sctp_reasm_add(a->reasm, &d, r == SLUICE_SCTP_RX_NEW_NEXT);
        if (e == SLUICE_ERR_TOO_LARGE) {
            sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_PROTOCOL_VIOLATION,
                                    "message larger than max_message_size", SLUICE_ERR_TOO_LARGE);
            return false;
        }
        if (e < 0) {
            /* Not recorded: the peer retransmits. §6.2: a chunk dropped for lack of room gets
             * a SACK at once, so the peer sees we are alive (its window probes then do not
             * count as errors, §6.1) instead of aborting a receiver that is only slow. */
            sluice_sctp_rx_force_sack(a->rx);
            return true;
        }
        sluice_sctp_rx_on_data(a->rx, now, d.tsn, d.immediate);
    } else if (r == SLUICE_SCTP_RX_DUPLICATE) {
        sluice_sctp_rx_on_data(a->rx, now, d.tsn, d.immediate);
    } else {
        sluice_sctp_rx_force_sack(a->rx); /* too far ahead to track: same rule */
    }
    return true;
}

static void handle_fwd(sluice_sctp *a, sluice_time now, const sluice_sctp_chunk *c) {
    sluice_sctp_fwd f;
    bool is_i = c->type == SLUICE_SCTP_CHUNK_IFORWARD_TSN;
    int rc = is_i ? sluice_sctp_ifwd_parse(c->flags, c->value, c->value_len, &f)
                  : sluice_sctp_fwd_parse(c->flags, c->value, c->value_len, &f);
    if (rc < 0 || is_i != a->idata) {
        a->st.packets_dropped++;
        return;
    }
    /* A stale one (cum ack not moved) only gets its SACK: what it skips was received
     * already, and applying it again would cost a walk of reassembly per chunk. */
    if (sluice_sctp_rx_handle_forward_tsn(a->rx, now, f.new_cum_tsn) <= 0) return;
    sluice_sctp_reasm_handle_forward_tsn(a->reasm, &f);
}

int sluice_sctp_handle_packet(sluice_sctp *a, sluice_time now, const uint8_t *data, size_t len) {
    if (!a || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    a->st.packets_received++;
    sluice_sctp_header h;
    if (sluice_sctp_header_parse(&h, data, len) < 0 ||
        sluice_sctp_packet_verify(data, len, a->s.zero_checksum) < 0 ||
        h.dst_port != a->s.local_port || h.src_port != a->s.remote_port) {
        a->st.packets_dropped++;
        return SLUICE_OK;
    }
    /* Validate the chunk framing once before acting on anything. */
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    size_t nchunks = 0;
    int rc;
    uint8_t first = 0;
    sluice_sctp_chunk_iter_init(&it, data, len);
    while ((rc = sluice_sctp_chunk_next(&it, &c)) == 1) {
        if (!nchunks) first = c.type;
        nchunks++;
    }
    if (rc < 0 || nchunks == 0) {
        a->st.packets_dropped++;
        return SLUICE_OK;
    }
    if (a->state == SLUICE_SCTP_CLOSED && first != SLUICE_SCTP_CHUNK_COOKIE_ECHO) {
        sluice_sctp_assoc_ootb(a, now, &h, data, len);
        return SLUICE_OK;
    }
    bool had_data = false;
    sluice_sctp_chunk_iter_init(&it, data, len);
    while (sluice_sctp_chunk_next(&it, &c) == 1) {
        switch (c.type) {
        case SLUICE_SCTP_CHUNK_DATA:
        case SLUICE_SCTP_CHUNK_IDATA:
            if (h.vtag != a->my_tag || !data_state(a)) goto drop;
            if (!handle_data(a, now, &c, &had_data)) return SLUICE_OK;
            break;
        case SLUICE_SCTP_CHUNK_SACK: {
            if (h.vtag != a->my_tag || !data_state(a)) goto drop;
            sluice_sctp_sack sk;
            if (sluice_sctp_sack_parse(c.flags, c.value, c.value_len, &sk) < 0) {
                a->st.packets_dropped++;
                break;
            }
            int r = sluice_sctp_retx_handle_sack(a->retx, now, &sk);
            if (r == 1) a->error_count = 0; /* §8.3: new data acknowledged */
            if (r >= 0) {
                a->sack_since_t3 = true;
                a->last_sack_rwnd = sk.a_rwnd;
            }
            break;
        }
        case SLUICE_SCTP_CHUNK_FORWARD_TSN:
        case SLUICE_SCTP_CHUNK_IFORWARD_TSN:
            if (h.vtag != a->my_tag || !data_state(a)) goto drop;
            handle_fwd(a, now, &c);
            break;
        case SLUICE_SCTP_CHUNK_RECONFIG: {
            if (h.vtag != a->my_tag || !data_state(a)) goto drop;
            int r = sluice_sctp_reconfig_handle(&a->rc, now, c.value, c.value_len,
                                                sluice_sctp_rx_cum_tsn(a->rx));
            if (r == 1) a->error_count = 0;
            else if (r < 0) a->st.packets_dropped++;
            break;
        }
        default:
            if (!sluice_sctp_assoc_chunk(a, now, &h, &c, nchunks)) goto done;
            break;
        }
    }
done:
    if (had_data && a->rx) sluice_sctp_rx_on_packet_end(a->rx, now);
    /* §9.2: in SHUTDOWN-SENT, DATA is answered with SHUTDOWN (see poll) and restarts T2
     * (T5-shutdown-guard still bounds the whole sequence). */
    if (had_data && a->state == SLUICE_SCTP_SHUTDOWN_SENT && a->t_ctrl != SLUICE_TIME_NEVER)
        a->t_ctrl = now + a->t_ctrl_rto;
    sluice_sctp_assoc_shutdown_progress(a, now);
    return SLUICE_OK;
drop:
    /* §8.5: a wrong verification tag (or data before the association is up) drops the
     * rest of the packet silently. */
    a->st.packets_dropped++;
    goto done;
}

/* ---- output ----------------------------------------------------------------------------- */

int sluice_sctp_poll_packet(sluice_sctp *a, sluice_time now, uint8_t *buf, size_t cap) {
    if (!a || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->outq_n) {
        sluice_sctp_outpkt *o = &a->outq[a->outq_head];
        if (o->len > cap) return SLUICE_ERR_NOBUFS;
        memcpy(buf, o->data, o->len);
        a->outq_head = (a->outq_head + 1) % SLUICE_SCTP_OUTQ_LEN;
        a->outq_n--;
        a->st.packets_sent++;
        return (int)o->len;
    }
    size_t size = SLUICE_MIN(cap, a->s.mtu);
    if (size < SLUICE_SCTP_HEADER_LEN + 16) return SLUICE_ERR_NOBUFS;
    size_t n = sluice_sctp_assoc_handshake_packet(a, now, buf, SLUICE_MIN(cap, 65535));
    if (n) {
        a->st.packets_sent++;
        return (int)n;
    }
    if (a->state == SLUICE_SCTP_COOKIE_ECHOED && a->send_cookie_echo) return SLUICE_ERR_NOBUFS; /* big cookie */
    if (!a->up || a->state == SLUICE_SCTP_CLOSED) return 0;

    /* §9.2: in SHUTDOWN-SENT, answer data with SHUTDOWN (it carries the cum ack). */
    if (a->state == SLUICE_SCTP_SHUTDOWN_SENT && sluice_sctp_rx_sack_due(a->rx)) a->send_shutdown = true;

    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, size, a->s.local_port, a->s.remote_port, a->peer_tag);
    sluice_sctp_assoc_write_control(a, now, &p);

    if (sluice_sctp_reconfig_wants_to_send(&a->rc)) {
        size_t vl = sluice_sctp_reconfig_pending_size(&a->rc);
        if (vl && sluice_sctp_pkt_room(&p) >= 4 + vl) {
            uint8_t *mark = p.w.p;
            uint8_t *v = sluice_sctp_pkt_chunk_begin(&p, SLUICE_SCTP_CHUNK_RECONFIG, 0, vl);
            sluice_wr w = sluice_wr_make(v, vl);
            int k = sluice_sctp_reconfig_write(&a->rc, now, &w, sluice_sctp_retx_next_tsn(a->retx) - 1,
                                               sluice_sctp_retx_rto_us(a->retx));
            if (k != (int)vl) { /* never expected: take the chunk back rather than send junk */
                p.w.p = mark;
                p.nchunks--;
            }
        }
    }
    /* §6.2: a SACK that is only being delayed rides along for free when DATA goes out. */
    bool may_send_data = a->state == SLUICE_SCTP_ESTABLISHED || a->state == SLUICE_SCTP_SHUTDOWN_PENDING ||
                         a->state == SLUICE_SCTP_SHUTDOWN_RECEIVED;
    bool piggyback = may_send_data && sluice_sctp_rx_next_deadline(a->rx) != SLUICE_TIME_NEVER &&
                     sluice_sctp_retx_wants_to_send(a->retx);
    if (sluice_sctp_rx_sack_due(a->rx) || piggyback) {
        uint32_t rw = our_rwnd(a);
        if (sluice_sctp_rx_write_sack(a->rx, now, &p.w, rw) == SLUICE_OK) {
            p.nchunks++;
            a->last_adv_rwnd = rw;
        }
    }
    if (may_send_data && sluice_sctp_retx_fwd_tsn_pending(a->retx)) {
        if (sluice_sctp_retx_write_fwd_tsn(a->retx, now, &p.w) == SLUICE_OK) p.nchunks++;
    }
    if (may_send_data) {
        int k = sluice_sctp_retx_write_data(a->retx, now, &p.w);
        if (k > 0) {
            p.nchunks += (size_t)k;
            a->st.data_chunks_sent += (uint64_t)k;
        }
    }
    if (!p.nchunks) return 0;
    a->st.packets_sent++;
    return (int)sluice_sctp_pkt_end(&p, a->zero_tx);
}

/* ---- timers ------------------------------------------------------------------------------ */

sluice_time sluice_sctp_next_deadline(const sluice_sctp *a) {
    if (!a) return SLUICE_TIME_NEVER;
    sluice_time t = sluice_sctp_assoc_deadline(a);
    if (a->up) {
        t = sluice_time_min(t, sluice_sctp_retx_next_deadline(a->retx));
        t = sluice_time_min(t, sluice_sctp_rx_next_deadline(a->rx));
        t = sluice_time_min(t, sluice_sctp_reconfig_next_deadline(&a->rc));
    }
    if (a->tx && a->state != SLUICE_SCTP_CLOSED) t = sluice_time_min(t, sluice_sctp_tx_next_expiry(a->tx));
    return t;
}

void sluice_sctp_handle_timeout(sluice_sctp *a, sluice_time now) {
    if (!a) return;
    sluice_sctp_assoc_timeout(a, now);
    if (a->up) {
        sluice_sctp_rx_handle_timeout(a->rx, now);
        if (sluice_sctp_retx_handle_timeout(a->retx, now) == 1) {
            /* §6.1: window probes a live peer answers (SACKs keep coming, its window stays
             * 0: a slow reader) do not count toward Association.Max.Retrans. */
            bool probing = a->last_sack_rwnd == 0 && a->sack_since_t3; /* advertised 0, not just full */
            a->sack_since_t3 = false;
            if (!probing) sluice_sctp_assoc_count_error(a, now, "T3-rtx");
            if (!a->up) return;
        }
        if (sluice_sctp_reconfig_handle_timeout(&a->rc, now) == 1) {
            sluice_sctp_assoc_count_error(a, now, "stream reset request");
            if (!a->up) return;
        }
    }
    if (a->tx) sluice_sctp_tx_expire(a->tx, now);
    sluice_sctp_assoc_shutdown_progress(a, now);
}

/* ---- sending ------------------------------------------------------------------------------ */

int sluice_sctp_send(sluice_sctp *a, sluice_time now, uint16_t stream, uint32_t ppid,
                     const uint8_t *data, size_t len, const sluice_sctp_send_options *opt) {
    if (!a || !data || len == 0) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->terminated || a->shutdown_requested || a->state >= SLUICE_SCTP_SHUTDOWN_PENDING)
        return SLUICE_ERR_INVALID_STATE;
    if (stream >= a->s.num_streams || (a->up && stream >= a->num_out)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (a->rc_init && sluice_sctp_reconfig_is_resetting(&a->rc, stream)) return SLUICE_ERR_CLOSED;
    sluice_sctp_send_options o;
    if (opt && a->up && !a->peer_feat.forward_tsn && (opt->has_max_retransmits || opt->has_lifetime)) {
        /* RFC 3758 §3.3: without FORWARD-TSN support at the peer, nothing may be abandoned
         * (the peer could never move its cumulative ack past it): send reliably. */
        o = *opt;
        o.has_max_retransmits = o.has_lifetime = false;
        opt = &o;
    }
    int rc = sluice_sctp_tx_push(a->tx, now, stream, ppid, data, len, opt);
    if (rc == SLUICE_OK) a->st.messages_sent++;
    return rc;
}

size_t sluice_sctp_buffered_amount(const sluice_sctp *a, uint16_t stream) {
    return a && a->tx ? sluice_sctp_tx_buffered_amount(a->tx, stream) : 0;
}

void sluice_sctp_set_buffered_low_threshold(sluice_sctp *a, uint16_t stream, size_t bytes) {
    if (a && a->tx) (void)sluice_sctp_tx_set_buffered_low_threshold(a->tx, stream, bytes);
}

int sluice_sctp_reset_streams(sluice_sctp *a, sluice_time now, const uint16_t *streams, size_t n) {
    (void)now;
    if (!a || (!streams && n)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!a->up || a->state != SLUICE_SCTP_ESTABLISHED || !a->peer_feat.reconfig)
        return SLUICE_ERR_INVALID_STATE;
    for (size_t i = 0; i < n; i++)
        if (streams[i] >= a->num_out) return SLUICE_ERR_INVALID_ARGUMENT;
    int rc = sluice_sctp_reconfig_request(&a->rc, streams, n);
    if (rc < 0) return rc == SLUICE_ERR_BUFFER_FULL ? SLUICE_ERR_NOMEM : rc;
    /* RFC 6525 §5.1.2: no new data on these streams; what is queued still goes first. */
    for (size_t i = 0; i < n; i++) sluice_sctp_tx_close_stream(a->tx, streams[i]);
    return SLUICE_OK;
}

void sluice_sctp_shutdown(sluice_sctp *a, sluice_time now) {
    if (!a || a->terminated) return;
    a->shutdown_requested = true;
    switch (a->state) {
    case SLUICE_SCTP_CLOSED:
        a->terminated = true;
        break;
    case SLUICE_SCTP_COOKIE_WAIT:
    case SLUICE_SCTP_COOKIE_ECHOED:
        /* Not up yet: finish the handshake first, then shut down (§9.2 needs a TCB). */
        break;
    case SLUICE_SCTP_ESTABLISHED:
        a->state = SLUICE_SCTP_SHUTDOWN_PENDING;
        sluice_sctp_assoc_shutdown_progress(a, now);
        break;
    default:
        break;
    }
}

void sluice_sctp_abort(sluice_sctp *a, sluice_time now, const char *reason) {
    if (!a || a->terminated) return;
    if (a->state == SLUICE_SCTP_CLOSED) {
        a->terminated = true;
        return;
    }
    sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_USER_ABORT, reason ? reason : "", SLUICE_ERR_ABORTED);
}

/* ---- stats -------------------------------------------------------------------------------- */

void sluice_sctp_get_stats(const sluice_sctp *a, sluice_sctp_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!a) return;
    *out = a->st;
    out->idata = a->idata;
    out->zero_checksum = a->zero_tx;
    if (a->retx) {
        sluice_sctp_retx_stats r;
        sluice_sctp_retx_get_stats(a->retx, &r);
        out->srtt_us = r.srtt_us;
        out->rttvar_us = r.rttvar_us;
        out->rto_ms = r.rto_ms;
        out->cwnd = r.cwnd;
        out->ssthresh = r.ssthresh;
        out->peer_rwnd = r.peer_rwnd;
        out->bytes_in_flight = r.bytes_in_flight;
        out->retransmissions = r.retransmissions;
        out->fast_retransmits = r.fast_retransmits;
        out->t3_expirations = r.t3_expirations;
        out->burst_limited = r.burst_limited;
        out->messages_abandoned += r.messages_abandoned;
    }
    if (a->tx) {
        sluice_sctp_tx_stats t;
        sluice_sctp_tx_get_stats(a->tx, &t);
        out->messages_abandoned += t.messages_abandoned_unsent;
    }
}
