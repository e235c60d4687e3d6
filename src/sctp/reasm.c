/* SCTP reassembly and ordered delivery. See reasm.h. */
#include "sctp/reasm.h"
#include "sctp/serial.h"

/* A run of consecutive fragments of one message, joined in one growing buffer as they
 * arrive, so in-order fragments cost one copy and no allocation of their own, and the
 * completed buffer is handed to the caller as is. Runs of a stream are kept sorted by
 * first TSN (DATA) or by (U, MID, first FSN) (I-DATA) and never overlap. */
typedef struct reasm_run {
    struct reasm_run *prev, *next;
    uint32_t first_tsn, last_tsn; /* DATA */
    uint32_t first_fsn, last_fsn; /* I-DATA */
    uint32_t mid, ppid;
    uint32_t nfrags;
    bool unordered, beginning, ending;
    uint8_t *buf;
    size_t len, cap;
} reasm_run;

/* A complete ordered message waiting for an earlier SSN / MID. */
typedef struct reasm_ready {
    struct reasm_ready *next;
    uint32_t mid;
    sluice_sctp_message m;
} reasm_ready;

/* Bookkeeping charged per held message or run on top of its payload (about what a run and
 * its allocations really cost, allocator headers included), so that a flood of
 * tiny messages cannot hold far more memory than max_bytes says. */
#define REASM_OVERHEAD 128u

typedef struct reasm_stream {
    uint16_t id;
    uint32_t next_mid;        /* next ordered SSN (DATA, 16 bit) or MID (I-DATA) to deliver */
    reasm_run *head, *tail;   /* partial messages */
    size_t nruns;
    struct reasm_stream *act_prev, *act_next; /* in the list of streams with runs */
    reasm_ready *ready;       /* sorted by SSN / MID */
    reasm_ready *ready_tail;  /* messages after a loss usually arrive in order: append */
    size_t nready;
    /* The (I-)FORWARD-TSN being applied: highest skipped ordered / unordered SSN or MID. */
    uint32_t fwd_epoch;
    bool fwd_o, fwd_u, fwd_done;
    uint32_t fwd_o_mid, fwd_u_mid;
} reasm_stream;

struct sluice_sctp_reasm {
    const sluice_allocator *alloc;
    sluice_sctp_reasm_settings s;
    /* Streams by id in a two-level table (O(1) lookup and creation, whatever ids a peer
     * uses), plus a list of the existing ones for walks. */
    reasm_stream **pages[256];
    reasm_stream **all;
    size_t nstreams, cap_streams;
    reasm_stream *active;     /* streams with partial runs: what a FORWARD-TSN walks */
    sluice_sctp_message *out; /* ring of deliverable messages */
    size_t out_head, out_len, out_cap;
    size_t held;              /* bytes held (fragments, ready, out), REASM_OVERHEAD each */
    reasm_ready *spare;       /* preallocated, so that completing a message cannot fail */
    uint32_t fwd_epoch;
    sluice_sctp_reasm_stats stats;
};

void sluice_sctp_reasm_settings_default(sluice_sctp_reasm_settings *s) {
    memset(s, 0, sizeof *s);
    s->max_bytes = 4u * 1024 * 1024;
    s->max_message_size = 256u * 1024;
    s->idata = false;
    s->max_sorted_walk = 512;
}

int sluice_sctp_reasm_new(sluice_sctp_reasm **out, const sluice_sctp_reasm_settings *s,
                          const sluice_allocator *alloc) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_sctp_reasm_settings d;
    if (!s) {
        sluice_sctp_reasm_settings_default(&d);
        s = &d;
    }
    if (s->max_bytes == 0 || s->max_message_size == 0 || s->max_message_size > UINT32_MAX)
        return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_sctp_reasm *q = sluice_mem_calloc(alloc, 1, sizeof *q);
    if (!q) return SLUICE_ERR_NOMEM;
    q->alloc = alloc;
    q->s = *s;
    if (q->s.max_sorted_walk == 0) q->s.max_sorted_walk = 512;
    *out = q;
    return SLUICE_OK;
}

