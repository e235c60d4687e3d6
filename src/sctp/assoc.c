/* Association state machine (RFC 9260 §5 initiation, §8.4 out-of-the-blue packets, §8.5
 * verification tags, §9 shutdown and abort), control timers T1-init, T1-cookie,
 * T2-shutdown and heartbeat. */
#include "sctp/assoc.h"

#include "sctp/serial.h"

#include <stdio.h>

#define MODULE "sctp"

static uint32_t rand_tag(const sluice_rng *rng) {
    /* §5.3.1: the Initiate Tag is random and never 0. */
    uint32_t t;
    do t = sluice_rng_u32(rng);
    while (t == 0);
    return t;
}

static uint64_t rto_initial_us(const sluice_sctp *a) { return (uint64_t)a->s.rto_initial_ms * 1000u; }
static uint64_t rto_max_us(const sluice_sctp *a) { return (uint64_t)a->s.rto_max_ms * 1000u; }

static void ctrl_timer_start(sluice_sctp *a, sluice_time now, uint64_t rto) {
    a->t_ctrl_rto = rto;
    a->t_ctrl_count = 0;
    a->t_ctrl = now + rto;
}

/* §9.2: T5-shutdown-guard bounds the whole shutdown sequence from the first SHUTDOWN (or
 * SHUTDOWN-ACK): T2 alone never ends it while the peer keeps the association alive
 * (answering heartbeats resets the error counter) without completing the shutdown, or while
 * it keeps sending DATA (each restarts T2). The RFC suggests 5 x RTO.Max; we take at least
 * (Association.Max.Retrans + 1) x RTO.Max, so that on a lossy path the guard never cuts a
 * shutdown shorter than the T2 retransmissions themselves may take. */
static void t5_start(sluice_sctp *a, sluice_time now) {
    uint64_t n = SLUICE_MAX((uint64_t)5, (uint64_t)a->s.max_assoc_retransmits + 1);
    a->t5 = now + n * rto_max_us(a);
}
static bool t5_running(const sluice_sctp *a) {
    return a->state == SLUICE_SCTP_SHUTDOWN_SENT || a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT;
}

static uint64_t current_rto(const sluice_sctp *a) {
    return a->retx ? sluice_sctp_retx_rto_us(a->retx) : rto_initial_us(a);
}

static sluice_sctp_features our_features(const sluice_sctp *a) {
    sluice_sctp_features f;
    memset(&f, 0, sizeof f);
    f.reconfig = true;
    f.forward_tsn = true;
    f.idata = a->s.enable_idata;
    /* RFC 9653: only announce when configured; old pion refuses INITs carrying 0x8001. */
    f.zero_checksum = a->s.zero_checksum;
    return f;
}

/* ---- active open -------------------------------------------------------------------- */

int sluice_sctp_assoc_connect(sluice_sctp *a, sluice_time now) {
    if (a->state != SLUICE_SCTP_CLOSED || a->terminated) return SLUICE_ERR_INVALID_STATE;
    a->connect_called = true;
    a->my_tag = rand_tag(a->rng);
    a->my_tsn = sluice_rng_u32(a->rng);
    a->peer_tag = 0;
    a->state = SLUICE_SCTP_COOKIE_WAIT;
    a->send_init = true;
    ctrl_timer_start(a, now, rto_initial_us(a));
    return SLUICE_OK;
}

static size_t write_init_packet(sluice_sctp *a, uint8_t *buf, size_t cap, uint32_t vtag, uint8_t type,
                                uint32_t tag, uint32_t tsn, const uint8_t *cookie, size_t cookie_len,
                                const sluice_sctp_init *peer) {
    sluice_sctp_init in;
    memset(&in, 0, sizeof in);
    in.init_tag = tag;
    in.a_rwnd = a->s.rwnd;
    in.os = in.mis = a->s.num_streams;
    in.initial_tsn = tsn;
    in.feat = our_features(a);
    in.cookie = cookie;
    in.cookie_len = cookie_len;
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, cap, a->s.local_port, a->s.remote_port, vtag);
    /* §3.3.3: report unrecognized INIT parameters, as many as fit in one packet. */
    if (peer) {
        for (size_t i = 0; i < peer->n_unrec; i++) {
            sluice_sctp_init t = in;
            t.n_unrec = in.n_unrec + 1;
            t.unrec[in.n_unrec] = peer->unrec[i];
            t.unrec_len[in.n_unrec] = peer->unrec_len[i];
            if (SLUICE_SCTP_HEADER_LEN + 4 + sluice_sctp_init_size(&t) > cap) break;
            in = t;
        }
    }
    size_t vl = sluice_sctp_init_size(&in);
    uint8_t *v = sluice_sctp_pkt_chunk_begin(&p, type, 0, vl);
    if (!v) return 0;
    sluice_wr w = sluice_wr_make(v, vl);
    if (sluice_sctp_init_write(&w, &in) < 0) return 0;
    return sluice_sctp_pkt_end(&p, false);
}

