/* SCTP receive-side TSN tracker and SACK generation. See rx.h. */
#include "sctp/rx.h"
#include "sctp/serial.h"

typedef struct rx_range {
    uint32_t start, end; /* received TSNs start..end, all above cum + 1 */
} rx_range;

struct sluice_sctp_rx {
    const sluice_allocator *alloc;
    sluice_sctp_rx_settings s;
    uint32_t cum;
    rx_range *ranges;  /* sorted, disjoint, non-adjacent */
    size_t nranges;
    size_t cap;        /* ranges (and scratch) allocated: grows up to max_gap_blocks */
    uint32_t *dups;
    size_t ndups;
    sluice_sctp_gap *scratch; /* gap blocks being written */
    bool sack_due;
    bool immediate;      /* current packet wants an immediate SACK */
    bool data_in_packet;
    bool had_gaps;       /* gap state before the current packet */
    uint32_t packets;    /* packets with DATA since the last SACK */
    sluice_time delayed; /* delayed-ack deadline */
    sluice_sctp_rx_stats stats;
};

void sluice_sctp_rx_settings_default(sluice_sctp_rx_settings *s) {
    memset(s, 0, sizeof *s);
    s->delayed_ack_ms = 200;
    s->max_gap_blocks = 128;
    s->max_dups = 32;
    s->max_tsn_ahead = 65535;
    s->max_fwd_tsn_ahead = 1u << 24;
}

int sluice_sctp_rx_new(sluice_sctp_rx **out, const sluice_sctp_rx_settings *s, const sluice_allocator *alloc,
                       uint32_t peer_initial_tsn) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_sctp_rx_settings d;
    if (!s) {
        sluice_sctp_rx_settings_default(&d);
        s = &d;
    }
    if (s->max_gap_blocks == 0 || s->max_gap_blocks > 65535 || s->max_dups > 65535 || s->max_tsn_ahead == 0 ||
        s->max_fwd_tsn_ahead >= 0x80000000u)
        return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_sctp_rx *rx = sluice_mem_calloc(alloc, 1, sizeof *rx);
    if (!rx) return SLUICE_ERR_NOMEM;
    rx->alloc = alloc;
    rx->s = *s;
    /* Gap block offsets are 16 bit (RFC 9260 §3.3.4). */
    if (rx->s.max_tsn_ahead > 65535) rx->s.max_tsn_ahead = 65535;
    /* Sized on demand: a clean path never needs more than a few ranges. */
    rx->cap = SLUICE_MIN(s->max_gap_blocks, (size_t)16);
    rx->ranges = sluice_mem_alloc(alloc, rx->cap * sizeof *rx->ranges);
    rx->scratch = sluice_mem_alloc(alloc, rx->cap * sizeof *rx->scratch);
    rx->dups = s->max_dups ? sluice_mem_alloc(alloc, s->max_dups * sizeof *rx->dups) : NULL;
    if (!rx->ranges || !rx->scratch || (s->max_dups && !rx->dups)) {
        sluice_sctp_rx_free(rx);
        return SLUICE_ERR_NOMEM;
    }
    rx->cum = peer_initial_tsn - 1;
    rx->delayed = SLUICE_TIME_NEVER;
    *out = rx;
    return SLUICE_OK;
}

void sluice_sctp_rx_free(sluice_sctp_rx *rx) {
    if (!rx) return;
    sluice_mem_free(rx->alloc, rx->ranges);
    sluice_mem_free(rx->alloc, rx->scratch);
    sluice_mem_free(rx->alloc, rx->dups);
    sluice_mem_free(rx->alloc, rx);
}

/* Offset of `tsn` above the cum ack (valid for tsn within 2^31 ahead). */
static uint32_t rx_off(const sluice_sctp_rx *rx, uint32_t tsn) { return tsn - rx->cum; }