static void reasm_run_free(sluice_sctp_reasm *q, reasm_run *r) {
    q->held -= r->len + REASM_OVERHEAD;
    sluice_mem_free(q->alloc, r->buf);
    sluice_mem_free(q->alloc, r);
}

/* Run counts per stream, and the list of streams that have runs. */
static void reasm_runs_added(sluice_sctp_reasm *q, reasm_stream *st) {
    if (st->nruns++ == 0) {
        st->act_prev = NULL;
        st->act_next = q->active;
        if (q->active) q->active->act_prev = st;
        q->active = st;
    }
}
static void reasm_runs_removed(sluice_sctp_reasm *q, reasm_stream *st, size_t n) {
    st->nruns -= n;
    if (st->nruns == 0 && n) {
        if (st->act_prev) st->act_prev->act_next = st->act_next;
        else q->active = st->act_next;
        if (st->act_next) st->act_next->act_prev = st->act_prev;
        st->act_prev = st->act_next = NULL;
    }
}

static void reasm_free_frags(sluice_sctp_reasm *q, reasm_stream *st) {
    reasm_run *r = st->head;
    while (r) {
        reasm_run *n = r->next;
        reasm_run_free(q, r);
        r = n;
    }
    st->head = st->tail = NULL;
    reasm_runs_removed(q, st, st->nruns);
}

static void reasm_free_ready(sluice_sctp_reasm *q, reasm_stream *st) {
    reasm_ready *r = st->ready;
    while (r) {
        reasm_ready *n = r->next;
        q->held -= r->m.len + REASM_OVERHEAD;
        sluice_mem_free(q->alloc, r->m.data);
        sluice_mem_free(q->alloc, r);
        r = n;
    }
    st->ready = st->ready_tail = NULL;
    st->nready = 0;
}

void sluice_sctp_reasm_free(sluice_sctp_reasm *q) {
    if (!q) return;
    for (size_t i = 0; i < q->nstreams; i++) {
        reasm_free_frags(q, q->all[i]);
        reasm_free_ready(q, q->all[i]);
        sluice_mem_free(q->alloc, q->all[i]);
    }
    for (size_t i = 0; i < 256; i++) sluice_mem_free(q->alloc, q->pages[i]);
    sluice_mem_free(q->alloc, q->all);
    for (size_t i = 0; i < q->out_len; i++) sluice_mem_free(q->alloc, q->out[(q->out_head + i) % q->out_cap].data);
    sluice_mem_free(q->alloc, q->out);
    sluice_mem_free(q->alloc, q->spare);
    sluice_mem_free(q->alloc, q);
}

void sluice_sctp_reasm_set_idata(sluice_sctp_reasm *q, bool idata) { q->s.idata = idata; }
size_t sluice_sctp_reasm_buffered(const sluice_sctp_reasm *q) { return q->held; }
void sluice_sctp_reasm_get_stats(const sluice_sctp_reasm *q, sluice_sctp_reasm_stats *out) { *out = q->stats; }

static reasm_stream *reasm_stream_get(sluice_sctp_reasm *q, uint16_t id, bool create) {
    reasm_stream **page = q->pages[id >> 8];
    if (page && page[id & 0xff]) return page[id & 0xff];
    if (!create) return NULL;
    if (q->nstreams == q->cap_streams) {
        size_t ncap = q->cap_streams ? q->cap_streams * 2 : 8;
        reasm_stream **n = sluice_mem_realloc(q->alloc, q->all, ncap * sizeof *n);
        if (!n) return NULL;
        q->all = n;
        q->cap_streams = ncap;
    }
    if (!page) {
        page = sluice_mem_calloc(q->alloc, 256, sizeof *page);
        if (!page) return NULL;
        q->pages[id >> 8] = page;
    }
    reasm_stream *st = sluice_mem_calloc(q->alloc, 1, sizeof *st);
    if (!st) return NULL;
    st->id = id;
    page[id & 0xff] = st;
    q->all[q->nstreams++] = st;
    return st;
}