size_t sluice_sctp_assoc_handshake_packet(sluice_sctp *a, sluice_time now, uint8_t *buf, size_t cap) {
    (void)now;
    if (a->state == SLUICE_SCTP_COOKIE_WAIT && a->send_init) {
        a->send_init = false;
        /* §8.5.1: an INIT carries verification tag 0. */
        return write_init_packet(a, buf, SLUICE_MIN(cap, a->s.mtu), 0, SLUICE_SCTP_CHUNK_INIT, a->my_tag,
                                 a->my_tsn, NULL, 0, NULL);
    }
    if (a->state == SLUICE_SCTP_COOKIE_ECHOED && a->send_cookie_echo && a->cookie_echo) {
        /* The peer's cookie is what it is: when it does not fit our mtu, the packet may
         * exceed it (up to the caller's buffer) rather than never finish the handshake. */
        if (cap < SLUICE_SCTP_HEADER_LEN + 4 + sluice_sctp_pad4(a->cookie_echo_len)) return 0;
        sluice_sctp_pkt p;
        sluice_sctp_pkt_begin(&p, buf, cap, a->s.local_port, a->s.remote_port, a->peer_tag);
        if (sluice_sctp_pkt_chunk(&p, SLUICE_SCTP_CHUNK_COOKIE_ECHO, 0, a->cookie_echo, a->cookie_echo_len) < 0)
            return 0;
        a->send_cookie_echo = false;
        /* §3.2.1: unrecognized INIT-ACK parameters are reported in an ERROR bundled with
         * the COOKIE-ECHO (which must come first, §6.10). */
        if (a->err_len && sluice_wr_len(&p.w) + 4 + a->err_len <= a->s.mtu &&
            sluice_sctp_pkt_chunk(&p, SLUICE_SCTP_CHUNK_ERROR, 0, a->err_causes, a->err_len) == 0)
            a->err_len = 0;
        return sluice_sctp_pkt_end(&p, false);
    }
    return 0;
}

/* ---- establishment -------------------------------------------------------------------- */

static void negotiate(sluice_sctp *a, uint16_t peer_os, uint16_t peer_mis) {
    /* RFC 8831 §6.2 / INTEROP: usable streams = min(our OS, peer MIS) and vice versa. */
    a->num_out = SLUICE_MIN(a->s.num_streams, peer_mis);
    a->num_in = SLUICE_MIN(a->s.num_streams, peer_os);
    a->idata = a->s.enable_idata && a->peer_feat.idata;
    a->zero_tx = a->s.zero_checksum && a->peer_feat.zero_checksum;
}

static void become_established(sluice_sctp *a, sluice_time now) {
    a->state = SLUICE_SCTP_ESTABLISHED;
    a->t_ctrl = SLUICE_TIME_NEVER;
    a->send_init = a->send_cookie_echo = false;
    a->error_count = 0;
    sluice_mem_free(a->alloc, a->cookie_echo);
    a->cookie_echo = NULL;
    a->cookie_echo_len = 0;
    if (sluice_sctp_datapath_start(a) < 0) {
        sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_OUT_OF_RESOURCE, NULL, SLUICE_ERR_NOMEM);
        return;
    }
    if (a->s.heartbeat_interval_ms)
        a->hb_deadline = now + (uint64_t)a->s.heartbeat_interval_ms * 1000u;
    SLUICE_LOG(a->log, SLUICE_LOG_INFO, MODULE, "established: %u out / %u in streams%s%s",
               (unsigned)a->num_out, (unsigned)a->num_in, a->idata ? ", I-DATA" : "",
               a->zero_tx ? ", zero checksum" : "");
    sluice_sctp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = SLUICE_SCTP_EVENT_CONNECTED;
    ev.num_outbound = a->num_out;
    ev.num_inbound = a->num_in;
    sluice_sctp_push_event(a, &ev, false);
    if (a->shutdown_requested) {
        a->state = SLUICE_SCTP_SHUTDOWN_PENDING;
        sluice_sctp_assoc_shutdown_progress(a, now);
    }
}

static void tcb_from_cookie(sluice_sctp *a, const sluice_sctp_cookie *ck) {
    a->my_tag = ck->local_tag;
    a->peer_tag = ck->peer_tag;
    a->my_tsn = ck->local_tsn;
    a->peer_tsn = ck->peer_tsn;
    a->peer_rwnd = ck->peer_rwnd;
    a->peer_feat = ck->peer_feat;
    negotiate(a, ck->peer_os, ck->peer_mis);
}

/* ---- abort / errors ------------------------------------------------------------------- */

