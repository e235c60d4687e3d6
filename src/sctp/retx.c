/* SCTP outstanding data, retransmission and congestion control. See retx.h. */
#include "sctp/retx.h"
#include "sctp/serial.h"

enum {
    RETX_IN_FLIGHT = 0, /* sent, counted in flight */
    RETX_ACKED = 1,     /* acked by a gap block (kept until the cum ack passes it) */
    RETX_TO_SEND = 2,   /* marked for retransmission, not in flight */
    RETX_ABANDONED = 3, /* PR-SCTP: given up, waiting for the FORWARD-TSN to be acked */
};

/* Gap blocks looked at per SACK; more are ignored (less acked). A SACK in a 1200-byte
 * packet carries up to ~290; 1024 covers peers with larger packets. */
#define RETX_MAX_GAPS 1024
#define RETX_MAX_SKIPS 256 /* distinct streams in one FORWARD-TSN */

typedef struct retx_item {
    sluice_sctp_msg *msg;
    uint32_t offset, len;
    uint32_t fsn;
    uint32_t wire;        /* chunk size on the wire, padding included */
    sluice_time sent_at;
    uint16_t rtx_count;
    uint8_t state;
    uint8_t nacks;
    bool beginning, ending;
    bool retransmitted;   /* Karn: no RTT sample from it (RFC 6298 §3) */
    uint32_t sack_epoch;  /* last SACK whose gap blocks covered it */
    uint32_t sent_next;   /* next_tsn after its last transmission: only TSNs from there on,
                             once acked, show that this transmission was lost */
} retx_item;

struct sluice_sctp_retx {
    const sluice_allocator *alloc;
    sluice_sctp_retx_settings s;
    sluice_sctp_tx *tx;

    retx_item *items;     /* ring: items[(head + i) & (cap - 1)] has TSN cum_ack + 1 + i */
    size_t cap, head, count;
    size_t retained;      /* sum of items' wire bytes (see max_retained_bytes) */
    uint32_t cum_ack;     /* peer's cumulative TSN ack as last seen */
    uint32_t next_tsn;
    uint32_t adv_ack;     /* RFC 3758 Advanced.Peer.Ack.Point */
    size_t n_to_send;     /* items in RETX_TO_SEND */
    uint32_t rtx_hint;    /* no RETX_TO_SEND item has a lower TSN */
    bool sweep;           /* some message was just abandoned: mark its chunks */

    uint32_t flight;      /* bytes in flight (wire sizes) */
    uint32_t cwnd, ssthresh, pba;
    uint32_t rwnd;        /* peer's window minus what we sent since its last SACK */
    bool in_fast_recovery;
    uint32_t fast_recovery_exit;
    bool fast_rtx_pending; /* next packet may ignore cwnd (§7.2.4 (3)) */
    bool t3_pending;       /* T3 expired: one packet of retransmissions (§6.3.3 E3) */
    bool hold;             /* ... then nothing more until a SACK arrives */
    bool fwd_pending;
    uint32_t burst_cap;    /* Max.Burst: new data only while flight < this (UINT32_MAX: off) */
    bool burst_counted;    /* stats.burst_limited counted for the current cap */
    bool burst_mode;       /* since a stall: each SACK caps until the flight is back at cwnd */
    sluice_time last_sack; /* when the previous SACK arrived (NEVER: none yet) */

    bool have_rtt;
    uint64_t srtt, rttvar, rto; /* microseconds */
    sluice_time t3;
    sluice_time last_send; /* last DATA sent, for the idle cwnd decay (§7.2.1) */
    uint32_t sack_epoch;
    bool rtt_probe_active; /* one RTT measurement per round trip (RFC 9260 §6.3.1 C4) */
    uint32_t rtt_probe_tsn;

    sluice_sctp_gap gaps[RETX_MAX_GAPS];
    sluice_sctp_skip skips[RETX_MAX_SKIPS];
    sluice_sctp_retx_stats stats;
};

void sluice_sctp_retx_settings_default(sluice_sctp_retx_settings *s) {
    memset(s, 0, sizeof *s);
    s->mtu = 1191;
    s->rto_initial_ms = 1000;
    s->rto_min_ms = 200;
    s->rto_max_ms = 10000;
    s->max_outstanding = 32768;
    s->idata = false;
    s->max_burst = 4;
}