/* Room for `extra` more deliverable messages. */
static int reasm_out_reserve(sluice_sctp_reasm *q, size_t extra) {
    if (q->out_len + extra > q->out_cap) {
        size_t ncap = q->out_cap ? q->out_cap * 2 : 16;
        while (ncap < q->out_len + extra) ncap *= 2;
        sluice_sctp_message *n = sluice_mem_alloc(q->alloc, ncap * sizeof *n);
        if (!n) return SLUICE_ERR_NOMEM;
        for (size_t i = 0; i < q->out_len; i++) n[i] = q->out[(q->out_head + i) % q->out_cap];
        sluice_mem_free(q->alloc, q->out);
        q->out = n;
        q->out_cap = ncap;
        q->out_head = 0;
    }
    return SLUICE_OK;
}

static int reasm_out_push(sluice_sctp_reasm *q, const sluice_sctp_message *m) {
    if (reasm_out_reserve(q, 1) < 0) return SLUICE_ERR_NOMEM; /* reserved by the callers */
    q->out[(q->out_head + q->out_len) % q->out_cap] = *m;
    q->out_len++;
    return SLUICE_OK;
}

int sluice_sctp_reasm_poll(sluice_sctp_reasm *q, sluice_sctp_message *out) {
    if (q->out_len == 0) return 0;
    *out = q->out[q->out_head];
    q->out_head = (q->out_head + 1) % q->out_cap;
    q->out_len--;
    q->held -= out->len + REASM_OVERHEAD;
    q->stats.messages_delivered++;
    return 1;
}

/* Serial "a before b" for the ordered sequence: 16-bit SSN (DATA) or 32-bit MID (I-DATA). */
static bool reasm_mid_lt(const sluice_sctp_reasm *q, uint32_t a, uint32_t b) {
    return q->s.idata ? sluice_sn32_lt(a, b) : sluice_sn16_lt((uint16_t)a, (uint16_t)b);
}
static uint32_t reasm_mid_next(const sluice_sctp_reasm *q, uint32_t a) {
    return q->s.idata ? a + 1 : (uint16_t)(a + 1);
}

/* Move ready messages that are next in sequence to the output. */
static int reasm_drain_ready(sluice_sctp_reasm *q, reasm_stream *st) {
    while (st->ready && st->ready->mid == st->next_mid) {
        reasm_ready *r = st->ready;
        if (reasm_out_push(q, &r->m) < 0) return SLUICE_ERR_NOMEM;
        st->ready = r->next;
        if (!st->ready) st->ready_tail = NULL;
        st->nready--;
        st->next_mid = reasm_mid_next(q, st->next_mid);
        sluice_mem_free(q->alloc, r);
    }
    return SLUICE_OK;
}

/* Where a waiting message with `mid` goes in st->ready: the link to insert at, or NULL when
 * that takes more than `limit` steps (the list is sorted by SSN / MID). */
static reasm_ready **reasm_ready_slot(const sluice_sctp_reasm *q, reasm_stream *st, uint32_t mid, size_t limit) {
    if (st->ready_tail && reasm_mid_lt(q, st->ready_tail->mid, mid)) return &st->ready_tail->next;
    reasm_ready **pp = &st->ready;
    for (size_t n = 0; *pp && reasm_mid_lt(q, (*pp)->mid, mid); n++) {
        if (n >= limit) return NULL;
        pp = &(*pp)->next;
    }
    return pp;
}

