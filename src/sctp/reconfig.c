/* RFC 6525 stream reset requests and responses (see reconfig.h). */
#include "sctp/reconfig.h"

#include "sctp/serial.h"

void sluice_sctp_reconfig_init(sluice_sctp_reconfig *rc, const sluice_allocator *alloc,
                               const sluice_sctp_reconfig_ops *ops, uint32_t local_tsn,
                               uint32_t peer_tsn, uint16_t num_inbound, size_t max_pending) {
    memset(rc, 0, sizeof *rc);
    rc->alloc = alloc;
    rc->ops = *ops;
    rc->num_inbound = num_inbound;
    /* RFC 6525 §5.1.1 / §5.2.1: both request sequence numbers start at the initial TSN. */
    rc->next_req_seq = local_tsn;
    rc->peer_next_seq = peer_tsn;
    rc->last_result = SLUICE_SCTP_RESULT_ERROR_BAD_SEQ;
    rc->max_pending = max_pending ? max_pending : 65536;
    rc->deadline = SLUICE_TIME_NEVER;
}

void sluice_sctp_reconfig_set_num_outbound(sluice_sctp_reconfig *rc, uint16_t num_outbound) {
    rc->num_outbound = num_outbound;
}

void sluice_sctp_reconfig_clear(sluice_sctp_reconfig *rc) {
    sluice_mem_free(rc->alloc, rc->pending);
    sluice_mem_free(rc->alloc, rc->resetting);
    rc->pending = NULL;
    rc->resetting = NULL;
    rc->n_pending = rc->cap_pending = 0;
}

static void mark(sluice_sctp_reconfig *rc, uint16_t s, bool on) {
    if (on) rc->resetting[s >> 3] |= (uint8_t)(1u << (s & 7));
    else rc->resetting[s >> 3] &= (uint8_t)~(1u << (s & 7));
}

bool sluice_sctp_reconfig_is_resetting(const sluice_sctp_reconfig *rc, uint16_t stream) {
    return rc->resetting && ((rc->resetting[stream >> 3] >> (stream & 7)) & 1);
}

int sluice_sctp_reconfig_request(sluice_sctp_reconfig *rc, const uint16_t *streams, size_t n) {
    if (n == 0) return SLUICE_OK;
    if (!rc->resetting && !(rc->resetting = sluice_mem_calloc(rc->alloc, 65536 / 8, 1))) return SLUICE_ERR_NOMEM;
    size_t want = SLUICE_MIN(rc->n_pending + n, rc->max_pending);
    if (want > rc->cap_pending) {
        size_t cap = SLUICE_MIN(SLUICE_MAX(SLUICE_MAX(rc->cap_pending * 2, want), (size_t)16), rc->max_pending);
        uint16_t *p = sluice_mem_realloc(rc->alloc, rc->pending, cap * sizeof *p);
        if (!p) return SLUICE_ERR_NOMEM;
        rc->pending = p;
        rc->cap_pending = cap;
    }
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t s = streams[i];
        if (sluice_sctp_reconfig_is_resetting(rc, s)) continue; /* duplicate */
        if (rc->n_pending == rc->max_pending) {
            /* all or nothing: take back what this call added */
            while (added--) mark(rc, rc->pending[--rc->n_pending], false);
            return SLUICE_ERR_BUFFER_FULL;
        }
        mark(rc, s, true);
        rc->pending[rc->n_pending++] = s;
        added++;
    }
    return SLUICE_OK;
}

/* Streams of the pending FIFO that may go into a request now (their data is all out). */
static size_t ready_count(const sluice_sctp_reconfig *rc) {
    size_t n = 0;
    for (size_t i = 0; i < rc->n_pending && n < SLUICE_SCTP_RECONFIG_MAX_BATCH; i++)
        if (!rc->ops.stream_drained || rc->ops.stream_drained(rc->ops.ctx, rc->pending[i])) n++;
    return n;
}