void sluice_sctp_assoc_abort(sluice_sctp *a, sluice_time now, uint16_t cause, const char *text, int err) {
    (void)now;
    if (a->state == SLUICE_SCTP_CLOSED) return;
    size_t tl = text ? strlen(text) : 0;
    if (tl > 100) tl = 100;
    /* §9.1: ABORT to the peer (only when we know its tag), then drop everything. */
    if (a->peer_tag) {
        uint8_t v[112];
        sluice_wr w = sluice_wr_make(v, sizeof v);
        sluice_sctp_cause_write(&w, cause, (const uint8_t *)text, tl);
        sluice_sctp_send_single(a, a->peer_tag, SLUICE_SCTP_CHUNK_ABORT, 0, v, sluice_wr_len(&w));
    }
    char reason[128];
    snprintf(reason, sizeof reason, "%s: %s%s%.*s", err == SLUICE_ERR_ABORTED ? "local abort" : "aborted",
             sluice_sctp_cause_name(cause), tl ? ": " : "", (int)tl, text ? text : "");
    sluice_sctp_enter_closed(a, err, reason);
}

void sluice_sctp_assoc_count_error(sluice_sctp *a, sluice_time now, const char *what) {
    a->error_count++;
    SLUICE_LOG(a->log, SLUICE_LOG_DEBUG, MODULE, "%s timeout (%u errors)", what, (unsigned)a->error_count);
    /* §8.1: beyond Association.Max.Retrans the peer is unreachable. */
    if (a->error_count > a->s.max_assoc_retransmits) {
        char txt[64];
        snprintf(txt, sizeof txt, "peer unreachable (%s)", what);
        sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_USER_ABORT, txt, SLUICE_ERR_TIMEOUT);
    }
}

/* ---- INIT (passive side and collisions, §5.1, §5.2.1, §5.2.2) -------------------------- */

static void handle_init(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                        const sluice_sctp_chunk *c, size_t nchunks) {
    /* §6.10 / §8.5.1 A: INIT travels alone with verification tag 0. */
    if (h->vtag != 0 || nchunks != 1) {
        a->st.packets_dropped++;
        return;
    }
    sluice_sctp_init in;
    if (sluice_sctp_init_parse(&in, c->value, c->value_len) < 0) {
        /* §3.3.2: invalid mandatory parameter; answer only when the tag is usable. */
        a->st.packets_dropped++;
        if (c->value_len >= 4 && sluice_load_be32(c->value) != 0) {
            uint8_t v[4];
            sluice_wr w = sluice_wr_make(v, sizeof v);
            sluice_sctp_cause_write(&w, SLUICE_SCTP_CAUSE_INVALID_PARAM, NULL, 0);
            sluice_sctp_send_single(a, sluice_load_be32(c->value), SLUICE_SCTP_CHUNK_ABORT, 0, v, 4);
        }
        return;
    }
    if (in.has_hostname) {
        /* §5.1.2: we cannot resolve host names. */
        uint8_t v[4];
        sluice_wr w = sluice_wr_make(v, sizeof v);
        sluice_sctp_cause_write(&w, SLUICE_SCTP_CAUSE_UNRESOLVABLE_ADDR, NULL, 0);
        sluice_sctp_send_single(a, in.init_tag, SLUICE_SCTP_CHUNK_ABORT, 0, v, 4);
        return;
    }
    if (a->terminated) return;
    if (a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT) {
        /* §9.2: our SHUTDOWN-COMPLETE got lost, most likely: repeat SHUTDOWN-ACK. */
        a->send_shutdown_ack = true;
        return;
    }
    sluice_sctp_cookie ck;
    memset(&ck, 0, sizeof ck);
    switch (a->state) {
    case SLUICE_SCTP_CLOSED:
        /* §5.1: no state at all until a valid COOKIE-ECHO comes back. */
        ck.local_tag = rand_tag(a->rng);
        ck.local_tsn = sluice_rng_u32(a->rng);
        break;
    case SLUICE_SCTP_COOKIE_WAIT:
        /* §5.2.1: answer with the parameters of our own INIT, tie-tags zero. */
        ck.local_tag = a->my_tag;
        ck.local_tsn = a->my_tsn;
        break;
    case SLUICE_SCTP_COOKIE_ECHOED:
        ck.local_tag = a->my_tag;
        ck.local_tsn = a->my_tsn;
        ck.local_tie_tag = a->my_tag;
        ck.peer_tie_tag = a->peer_tag;
        break;
    default:
        /* §5.2.2: unexpected INIT on an existing association (maybe a restart): new tag and
         * TSN, the current tags as tie-tags, association state unchanged. */
        ck.local_tag = rand_tag(a->rng);
        ck.local_tsn = sluice_rng_u32(a->rng);
        ck.local_tie_tag = a->my_tag;
        ck.peer_tie_tag = a->peer_tag;
        break;
    }
    ck.created = now;
    ck.lifetime_ms = a->s.cookie_lifetime_ms;
    ck.peer_tag = in.init_tag;
    ck.peer_tsn = in.initial_tsn;
    ck.peer_rwnd = in.a_rwnd;
    ck.local_port = h->dst_port;
    ck.peer_port = h->src_port;
    ck.peer_os = in.os;
    ck.peer_mis = in.mis;
    ck.peer_feat = in.feat;
    uint8_t cookie[SLUICE_SCTP_COOKIE_LEN];
    if (sluice_sctp_cookie_write(a->secret, &ck, cookie, sizeof cookie) < 0) return;
    uint8_t *buf = sluice_sctp_outq_reserve(a);
    if (!buf) {
        a->st.packets_dropped++; /* flood: replies are dropped, nothing is remembered */
        return;
    }
    size_t n = write_init_packet(a, buf, a->s.mtu, in.init_tag, SLUICE_SCTP_CHUNK_INIT_ACK, ck.local_tag,
                                 ck.local_tsn, cookie, sizeof cookie, &in);
    if (n) sluice_sctp_outq_commit(a, n);
}