/* A complete message (its bytes already counted in held). Takes ownership of m->data. */
static int reasm_deliver(sluice_sctp_reasm *q, reasm_stream *st, uint32_t mid, sluice_sctp_message *m) {
    if (m->unordered) {
        int rc = reasm_out_push(q, m);
        if (rc < 0) goto drop;
        return SLUICE_OK;
    }
    if (mid == st->next_mid) {
        int rc = reasm_out_push(q, m);
        if (rc < 0) goto drop;
        st->next_mid = reasm_mid_next(q, st->next_mid);
        return reasm_drain_ready(q, st);
    }
    if (reasm_mid_lt(q, mid, st->next_mid)) {
        /* Already delivered or skipped by a FORWARD-TSN: a repeat the TSN tracker could not
         * see (new TSN, old SSN). Drop it. */
        q->stats.chunks_discarded_by_fwd++;
        q->held -= m->len + REASM_OVERHEAD;
        sluice_mem_free(q->alloc, m->data);
        return SLUICE_OK;
    }
    reasm_ready *r = q->spare;
    if (!r) goto drop;
    q->spare = NULL;
    r->mid = mid;
    r->m = *m;
    /* sluice_sctp_reasm_add checked that this takes at most max_sorted_walk steps */
    reasm_ready **pp = reasm_ready_slot(q, st, mid, SIZE_MAX);
    if (*pp && (*pp)->mid == mid) {
        /* Same SSN twice under different TSNs: hostile or broken peer; keep the first. */
        q->spare = r;
        q->held -= m->len + REASM_OVERHEAD;
        sluice_mem_free(q->alloc, m->data);
        return SLUICE_ERR_MALFORMED;
    }
    r->next = *pp;
    *pp = r;
    if (!r->next) st->ready_tail = r;
    st->nready++;
    return SLUICE_OK;
drop:
    q->held -= m->len + REASM_OVERHEAD;
    sluice_mem_free(q->alloc, m->data);
    return SLUICE_ERR_NOMEM;
}

/* Where a fragment with this key sorts relative to run r: <0 before, 0 inside, >0 after. */
static int reasm_key_vs_run(const sluice_sctp_reasm *q, const sluice_sctp_data *d, const reasm_run *r) {
    if (!q->s.idata) {
        if (sluice_sn32_lt(d->tsn, r->first_tsn)) return -1;
        return sluice_sn32_gt(d->tsn, r->last_tsn) ? 1 : 0;
    }
    if (d->unordered != r->unordered) return d->unordered ? 1 : -1;
    if (d->mid != r->mid) return sluice_sn32_lt(d->mid, r->mid) ? -1 : 1;
    if (d->fsn < r->first_fsn) return -1;
    return d->fsn > r->last_fsn ? 1 : 0;
}

/* The fragment d directly follows run a within one message. */
static bool reasm_follows(const sluice_sctp_reasm *q, const reasm_run *a, const sluice_sctp_data *d) {
    if (d->beginning || a->ending || a->unordered != d->unordered) return false;
    if (q->s.idata) return a->mid == d->mid && d->fsn == a->last_fsn + 1;
    return d->tsn == a->last_tsn + 1 && (a->unordered || a->mid == d->mid);
}

/* Run b directly follows run a within one message. */
static bool reasm_runs_join(const sluice_sctp_reasm *q, const reasm_run *a, const reasm_run *b) {
    if (b->beginning || a->ending || a->unordered != b->unordered) return false;
    if (q->s.idata) return a->mid == b->mid && b->first_fsn == a->last_fsn + 1;
    return b->first_tsn == a->last_tsn + 1 && (a->unordered || a->mid == b->mid);
}

static void reasm_unlink(sluice_sctp_reasm *q, reasm_stream *st, reasm_run *r) {
    if (r->prev) r->prev->next = r->next;
    else st->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else st->tail = r->prev;
    reasm_runs_removed(q, st, 1);
    reasm_run_free(q, r);
}

/* Make room for `extra` more bytes in r (the caller checked the message size limit).
 * Doubling keeps the copies amortised and the slack below 2x. */
static int reasm_run_reserve(sluice_sctp_reasm *q, reasm_run *r, size_t extra) {
    size_t need = r->len + extra;
    if (need <= r->cap) return SLUICE_OK;
    size_t ncap = SLUICE_MAX(need, r->cap * 2);
    if (ncap > q->s.max_message_size) ncap = SLUICE_MAX(need, q->s.max_message_size);
    uint8_t *nb = sluice_mem_realloc(q->alloc, r->buf, ncap);
    if (!nb) return SLUICE_ERR_NOMEM;
    r->buf = nb;
    r->cap = ncap;
    return SLUICE_OK;
}