bool sluice_sctp_reconfig_wants_to_send(const sluice_sctp_reconfig *rc) {
    if (rc->n_responses) return true;
    if (rc->inflight) return rc->resend;
    return ready_count(rc) > 0;
}

static size_t out_reset_size(size_t n) { return sluice_sctp_pad4(16 + 2 * n); }

size_t sluice_sctp_reconfig_pending_size(const sluice_sctp_reconfig *rc) {
    size_t sz = 12 * rc->n_responses;
    if (rc->inflight) {
        if (rc->resend) sz += out_reset_size(rc->n_inflight);
    } else {
        size_t r = ready_count(rc);
        if (r) sz += out_reset_size(r);
    }
    return sz;
}

int sluice_sctp_reconfig_write(sluice_sctp_reconfig *rc, sluice_time now, sluice_wr *w,
                               uint32_t last_tsn, uint64_t rto_us) {
    size_t sz = sluice_sctp_reconfig_pending_size(rc);
    if (sz == 0) return 0;
    if (sluice_wr_left(w) < sz || w->err) return SLUICE_ERR_NOBUFS;
    for (size_t i = 0; i < rc->n_responses; i++)
        sluice_sctp_reconfig_write_response(w, rc->responses[i].seq, rc->responses[i].result);
    rc->n_responses = 0;
    if (!rc->inflight) {
        size_t k = 0, keep = 0;
        for (size_t i = 0; i < rc->n_pending; i++) {
            uint16_t s = rc->pending[i];
            if (k < SLUICE_SCTP_RECONFIG_MAX_BATCH &&
                (!rc->ops.stream_drained || rc->ops.stream_drained(rc->ops.ctx, s)))
                rc->inflight_streams[k++] = s;
            else
                rc->pending[keep++] = s;
        }
        rc->n_pending = keep;
        if (k) {
            rc->inflight = true;
            rc->resend = true;
            rc->n_inflight = k;
            rc->inflight_seq = rc->next_req_seq++;
            rc->inflight_last_tsn = last_tsn;
            /* §4.1: the Response Sequence Number is the peer's Incoming SSN Reset Request
             * this answers (§5.2.3: usrsctp takes it as the answer to that request), else
             * the last request sequence number received from the peer. */
            rc->inflight_resp_seq = rc->answer_pending ? rc->answer_seq : rc->peer_next_seq - 1;
            rc->answer_pending = false;
            rc->requests_sent++;
        }
    }
    if (rc->inflight && rc->resend) {
        sluice_sctp_reconfig_write_out_reset(w, rc->inflight_seq, rc->inflight_resp_seq,
                                             rc->inflight_last_tsn, rc->inflight_streams,
                                             rc->n_inflight);
        rc->resend = false;
        rc->waiting_in_progress = false;
        rc->deadline = now + (rto_us ? rto_us : 1000000);
    }
    return (int)sz;
}

static void queue_response(sluice_sctp_reconfig *rc, uint32_t seq, uint32_t result) {
    if (result == SLUICE_SCTP_RESULT_DENIED) rc->denied++;
    for (size_t i = 0; i < rc->n_responses; i++)
        if (rc->responses[i].seq == seq) { rc->responses[i].result = result; return; }
    /* Full: drop; the peer retransmits its request on its timer. */
    if (rc->n_responses == SLUICE_SCTP_RECONFIG_MAX_RESPONSES) return;
    rc->responses[rc->n_responses].seq = seq;
    rc->responses[rc->n_responses].result = result;
    rc->n_responses++;
}

/* RFC 6525 §5.2.1 sequence check for a peer request. Returns true when it is the expected
 * new one; otherwise queues the right answer (repeat of the last result or BAD_SEQ). */