static uint32_t retx_initial_cwnd(const sluice_sctp_retx_settings *s) {
    size_t mtu = s->mtu;
    /* an explicit choice (bounded: a larger start is a burst into an unknown path) */
    if (s->initial_cwnd_mtus) return (uint32_t)(SLUICE_MIN(s->initial_cwnd_mtus, 64u) * mtu);
    /* RFC 9260 §7.2.1: min(4 * MTU, max(2 * MTU, 4380)). */
    size_t c = SLUICE_MIN(4 * mtu, SLUICE_MAX(2 * mtu, (size_t)4380));
    return (uint32_t)c;
}

int sluice_sctp_retx_new(sluice_sctp_retx **out, const sluice_sctp_retx_settings *s, const sluice_allocator *alloc,
                         sluice_sctp_tx *tx, uint32_t initial_tsn, uint32_t peer_rwnd) {
    if (!out || !tx) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_sctp_retx_settings d;
    if (!s) {
        sluice_sctp_retx_settings_default(&d);
        s = &d;
    }
    if (s->mtu < 64 || s->mtu > 65535 || s->rto_min_ms == 0 || s->rto_min_ms > s->rto_max_ms ||
        s->max_outstanding < 16)
        return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_sctp_retx *r = sluice_mem_calloc(alloc, 1, sizeof *r);
    if (!r) return SLUICE_ERR_NOMEM;
    r->alloc = alloc;
    r->s = *s;
    r->tx = tx;
    r->cum_ack = initial_tsn - 1;
    r->adv_ack = r->cum_ack;
    r->next_tsn = initial_tsn;
    r->cwnd = retx_initial_cwnd(s);
    r->ssthresh = peer_rwnd ? peer_rwnd : UINT32_MAX; /* §7.2.1: may be arbitrarily high */
    r->rwnd = peer_rwnd;
    uint64_t rto = (uint64_t)SLUICE_MIN(SLUICE_MAX(s->rto_initial_ms, s->rto_min_ms), s->rto_max_ms);
    r->rto = rto * 1000u;
    r->t3 = SLUICE_TIME_NEVER;
    r->burst_cap = UINT32_MAX;
    r->last_sack = SLUICE_TIME_NEVER;
    *out = r;
    return SLUICE_OK;
}

static retx_item *retx_at(const sluice_sctp_retx *r, size_t i) { return &r->items[(r->head + i) & (r->cap - 1)]; }

void sluice_sctp_retx_free(sluice_sctp_retx *r) {
    if (!r) return;
    for (size_t i = 0; i < r->count; i++) sluice_sctp_msg_unref(r->alloc, retx_at(r, i)->msg);
    sluice_mem_free(r->alloc, r->items);
    sluice_mem_free(r->alloc, r);
}

void sluice_sctp_retx_set_idata(sluice_sctp_retx *r, bool idata) { r->s.idata = idata; }

uint32_t sluice_sctp_retx_next_tsn(const sluice_sctp_retx *r) { return r->next_tsn; }
bool sluice_sctp_retx_is_idle(const sluice_sctp_retx *r) { return r->count == 0; }
uint64_t sluice_sctp_retx_rto_us(const sluice_sctp_retx *r) { return r->rto; }
sluice_time sluice_sctp_retx_next_deadline(const sluice_sctp_retx *r) { return r->t3; }
bool sluice_sctp_retx_fwd_tsn_pending(const sluice_sctp_retx *r) { return r->fwd_pending; }

/* Move an item to a new state, keeping flight and n_to_send right. */
static void retx_set_state(sluice_sctp_retx *r, retx_item *it, uint8_t st) {
    if (it->state == st) return;
    if (it->state == RETX_IN_FLIGHT) r->flight -= it->wire;
    if (it->state == RETX_TO_SEND) r->n_to_send--;
    if (st == RETX_IN_FLIGHT) r->flight += it->wire;
    if (st == RETX_TO_SEND) r->n_to_send++;
    it->state = st;
}

/* T3-rtx guards everything not yet cumulatively acked, abandoned chunks included: their
 * FORWARD-TSN may be lost too (RFC 3758 §3.5 C4). */
static bool retx_needs_t3(const sluice_sctp_retx *r) { return r->count > 0; }

static void retx_arm_t3(sluice_sctp_retx *r, sluice_time now) { r->t3 = now + r->rto; }

static int retx_grow(sluice_sctp_retx *r) {
    size_t ncap = r->cap ? r->cap * 2 : 64;
    retx_item *n = sluice_mem_alloc(r->alloc, ncap * sizeof *n);
    if (!n) return SLUICE_ERR_NOMEM;
    for (size_t i = 0; i < r->count; i++) n[i] = *retx_at(r, i);
    sluice_mem_free(r->alloc, r->items);
    r->items = n;
    r->cap = ncap;
    r->head = 0;
    return SLUICE_OK;
}