/* The run r is a whole message: hand its buffer over. */
static int reasm_complete(sluice_sctp_reasm *q, reasm_stream *st, reasm_run *r) {
    sluice_sctp_message m = {.stream = st->id, .ppid = r->ppid, .unordered = r->unordered, .data = r->buf, .len = r->len};
    uint32_t mid = r->mid;
    if (r->cap > r->len + r->len / 4) {
        uint8_t *shrunk = sluice_mem_realloc(q->alloc, r->buf, r->len);
        if (shrunk) m.data = shrunk;
    }
    /* Unlink without freeing the buffer; its bytes stay counted in held. */
    if (r->prev) r->prev->next = r->next;
    else st->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else st->tail = r->prev;
    reasm_runs_removed(q, st, 1);
    sluice_mem_free(q->alloc, r);
    return reasm_deliver(q, st, mid, &m);
}

/* Join run r with the run after it when the gap between them has closed, and deliver the
 * message when r is complete. */
static int reasm_join(sluice_sctp_reasm *q, reasm_stream *st, reasm_run *r) {
    if (r->next && reasm_runs_join(q, r, r->next)) {
        reasm_run *b = r->next;
        if (r->len + b->len > q->s.max_message_size) {
            reasm_unlink(q, st, b);
            reasm_unlink(q, st, r);
            q->stats.messages_too_large++;
            return SLUICE_ERR_TOO_LARGE;
        }
        /* On failure the runs stay apart; a retransmitted fragment of r retries the join. */
        if (reasm_run_reserve(q, r, b->len) < 0) return SLUICE_ERR_NOMEM;
        memcpy(r->buf + r->len, b->buf, b->len);
        r->len += b->len;
        q->held += b->len;
        r->last_tsn = b->last_tsn;
        r->last_fsn = b->last_fsn;
        r->ending = b->ending;
        r->nfrags += b->nfrags;
        reasm_unlink(q, st, b); /* subtracts b's bytes and its overhead */
    }
    if (r->beginning && r->ending) return reasm_complete(q, st, r);
    return SLUICE_OK;
}

/* Insert fragment d (payload not yet counted) into the runs of st. */
static int reasm_insert(sluice_sctp_reasm *q, reasm_stream *st, const sluice_sctp_data *d) {
    /* Search from both ends at once: new data lands at the tail, retransmissions fill the
     * oldest holes near the head. A fragment that is more than max_sorted_walk runs away
     * from both ends is refused (a hostile pattern: see reasm.h). */
    reasm_run *at = NULL, *t = st->tail, *h = st->head;
    int pos = 1;
    for (size_t n = 0; t; n++) {
        if ((pos = reasm_key_vs_run(q, d, t)) >= 0) {
            at = t;
            break;
        }
        int hp = reasm_key_vs_run(q, d, h);
        if (hp <= 0) {
            at = hp == 0 ? h : h->prev;
            pos = hp == 0 ? 0 : 1;
            break;
        }
        if (n >= q->s.max_sorted_walk) {
            q->stats.chunks_refused_full++;
            return SLUICE_ERR_BUFFER_FULL;
        }
        t = t->prev;
        h = h->next;
    }
    if (at && pos == 0) {
        /* The same fragment again (a retransmission after a join failed for lack of memory,
         * or an I-DATA repeat under a new TSN): nothing to store; retry the join. */
        return reasm_join(q, st, at);
    }
    reasm_run *next = at ? at->next : st->head;
    reasm_run *r;
    if (at && reasm_follows(q, at, d)) {
        r = at;
        if (r->len + d->len > q->s.max_message_size) goto too_large;
        if (reasm_run_reserve(q, r, d->len) < 0) return SLUICE_ERR_NOMEM;
        memcpy(r->buf + r->len, d->payload, d->len);
        r->len += d->len;
        r->last_tsn = d->tsn;
        r->last_fsn = d->fsn;
        r->ending = d->ending;
        r->nfrags++;
    } else {
        r = sluice_mem_calloc(q->alloc, 1, sizeof *r);
        if (!r) return SLUICE_ERR_NOMEM;
        r->buf = sluice_mem_alloc(q->alloc, d->len);
        if (!r->buf) {
            sluice_mem_free(q->alloc, r);
            return SLUICE_ERR_NOMEM;
        }
        memcpy(r->buf, d->payload, d->len);
        r->len = r->cap = d->len;
        r->first_tsn = r->last_tsn = d->tsn;
        r->first_fsn = r->last_fsn = d->fsn;
        r->mid = d->mid;
        r->ppid = d->ppid;
        r->nfrags = 1;
        r->unordered = d->unordered;
        r->beginning = d->beginning;
        r->ending = d->ending;
        r->prev = at;
        r->next = next;
        if (next) next->prev = r;
        else st->tail = r;
        if (at) at->next = r;
        else st->head = r;
        reasm_runs_added(q, st);
        q->held += REASM_OVERHEAD;
    }
    q->held += d->len;
    return reasm_join(q, st, r);
too_large:
    reasm_unlink(q, st, at);
    q->stats.messages_too_large++;
    return SLUICE_ERR_TOO_LARGE;
}

