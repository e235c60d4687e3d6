/* SCTP send queue: per-stream FIFOs, round-robin scheduling, fragmentation. See tx.h. */
#include "sctp/tx.h"

typedef struct tx_stream {
    uint16_t id;
    bool closed;      /* reset pending: refuse new messages */
    bool low_queued;  /* already in the buffered-low list */
    uint16_t next_ssn;    /* ordered DATA SSN, or ordered I-DATA MID (low 16 bits unused) */
    uint32_t next_mid;    /* ordered I-DATA MID */
    uint32_t next_umid;   /* unordered I-DATA MID (RFC 8260 §2.1: separate sequence) */
    sluice_sctp_msg *head, *tail;
    size_t buffered;
    size_t low_threshold;
    bool active;                        /* in the round-robin ring (has queued messages) */
    struct tx_stream *rr_next, *rr_prev;
} tx_stream;

struct sluice_sctp_tx {
    const sluice_allocator *alloc;
    sluice_sctp_tx_settings s;
    tx_stream **streams; /* sorted by id; each allocated once, so pointers stay valid */
    size_t nstreams, cap_streams;
    tx_stream *rr;       /* ring of streams with queued messages; the next one to serve */
    size_t total;
    size_t nqueued;      /* messages queued, all streams */
    size_t ntimed;       /* queued messages with a lifetime */
    tx_stream *current;  /* DATA: a message in progress must be finished first (§6.9) */
    size_t in_progress;  /* messages partly produced (0 < produced < len) */
    uint16_t *low;       /* FIFO of streams whose buffered amount fell to the threshold */
    size_t nlow;
    sluice_sctp_tx_stats stats;
};

void sluice_sctp_msg_unref(const sluice_allocator *alloc, sluice_sctp_msg *m) {
    if (m && --m->refs == 0) sluice_mem_free(alloc, m);
}

void sluice_sctp_tx_settings_default(sluice_sctp_tx_settings *s) {
    memset(s, 0, sizeof *s);
    s->max_buffer = 16u * 1024 * 1024;
    s->idata = false;
}

int sluice_sctp_tx_new(sluice_sctp_tx **out, const sluice_sctp_tx_settings *s, const sluice_allocator *alloc) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_sctp_tx *tx = sluice_mem_calloc(alloc, 1, sizeof *tx);
    if (!tx) return SLUICE_ERR_NOMEM;
    tx->alloc = alloc;
    if (s) tx->s = *s;
    else sluice_sctp_tx_settings_default(&tx->s);
    *out = tx;
    return SLUICE_OK;
}

void sluice_sctp_tx_free(sluice_sctp_tx *tx) {
    if (!tx) return;
    for (size_t i = 0; i < tx->nstreams; i++) {
        sluice_sctp_msg *m = tx->streams[i]->head;
        while (m) {
            sluice_sctp_msg *n = m->next;
            sluice_sctp_msg_unref(tx->alloc, m);
            m = n;
        }
        sluice_mem_free(tx->alloc, tx->streams[i]);
    }
    sluice_mem_free(tx->alloc, tx->streams);
    sluice_mem_free(tx->alloc, tx->low);
    sluice_mem_free(tx->alloc, tx);
}

void sluice_sctp_tx_set_idata(sluice_sctp_tx *tx, bool idata) { tx->s.idata = idata; }