/* RFC 9260 §6.3.1 (RFC 6298 §2) with microsecond clock granularity. */
static void retx_rtt_sample(sluice_sctp_retx *r, uint64_t rtt) {
    if (!r->have_rtt) {
        r->srtt = rtt;
        r->rttvar = rtt / 2;
        r->have_rtt = true;
    } else {
        uint64_t delta = r->srtt > rtt ? r->srtt - rtt : rtt - r->srtt;
        r->rttvar = (3 * r->rttvar + delta) / 4;
        r->srtt = (7 * r->srtt + rtt) / 8;
    }
    uint64_t rto = r->srtt + 4 * r->rttvar;
    uint64_t lo = (uint64_t)r->s.rto_min_ms * 1000u, hi = (uint64_t)r->s.rto_max_ms * 1000u;
    r->rto = rto < lo ? lo : rto > hi ? hi : rto;
}

void sluice_sctp_retx_add_rtt_sample(sluice_sctp_retx *r, uint64_t rtt_us) { retx_rtt_sample(r, rtt_us); }

/* RFC 3758 §3.5 C1: move the advanced peer ack point over abandoned chunks only. (Moving
 * it over gap-acked chunks too would make a DATA receiver drop a received fragment of a
 * message that is not abandoned, RFC 3758 §3.6.) */
static void retx_advance_adv_ack(sluice_sctp_retx *r) {
    if (sluice_sn32_lt(r->adv_ack, r->cum_ack)) r->adv_ack = r->cum_ack;
    size_t i = (size_t)(r->adv_ack - r->cum_ack);
    while (i < r->count && retx_at(r, i)->state == RETX_ABANDONED) i++;
    r->adv_ack = r->cum_ack + (uint32_t)i;
    if (sluice_sn32_gt(r->adv_ack, r->cum_ack)) r->fwd_pending = true;
}

static void retx_mark_to_send(sluice_sctp_retx *r, size_t idx) {
    uint32_t tsn = r->cum_ack + 1 + (uint32_t)idx;
    if (r->n_to_send == 0 || sluice_sn32_lt(tsn, r->rtx_hint)) r->rtx_hint = tsn;
    retx_set_state(r, retx_at(r, idx), RETX_TO_SEND);
}

/* PR-SCTP: give up on message `m`; tx drops its unsent rest, retx_sweep() its chunks. */
static void retx_abandon(sluice_sctp_retx *r, sluice_sctp_msg *m) {
    if (!m->abandoned) {
        m->abandoned = true;
        r->stats.messages_abandoned++;
    }
    r->sweep = true;
}

/* One pass for all messages abandoned since the last sweep (O(outstanding), not per message). */
static void retx_sweep(sluice_sctp_retx *r) {
    if (!r->sweep) return;
    r->sweep = false;
    for (size_t i = 0; i < r->count; i++) {
        retx_item *it = retx_at(r, i);
        /* gap-acked parts too: useless to the peer alone */
        if (it->msg->abandoned) retx_set_state(r, it, RETX_ABANDONED);
    }
    retx_advance_adv_ack(r);
}

/* RFC 3758 §3.5 A3 / §3.1: check the message's limits before a retransmission. */
static bool retx_should_abandon(const retx_item *it, sluice_time now) {
    const sluice_sctp_msg *m = it->msg;
    if (m->abandoned) return true;
    if (m->has_max_retransmits && it->rtx_count >= m->max_retransmits) return true;
    return m->expires != SLUICE_TIME_NEVER && now > m->expires;
}

static void retx_write_item(sluice_sctp_retx *r, const retx_item *it, uint32_t tsn, sluice_wr *w, bool immediate) {
    const sluice_sctp_msg *m = it->msg;
    sluice_sctp_data d = {
        .tsn = tsn,
        .stream = m->stream,
        .mid = m->mid,
        .fsn = it->fsn,
        .ppid = m->ppid,
        .unordered = m->unordered,
        .beginning = it->beginning,
        .ending = it->ending,
        .immediate = immediate,
        .idata = r->s.idata,
        .payload = m->data + it->offset,
        .len = it->len,
    };
    (void)sluice_sctp_data_write(w, &d); /* room checked by the caller */
    r->stats.data_chunks_sent++;
}

/* The congestion window for new data: cwnd, lowered for the moment by Max.Burst. */
static uint32_t retx_new_data_window(const sluice_sctp_retx *r) { return SLUICE_MIN(r->cwnd, r->burst_cap); }