/* Index of the first range whose end offset >= off. */
static size_t rx_lower(const sluice_sctp_rx *rx, uint32_t off) {
    size_t lo = 0, hi = rx->nranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rx_off(rx, rx->ranges[mid].end) < off) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int sluice_sctp_rx_check(const sluice_sctp_rx *rx, uint32_t tsn) {
    if (sluice_sn32_le(tsn, rx->cum)) return SLUICE_SCTP_RX_DUPLICATE;
    uint32_t off = rx_off(rx, tsn);
    if (off > rx->s.max_tsn_ahead) return SLUICE_ERR_BUFFER_FULL;
    size_t i = rx_lower(rx, off);
    if (i < rx->nranges && rx_off(rx, rx->ranges[i].start) <= off) return SLUICE_SCTP_RX_DUPLICATE;
    if (off == 1) return SLUICE_SCTP_RX_NEW_NEXT;
    /* A new range is needed unless it touches a neighbour. */
    bool touches = (i < rx->nranges && rx_off(rx, rx->ranges[i].start) == off + 1) ||
                   (i > 0 && rx_off(rx, rx->ranges[i - 1].end) + 1 == off);
    if (!touches && rx->nranges == rx->cap) return SLUICE_ERR_BUFFER_FULL;
    return SLUICE_SCTP_RX_NEW;
}

/* Double the range arrays, up to max_gap_blocks. */
static int rx_grow(sluice_sctp_rx *rx) {
    if (rx->cap >= rx->s.max_gap_blocks) return SLUICE_ERR_BUFFER_FULL;
    size_t ncap = SLUICE_MIN(rx->cap * 2, rx->s.max_gap_blocks);
    rx_range *r = sluice_mem_realloc(rx->alloc, rx->ranges, ncap * sizeof *r);
    if (!r) return SLUICE_ERR_NOMEM;
    rx->ranges = r;
    sluice_sctp_gap *g = sluice_mem_realloc(rx->alloc, rx->scratch, ncap * sizeof *g);
    if (!g) return SLUICE_ERR_NOMEM; /* ranges grew, scratch did not: cap stays */
    rx->scratch = g;
    rx->cap = ncap;
    return SLUICE_OK;
}

/* Cum ack reached the first range: swallow it. */
static void rx_absorb(sluice_sctp_rx *rx) {
    size_t drop = 0;
    while (drop < rx->nranges && sluice_sn32_le(rx->ranges[drop].start, rx->cum + 1)) {
        if (sluice_sn32_gt(rx->ranges[drop].end, rx->cum)) rx->cum = rx->ranges[drop].end;
        drop++;
    }
    if (drop) {
        memmove(rx->ranges, rx->ranges + drop, (rx->nranges - drop) * sizeof *rx->ranges);
        rx->nranges -= drop;
    }
}

int sluice_sctp_rx_on_data(sluice_sctp_rx *rx, sluice_time now, uint32_t tsn, bool immediate) {
    (void)now;
    int c = sluice_sctp_rx_check(rx, tsn);
    if (c < 0) {
        rx->stats.dropped_too_far++;
        return c;
    }
    rx->data_in_packet = true;
    /* RFC 7053: the sender asks for an immediate SACK. */
    if (immediate) rx->immediate = true;
    if (c == SLUICE_SCTP_RX_DUPLICATE) {
        /* RFC 9260 §6.2: report duplicates, and SACK immediately. */
        rx->stats.duplicates++;
        if (rx->ndups < rx->s.max_dups) rx->dups[rx->ndups++] = tsn;
        rx->immediate = true;
        return c;
    }
    rx->stats.data_chunks++;
    if (c == SLUICE_SCTP_RX_NEW_NEXT) {
        rx->cum = tsn;
        rx_absorb(rx);
        return c;
    }
    uint32_t off = rx_off(rx, tsn);
    size_t i = rx_lower(rx, off);
    bool join_next = i < rx->nranges && rx_off(rx, rx->ranges[i].start) == off + 1;
    bool join_prev = i > 0 && rx_off(rx, rx->ranges[i - 1].end) + 1 == off;
    if (join_prev && join_next) {
        rx->ranges[i - 1].end = rx->ranges[i].end;
        memmove(rx->ranges + i, rx->ranges + i + 1, (rx->nranges - i - 1) * sizeof *rx->ranges);
        rx->nranges--;
    } else if (join_prev) {
        rx->ranges[i - 1].end = tsn;
    } else if (join_next) {
        rx->ranges[i].start = tsn;
    } else {
        memmove(rx->ranges + i + 1, rx->ranges + i, (rx->nranges - i) * sizeof *rx->ranges);
        rx->ranges[i].start = rx->ranges[i].end = tsn;
        rx->nranges++;
        /* Keep one free slot ahead, so that check() (const, called before the chunk is
         * stored) is exact. Out of memory just leaves the cap: later chunks needing a new
         * range are refused, and the peer retransmits them. */
        if (rx->nranges == rx->cap) (void)rx_grow(rx);
    }
    return c;
}