static void handle_init_ack(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                            const sluice_sctp_chunk *c) {
    /* §5.2.3: only meaningful in COOKIE-WAIT, with our tag. */
    if (a->state != SLUICE_SCTP_COOKIE_WAIT || h->vtag != a->my_tag) {
        a->st.packets_dropped++;
        return;
    }
    sluice_sctp_init in;
    if (sluice_sctp_init_parse(&in, c->value, c->value_len) < 0 || !in.cookie || in.cookie_len == 0 ||
        in.cookie_len > 65535 - SLUICE_SCTP_HEADER_LEN - 4) {
        /* Missing or unusable mandatory parts: drop and let T1-init try again. */
        a->st.packets_dropped++;
        return;
    }
    uint8_t *ck = sluice_mem_alloc(a->alloc, in.cookie_len);
    if (!ck) return;
    memcpy(ck, in.cookie, in.cookie_len);
    sluice_mem_free(a->alloc, a->cookie_echo);
    a->cookie_echo = ck;
    a->cookie_echo_len = in.cookie_len;
    a->peer_tag = in.init_tag;
    a->peer_tsn = in.initial_tsn;
    a->peer_rwnd = in.a_rwnd;
    a->peer_feat = in.feat;
    negotiate(a, in.os, in.mis);
    a->err_len = 0;
    if (in.n_unrec) {
        /* One Unrecognized Parameters cause holding every reported TLV. */
        uint8_t tmp[SLUICE_SCTP_MAX_ERROR_CAUSES];
        size_t n = 0;
        for (size_t i = 0; i < in.n_unrec; i++) {
            size_t pl = sluice_sctp_pad4(in.unrec_len[i]);
            if (n + pl + 4 > sizeof tmp) break;
            memcpy(tmp + n, in.unrec[i], in.unrec_len[i]);
            memset(tmp + n + in.unrec_len[i], 0, pl - in.unrec_len[i]);
            n += pl;
        }
        if (n) sluice_sctp_queue_error_cause(a, SLUICE_SCTP_CAUSE_UNRECOGNIZED_PARAMS, tmp, n);
    }
    a->state = SLUICE_SCTP_COOKIE_ECHOED;
    a->send_cookie_echo = true;
    ctrl_timer_start(a, now, rto_initial_us(a));
}

/* ---- COOKIE-ECHO (§5.1.5, §5.2.4) ------------------------------------------------------- */