static bool retx_window_open(const sluice_sctp_retx *r) {
    /* §6.1 B: new data only while less than cwnd is outstanding (one packet may overshoot). */
    if (r->flight >= retx_new_data_window(r)) return false;
    /* §6.1 A: zero window: one chunk may probe when nothing is in flight. Otherwise wait
     * for room for a chunk worth sending (see write_data). */
    size_t hdr = r->s.idata ? SLUICE_SCTP_IDATA_HEADER_LEN : SLUICE_SCTP_DATA_HEADER_LEN;
    return r->flight == 0 || r->rwnd >= hdr + 512;
}

bool sluice_sctp_retx_wants_to_send(const sluice_sctp_retx *r) {
    if (r->fwd_pending) return true;
    if (r->hold) return false;
    if (r->n_to_send > 0) return r->fast_rtx_pending || r->flight < r->cwnd;
    return sluice_sctp_tx_has_data(r->tx) && r->count < r->s.max_outstanding &&
           (!r->s.max_retained_bytes || r->retained < r->s.max_retained_bytes) && retx_window_open(r);
}

int sluice_sctp_retx_write_data(sluice_sctp_retx *r, sluice_time now, sluice_wr *w) {
    int n = 0;
    size_t hdr = r->s.idata ? SLUICE_SCTP_IDATA_HEADER_LEN : SLUICE_SCTP_DATA_HEADER_LEN;
    if (w->err || r->hold) return 0;
    /* §7.2.1: after an idle period longer than the RTO, cwnd decays to max(cwnd / 2,
     * 4 MTU) per RTO, so a long-silent sender does not burst a stale window. */
    if (r->flight == 0 && r->last_send && now > r->last_send + r->rto) {
        uint64_t periods = (now - r->last_send) / r->rto;
        uint32_t floor = (uint32_t)(4 * r->s.mtu);
        for (uint64_t k = 0; k < periods && r->cwnd > floor; k++) r->cwnd = SLUICE_MAX(r->cwnd / 2, floor);
        r->last_send = now;
    }

    /* Retransmissions first, lowest TSN first (§6.1, §7.2.4 (3)). */
    bool ignore_cwnd = r->fast_rtx_pending;
    size_t i = sluice_sn32_gt(r->rtx_hint, r->cum_ack) ? (size_t)(r->rtx_hint - r->cum_ack - 1) : 0;
    for (; i < r->count && r->n_to_send > 0; i++) {
        retx_item *it = retx_at(r, i);
        if (it->state != RETX_TO_SEND) continue;
        if (retx_should_abandon(it, now)) {
            retx_abandon(r, it->msg);
            retx_set_state(r, it, RETX_ABANDONED);
            continue;
        }
        if (!ignore_cwnd && r->flight >= r->cwnd) break;
        if (it->wire > sluice_wr_left(w)) break;
        uint32_t tsn = r->cum_ack + 1 + (uint32_t)i;
        retx_write_item(r, it, tsn, w, false);
        /* §7.2.4 (4): resending the first outstanding chunk restarts T3-rtx, so the
         * retransmission gets a whole RTO before the timer gives up on it. */
        if (i == 0 && !r->t3_pending) retx_arm_t3(r, now);
        if (r->rtt_probe_active && r->rtt_probe_tsn == tsn) r->rtt_probe_active = false; /* Karn */
        retx_set_state(r, it, RETX_IN_FLIGHT);
        it->rtx_count++;
        it->retransmitted = true;
        it->sent_at = now;
        it->sent_next = r->next_tsn;
        it->nacks = 0;
        r->rwnd = r->rwnd > it->wire ? r->rwnd - it->wire : 0;
        r->stats.retransmissions++;
        n++;
    }
    if (r->n_to_send > 0) r->rtx_hint = r->cum_ack + 1 + (uint32_t)(i < r->count ? i : 0);
    retx_sweep(r);
    if (n > 0) r->fast_rtx_pending = false;
    if (r->t3_pending && n > 0) {
        r->t3_pending = false;
        r->hold = true;
        goto out;
    }

    /* New data only when nothing waits for retransmission. */
    while (r->n_to_send == 0 && retx_window_open(r)) {
        if (r->count >= r->s.max_outstanding) break;
        /* A receiver that never moves its cum ack but gap-acks everything else would make us
         * keep all we send (gap-acked data may be reneged): stop at the retention cap. */
        if (r->s.max_retained_bytes && r->retained >= r->s.max_retained_bytes) break;
        size_t left = sluice_wr_left(w);
        if (left < hdr + 4) break;
        size_t max_payload = (left - hdr) & ~(size_t)3;
        if (r->flight > 0 && r->rwnd < max_payload + hdr) {
            /* Cut the chunk to the peer's window, but not into slivers: below 512 bytes of
             * room wait for the SACK that opens it (silly window avoidance). */
            if (r->rwnd < hdr + 512) break;
            max_payload = r->rwnd - hdr;
        }
        if (max_payload > 65535 - hdr) max_payload = (65535 - hdr) & ~(size_t)3;
        if (r->count == r->cap && (r->cap >= r->s.max_outstanding || retx_grow(r) < 0)) break;
        sluice_sctp_tx_chunk c;
        if (sluice_sctp_tx_produce(r->tx, now, max_payload, &c) != 1) break;
        retx_item *it = retx_at(r, r->count);
        memset(it, 0, sizeof *it);
        it->msg = c.msg;
        it->offset = c.offset;
        it->len = c.len;
        it->fsn = c.fsn;
        it->beginning = c.beginning;
        it->ending = c.ending;
        it->wire = (uint32_t)sluice_sctp_data_wire_len(r->s.idata, c.len);
        r->retained += it->wire;
        it->sent_at = now;
        it->sent_next = r->next_tsn + 1;
        it->state = RETX_TO_SEND; /* set_state below moves it into flight */
        r->n_to_send++;
        retx_set_state(r, it, RETX_IN_FLIGHT);
        r->count++;
        if (!r->rtt_probe_active) {
            r->rtt_probe_active = true;
            r->rtt_probe_tsn = r->next_tsn;
        }
        r->rwnd = r->rwnd > it->wire ? r->rwnd - it->wire : 0;
        /* RFC 7053: ask for an immediate SACK when we will have to wait for one anyway (the
         * end of what is queued, or the windows are full), rather than let the peer's
         * delayed-ack timer hold us up. */
        bool last = !sluice_sctp_tx_has_data(r->tx) || r->flight >= retx_new_data_window(r) || r->rwnd == 0;
        retx_write_item(r, it, r->next_tsn++, w, last);
        n++;
    }
    /* Count the SACKs after which Max.Burst, not cwnd or the peer's window, stopped us. */
    if (!r->burst_counted && r->n_to_send == 0 && r->flight >= r->burst_cap && r->flight < r->cwnd &&
        r->rwnd >= hdr + 512 && sluice_sctp_tx_has_data(r->tx)) {
        r->burst_counted = true;
        r->stats.burst_limited++;
    }
out:
    if (n > 0) r->last_send = now;
    /* §6.3.2 R1: start T3-rtx when sending and it is not running. */
    if (n > 0 && r->t3 == SLUICE_TIME_NEVER) retx_arm_t3(r, now);
    return n;
}