static bool check_seq(sluice_sctp_reconfig *rc, uint32_t seq) {
    rc->requests_received++;
    if (seq == rc->peer_next_seq) return true;
    if (seq == rc->peer_next_seq - 1)
        queue_response(rc, seq, rc->last_result);
    else
        queue_response(rc, seq, SLUICE_SCTP_RESULT_ERROR_BAD_SEQ);
    return false;
}

static void finish_peer_request(sluice_sctp_reconfig *rc, uint32_t seq, uint32_t result) {
    rc->peer_next_seq++;
    rc->last_result = result;
    queue_response(rc, seq, result);
}

static void handle_out_reset(sluice_sctp_reconfig *rc, const sluice_sctp_reconfig_param *p,
                             uint32_t peer_cum_tsn) {
    if (!check_seq(rc, p->req_seq)) return;
    for (size_t i = 0; i < p->n_streams; i++) {
        if (sluice_sctp_reconfig_stream(p, i) >= rc->num_inbound) {
            finish_peer_request(rc, p->req_seq, SLUICE_SCTP_RESULT_DENIED);
            return;
        }
    }
    /* §5.2.2: data up to the sender's last assigned TSN must arrive first; we answer
     * "in progress" (not counted as done) and the peer asks again. */
    if (sluice_sn32_gt(p->last_tsn, peer_cum_tsn)) {
        queue_response(rc, p->req_seq, SLUICE_SCTP_RESULT_IN_PROGRESS);
        return;
    }
    uint16_t list[SLUICE_SCTP_RECONFIG_MAX_BATCH];
    size_t off = 0;
    if (p->n_streams == 0) {
        if (rc->ops.incoming_reset) rc->ops.incoming_reset(rc->ops.ctx, NULL, 0);
    }
    while (off < p->n_streams) {
        size_t k = 0;
        for (; k < SLUICE_SCTP_RECONFIG_MAX_BATCH && off < p->n_streams; k++, off++)
            list[k] = sluice_sctp_reconfig_stream(p, off);
        if (rc->ops.incoming_reset) rc->ops.incoming_reset(rc->ops.ctx, list, k);
    }
    finish_peer_request(rc, p->req_seq, SLUICE_SCTP_RESULT_PERFORMED);
}

/* RFC 6525 §5.2.3: the peer asks us to reset our outgoing streams. We do what a local
 * sluice_sctp_reset_streams() does (queued data on them still goes first), and our own
 * Outgoing SSN Reset Request, carrying this request's sequence number as its Response
 * Sequence Number, is the answer. A data channel closes the same way whichever side starts
 * it (RFC 8831 §6.7), so performing the request is no different from the peer closing the
 * channel itself. An empty list (all streams) would close every channel at once: denied,
 * like streams we do not have. */
static void handle_in_reset(sluice_sctp_reconfig *rc, const sluice_sctp_reconfig_param *p) {
    if (!check_seq(rc, p->req_seq)) return;
    bool ok = rc->ops.outgoing_reset_requested && p->n_streams > 0;
    for (size_t i = 0; ok && i < p->n_streams; i++) ok = sluice_sctp_reconfig_stream(p, i) < rc->num_outbound;
    if (!ok) {
        finish_peer_request(rc, p->req_seq, SLUICE_SCTP_RESULT_DENIED);
        return;
    }
    uint16_t list[SLUICE_SCTP_RECONFIG_MAX_BATCH];
    size_t off = 0;
    while (off < p->n_streams) {
        size_t k = 0, fresh = 0;
        for (; k < SLUICE_SCTP_RECONFIG_MAX_BATCH && off < p->n_streams; k++, off++) {
            uint16_t s = sluice_sctp_reconfig_stream(p, off);
            /* already being reset (by us, or an earlier request): nothing new to tell */
            if (!sluice_sctp_reconfig_is_resetting(rc, s)) list[fresh++] = s;
        }
        /* Out of memory: leave the sequence number unused, the peer's retransmission of
         * the request is then taken as new (streams queued so far stay queued). */
        if (sluice_sctp_reconfig_request(rc, list, fresh) < 0) return;
        if (fresh) rc->ops.outgoing_reset_requested(rc->ops.ctx, list, fresh);
    }
    rc->answer_pending = true;
    rc->answer_seq = p->req_seq;
    /* No response parameter now (our request is the answer); a retransmission of this
     * request is answered "performed". */
    rc->peer_next_seq++;
    rc->last_result = SLUICE_SCTP_RESULT_PERFORMED;
}