static void handle_cookie_echo(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                               const sluice_sctp_chunk *c) {
    sluice_sctp_cookie ck;
    uint64_t stale = 0;
    int rc = sluice_sctp_cookie_read(a->secret, c->value, c->value_len, now, &ck, &stale);
    if (rc == SLUICE_ERR_INTEGRITY || rc == SLUICE_ERR_CRYPTO) {
        a->st.packets_dropped++;
        return;
    }
    if (h->vtag != ck.local_tag || ck.peer_port != h->src_port) {
        a->st.packets_dropped++;
        return;
    }
    /* §5.2.4 step 3: a stale cookie is refused only when its tags are not those of the
     * current association; with matching tags (action D: our COOKIE-ACK was lost and the
     * peer keeps echoing) its age does not matter. */
    bool same_tcb = a->state != SLUICE_SCTP_CLOSED && ck.local_tag == a->my_tag &&
                    ck.peer_tag == a->peer_tag;
    if (rc == SLUICE_ERR_TIMEOUT && !same_tcb) {
        /* §5.1.5 step 3: Stale Cookie Error with the staleness in microseconds. */
        uint8_t info[4], v[8];
        sluice_store_be32(info, stale > UINT32_MAX ? UINT32_MAX : (uint32_t)stale);
        sluice_wr w = sluice_wr_make(v, sizeof v);
        sluice_sctp_cause_write(&w, SLUICE_SCTP_CAUSE_STALE_COOKIE, info, 4);
        sluice_sctp_send_single(a, ck.peer_tag, SLUICE_SCTP_CHUNK_ERROR, 0, v, 8);
        return;
    }
    if (a->state == SLUICE_SCTP_CLOSED) {
        if (a->terminated) return;
        tcb_from_cookie(a, &ck);
        a->send_cookie_ack = true;
        become_established(a, now);
        return;
    }
    bool lt = ck.local_tag == a->my_tag, pt = ck.peer_tag == a->peer_tag;
    if (!lt && !pt && ck.local_tie_tag == a->my_tag && ck.peer_tie_tag == a->peer_tag) {
        /* Action A: the peer restarted. */
        if (a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT) {
            sluice_sctp_queue_error_cause(a, SLUICE_SCTP_CAUSE_COOKIE_WHILE_SHUTDOWN, NULL, 0);
            a->send_shutdown_ack = true;
            return;
        }
        SLUICE_LOG(a->log, SLUICE_LOG_WARN, MODULE, "peer restarted the association");
        /* Everything the old association had in flight is gone; queued messages too
         * (their stream sequence numbers restart at 0). */
        sluice_sctp_datapath_stop(a);
        sluice_sctp_tx *tx = NULL;
        if (sluice_sctp_new_send_queue(a, &tx) < 0) {
            sluice_sctp_enter_closed(a, SLUICE_ERR_NOMEM, "out of memory on restart");
            return;
        }
        sluice_sctp_tx_free(a->tx);
        a->tx = tx;
        tcb_from_cookie(a, &ck);
        a->send_cookie_ack = true;
        become_established(a, now);
        return;
    }
    if (lt && !pt) {
        /* Action B: INIT collision; the peer's tag is the one in the cookie. */
        a->peer_tag = ck.peer_tag;
        a->peer_tsn = ck.peer_tsn;
        a->peer_rwnd = ck.peer_rwnd;
        a->peer_feat = ck.peer_feat;
        negotiate(a, ck.peer_os, ck.peer_mis);
        a->send_cookie_ack = true;
        if (!a->up) become_established(a, now);
        return;
    }
    if (!lt && pt && ck.local_tie_tag == 0 && ck.peer_tie_tag == 0) return; /* Action C */
    if (lt && pt) {
        /* Action D: our COOKIE-ACK got lost, or both sides echoed. */
        a->send_cookie_ack = true;
        if (!a->up) become_established(a, now);
        return;
    }
    a->st.packets_dropped++;
}

/* ---- shutdown (§9.2) ---------------------------------------------------------------------- */

void sluice_sctp_assoc_shutdown_progress(sluice_sctp *a, sluice_time now) {
    if (!a->up) return;
    bool idle = !sluice_sctp_tx_has_data(a->tx) && sluice_sctp_retx_is_idle(a->retx);
    if (a->state == SLUICE_SCTP_SHUTDOWN_PENDING && idle) {
        a->state = SLUICE_SCTP_SHUTDOWN_SENT;
        a->send_shutdown = true;
        ctrl_timer_start(a, now, current_rto(a));
        t5_start(a, now);
    } else if (a->state == SLUICE_SCTP_SHUTDOWN_RECEIVED && idle) {
        a->state = SLUICE_SCTP_SHUTDOWN_ACK_SENT;
        a->send_shutdown_ack = true;
        ctrl_timer_start(a, now, current_rto(a));
        t5_start(a, now);
    }
}

static void apply_shutdown_cum_ack(sluice_sctp *a, sluice_time now, const sluice_sctp_chunk *c) {
    uint32_t cum;
    if (sluice_sctp_shutdown_parse(c->value, c->value_len, &cum) < 0) return;
    /* §6.2 / §9.2: the Cumulative TSN Ack of SHUTDOWN acts like a SACK without gaps. */
    sluice_sctp_retx_stats rs;
    sluice_sctp_retx_get_stats(a->retx, &rs);
    sluice_sctp_sack sk;
    memset(&sk, 0, sizeof sk);
    sk.cum_tsn = cum;
    sk.a_rwnd = rs.peer_rwnd;
    if (sluice_sctp_retx_handle_sack(a->retx, now, &sk) == 1) a->error_count = 0;
}

static void handle_shutdown(sluice_sctp *a, sluice_time now, const sluice_sctp_chunk *c) {
    if (!a->up) return;
    switch (a->state) {
    case SLUICE_SCTP_ESTABLISHED:
    case SLUICE_SCTP_SHUTDOWN_PENDING:
    case SLUICE_SCTP_SHUTDOWN_RECEIVED:
        apply_shutdown_cum_ack(a, now, c);
        a->state = SLUICE_SCTP_SHUTDOWN_RECEIVED;
        a->shutdown_requested = true;
        sluice_sctp_assoc_shutdown_progress(a, now);
        break;
    case SLUICE_SCTP_SHUTDOWN_SENT:
        /* §9.2: both sides sent SHUTDOWN: answer with SHUTDOWN-ACK. */
        apply_shutdown_cum_ack(a, now, c);
        a->state = SLUICE_SCTP_SHUTDOWN_ACK_SENT;
        a->send_shutdown = false;
        a->send_shutdown_ack = true;
        ctrl_timer_start(a, now, current_rto(a));
        break;
    case SLUICE_SCTP_SHUTDOWN_ACK_SENT:
        a->send_shutdown_ack = true; /* our SHUTDOWN-ACK was lost */
        break;
    default:
        break;
    }
}