void sluice_sctp_rx_on_packet_end(sluice_sctp_rx *rx, sluice_time now) {
    if (!rx->data_in_packet) return;
    rx->data_in_packet = false;
    rx->packets++;
    bool gaps = rx->nranges > 0;
    /* RFC 9260 §6.7: SACK at once while there are gaps, and when they are just filled. */
    if (rx->immediate || gaps || rx->had_gaps || rx->packets >= 2) {
        rx->sack_due = true;
    } else if (rx->delayed == SLUICE_TIME_NEVER) {
        /* §6.2: no later than delayed_ack_ms after the first unacknowledged DATA. */
        rx->delayed = now + (sluice_time)rx->s.delayed_ack_ms * 1000u;
    }
    rx->immediate = false;
    rx->had_gaps = gaps;
}

void sluice_sctp_rx_force_sack(sluice_sctp_rx *rx) { rx->sack_due = true; }
bool sluice_sctp_rx_sack_due(const sluice_sctp_rx *rx) { return rx->sack_due; }
bool sluice_sctp_rx_has_unacked(const sluice_sctp_rx *rx) {
    return rx->sack_due || rx->delayed != SLUICE_TIME_NEVER || rx->data_in_packet;
}

int sluice_sctp_rx_write_sack(sluice_sctp_rx *rx, sluice_time now, sluice_wr *w, uint32_t a_rwnd) {
    (void)now;
    size_t left = w->err ? 0 : sluice_wr_left(w);
    if (left < 16) return SLUICE_ERR_NOBUFS;
    size_t room = (left - 16) / 4;
    size_t ng = SLUICE_MIN(rx->nranges, room);
    size_t nd = SLUICE_MIN(rx->ndups, room - ng);
    for (size_t i = 0; i < ng; i++) {
        rx->scratch[i].start = (uint16_t)rx_off(rx, rx->ranges[i].start);
        rx->scratch[i].end = (uint16_t)rx_off(rx, rx->ranges[i].end);
    }
    int rc = sluice_sctp_sack_write(w, rx->cum, a_rwnd, rx->scratch, ng, rx->dups, nd);
    if (rc < 0) return rc;
    rx->sack_due = false;
    rx->delayed = SLUICE_TIME_NEVER;
    rx->packets = 0;
    rx->ndups = 0;
    rx->stats.sacks_sent++;
    return SLUICE_OK;
}

sluice_time sluice_sctp_rx_next_deadline(const sluice_sctp_rx *rx) { return rx->delayed; }

void sluice_sctp_rx_handle_timeout(sluice_sctp_rx *rx, sluice_time now) {
    if (rx->delayed != SLUICE_TIME_NEVER && now >= rx->delayed) {
        rx->delayed = SLUICE_TIME_NEVER;
        rx->sack_due = true;
    }
}

int sluice_sctp_rx_handle_forward_tsn(sluice_sctp_rx *rx, sluice_time now, uint32_t new_cum_tsn) {
    (void)now;
    if (sluice_sn32_le(new_cum_tsn, rx->cum)) {
        /* RFC 3758 §3.6: a stale FORWARD-TSN still gets a SACK (ours may have been lost). */
        rx->sack_due = true;
        return 0;
    }
    if (rx_off(rx, new_cum_tsn) > rx->s.max_fwd_tsn_ahead) return SLUICE_ERR_MALFORMED;
    rx->cum = new_cum_tsn;
    size_t drop = 0;
    while (drop < rx->nranges && sluice_sn32_le(rx->ranges[drop].end, rx->cum)) drop++;
    memmove(rx->ranges, rx->ranges + drop, (rx->nranges - drop) * sizeof *rx->ranges);
    rx->nranges -= drop;
    rx_absorb(rx);
    rx->sack_due = true;
    return 1;
}

uint32_t sluice_sctp_rx_cum_tsn(const sluice_sctp_rx *rx) { return rx->cum; }
bool sluice_sctp_rx_has_gaps(const sluice_sctp_rx *rx) { return rx->nranges > 0; }

void sluice_sctp_rx_get_stats(const sluice_sctp_rx *rx, sluice_sctp_rx_stats *out) { *out = rx->stats; }
