/* SCTP reassembly and ordered delivery. See reasm.h. */
#include "sctp/reasm.h"
#include "sctp/serial.h"

typedef struct reasm_frag {
    struct reasm_frag *prev, *next;
    uint32_t tsn, mid, fsn, ppid;
    uint32_t len;
    bool unordered, beginning, ending;
    uint8_t data[];
} reasm_frag;

/* A complete ordered message waiting for an earlier SSN / MID. */
typedef struct reasm_ready {
    struct reasm_ready *next;
    uint32_t mid;
    sluice_sctp_message m;
} reasm_ready;

typedef struct reasm_stream {
    uint16_t id;
    uint32_t next_mid;        /* next ordered SSN (DATA, 16 bit) or MID (I-DATA) to deliver */
    reasm_frag *head, *tail;  /* fragments, sorted by TSN (DATA) or (U, MID, FSN) (I-DATA) */
    reasm_ready *ready;       /* sorted by SSN / MID */
} reasm_stream;

struct sluice_sctp_reasm {
    const sluice_allocator *alloc;
    sluice_sctp_reasm_settings s;
    reasm_stream *streams;    /* sorted by id */
    size_t nstreams, cap_streams;
    sluice_sctp_message *out; /* ring of deliverable messages */
    size_t out_head, out_len, out_cap;
    size_t held;              /* payload bytes held (fragments, ready, out) */
    sluice_sctp_reasm_stats stats;
};

void sluice_sctp_reasm_settings_default(sluice_sctp_reasm_settings *s) {
    memset(s, 0, sizeof *s);
    s->max_bytes = 4u * 1024 * 1024;
    s->max_message_size = 256u * 1024;
    s->idata = false;
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
    *out = q;
    return SLUICE_OK;
}

static void reasm_free_frags(sluice_sctp_reasm *q, reasm_stream *st) {
    reasm_frag *f = st->head;
    while (f) {
        reasm_frag *n = f->next;
        q->held -= f->len;
        sluice_mem_free(q->alloc, f);
        f = n;
    }
    st->head = st->tail = NULL;
}

static void reasm_free_ready(sluice_sctp_reasm *q, reasm_stream *st) {
    reasm_ready *r = st->ready;
    while (r) {
        reasm_ready *n = r->next;
        q->held -= r->m.len;
        sluice_mem_free(q->alloc, r->m.data);
        sluice_mem_free(q->alloc, r);
        r = n;
    }
    st->ready = NULL;
}

void sluice_sctp_reasm_free(sluice_sctp_reasm *q) {
    if (!q) return;
    for (size_t i = 0; i < q->nstreams; i++) {
        reasm_free_frags(q, &q->streams[i]);
        reasm_free_ready(q, &q->streams[i]);
    }
    for (size_t i = 0; i < q->out_len; i++) sluice_mem_free(q->alloc, q->out[(q->out_head + i) % q->out_cap].data);
    sluice_mem_free(q->alloc, q->out);
    sluice_mem_free(q->alloc, q->streams);
    sluice_mem_free(q->alloc, q);
}

void sluice_sctp_reasm_set_idata(sluice_sctp_reasm *q, bool idata) { q->s.idata = idata; }
size_t sluice_sctp_reasm_buffered(const sluice_sctp_reasm *q) { return q->held; }
void sluice_sctp_reasm_get_stats(const sluice_sctp_reasm *q, sluice_sctp_reasm_stats *out) { *out = q->stats; }