/* ---- per-chunk dispatch ----------------------------------------------------------------- */

/* §8.5.1 B/C: ABORT and SHUTDOWN-COMPLETE carry our tag, or the peer's with the T bit. */
static bool tbit_tag_ok(const sluice_sctp *a, const sluice_sctp_header *h, const sluice_sctp_chunk *c) {
    if (c->flags & SLUICE_SCTP_FLAG_T) return a->peer_tag != 0 && h->vtag == a->peer_tag;
    return h->vtag == a->my_tag;
}

static void unknown_chunk(sluice_sctp *a, const sluice_sctp_chunk *c, bool *keep_going) {
    /* §3.2: the upper two bits of an unknown chunk type: 00 stop, 01 stop + report,
     * 10 skip, 11 skip + report. */
    if (c->type & 0x40) {
        size_t n = SLUICE_MIN((size_t)c->length, SLUICE_SCTP_MAX_ERROR_CAUSES / 2);
        sluice_sctp_queue_error_cause(a, SLUICE_SCTP_CAUSE_UNRECOGNIZED_CHUNK, c->raw, n);
    }
    *keep_going = (c->type & 0x80) != 0;
}

bool sluice_sctp_assoc_chunk(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                             const sluice_sctp_chunk *c, size_t nchunks) {
    /* No TCB: only a COOKIE-ECHO can create one (§5.1); an ABORT or anything else bundled
     * behind a bogus cookie must not touch the endpoint. */
    if (a->state == SLUICE_SCTP_CLOSED && c->type != SLUICE_SCTP_CHUNK_COOKIE_ECHO) {
        a->st.packets_dropped++;
        return false;
    }
    switch (c->type) {
    case SLUICE_SCTP_CHUNK_INIT:
        handle_init(a, now, h, c, nchunks);
        return false;
    case SLUICE_SCTP_CHUNK_INIT_ACK:
        if (nchunks == 1) handle_init_ack(a, now, h, c);
        return false;
    case SLUICE_SCTP_CHUNK_COOKIE_ECHO:
        handle_cookie_echo(a, now, h, c);
        /* Chunks bundled after it (DATA) are checked against the (new) tag. */
        return a->state != SLUICE_SCTP_CLOSED;
    case SLUICE_SCTP_CHUNK_ABORT: {
        if (!tbit_tag_ok(a, h, c)) {
            a->st.packets_dropped++;
            return false;
        }
        char why[96], reason[128];
        sluice_sctp_cause_describe(c->value, c->value_len, why, sizeof why);
        if (a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT) {
            /* Both sides had everything acknowledged (§9.2); the peer already finished and
             * answered a late packet of ours out of the blue (§8.4): nothing was lost. */
            snprintf(reason, sizeof reason, "shutdown complete (peer aborted the last step: %.60s)", why);
            sluice_sctp_enter_closed(a, SLUICE_OK, reason);
            return false;
        }
        snprintf(reason, sizeof reason, "peer aborted: %s", why);
        sluice_sctp_enter_closed(a, SLUICE_ERR_ABORTED, reason);
        return false;
    }
    case SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE:
        if (!tbit_tag_ok(a, h, c) || nchunks != 1) {
            a->st.packets_dropped++;
            return false;
        }
        if (a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT) sluice_sctp_enter_closed(a, SLUICE_OK, "shutdown complete");
        return false;
    default:
        break;
    }
    if (h->vtag != a->my_tag) {
        /* §8.5: silently discard the rest. */
        a->st.packets_dropped++;
        return false;
    }
    switch (c->type) {
    case SLUICE_SCTP_CHUNK_COOKIE_ACK:
        if (a->state == SLUICE_SCTP_COOKIE_ECHOED) become_established(a, now);
        return true;
    case SLUICE_SCTP_CHUNK_SHUTDOWN:
        handle_shutdown(a, now, c);
        return true;
    case SLUICE_SCTP_CHUNK_SHUTDOWN_ACK:
        if (a->state == SLUICE_SCTP_COOKIE_WAIT || a->state == SLUICE_SCTP_COOKIE_ECHOED) {
            /* §8.5.1 E: treat as out of the blue. */
            sluice_sctp_send_single(a, h->vtag, SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE, SLUICE_SCTP_FLAG_T, NULL, 0);
            return false;
        }
        if (a->state == SLUICE_SCTP_SHUTDOWN_SENT || a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT) {
            sluice_sctp_send_single(a, a->peer_tag, SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE, 0, NULL, 0);
            sluice_sctp_enter_closed(a, SLUICE_OK, "shutdown complete");
            return false;
        }
        return true;
    case SLUICE_SCTP_CHUNK_HEARTBEAT:
        /* §8.3: echo the Heartbeat Info unchanged. */
        if (a->state >= SLUICE_SCTP_COOKIE_ECHOED && c->value_len >= 4 &&
            c->value_len <= sizeof a->hb_ack) {
            const uint8_t *info;
            size_t il;
            if (sluice_sctp_heartbeat_parse(c->value, c->value_len, &info, &il) == 0) {
                memcpy(a->hb_ack, c->value, 4 + il);
                a->hb_ack_len = 4 + il;
            }
        }
        return true;
    case SLUICE_SCTP_CHUNK_HEARTBEAT_ACK: {
        const uint8_t *info;
        size_t il;
        if (sluice_sctp_heartbeat_parse(c->value, c->value_len, &info, &il) == 0 && il == 12 &&
            sluice_load_be32(info + 8) == a->my_tag) {
            sluice_time sent = sluice_load_be64(info);
            if (sent <= now && a->retx && a->hb_outstanding) sluice_sctp_retx_add_rtt_sample(a->retx, now - sent);
            a->hb_outstanding = false;
            a->error_count = 0;
        }
        return true;
    }
    case SLUICE_SCTP_CHUNK_ERROR: {
        sluice_sctp_cause_iter it;
        sluice_sctp_cause cause;
        sluice_sctp_cause_iter_init(&it, c->value, c->value_len);
        while (sluice_sctp_cause_next(&it, &cause) == 1) {
            SLUICE_LOG(a->log, SLUICE_LOG_WARN, MODULE, "peer reports: %s", sluice_sctp_cause_name(cause.code));
            if (cause.code == SLUICE_SCTP_CAUSE_STALE_COOKIE && a->state == SLUICE_SCTP_COOKIE_ECHOED) {
                /* §5.2.6: start over with a fresh INIT (same tag and TSN). */
                a->state = SLUICE_SCTP_COOKIE_WAIT;
                a->peer_tag = 0;
                a->send_cookie_echo = false;
                a->send_init = true;
                a->t_ctrl = now + a->t_ctrl_rto;
            }
        }
        return true;
    }
    default: {
        bool go = true;
        unknown_chunk(a, c, &go);
        return go;
    }
    }
}