static int handle_response(sluice_sctp_reconfig *rc, const sluice_sctp_reconfig_param *p) {
    if (!rc->inflight || p->req_seq != rc->inflight_seq) return 0;
    if (p->result == SLUICE_SCTP_RESULT_IN_PROGRESS) {
        /* §5.2.7-ish: the peer still waits for our data; ask again after a timeout without
         * counting it as a failure of the path. */
        rc->waiting_in_progress = true;
        return 1;
    }
    rc->inflight = false;
    rc->resend = false;
    rc->deadline = SLUICE_TIME_NEVER;
    for (size_t i = 0; i < rc->n_inflight; i++) mark(rc, rc->inflight_streams[i], false);
    for (size_t i = 0; i < rc->n_inflight; i++)
        if (rc->ops.outgoing_reset_done) rc->ops.outgoing_reset_done(rc->ops.ctx, rc->inflight_streams[i], p->result);
    rc->n_inflight = 0;
    return 1;
}

int sluice_sctp_reconfig_handle(sluice_sctp_reconfig *rc, sluice_time now, const uint8_t *value,
                                size_t len, uint32_t peer_cum_tsn) {
    (void)now;
    sluice_sctp_reconfig_iter it;
    sluice_sctp_reconfig_param p;
    int rc_;
    /* Validate the whole chunk before acting on any of it. */
    sluice_sctp_reconfig_iter_init(&it, value, len);
    size_t nparams = 0;
    while ((rc_ = sluice_sctp_reconfig_next(&it, &p)) == 1) nparams++;
    if (rc_ < 0 || nparams == 0) return SLUICE_ERR_MALFORMED;
    int accepted = 0;
    sluice_sctp_reconfig_iter_init(&it, value, len);
    while (sluice_sctp_reconfig_next(&it, &p) == 1) {
        switch (p.type) {
        case SLUICE_SCTP_PARAM_OUT_SSN_RESET:
            handle_out_reset(rc, &p, peer_cum_tsn);
            break;
        case SLUICE_SCTP_PARAM_IN_SSN_RESET:
            handle_in_reset(rc, &p);
            break;
        case SLUICE_SCTP_PARAM_SSN_TSN_RESET:
        case SLUICE_SCTP_PARAM_ADD_OUT_STREAMS:
        case SLUICE_SCTP_PARAM_ADD_IN_STREAMS:
            if (check_seq(rc, p.req_seq)) finish_peer_request(rc, p.req_seq, SLUICE_SCTP_RESULT_DENIED);
            break;
        case SLUICE_SCTP_PARAM_RECONFIG_RESPONSE:
            if (handle_response(rc, &p)) accepted = 1;
            break;
        default:
            break;
        }
    }
    return accepted;
}

sluice_time sluice_sctp_reconfig_next_deadline(const sluice_sctp_reconfig *rc) {
    return rc->inflight && !rc->resend ? rc->deadline : SLUICE_TIME_NEVER;
}

int sluice_sctp_reconfig_handle_timeout(sluice_sctp_reconfig *rc, sluice_time now) {
    if (!rc->inflight || rc->resend || now < rc->deadline) return 0;
    rc->resend = true;
    rc->deadline = SLUICE_TIME_NEVER;
    rc->retransmissions++;
    /* §5.1.1: a lost request counts like any retransmission; an "in progress" wait does not. */
    return rc->waiting_in_progress ? 0 : 1;
}