static reasm_stream *reasm_stream_get(sluice_sctp_reasm *q, uint16_t id, bool create) {
    size_t lo = 0, hi = q->nstreams;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (q->streams[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < q->nstreams && q->streams[lo].id == id) return &q->streams[lo];
    if (!create) return NULL;
    if (q->nstreams == q->cap_streams) {
        size_t ncap = q->cap_streams ? q->cap_streams * 2 : 8;
        reasm_stream *n = sluice_mem_realloc(q->alloc, q->streams, ncap * sizeof *n);
        if (!n) return NULL;
        q->streams = n;
        q->cap_streams = ncap;
    }
    memmove(&q->streams[lo + 1], &q->streams[lo], (q->nstreams - lo) * sizeof *q->streams);
    memset(&q->streams[lo], 0, sizeof *q->streams);
    q->streams[lo].id = id;
    q->nstreams++;
    return &q->streams[lo];
}

static int reasm_out_push(sluice_sctp_reasm *q, const sluice_sctp_message *m) {
    if (q->out_len == q->out_cap) {
        size_t ncap = q->out_cap ? q->out_cap * 2 : 16;
        sluice_sctp_message *n = sluice_mem_alloc(q->alloc, ncap * sizeof *n);
        if (!n) return SLUICE_ERR_NOMEM;
        for (size_t i = 0; i < q->out_len; i++) n[i] = q->out[(q->out_head + i) % q->out_cap];
        sluice_mem_free(q->alloc, q->out);
        q->out = n;
        q->out_cap = ncap;
        q->out_head = 0;
    }
    q->out[(q->out_head + q->out_len) % q->out_cap] = *m;
    q->out_len++;
    return SLUICE_OK;
}

int sluice_sctp_reasm_poll(sluice_sctp_reasm *q, sluice_sctp_message *out) {
    if (q->out_len == 0) return 0;
    *out = q->out[q->out_head];
    q->out_head = (q->out_head + 1) % q->out_cap;
    q->out_len--;
    q->held -= out->len;
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
        st->next_mid = reasm_mid_next(q, st->next_mid);
        sluice_mem_free(q->alloc, r);
    }
    return SLUICE_OK;
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
        q->held -= m->len;
        sluice_mem_free(q->alloc, m->data);
        return SLUICE_OK;
    }
    reasm_ready *r = sluice_mem_alloc(q->alloc, sizeof *r);
    if (!r) goto drop;
    r->mid = mid;
    r->m = *m;
    reasm_ready **pp = &st->ready;
    while (*pp && reasm_mid_lt(q, (*pp)->mid, mid)) pp = &(*pp)->next;
    if (*pp && (*pp)->mid == mid) {
        /* Same SSN twice under different TSNs: hostile or broken peer; keep the first. */
        sluice_mem_free(q->alloc, r);
        q->held -= m->len;
        sluice_mem_free(q->alloc, m->data);
        return SLUICE_ERR_MALFORMED;
    }
    r->next = *pp;
    *pp = r;
    return SLUICE_OK;
drop:
    q->held -= m->len;
    sluice_mem_free(q->alloc, m->data);
    return SLUICE_ERR_NOMEM;
}

/* Fragment order: TSN (DATA) or (U, MID, FSN) (I-DATA). <0, 0, >0. */
static int reasm_cmp(const sluice_sctp_reasm *q, const reasm_frag *a, const reasm_frag *b) {
    if (!q->s.idata) return a->tsn == b->tsn ? 0 : sluice_sn32_lt(a->tsn, b->tsn) ? -1 : 1;
    if (a->unordered != b->unordered) return a->unordered ? 1 : -1;
    if (a->mid != b->mid) return sluice_sn32_lt(a->mid, b->mid) ? -1 : 1;
    return a->fsn == b->fsn ? 0 : a->fsn < b->fsn ? -1 : 1;
}

/* b directly follows a within one message. */
static bool reasm_adjacent(const sluice_sctp_reasm *q, const reasm_frag *a, const reasm_frag *b) {
    if (b->beginning || a->ending || a->unordered != b->unordered) return false;
    if (q->s.idata) return a->mid == b->mid && b->fsn == a->fsn + 1;
    return b->tsn == a->tsn + 1 && (a->unordered || a->mid == b->mid);
}

static void reasm_unlink(sluice_sctp_reasm *q, reasm_stream *st, reasm_frag *f) {
    if (f->prev) f->prev->next = f->next;
    else st->head = f->next;
    if (f->next) f->next->prev = f->prev;
    else st->tail = f->prev;
    q->held -= f->len;
    sluice_mem_free(q->alloc, f);
}