/* Binary search: index of `id`, or where it would be inserted (with *found false). */
static size_t tx_find(const sluice_sctp_tx *tx, uint16_t id, bool *found) {
    size_t lo = 0, hi = tx->nstreams;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tx->streams[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < tx->nstreams && tx->streams[lo]->id == id;
    return lo;
}

static tx_stream *tx_stream_get(const sluice_sctp_tx *tx, uint16_t id) {
    bool found;
    size_t i = tx_find(tx, id, &found);
    return found ? tx->streams[i] : NULL;
}

static tx_stream *tx_stream_get_or_add(sluice_sctp_tx *tx, uint16_t id) {
    bool found;
    size_t i = tx_find(tx, id, &found);
    if (found) return tx->streams[i];
    if (tx->nstreams == tx->cap_streams) {
        size_t ncap = tx->cap_streams ? tx->cap_streams * 2 : 8;
        if (ncap > 65536) ncap = 65536;
        tx_stream **ns = sluice_mem_realloc(tx->alloc, tx->streams, ncap * sizeof *ns);
        if (!ns) return NULL;
        tx->streams = ns;
        /* The low list holds at most one entry per stream, so it grows with the streams. */
        uint16_t *nl = sluice_mem_realloc(tx->alloc, tx->low, ncap * sizeof *nl);
        if (!nl) return NULL;
        tx->low = nl;
        tx->cap_streams = ncap;
    }
    tx_stream *st = sluice_mem_calloc(tx->alloc, 1, sizeof *st);
    if (!st) return NULL;
    st->id = id;
    memmove(&tx->streams[i + 1], &tx->streams[i], (tx->nstreams - i) * sizeof *tx->streams);
    tx->streams[i] = st;
    tx->nstreams++;
    return st;
}

/* Join the round-robin ring at its end (just before the next stream to serve). */
static void tx_activate(sluice_sctp_tx *tx, tx_stream *st) {
    if (st->active) return;
    st->active = true;
    if (!tx->rr) {
        st->rr_next = st->rr_prev = st;
        tx->rr = st;
        return;
    }
    st->rr_next = tx->rr;
    st->rr_prev = tx->rr->rr_prev;
    st->rr_prev->rr_next = st;
    tx->rr->rr_prev = st;
}

static void tx_deactivate(sluice_sctp_tx *tx, tx_stream *st) {
    if (!st->active) return;
    st->active = false;
    if (st->rr_next == st) {
        tx->rr = NULL;
    } else {
        if (tx->rr == st) tx->rr = st->rr_next;
        st->rr_prev->rr_next = st->rr_next;
        st->rr_next->rr_prev = st->rr_prev;
    }
    st->rr_next = st->rr_prev = NULL;
}

/* Memory a queued message costs beyond its payload (header and allocator overhead). */
#define TX_MSG_OVERHEAD (sizeof(sluice_sctp_msg) + 16u)

int sluice_sctp_tx_push(sluice_sctp_tx *tx, sluice_time now, uint16_t stream, uint32_t ppid, const uint8_t *data,
                        size_t len, const sluice_sctp_send_options *opt) {
    if (!tx || !data || len == 0 || len > UINT32_MAX) return SLUICE_ERR_INVALID_ARGUMENT;
    /* A message larger than the whole buffer could never be queued: waiting for the buffer
     * to drain (BUFFER_FULL) would leave the caller retrying forever. */
    if (len > tx->s.max_buffer) return SLUICE_ERR_TOO_LARGE;
    /* The cap also counts each queued message's header: 1-byte messages would otherwise take
     * some 65 times the cap in memory. (The buffered amounts stay payload bytes.) */
    size_t used = tx->total + tx->nqueued * TX_MSG_OVERHEAD;
    if (used > tx->s.max_buffer - len) return SLUICE_ERR_BUFFER_FULL;
    tx_stream *st = tx_stream_get(tx, stream);
    if (st && st->closed) return SLUICE_ERR_CLOSED;
    if (len > SIZE_MAX - sizeof(sluice_sctp_msg)) return SLUICE_ERR_NOMEM;
    sluice_sctp_msg *m = sluice_mem_alloc(tx->alloc, sizeof *m + len);
    if (!m) return SLUICE_ERR_NOMEM;
    if (!st && !(st = tx_stream_get_or_add(tx, stream))) {
        sluice_mem_free(tx->alloc, m);
        return SLUICE_ERR_NOMEM;
    }
    memset(m, 0, sizeof *m);
    m->refs = 1;
    m->stream = stream;
    m->ppid = ppid;
    m->expires = SLUICE_TIME_NEVER;
    if (opt) {
        m->unordered = opt->unordered;
        m->has_max_retransmits = opt->has_max_retransmits;
        m->max_retransmits = opt->max_retransmits;
        if (opt->has_lifetime) {
            m->expires = now + (sluice_time)opt->lifetime_ms * 1000u;
            tx->ntimed++;
        }
    }
    m->len = len;
    memcpy(m->data, data, len);
    if (st->tail) st->tail->next = m;
    else st->head = m;
    st->tail = m;
    tx_activate(tx, st);
    st->buffered += len;
    tx->total += len;
    tx->nqueued++;
    tx->stats.messages_queued++;
    return SLUICE_OK;
}

/* Buffered amount of `st` went from `before` to its current value. */
static void tx_note_decrease(sluice_sctp_tx *tx, tx_stream *st, size_t before) {
    if (before > st->low_threshold && st->buffered <= st->low_threshold && !st->low_queued) {
        st->low_queued = true;
        tx->low[tx->nlow++] = st->id;
    }
}

/* Unlink the head message of `st` and drop tx's reference. */
static void tx_pop_head(sluice_sctp_tx *tx, tx_stream *st) {
    sluice_sctp_msg *m = st->head;
    st->head = m->next;
    if (!st->head) {
        st->tail = NULL;
        tx_deactivate(tx, st);
    }
    m->next = NULL;
    if (m->produced > 0 && m->produced < m->len) tx->in_progress--;
    if (m->expires != SLUICE_TIME_NEVER) tx->ntimed--;
    tx->nqueued--;
    if (tx->current == st) tx->current = NULL;
    sluice_sctp_msg_unref(tx->alloc, m);
}

static bool tx_should_drop(const sluice_sctp_msg *m, sluice_time now) {
    if (m->abandoned) return true;
    /* RFC 3758 §3.1 (timed reliability): a message not yet started simply goes. Started
     * ones are abandoned by the retransmission queue, which also forwards the TSN. The
     * lifetime is inclusive, so a lifetime of 0 still means "send once if sent now"
     * (what WebRTC's maxPacketLifeTime 0 asks for). */
    return !m->started && m->expires != SLUICE_TIME_NEVER && now > m->expires;
}

/* Drop the unsent remainder of `m` (which is st's head). */
static void tx_drop_head(sluice_sctp_tx *tx, tx_stream *st) {
    sluice_sctp_msg *m = st->head;
    size_t rest = m->len - m->produced;
    size_t before = st->buffered;
    st->buffered -= rest;
    tx->total -= rest;
    if (!m->started) tx->stats.messages_abandoned_unsent++;
    tx_pop_head(tx, st);
    tx_note_decrease(tx, st, before);
}

void sluice_sctp_tx_expire(sluice_sctp_tx *tx, sluice_time now) {
    for (size_t i = 0; i < tx->nstreams; i++) {
        tx_stream *st = tx->streams[i];
        while (st->head && tx_should_drop(st->head, now)) tx_drop_head(tx, st);
        if (!st->head || tx->ntimed == 0) continue;
        /* Unstarted expired messages further down the queue. */
        sluice_sctp_msg *prev = st->head;
        while (prev->next) {
            sluice_sctp_msg *m = prev->next;
            if (!tx_should_drop(m, now)) { prev = m; continue; }
            size_t before = st->buffered;
            prev->next = m->next;
            if (st->tail == m) st->tail = prev;
            st->buffered -= m->len;
            tx->total -= m->len;
            if (m->expires != SLUICE_TIME_NEVER) tx->ntimed--;
            tx->nqueued--;
            tx->stats.messages_abandoned_unsent++;
            sluice_sctp_msg_unref(tx->alloc, m);
            tx_note_decrease(tx, st, before);
        }
    }
}

sluice_time sluice_sctp_tx_next_expiry(const sluice_sctp_tx *tx) {
    sluice_time t = SLUICE_TIME_NEVER;
    if (tx->ntimed == 0) return t;
    for (size_t i = 0; i < tx->nstreams; i++)
        for (const sluice_sctp_msg *m = tx->streams[i]->head; m; m = m->next)
            if (!m->started && m->expires != SLUICE_TIME_NEVER)
                t = sluice_time_min(t, m->expires + 1); /* expired after, not at */
    return t;
}

int sluice_sctp_tx_produce(sluice_sctp_tx *tx, sluice_time now, size_t max_payload, sluice_sctp_tx_chunk *out) {
    if (max_payload == 0) return 0;
    for (;;) {
        tx_stream *st = tx->current ? tx->current : tx->rr;
        if (!st) return 0;
        sluice_sctp_msg *m = st->head;
        if (tx_should_drop(m, now)) {
            tx_drop_head(tx, st);
            continue;
        }
        if (tx->s.idata && tx->s.max_in_progress && m->produced == 0 && tx->in_progress >= tx->s.max_in_progress) {
            /* Enough messages are interleaved: continue one of them (a partly sent message is
             * always the head of its stream) before starting another. */
            tx_stream *p = st->rr_next;
            while (p != st && !(p->head && p->head->produced > 0 && p->head->produced < p->head->len)) p = p->rr_next;
            if (p == st) return 0; /* cannot happen while in_progress > 0; be safe */
            st = p;
            m = st->head;
        }
        if (m->produced == 0 && m->len > max_payload && m->len <= tx->s.fresh_packet_payload) return 0;
        size_t n = SLUICE_MIN(max_payload, m->len - m->produced);
        if (!m->started) {
            m->started = true;
            if (!tx->s.idata) m->mid = m->unordered ? 0 : st->next_ssn++;
            else if (m->unordered) m->mid = st->next_umid++;
            else m->mid = st->next_mid++;
        }
        out->msg = sluice_sctp_msg_ref(m);
        out->offset = (uint32_t)m->produced;
        out->len = (uint32_t)n;
        out->fsn = m->next_fsn++;
        out->beginning = m->produced == 0;
        out->ending = m->produced + n == m->len;
        size_t before = st->buffered;
        bool was_partial = m->produced > 0;
        m->produced += n;
        bool is_partial = m->produced < m->len;
        if (is_partial && !was_partial) tx->in_progress++;
        else if (!is_partial && was_partial) tx->in_progress--;
        st->buffered -= n;
        tx->total -= n;
        if (out->ending) {
            if (st->active) tx->rr = st->rr_next; /* next stream's turn (pop may end it) */
            tx_pop_head(tx, st);
        } else if (!tx->s.idata) {
            tx->current = st;
        } else {
            /* RFC 8260: with I-DATA other streams may go between fragments. */
            tx->rr = st->rr_next;
        }
        tx_note_decrease(tx, st, before);
        return 1;
    }
}

bool sluice_sctp_tx_has_data(const sluice_sctp_tx *tx) { return tx->nqueued > 0; }

size_t sluice_sctp_tx_buffered_amount(const sluice_sctp_tx *tx, uint16_t stream) {
    const tx_stream *st = tx_stream_get(tx, stream);
    return st ? st->buffered : 0;
}

size_t sluice_sctp_tx_total_buffered(const sluice_sctp_tx *tx) { return tx->total; }

int sluice_sctp_tx_set_buffered_low_threshold(sluice_sctp_tx *tx, uint16_t stream, size_t bytes) {
    tx_stream *st = tx_stream_get_or_add(tx, stream);
    if (!st) return SLUICE_ERR_NOMEM;
    st->low_threshold = bytes;
    return SLUICE_OK;
}

int sluice_sctp_tx_poll_buffered_low(sluice_sctp_tx *tx, uint16_t *stream) {
    if (tx->nlow == 0) return 0;
    *stream = tx->low[0];
    memmove(tx->low, tx->low + 1, (tx->nlow - 1) * sizeof *tx->low);
    tx->nlow--;
    tx_stream *st = tx_stream_get(tx, *stream);
    if (st) st->low_queued = false;
    return 1;
}

void sluice_sctp_tx_close_stream(sluice_sctp_tx *tx, uint16_t stream) {
    /* A stream that never carried anything gets no record: resets a peer provokes on many
     * unused streams (refused channel opens) must not fill the sorted stream table. */
    tx_stream *st = tx_stream_get(tx, stream);
    if (st) st->closed = true;
}

bool sluice_sctp_tx_stream_drained(const sluice_sctp_tx *tx, uint16_t stream) {
    const tx_stream *st = tx_stream_get(tx, stream);
    return !st || !st->head;
}

void sluice_sctp_tx_reset_stream(sluice_sctp_tx *tx, uint16_t stream) {
    tx_stream *st = tx_stream_get(tx, stream);
    if (!st) return;
    /* RFC 6525 §5.1.2: after the reset the stream starts again at SSN 0. */
    st->next_ssn = 0;
    st->next_mid = 0;
    st->next_umid = 0;
    st->closed = false;
}

void sluice_sctp_tx_get_stats(const sluice_sctp_tx *tx, sluice_sctp_tx_stats *out) { *out = tx->stats; }