/* ---- out of the blue (§8.4) ---------------------------------------------------------------- */

void sluice_sctp_assoc_ootb(sluice_sctp *a, sluice_time now, const sluice_sctp_header *h,
                            const uint8_t *pkt, size_t len) {
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    size_t nchunks = 0;
    bool abort_seen = false, init_seen = false, sack_seen = false, quiet = false;
    sluice_sctp_chunk_iter_init(&it, pkt, len);
    while (sluice_sctp_chunk_next(&it, &c) == 1) {
        nchunks++;
        switch (c.type) {
        case SLUICE_SCTP_CHUNK_ABORT: abort_seen = true; break;
        case SLUICE_SCTP_CHUNK_INIT: init_seen = true; break;
        case SLUICE_SCTP_CHUNK_SHUTDOWN_ACK: sack_seen = true; break;
        case SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE:
        case SLUICE_SCTP_CHUNK_ERROR:
        case SLUICE_SCTP_CHUNK_COOKIE_ACK: quiet = true; break;
        default: break;
        }
    }
    a->st.packets_dropped += init_seen ? 0 : 1;
    if (abort_seen) return; /* (2) */
    if (init_seen) {        /* (3) */
        sluice_sctp_chunk_iter_init(&it, pkt, len);
        if (sluice_sctp_chunk_next(&it, &c) == 1 && c.type == SLUICE_SCTP_CHUNK_INIT)
            handle_init(a, now, h, &c, nchunks);
        return;
    }
    if (sack_seen) { /* (5) */
        sluice_sctp_send_single(a, h->vtag, SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE, SLUICE_SCTP_FLAG_T, NULL, 0);
        return;
    }
    if (quiet) return; /* (6), (7) */
    /* (8): ABORT with the T bit and the packet's tag. */
    sluice_sctp_send_single(a, h->vtag, SLUICE_SCTP_CHUNK_ABORT, SLUICE_SCTP_FLAG_T, NULL, 0);
}

/* ---- control chunks of an established-phase packet --------------------------------------- */