int sluice_sctp_reasm_add(sluice_sctp_reasm *q, const sluice_sctp_data *d, bool force) {
    if (!q || !d || d->len == 0 || d->len > UINT32_MAX) return SLUICE_ERR_INVALID_ARGUMENT;
    if (d->idata != q->s.idata) return SLUICE_ERR_MALFORMED;
    /* RFC 8260 §2.1: the first fragment has FSN 0 (the parser sets it); a later fragment
     * claiming FSN 0 would collide with it. */
    if (d->idata && !d->beginning && d->fsn == 0) return SLUICE_ERR_MALFORMED;
    size_t limit = force ? 2 * q->s.max_bytes : q->s.max_bytes;
    if (d->len + REASM_OVERHEAD > limit || q->held > limit - d->len - REASM_OVERHEAD) {
        q->stats.chunks_refused_full++;
        return SLUICE_ERR_BUFFER_FULL;
    }
    if (d->len > q->s.max_message_size) {
        q->stats.messages_too_large++;
        return SLUICE_ERR_TOO_LARGE;
    }
    reasm_stream *st = reasm_stream_get(q, d->stream, true);
    if (!st) return SLUICE_ERR_NOMEM;
    /* Completing a message must not fail half-way (its fragments would be gone): reserve
     * what delivery may need first, so NOMEM leaves everything as it was. */
    if (reasm_out_reserve(q, 1 + st->nready) < 0) return SLUICE_ERR_NOMEM;
    if (!q->spare && !(q->spare = sluice_mem_alloc(q->alloc, sizeof *q->spare))) return SLUICE_ERR_NOMEM;
    /* Ordered data behind the delivery point: skipped by a FORWARD-TSN, or a repeat. */
    if (!d->unordered && reasm_mid_lt(q, d->mid, st->next_mid)) {
        q->stats.chunks_discarded_by_fwd++;
        return SLUICE_OK;
    }
    /* An ordered message that will wait for an earlier one must find its place in the
     * stream's waiting list within max_sorted_walk steps (checked before anything is kept,
     * so that completing it later cannot fail). */
    if (!d->unordered && d->mid != st->next_mid && !reasm_ready_slot(q, st, d->mid, q->s.max_sorted_walk)) {
        q->stats.chunks_refused_full++;
        return SLUICE_ERR_BUFFER_FULL;
    }
    if (d->beginning && d->ending) {
        /* Fast path: one chunk, one copy. */
        sluice_sctp_message m = {.stream = d->stream, .ppid = d->ppid, .unordered = d->unordered, .len = d->len};
        m.data = sluice_mem_alloc(q->alloc, d->len);
        if (!m.data) return SLUICE_ERR_NOMEM;
        memcpy(m.data, d->payload, d->len);
        q->held += d->len + REASM_OVERHEAD;
        return reasm_deliver(q, st, d->mid, &m);
    }
    return reasm_insert(q, st, d);
}

/* Deliver ready messages up to and including `upto`, then continue at upto + 1. */
static void reasm_skip_to(sluice_sctp_reasm *q, reasm_stream *st, uint32_t upto) {
    if (reasm_mid_lt(q, upto, st->next_mid)) return;
    (void)reasm_out_reserve(q, st->nready); /* best effort: without memory they are lost */
    while (st->ready && !reasm_mid_lt(q, upto, st->ready->mid)) {
        reasm_ready *r = st->ready;
        st->ready = r->next;
        if (!st->ready) st->ready_tail = NULL;
        st->nready--;
        if (reasm_out_push(q, &r->m) < 0) {
            q->held -= r->m.len + REASM_OVERHEAD;
            sluice_mem_free(q->alloc, r->m.data);
        }
        sluice_mem_free(q->alloc, r);
    }
    st->next_mid = reasm_mid_next(q, upto);
    (void)reasm_drain_ready(q, st);
}