/* Drop the run first..last (inclusive). */
static void reasm_drop_run(sluice_sctp_reasm *q, reasm_stream *st, reasm_frag *first, reasm_frag *last) {
    reasm_frag *f = first;
    for (;;) {
        reasm_frag *n = f->next;
        bool end = f == last;
        reasm_unlink(q, st, f);
        if (end) break;
        f = n;
    }
}

/* After inserting f: if its message is complete, assemble and deliver it. */
static int reasm_try_assemble(sluice_sctp_reasm *q, reasm_stream *st, reasm_frag *f) {
    reasm_frag *first = f, *last = f;
    uint64_t total = f->len;
    while (!first->beginning && first->prev && reasm_adjacent(q, first->prev, first)) {
        first = first->prev;
        total += first->len;
    }
    while (!last->ending && last->next && reasm_adjacent(q, last, last->next)) {
        last = last->next;
        total += last->len;
    }
    if (total > q->s.max_message_size) {
        q->stats.messages_too_large++;
        reasm_drop_run(q, st, first, last);
        return SLUICE_ERR_TOO_LARGE;
    }
    if (!first->beginning || !last->ending) return SLUICE_OK;
    sluice_sctp_message m = {.stream = st->id, .ppid = first->ppid, .unordered = first->unordered, .len = (size_t)total};
    m.data = sluice_mem_alloc(q->alloc, m.len);
    if (!m.data) return SLUICE_ERR_NOMEM; /* fragments stay; a later chunk retries */
    uint32_t mid = first->mid;
    size_t off = 0;
    for (reasm_frag *x = first;;) {
        memcpy(m.data + off, x->data, x->len);
        off += x->len;
        if (x == last) break;
        x = x->next;
    }
    /* The payload moves from the fragments to the message: keep `held` unchanged. */
    q->held += m.len;
    reasm_drop_run(q, st, first, last);
    return reasm_deliver(q, st, mid, &m);
}

int sluice_sctp_reasm_add(sluice_sctp_reasm *q, const sluice_sctp_data *d, bool force) {
    if (!q || !d || d->len == 0 || d->len > UINT32_MAX) return SLUICE_ERR_INVALID_ARGUMENT;
    if (d->idata != q->s.idata) return SLUICE_ERR_MALFORMED;
    /* RFC 8260 §2.1: the first fragment has FSN 0 (the parser sets it); a later fragment
     * claiming FSN 0 would collide with it. */
    if (d->idata && !d->beginning && d->fsn == 0) return SLUICE_ERR_MALFORMED;
    size_t limit = force ? 2 * q->s.max_bytes : q->s.max_bytes;
    if (d->len > limit || q->held > limit - d->len) {
        q->stats.chunks_refused_full++;
        return SLUICE_ERR_BUFFER_FULL;
    }
    if (d->len > q->s.max_message_size) {
        q->stats.messages_too_large++;
        return SLUICE_ERR_TOO_LARGE;
    }
    reasm_stream *st = reasm_stream_get(q, d->stream, true);
    if (!st) return SLUICE_ERR_NOMEM;
    /* Ordered data behind the delivery point: skipped by a FORWARD-TSN, or a repeat. */
    if (!d->unordered && reasm_mid_lt(q, d->mid, st->next_mid)) {
        q->stats.chunks_discarded_by_fwd++;
        return SLUICE_OK;
    }

    if (d->beginning && d->ending) {
        /* Fast path: one chunk, one copy. */
        sluice_sctp_message m = {.stream = d->stream, .ppid = d->ppid, .unordered = d->unordered, .len = d->len};
        m.data = sluice_mem_alloc(q->alloc, d->len);
        if (!m.data) return SLUICE_ERR_NOMEM;
        memcpy(m.data, d->payload, d->len);
        q->held += d->len;
        return reasm_deliver(q, st, d->mid, &m);
    }

    reasm_frag *f = sluice_mem_alloc(q->alloc, sizeof *f + d->len);
    if (!f) return SLUICE_ERR_NOMEM;
    memset(f, 0, sizeof *f);
    f->tsn = d->tsn;
    f->mid = d->mid;
    f->fsn = d->fsn;
    f->ppid = d->ppid;
    f->len = (uint32_t)d->len;
    f->unordered = d->unordered;
    f->beginning = d->beginning;
    f->ending = d->ending;
    memcpy(f->data, d->payload, d->len);
    /* Insert from the tail: in-order arrival costs O(1). */
    reasm_frag *at = st->tail;
    while (at && reasm_cmp(q, at, f) > 0) at = at->prev;
    if (at && reasm_cmp(q, at, f) == 0) {
        sluice_mem_free(q->alloc, f);
        return d->idata ? SLUICE_ERR_MALFORMED : SLUICE_OK;
    }
    f->prev = at;
    f->next = at ? at->next : st->head;
    if (f->next) f->next->prev = f;
    else st->tail = f;
    if (at) at->next = f;
    else st->head = f;
    q->held += f->len;
    return reasm_try_assemble(q, st, f);
}