void sluice_sctp_assoc_write_control(sluice_sctp *a, sluice_time now, sluice_sctp_pkt *p) {
    if (a->send_cookie_ack &&
        sluice_sctp_pkt_chunk(p, SLUICE_SCTP_CHUNK_COOKIE_ACK, 0, NULL, 0) == 0)
        a->send_cookie_ack = false;
    if (a->err_len && sluice_sctp_pkt_chunk(p, SLUICE_SCTP_CHUNK_ERROR, 0, a->err_causes, a->err_len) == 0)
        a->err_len = 0;
    if (a->hb_ack_len &&
        sluice_sctp_pkt_chunk(p, SLUICE_SCTP_CHUNK_HEARTBEAT_ACK, 0, a->hb_ack, a->hb_ack_len) == 0)
        a->hb_ack_len = 0;
    if (a->send_hb) {
        uint8_t v[16];
        sluice_store_be16(v, SLUICE_SCTP_PARAM_HEARTBEAT_INFO);
        sluice_store_be16(v + 2, 16);
        sluice_store_be64(v + 4, now);
        sluice_store_be32(v + 12, a->my_tag);
        if (sluice_sctp_pkt_chunk(p, SLUICE_SCTP_CHUNK_HEARTBEAT, 0, v, sizeof v) == 0) {
            a->send_hb = false;
            a->hb_outstanding = true;
        }
    }
    if (a->send_shutdown && (a->state == SLUICE_SCTP_SHUTDOWN_SENT)) {
        uint8_t v[4];
        sluice_store_be32(v, sluice_sctp_rx_cum_tsn(a->rx));
        if (sluice_sctp_pkt_chunk(p, SLUICE_SCTP_CHUNK_SHUTDOWN, 0, v, 4) == 0) a->send_shutdown = false;
    }
    if (a->send_shutdown_ack && a->state == SLUICE_SCTP_SHUTDOWN_ACK_SENT &&
        sluice_sctp_pkt_chunk(p, SLUICE_SCTP_CHUNK_SHUTDOWN_ACK, 0, NULL, 0) == 0)
        a->send_shutdown_ack = false;
}

/* ---- timers -------------------------------------------------------------------------------- */

sluice_time sluice_sctp_assoc_deadline(const sluice_sctp *a) {
    sluice_time t = a->t_ctrl;
    if (t5_running(a)) t = sluice_time_min(t, a->t5);
    if (a->up && a->s.heartbeat_interval_ms) t = sluice_time_min(t, a->hb_deadline);
    return t;
}

static void ctrl_backoff(sluice_sctp *a, sluice_time now) {
    /* §6.3.3 E2: double the timeout, capped at RTO.Max. */
    a->t_ctrl_rto = SLUICE_MIN(a->t_ctrl_rto * 2, rto_max_us(a));
    a->t_ctrl = now + a->t_ctrl_rto;
}

void sluice_sctp_assoc_timeout(sluice_sctp *a, sluice_time now) {
    if (t5_running(a) && now >= a->t5) {
        sluice_sctp_assoc_abort(a, now, SLUICE_SCTP_CAUSE_USER_ABORT, "T5-shutdown-guard expired", SLUICE_ERR_TIMEOUT);
        return;
    }
    if (a->t_ctrl != SLUICE_TIME_NEVER && now >= a->t_ctrl) {
        switch (a->state) {
        case SLUICE_SCTP_COOKIE_WAIT:
        case SLUICE_SCTP_COOKIE_ECHOED:
            /* §5.1 C: T1-init / T1-cookie, up to Max.Init.Retransmits. */
            if (++a->t_ctrl_count > a->s.max_init_retransmits) {
                sluice_sctp_enter_closed(a, SLUICE_ERR_TIMEOUT, a->state == SLUICE_SCTP_COOKIE_WAIT
                                                                    ? "INIT not answered"
                                                                    : "COOKIE-ECHO not answered");
                return;
            }
            if (a->state == SLUICE_SCTP_COOKIE_WAIT) a->send_init = true;
            else a->send_cookie_echo = true;
            ctrl_backoff(a, now);
            break;
        case SLUICE_SCTP_SHUTDOWN_SENT:
        case SLUICE_SCTP_SHUTDOWN_ACK_SENT:
            /* §9.2 T2-shutdown counts against Association.Max.Retrans. */
            if (a->state == SLUICE_SCTP_SHUTDOWN_SENT) a->send_shutdown = true;
            else a->send_shutdown_ack = true;
            ctrl_backoff(a, now);
            sluice_sctp_assoc_count_error(a, now, "T2-shutdown");
            if (a->state == SLUICE_SCTP_CLOSED) return;
            break;
        default:
            a->t_ctrl = SLUICE_TIME_NEVER;
            break;
        }
    }
    if (a->up && a->s.heartbeat_interval_ms && now >= a->hb_deadline) {
        if (a->hb_outstanding) {
            sluice_sctp_assoc_count_error(a, now, "heartbeat");
            if (!a->up) return;
        }
        a->send_hb = true;
        a->hb_deadline = now + (uint64_t)a->s.heartbeat_interval_ms * 1000u + current_rto(a);
    }
}