static void retx_sort_gaps(sluice_sctp_gap *g, size_t n) {
    for (size_t i = 1; i < n; i++) {
        sluice_sctp_gap x = g[i];
        size_t j = i;
        while (j > 0 && g[j - 1].start > x.start) {
            g[j] = g[j - 1];
            j--;
        }
        g[j] = x;
    }
}

int sluice_sctp_retx_handle_sack(sluice_sctp_retx *r, sluice_time now, const sluice_sctp_sack *sack) {
    uint32_t cum = sack->cum_tsn;
    /* Offsets from our cum ack, checked against what is outstanding (count TSNs), so no
     * serial-number corner (exactly 2^31 apart) can slip through. */
    uint32_t adv = (uint32_t)(cum - r->cum_ack);
    if (adv > r->count) {
        /* §6.2.1 D i: an older SACK (reordered) is ignored. */
        if (sluice_sn32_lt(cum, r->cum_ack)) return 0;
        r->stats.bad_sacks++;
        return SLUICE_ERR_MALFORMED; /* acks TSNs never sent */
    }
    /* Validate and collect gap blocks first, so a bad SACK changes nothing. */
    size_t ng = 0;
    uint32_t max_end = 0;
    for (size_t i = 0; i < sack->num_gaps; i++) {
        sluice_sctp_gap g = sluice_sctp_sack_gap(sack, i);
        if (g.start == 0 || g.start > g.end) continue; /* meaningless block: ignore it */
        if ((uint64_t)adv + g.end > r->count) {
            r->stats.bad_sacks++;
            return SLUICE_ERR_MALFORMED;
        }
        if (ng < RETX_MAX_GAPS) {
            r->gaps[ng++] = g;
            if (g.end > max_end) max_end = g.end;
        }
    }
    retx_sort_gaps(r->gaps, ng);

    r->hold = false;
    r->t3_pending = false;
    uint32_t flight_before = r->flight;
    uint64_t newly_acked = 0;
    bool have_htna = false, cum_advanced = false, any_new = false;
    uint32_t htna = 0;
    sluice_time rtt_from = SLUICE_TIME_NEVER;

    /* Cumulative ack: release everything up to `cum`. */
    for (uint32_t k = 0; k < adv; k++) {
        retx_item *it = retx_at(r, 0);
        uint32_t tsn = r->cum_ack + 1;
        if (it->state == RETX_IN_FLIGHT || it->state == RETX_TO_SEND) {
            newly_acked += it->wire;
            htna = tsn;
            have_htna = true;
        }
        if (r->rtt_probe_active && tsn == r->rtt_probe_tsn) {
            r->rtt_probe_active = false;
            if (!it->retransmitted && it->state != RETX_ACKED) rtt_from = it->sent_at;
        }
        retx_set_state(r, it, RETX_ACKED);
        sluice_sctp_msg_unref(r->alloc, it->msg);
        r->head = (r->head + 1) & (r->cap - 1);
        r->count--;
        r->retained -= it->wire;
        r->cum_ack = tsn;
    }
    if (adv > 0) {
        cum_advanced = true;
        any_new = true;
    }

    /* Gap blocks, merged in order; each covers TSNs cum + start .. cum + end. Sorted, and
     * each block clipped to what the previous ones did not cover, so overlapping blocks
     * from a hostile peer cost no more than the outstanding chunks they span. */
    uint32_t epoch = ++r->sack_epoch;
    uint32_t covered = 0; /* offsets 1 .. covered already walked */
    for (size_t b = 0; b < ng; b++) {
        uint32_t from = SLUICE_MAX((uint32_t)r->gaps[b].start, covered + 1);
        if (r->gaps[b].end > covered) covered = r->gaps[b].end;
        for (uint32_t off = from; off <= r->gaps[b].end; off++) {
            size_t idx = off - 1;
            if (idx >= r->count) break;
            retx_item *it = retx_at(r, idx);
            if (it->sack_epoch == epoch) continue; /* overlapping blocks */
            it->sack_epoch = epoch;
            if (it->state == RETX_IN_FLIGHT || it->state == RETX_TO_SEND) {
                newly_acked += it->wire;
                uint32_t tsn = cum + off;
                if (!have_htna || sluice_sn32_gt(tsn, htna)) htna = tsn;
                have_htna = true;
                any_new = true;
                if (r->rtt_probe_active && tsn == r->rtt_probe_tsn) {
                    r->rtt_probe_active = false;
                    if (!it->retransmitted) rtt_from = it->sent_at;
                }
                retx_set_state(r, it, RETX_ACKED);
            }
            if (off == 0xffff) break;
        }
    }

    /* Miss indications (§7.2.4, HTNA). Gap-acked chunks stay acked even when a later
     * SACK omits them (a reordered SACK looks the same as a renege); a real renege is
     * recovered by T3-rtx, which resends the chunk at the cum ack point. */
    bool marked = false;
    size_t span = SLUICE_MIN((size_t)max_end, r->count);
    for (size_t idx = 0; idx < span; idx++) {
        retx_item *it = retx_at(r, idx);
        if (it->sack_epoch == epoch || it->state != RETX_IN_FLIGHT) continue;
        uint32_t tsn = r->cum_ack + 1 + (uint32_t)idx;
        bool count_it = have_htna && (sluice_sn32_lt(tsn, htna) || (r->in_fast_recovery && cum_advanced));
        /* A retransmission is only missing once something sent after it arrived: SACKs
         * that left before it could reach the peer (newly acking original transmissions
         * above it, e.g. after a T3 or a truncated SACK) say nothing about it. Without this
         * each such SACK is a false miss indication, and the spurious fast retransmit
         * halves cwnd a second time (RFC 9260 §7.2.4 HTNA, applied per transmission). */
        if (count_it && it->retransmitted && !sluice_sn32_ge(htna, it->sent_next)) count_it = false;
        if (!count_it) continue;
        if (it->nacks < 255) it->nacks++;
        /* Three miss indications mark it again even when it was fast-retransmitted before
         * (as usrsctp does; RFC 9260 §7.2.4 (5) would leave a lost fast retransmission to
         * T3-rtx, a whole RTO of silence plus cwnd = 1 MTU). The indications counted above
         * come only from TSNs sent after that retransmission, so they prove it lost as
         * firmly as the first three proved the original lost; within fast recovery cwnd
         * is not cut again (§7.2.4 (2)). */
        if (it->nacks >= 3) {
            retx_mark_to_send(r, idx);
            r->stats.fast_retransmits++;
            marked = true;
        }
    }

    if (rtt_from != SLUICE_TIME_NEVER && now >= rtt_from) retx_rtt_sample(r, now - rtt_from);

    /* §7.2.3 / §7.2.4: exit fast recovery once the cum ack reaches its exit point. */
    if (r->in_fast_recovery && sluice_sn32_ge(r->cum_ack, r->fast_recovery_exit)) r->in_fast_recovery = false;

    /* Congestion window growth (§7.2.1, §7.2.2); none during fast recovery. */
    bool fully_used = (uint64_t)flight_before + r->s.mtu >= r->cwnd;
    if (!r->in_fast_recovery && newly_acked > 0) {
        if (r->cwnd <= r->ssthresh) {
            if (cum_advanced && fully_used)
                r->cwnd += (uint32_t)SLUICE_MIN(newly_acked, (uint64_t)r->s.mtu);
        } else {
            r->pba += (uint32_t)SLUICE_MIN(newly_acked, (uint64_t)UINT32_MAX - r->pba);
            if (r->pba >= r->cwnd && fully_used) {
                r->pba -= r->cwnd;
                r->cwnd += (uint32_t)r->s.mtu;
            }
        }
    }
    if (r->flight == 0) r->pba = 0;

    if (marked) {
        if (!r->in_fast_recovery) {
            /* §7.2.4 (2): enter fast recovery once per window of data. */
            r->ssthresh = (uint32_t)SLUICE_MAX((size_t)r->cwnd / 2, 4 * r->s.mtu);
            r->cwnd = r->ssthresh;
            r->pba = 0;
            r->in_fast_recovery = true;
            r->fast_recovery_exit = r->next_tsn - 1;
        }
        r->fast_rtx_pending = true;
    }

    /* §6.2.1 E: peer's window minus what is still in flight. */
    uint32_t rwnd_before = r->rwnd;
    r->rwnd = sack->a_rwnd > r->flight ? sack->a_rwnd - r->flight : 0;

    /* RFC 9260 §6.1 D, Max.Burst, as a temporary cwnd (never lowering cwnd itself), where
     * a SACK could otherwise release a burst: when it ends a stall. Either the peer's window
     * was shut (a slow reader, or a window-bound transfer) and this SACK opens it, or no
     * SACK came for half an RTO while data was out (lost SACKs, a stalled peer: the bound
     * is then taken from what is still in flight, so the one SACK that finally acknowledges
     * everything cannot release a whole window at once). From then on each SACK lets the
     * flight grow at most Max.Burst packets above where it stood before that SACK, until
     * the flight is back at cwnd (or nothing waits to be sent). A SACK in normal flow, even
     * a stretch one acknowledging a batch of packets, only lets the window refill (no cap),
     * and neither does data the application queues later (the idle decay of §7.2.1 bounds
     * that). A T3-rtx lifts the cap (cwnd is one packet then). */
    if (r->s.max_burst) {
        size_t hdr = r->s.idata ? SLUICE_SCTP_IDATA_HEADER_LEN : SLUICE_SCTP_DATA_HEADER_LEN;
        bool stall = flight_before > 0 && r->last_sack != SLUICE_TIME_NEVER && now > r->last_sack &&
                     now - r->last_sack >= r->rto / 2;
        if (stall || rwnd_before < hdr + 512) r->burst_mode = true;
        if (!sluice_sctp_tx_has_data(r->tx)) r->burst_mode = false; /* no burst waiting */
        uint64_t cap = UINT64_MAX;
        if (r->burst_mode)
            cap = (uint64_t)(stall ? r->flight : flight_before) + (uint64_t)r->s.max_burst * r->s.mtu;
        if (cap >= r->cwnd) r->burst_mode = false;
        r->burst_cap = cap >= r->cwnd ? UINT32_MAX : (uint32_t)cap;
        r->burst_counted = false;
    }
    r->last_sack = now;

    /* §6.3.2 R2/R3: timer follows the cum ack. */
    if (!retx_needs_t3(r)) r->t3 = SLUICE_TIME_NEVER;
    else if (cum_advanced || r->t3 == SLUICE_TIME_NEVER) retx_arm_t3(r, now);

    /* RFC 3758 §3.5 C1-C3: keep pushing the advanced peer ack point. */
    retx_advance_adv_ack(r);
    return any_new ? 1 : 0;
}