/* Deliver ready messages up to and including `upto`, then continue at upto + 1. */
static void reasm_skip_to(sluice_sctp_reasm *q, reasm_stream *st, uint32_t upto) {
    if (reasm_mid_lt(q, upto, st->next_mid)) return;
    while (st->ready && !reasm_mid_lt(q, upto, st->ready->mid)) {
        reasm_ready *r = st->ready;
        st->ready = r->next;
        if (reasm_out_push(q, &r->m) < 0) {
            q->held -= r->m.len;
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
         * messages (DATA fragments of one message have consecutive TSNs). */
        for (size_t i = 0; i < q->nstreams; i++) {
            reasm_stream *st = &q->streams[i];
            reasm_frag *x = st->head;
            while (x) {
                reasm_frag *n = x->next;
                if (sluice_sn32_le(x->tsn, f->new_cum_tsn)) {
                    reasm_unlink(q, st, x);
                    q->stats.chunks_discarded_by_fwd++;
                }
                x = n;
            }
        }
    }
    if (f->idata != q->s.idata) return; /* wrong kind for what was negotiated: skips meaningless */
    for (size_t k = 0; k < f->num_skips; k++) {
        sluice_sctp_skip sk = sluice_sctp_fwd_skip(f, k);
        reasm_stream *st = reasm_stream_get(q, sk.stream, true);
        if (!st) continue;
        if (q->s.idata) {
            /* RFC 8260 §2.3.1: drop partial fragments of the skipped messages. */
            reasm_frag *x = st->head;
            while (x) {
                reasm_frag *n = x->next;
                if (x->unordered == sk.unordered && sluice_sn32_le(x->mid, sk.mid)) {
                    reasm_unlink(q, st, x);
                    q->stats.chunks_discarded_by_fwd++;
                }
                x = n;
            }
        } else {
            reasm_frag *x = st->head;
            while (x) {
                reasm_frag *n = x->next;
                if (!x->unordered && !sluice_sn16_lt((uint16_t)sk.mid, (uint16_t)x->mid)) {
                    reasm_unlink(q, st, x);
                    q->stats.chunks_discarded_by_fwd++;
                }
                x = n;
            }
        }
        if (!sk.unordered) reasm_skip_to(q, st, q->s.idata ? sk.mid : (uint16_t)sk.mid);
    }
}

void sluice_sctp_reasm_reset_streams(sluice_sctp_reasm *q, const uint16_t *streams, size_t n) {
    for (size_t i = 0; i < q->nstreams; i++) {
        reasm_stream *st = &q->streams[i];
        bool hit = n == 0;
        for (size_t k = 0; k < n && !hit; k++) hit = streams[k] == st->id;
        if (!hit) continue;
        reasm_free_frags(q, st);
        reasm_free_ready(q, st);
        st->next_mid = 0; /* RFC 6525 §5.2.2 */
    }
}