void sluice_sctp_reasm_handle_forward_tsn(sluice_sctp_reasm *q, const sluice_sctp_fwd *f) {
    if (!f->idata && !q->s.idata) {
        /* RFC 3758 §3.6: fragments at or below the new cumulative TSN belong to abandoned
         * messages (DATA fragments of one message have consecutive TSNs). Only streams with
         * partial runs are walked: not every stream the peer ever used. */
        reasm_stream *next_st;
        for (reasm_stream *st = q->active; st; st = next_st) {
            next_st = st->act_next;
            /* runs are sorted by TSN: stop at the first one above the new cum TSN */
            reasm_run *x = st->head;
            while (x && sluice_sn32_le(x->first_tsn, f->new_cum_tsn)) {
                reasm_run *n = x->next;
                q->stats.chunks_discarded_by_fwd += x->nfrags;
                reasm_unlink(q, st, x);
                x = n;
            }
        }
    }
    if (f->idata != q->s.idata) return; /* wrong kind for what was negotiated: skips meaningless */
    /* Pass 1: the highest skip per stream (and U flag), so each stream is walked once
     * however many entries a (hostile) FORWARD-TSN repeats. */
    uint32_t epoch = ++q->fwd_epoch;
    for (size_t k = 0; k < f->num_skips; k++) {
        sluice_sctp_skip sk = sluice_sctp_fwd_skip(f, k);
        if (q->s.num_streams && sk.stream >= q->s.num_streams) continue;
        reasm_stream *st = reasm_stream_get(q, sk.stream, true);
        if (!st) continue;
        if (st->fwd_epoch != epoch) {
            st->fwd_epoch = epoch;
            st->fwd_o = st->fwd_u = st->fwd_done = false;
        }
        uint32_t mid = q->s.idata ? sk.mid : (uint16_t)sk.mid;
        if (sk.unordered) {
            if (!st->fwd_u || sluice_sn32_gt(mid, st->fwd_u_mid)) st->fwd_u_mid = mid;
            st->fwd_u = true;
        } else {
            if (!st->fwd_o || reasm_mid_lt(q, st->fwd_o_mid, mid)) st->fwd_o_mid = mid;
            st->fwd_o = true;
        }
    }
    /* Pass 2: apply. */
    for (size_t k = 0; k < f->num_skips; k++) {
        reasm_stream *st = reasm_stream_get(q, sluice_sctp_fwd_skip(f, k).stream, false);
        if (!st || st->fwd_epoch != epoch || st->fwd_done) continue;
        st->fwd_done = true;
        if (q->s.idata) {
            /* RFC 8260 §2.3.1: drop partial fragments of the skipped messages. (With DATA
             * the TSN rule above already removed them.) */
            reasm_run *x = st->head;
            while (x) {
                reasm_run *n = x->next;
                if ((x->unordered ? st->fwd_u : st->fwd_o) &&
                    sluice_sn32_le(x->mid, x->unordered ? st->fwd_u_mid : st->fwd_o_mid)) {
                    q->stats.chunks_discarded_by_fwd += x->nfrags;
                    reasm_unlink(q, st, x);
                }
                x = n;
            }
        }
        if (st->fwd_o) reasm_skip_to(q, st, st->fwd_o_mid);
    }
}

static void reasm_reset_one(sluice_sctp_reasm *q, reasm_stream *st) {
    reasm_free_frags(q, st);
    reasm_free_ready(q, st);
    st->next_mid = 0; /* RFC 6525 §5.2.2 */
}

void sluice_sctp_reasm_reset_streams(sluice_sctp_reasm *q, const uint16_t *streams, size_t n) {
    if (n == 0) {
        for (size_t i = 0; i < q->nstreams; i++) reasm_reset_one(q, q->all[i]);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        reasm_stream *st = reasm_stream_get(q, streams[k], false);
        if (st) reasm_reset_one(q, st);
    }
}