int sluice_sctp_retx_handle_timeout(sluice_sctp_retx *r, sluice_time now) {
    if (r->t3 == SLUICE_TIME_NEVER || now < r->t3) return 0;
    r->t3 = SLUICE_TIME_NEVER;
    r->stats.t3_expirations++;
    /* §6.3.3 E1-E3. */
    r->ssthresh = (uint32_t)SLUICE_MAX((size_t)r->cwnd / 2, 4 * r->s.mtu);
    r->cwnd = (uint32_t)r->s.mtu;
    r->pba = 0;
    r->rto = SLUICE_MIN(r->rto * 2, (uint64_t)r->s.rto_max_ms * 1000u);
    r->in_fast_recovery = false;
    r->fast_rtx_pending = false;
    r->rtt_probe_active = false;
    r->hold = false;
    r->burst_cap = UINT32_MAX; /* cwnd is one MTU now */
    r->burst_mode = false;
    for (size_t i = 0; i < r->count; i++) {
        retx_item *it = retx_at(r, i);
        if (it->state == RETX_IN_FLIGHT) retx_mark_to_send(r, i);
    }
    /* A gap-acked chunk at the cum ack point that the peer still lacks was reneged
     * (RFC 9260 §6.2.1): send it again. */
    if (r->count > 0 && retx_at(r, 0)->state == RETX_ACKED) retx_mark_to_send(r, 0);
    /* Abandon now what may not be retransmitted, so the FORWARD-TSN goes with it. */
    for (size_t i = 0; i < r->count; i++) {
        retx_item *it = retx_at(r, i);
        if (it->state == RETX_TO_SEND && retx_should_abandon(it, now)) retx_abandon(r, it->msg);
    }
    retx_sweep(r);
    r->t3_pending = r->n_to_send > 0;
    if (sluice_sn32_gt(r->adv_ack, r->cum_ack)) r->fwd_pending = true; /* RFC 3758 §3.5 C4 */
    /* Rearmed when the retransmission goes out; re-armed here when only a FORWARD-TSN does. */
    if (r->n_to_send == 0 && retx_needs_t3(r)) retx_arm_t3(r, now);
    return 1;
}

int sluice_sctp_retx_write_fwd_tsn(sluice_sctp_retx *r, sluice_time now, sluice_wr *w) {
    if (!sluice_sn32_gt(r->adv_ack, r->cum_ack)) {
        r->fwd_pending = false;
        return SLUICE_OK;
    }
    size_t esz = r->s.idata ? 8 : 4;
    size_t left = w->err ? 0 : sluice_wr_left(w);
    if (left < 8) return SLUICE_ERR_NOBUFS;
    size_t limit = SLUICE_MIN((size_t)RETX_MAX_SKIPS, (left - 8) / esz);
    size_t ns = 0;
    uint32_t upto = (uint32_t)(r->adv_ack - r->cum_ack);
    uint32_t new_cum = r->cum_ack;
    for (uint32_t i = 0; i < upto; i++) {
        const retx_item *it = retx_at(r, i);
        const sluice_sctp_msg *m = it->msg;
        if (it->state == RETX_ABANDONED && (r->s.idata || !m->unordered)) {
            size_t k = 0;
            while (k < ns && !(r->skips[k].stream == m->stream && r->skips[k].unordered == m->unordered)) k++;
            if (k == ns) {
                if (ns == limit) break; /* stop here: a later FORWARD-TSN covers the rest */
                r->skips[ns].stream = m->stream;
                r->skips[ns].unordered = m->unordered;
                r->skips[ns].mid = m->mid;
                ns++;
            } else if (r->s.idata ? sluice_sn32_gt(m->mid, r->skips[k].mid)
                                  : sluice_sn16_gt((uint16_t)m->mid, (uint16_t)r->skips[k].mid)) {
                r->skips[k].mid = m->mid;
            }
        }
        new_cum = r->cum_ack + 1 + i;
    }
    if (new_cum == r->cum_ack) return SLUICE_ERR_NOBUFS;
    int rc = sluice_sctp_fwd_write(w, r->s.idata, new_cum, r->skips, ns);
    if (rc < 0) return rc;
    r->fwd_pending = false;
    if (r->t3 == SLUICE_TIME_NEVER) retx_arm_t3(r, now);
    return SLUICE_OK;
}

void sluice_sctp_retx_get_stats(const sluice_sctp_retx *r, sluice_sctp_retx_stats *out) {
    *out = r->stats;
    out->srtt_us = (uint32_t)SLUICE_MIN(r->srtt, (uint64_t)UINT32_MAX);
    out->rttvar_us = (uint32_t)SLUICE_MIN(r->rttvar, (uint64_t)UINT32_MAX);
    out->rto_ms = (uint32_t)(r->rto / 1000u);
    out->cwnd = r->cwnd;
    out->ssthresh = r->ssthresh;
    out->peer_rwnd = r->rwnd;
    out->bytes_in_flight = r->flight;
}
