/* Data channels (Godot WebRTCDataChannel): creation, stream ids, DCEP (RFC 8832), the
 * receive queues, stream-reset close (RFC 8831 §6.7), and the public sluice_channel_* API. */
#include "peer.h"

#include "dcep.h"

/* ------------------------------------------------------------------ channels ------ */

sluice_channel *sluice_channel_find(sluice_peer *pc, uint16_t id) {
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next)
        if (ch->id == id && ch->state != SLUICE_CHANNEL_CLOSED) return ch;
    return NULL;
}

/* What a peer-opened channel costs against PEER_MAX_REMOTE_CHANNELS' byte budget. */
static size_t remote_channel_cost(size_t label_len, size_t protocol_len) {
    return sizeof(sluice_channel) + label_len + protocol_len + 2;
}

void sluice_channel_destroy(sluice_channel *ch) {
    sluice_peer *pc = ch->pc;
    if (ch->remote_created) {
        pc->remote_channels--;
        pc->remote_channel_bytes -= ch->remote_cost;
    }
    peer_msg *m = ch->rx_head;
    while (m) {
        peer_msg *n = m->next;
        pc->rx_total_bytes -= m->len + PEER_MSG_OVERHEAD;
        sluice_mem_free(pc->alloc, m->data);
        sluice_mem_free(pc->alloc, m);
        m = n;
    }
    sluice_mem_free(pc->alloc, ch->label);
    sluice_mem_free(pc->alloc, ch->protocol);
    sluice_mem_free(pc->alloc, ch);
}

void sluice_channel_set_state(sluice_channel *ch, sluice_channel_state st) {
    if (ch->state == st) return;
    ch->state = st;
    sluice_event_type t = st == SLUICE_CHANNEL_OPEN      ? SLUICE_EVENT_CHANNEL_OPEN
                          : st == SLUICE_CHANNEL_CLOSING ? SLUICE_EVENT_CHANNEL_CLOSING
                          : st == SLUICE_CHANNEL_CLOSED  ? SLUICE_EVENT_CHANNEL_CLOSED
                                                         : SLUICE_EVENT_NONE;
    if (t != SLUICE_EVENT_NONE) sluice_peer_emit_channel(ch->pc, t, ch);
}

static sluice_channel *channel_alloc(sluice_peer *pc, const char *label, size_t label_len,
                                     const char *protocol, size_t protocol_len) {
    sluice_channel *ch = sluice_mem_calloc(pc->alloc, 1, sizeof *ch);
    if (!ch) return NULL;
    ch->pc = pc;
    ch->label = sluice_mem_strndup(pc->alloc, label, label_len);
    ch->protocol = sluice_mem_strndup(pc->alloc, protocol, protocol_len);
    if (!ch->label || !ch->protocol) {
        sluice_mem_free(pc->alloc, ch->label);
        sluice_mem_free(pc->alloc, ch->protocol);
        sluice_mem_free(pc->alloc, ch);
        return NULL;
    }
    ch->id = SLUICE_UNSET;
    ch->max_retransmits = SLUICE_UNSET;
    ch->max_packet_life_time = SLUICE_UNSET;
    ch->ordered = true;
    ch->priority = 256;
    ch->state = SLUICE_CHANNEL_CONNECTING;
    /* Append, so channels open in creation order. */
    sluice_channel **pp = &pc->channels;
    while (*pp) pp = &(*pp)->next;
    *pp = ch;
    return ch;
}

static void channel_unlink(sluice_channel *ch) {
    sluice_channel **pp = &ch->pc->channels;
    while (*pp && *pp != ch) pp = &(*pp)->next;
    if (*pp) *pp = ch->next;
}

/* Lowest free stream id of our parity (RFC 8832 §6: DTLS client even, server odd). */
static int pick_stream_id(sluice_peer *pc) {
    for (uint32_t id = pc->dtls_client ? 0 : 1; id <= 65534; id += 2)
        if (!sluice_channel_find(pc, (uint16_t)id)) return (int)id;
    return SLUICE_ERR_EXHAUSTED;
}

static int sctp_send_dcep_open(sluice_peer *pc, sluice_channel *ch) {
    sluice_dcep_open o;
    memset(&o, 0, sizeof o);
    o.channel_type = sluice_dcep_channel_type(ch->ordered, ch->max_retransmits != SLUICE_UNSET,
                                              ch->max_packet_life_time != SLUICE_UNSET);
    o.priority = ch->priority;
    o.reliability = ch->max_retransmits != SLUICE_UNSET        ? ch->max_retransmits
                    : ch->max_packet_life_time != SLUICE_UNSET ? ch->max_packet_life_time
                                                               : 0;
    o.label = ch->label;
    o.label_len = strlen(ch->label);
    o.protocol = ch->protocol;
    o.protocol_len = strlen(ch->protocol);
    size_t n = sluice_dcep_open_size(&o);
    uint8_t *buf = sluice_mem_alloc(pc->alloc, n);
    if (!buf) return SLUICE_ERR_NOMEM;
    int w = sluice_dcep_write_open(&o, buf, n);
    int rc = w < 0 ? w : SLUICE_OK;
    if (rc == SLUICE_OK) {
        sluice_sctp_send_options so;
        memset(&so, 0, sizeof so);
        rc = sluice_sctp_send(pc->sctp, pc->now, ch->id, SLUICE_PPID_DCEP, buf, (size_t)w, &so);
    }
    sluice_mem_free(pc->alloc, buf);
    return rc;
}

/* Called when SCTP is up (or a channel is created afterwards): open what can be opened. */
void sluice_channel_try_open(sluice_peer *pc, sluice_channel *ch) {
    if (!pc->sctp_up || ch->state != SLUICE_CHANNEL_CONNECTING) return;
    if (ch->id == SLUICE_UNSET) return;
    if (ch->low_threshold) sluice_sctp_set_buffered_low_threshold(pc->sctp, ch->id, ch->low_threshold);
    if (ch->negotiated || ch->remote_created) {
        sluice_channel_set_state(ch, SLUICE_CHANNEL_OPEN);
        return;
    }
    int rc = sctp_send_dcep_open(pc, ch);
    if (rc) {
        sluice_peer_emit_error(pc, rc, "could not send DATA_CHANNEL_OPEN");
        sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
        return;
    }
    ch->open_sent = true;
    /* RFC 8832 §6: data may follow the OPEN at once (sent ordered until the ACK). */
    sluice_channel_set_state(ch, SLUICE_CHANNEL_OPEN);
}

void sluice_channel_assign_ids(sluice_peer *pc) {
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next) {
        if (ch->state == SLUICE_CHANNEL_CLOSED || ch->id != SLUICE_UNSET) continue;
        int id = pick_stream_id(pc);
        if (id < 0) {
            sluice_peer_emit_error(pc, id, "no free stream id for a data channel");
            sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
            continue;
        }
        ch->id = (uint16_t)id;
    }
}

void sluice_channel_close_all(sluice_peer *pc) {
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next)
        if (ch->state != SLUICE_CHANNEL_CLOSED) sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
}

/* ------------------------------------------------------------------ SDP ----------- */

bool sluice_channel_any(const sluice_peer *pc) {
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next)
        if (ch->state != SLUICE_CHANNEL_CLOSED) return true;
    return false;
}

/* ------------------------------------------------------------------ data path ----- */

/* Close a stream the peer opened a channel on that we refuse: resetting our outgoing side
 * makes its stack close the channel (RFC 8831 §6.7). Best effort. */
static void refuse_remote_stream(sluice_peer *pc, uint16_t stream) {
    (void)sluice_sctp_reset_streams(pc->sctp, pc->now, &stream, 1);
}

void sluice_channel_deliver(sluice_peer *pc, sluice_sctp_message *m) {
    sluice_channel *ch = sluice_channel_find(pc, m->stream);
    if (m->ppid == SLUICE_PPID_DCEP) {
        int t = sluice_dcep_message_type(m->data, m->len);
        if (t == SLUICE_DCEP_OPEN) {
            sluice_dcep_open o;
            if (sluice_dcep_parse_open(m->data, m->len, &o) != SLUICE_OK) {
                sluice_peer_emit_error(pc, SLUICE_ERR_MALFORMED, "malformed DATA_CHANNEL_OPEN ignored");
                return;
            }
            if (ch) {
                sluice_peer_emit_error(pc, SLUICE_ERR_ID_IN_USE, "DATA_CHANNEL_OPEN on a stream already in use ignored");
                return;
            }
            /* RFC 8832 §6: the DTLS client opens even stream ids, the server odd ones; an OPEN
             * on our parity could collide with a channel we open next. */
            if ((m->stream & 1u) == (pc->dtls_client ? 0u : 1u)) {
                sluice_peer_emit_error(pc, SLUICE_ERR_MALFORMED,
                                       "DATA_CHANNEL_OPEN on a stream id of our DTLS role refused (RFC 8832 section 6)");
                refuse_remote_stream(pc, m->stream);
                return;
            }
            /* Bounded: a peer opening channels on every stream id, or opening and closing one
             * over and over while the application keeps the closed objects. */
            size_t cost = remote_channel_cost(o.label_len, o.protocol_len);
            if (pc->remote_channels >= PEER_MAX_REMOTE_CHANNELS ||
                pc->remote_channel_bytes + cost > pc->cfg.max_receive_buffer) {
                sluice_peer_emit_error(pc, SLUICE_ERR_EXHAUSTED,
                                       "too many data channels opened by the peer: DATA_CHANNEL_OPEN refused");
                refuse_remote_stream(pc, m->stream);
                return;
            }
            sluice_channel *nc = channel_alloc(pc, o.label, o.label_len, o.protocol, o.protocol_len);
            if (!nc) {
                sluice_peer_emit_error(pc, SLUICE_ERR_NOMEM, "no memory for an incoming data channel");
                return;
            }
            nc->id = m->stream;
            nc->remote_created = true;
            nc->remote_cost = cost; /* as charged: a label with a NUL byte is shorter once copied */
            pc->remote_channels++;
            pc->remote_channel_bytes += cost;
            nc->ack_received = true;
            nc->ordered = (o.channel_type & 0x80) == 0;
            nc->priority = o.priority;
            uint8_t kind = o.channel_type & 0x7f;
            if (kind == 0x01) nc->max_retransmits = (uint16_t)SLUICE_MIN(o.reliability, 65534u);
            else if (kind == 0x02) nc->max_packet_life_time = (uint16_t)SLUICE_MIN(o.reliability, 65534u);
            uint8_t ack[1];
            sluice_dcep_write_ack(ack, sizeof ack);
            sluice_sctp_send_options so;
            memset(&so, 0, sizeof so);
            int rc = sluice_sctp_send(pc->sctp, pc->now, nc->id, SLUICE_PPID_DCEP, ack, 1, &so);
            if (rc) sluice_peer_emit_error(pc, rc, "could not send DATA_CHANNEL_ACK");
            sluice_peer_emit_channel(pc, SLUICE_EVENT_DATA_CHANNEL, nc);
            sluice_channel_set_state(nc, SLUICE_CHANNEL_OPEN);
        } else if (t == SLUICE_DCEP_ACK) {
            if (ch) ch->ack_received = true;
        } else {
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "unknown DCEP message ignored");
        }
        return;
    }
    if (!ch || ch->state == SLUICE_CHANNEL_CLOSED) {
        SLUICE_LOG(&pc->log, SLUICE_LOG_DEBUG, "peer", "message on unknown stream %u dropped", m->stream);
        return;
    }
    bool text, empty = false;
    switch (m->ppid) {
    case SLUICE_PPID_STRING:
    case SLUICE_PPID_STRING_PARTIAL: text = true; break;
    case SLUICE_PPID_BINARY:
    case SLUICE_PPID_BINARY_PARTIAL: text = false; break;
    case SLUICE_PPID_STRING_EMPTY: text = true; empty = true; break;
    case SLUICE_PPID_BINARY_EMPTY: text = false; empty = true; break;
    default:
        SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "message with unknown PPID %u dropped", m->ppid);
        return;
    }
    size_t len = empty ? 0 : m->len;
    peer_msg *pm = sluice_mem_alloc(pc->alloc, sizeof *pm);
    if (!pm) {
        sluice_peer_emit_error(pc, SLUICE_ERR_NOMEM, "no memory for a received message");
        return;
    }
    pm->next = NULL;
    pm->len = len;
    pm->is_text = text;
    pm->data = NULL;
    if (len) {
        pm->data = m->data; /* take the reassembly buffer */
        m->data = NULL;
    }
    if (ch->rx_tail) ch->rx_tail->next = pm;
    else ch->rx_head = pm;
    ch->rx_tail = pm;
    ch->rx_count++;
    ch->rx_bytes += len;
    /* Records count too: empty (or 1-byte) messages must fill the receive buffer as well,
     * or a peer sending them to an application that is not reading grows memory forever. */
    pc->rx_total_bytes += len + PEER_MSG_OVERHEAD;
    pc->messages_received++;
    if (!sluice_peer_message_event_pending(pc, ch)) sluice_peer_emit_channel(pc, SLUICE_EVENT_CHANNEL_MESSAGE, ch);
}

void sluice_channel_on_remote_reset(sluice_peer *pc, uint16_t stream) {
    sluice_channel *ch = sluice_channel_find(pc, stream);
    if (!ch) return;
    ch->remote_reset = true;
    if (ch->state == SLUICE_CHANNEL_OPEN || ch->state == SLUICE_CHANNEL_CONNECTING)
        sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSING);
    if (!ch->local_reset_sent) {
        /* RFC 8831 §6.7: reset our outgoing stream in turn. */
        ch->local_reset_sent = true;
        uint16_t s = stream;
        if (sluice_sctp_reset_streams(pc->sctp, pc->now, &s, 1) != SLUICE_OK) ch->local_reset_done = true;
    }
    if (ch->local_reset_done) sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
}

void sluice_channel_on_reset_done(sluice_peer *pc, uint16_t stream) {
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next) {
        if (ch->id != stream || ch->state == SLUICE_CHANNEL_CLOSED || !ch->local_reset_sent) continue;
        ch->local_reset_done = true;
        if (ch->remote_reset) sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
    }
}

/* The peer asked us to reset our outgoing stream (RFC 6525 Incoming SSN Reset Request): the
 * SCTP layer resets it as for sluice_channel_close(), and STREAM_RESET_DONE follows. */
void sluice_channel_on_reset_requested(sluice_peer *pc, uint16_t stream) {
    sluice_channel *ch = sluice_channel_find(pc, stream);
    if (!ch || ch->state == SLUICE_CHANNEL_CLOSED) return;
    if (ch->state == SLUICE_CHANNEL_OPEN || ch->state == SLUICE_CHANNEL_CONNECTING)
        sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSING);
    ch->local_reset_sent = true;
}

void sluice_channel_release_closed(sluice_peer *pc) {
    if (pc->ev_count) return; /* events may still name them */
    sluice_channel **pp = &pc->channels;
    while (*pp) {
        sluice_channel *ch = *pp;
        if (ch->released && ch->state == SLUICE_CHANNEL_CLOSED) {
            *pp = ch->next;
            sluice_channel_destroy(ch);
        } else {
            pp = &ch->next;
        }
    }
}

/* ------------------------------------------------------------------ channel API --- */

int sluice_channel_send(sluice_channel *ch, const void *data, size_t len, bool is_text) {
    if (!ch || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_peer *pc = ch->pc;
    if (ch->state != SLUICE_CHANNEL_OPEN || !pc->sctp_up) return SLUICE_ERR_INVALID_STATE;
    if (pc->remote_max_message_size && len > pc->remote_max_message_size) return SLUICE_ERR_TOO_LARGE;
    uint32_t ppid;
    static const uint8_t zero = 0;
    if (len == 0) {
        /* RFC 8831 §6.6: an empty message is one byte with the "empty" PPID. */
        ppid = is_text ? SLUICE_PPID_STRING_EMPTY : SLUICE_PPID_BINARY_EMPTY;
        data = &zero;
        len = 1;
    } else {
        ppid = is_text ? SLUICE_PPID_STRING : SLUICE_PPID_BINARY;
    }
    sluice_sctp_send_options so;
    memset(&so, 0, sizeof so);
    /* RFC 8832 §6: until the ACK arrives, everything is sent ordered. */
    so.unordered = !ch->ordered && (ch->ack_received || ch->negotiated);
    if (ch->max_retransmits != SLUICE_UNSET) {
        so.has_max_retransmits = true;
        so.max_retransmits = ch->max_retransmits;
    } else if (ch->max_packet_life_time != SLUICE_UNSET) {
        so.has_lifetime = true;
        so.lifetime_ms = ch->max_packet_life_time;
    }
    int rc = sluice_sctp_send(pc->sctp, sluice_peer_now(pc), ch->id, ppid, data, len, &so);
    if (rc) return rc;
    pc->messages_sent++;
    return SLUICE_OK;
}

size_t sluice_channel_available(const sluice_channel *ch) { return ch ? ch->rx_count : 0; }

int64_t sluice_channel_next_size(const sluice_channel *ch) {
    if (!ch || !ch->rx_head) return SLUICE_ERR_AGAIN;
    return (int64_t)ch->rx_head->len;
}

int64_t sluice_channel_recv(sluice_channel *ch, void *buf, size_t cap, bool *is_text) {
    if (!ch || (!buf && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    peer_msg *m = ch->rx_head;
    if (!m) return SLUICE_ERR_AGAIN;
    if (m->len > cap) return SLUICE_ERR_NOBUFS;
    if (m->len) memcpy(buf, m->data, m->len);
    int64_t n = (int64_t)m->len;
    ch->last_was_string = m->is_text;
    if (is_text) *is_text = m->is_text;
    ch->rx_head = m->next;
    if (!ch->rx_head) ch->rx_tail = NULL;
    ch->rx_count--;
    ch->rx_bytes -= m->len;
    ch->pc->rx_total_bytes -= m->len + PEER_MSG_OVERHEAD;
    sluice_mem_free(ch->pc->alloc, m->data);
    sluice_mem_free(ch->pc->alloc, m);
    if (ch->pc->rx_blocked && ch->pc->rx_total_bytes < ch->pc->cfg.max_receive_buffer)
        sluice_peer_process_sctp(ch->pc, ch->pc->now);
    return n;
}

bool sluice_channel_was_string(const sluice_channel *ch) { return ch && ch->last_was_string; }

size_t sluice_channel_buffered_amount(const sluice_channel *ch) {
    if (!ch || !ch->pc->sctp || ch->id == SLUICE_UNSET) return 0;
    return sluice_sctp_buffered_amount(ch->pc->sctp, ch->id);
}

void sluice_channel_set_buffered_amount_low_threshold(sluice_channel *ch, size_t bytes) {
    if (!ch) return;
    ch->low_threshold = bytes;
    if (ch->pc->sctp && ch->id != SLUICE_UNSET) sluice_sctp_set_buffered_low_threshold(ch->pc->sctp, ch->id, bytes);
}

sluice_channel_state sluice_channel_ready_state(const sluice_channel *ch) {
    return ch ? ch->state : SLUICE_CHANNEL_CLOSED;
}

uint16_t sluice_channel_id(const sluice_channel *ch) { return ch ? ch->id : SLUICE_UNSET; }

const char *sluice_channel_label(const sluice_channel *ch) { return ch ? ch->label : ""; }

const char *sluice_channel_protocol(const sluice_channel *ch) { return ch ? ch->protocol : ""; }

bool sluice_channel_ordered(const sluice_channel *ch) { return ch && ch->ordered; }

bool sluice_channel_negotiated(const sluice_channel *ch) { return ch && ch->negotiated; }

uint16_t sluice_channel_max_retransmits(const sluice_channel *ch) { return ch ? ch->max_retransmits : SLUICE_UNSET; }

uint16_t sluice_channel_max_packet_life_time(const sluice_channel *ch) {
    return ch ? ch->max_packet_life_time : SLUICE_UNSET;
}

sluice_peer *sluice_channel_peer(const sluice_channel *ch) { return ch ? ch->pc : NULL; }

void sluice_channel_set_user(sluice_channel *ch, void *user) {
    if (ch) ch->user = user;
}

void *sluice_channel_user(const sluice_channel *ch) { return ch ? ch->user : NULL; }

void sluice_channel_close(sluice_channel *ch) {
    if (!ch || ch->state == SLUICE_CHANNEL_CLOSED || ch->state == SLUICE_CHANNEL_CLOSING) return;
    sluice_peer *pc = ch->pc;
    if (!pc->sctp_up || ch->id == SLUICE_UNSET) {
        sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
        return;
    }
    sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSING);
    ch->local_reset_sent = true;
    uint16_t s = ch->id;
    if (sluice_sctp_reset_streams(pc->sctp, sluice_peer_now(pc), &s, 1) != SLUICE_OK) sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
}

void sluice_channel_release(sluice_channel *ch) {
    if (!ch) return;
    ch->released = true;
    ch->user = NULL;
    if (ch->state != SLUICE_CHANNEL_CLOSED) sluice_channel_close(ch);
    sluice_channel_release_closed(ch->pc);
}

int sluice_peer_create_channel(sluice_peer *pc, const char *label, const sluice_channel_options *opts,
                               sluice_channel **out) {
    if (!pc || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (pc->closed || pc->conn_state == SLUICE_CONNECTION_CLOSED) return SLUICE_ERR_INVALID_STATE;
    sluice_channel_options def;
    if (!opts) {
        sluice_channel_options_default(&def);
        opts = &def;
    }
    int rc = sluice_channel_options_validate(opts, label);
    if (rc) return rc;
    if (opts->has_id && sluice_channel_find(pc, opts->id)) return SLUICE_ERR_ID_IN_USE;
    const char *proto = opts->protocol ? opts->protocol : "";
    const char *lab = label ? label : "";
    sluice_channel *ch = channel_alloc(pc, lab, strlen(lab), proto, strlen(proto));
    if (!ch) return SLUICE_ERR_NOMEM;
    ch->ordered = opts->ordered;
    ch->negotiated = opts->negotiated;
    if (opts->has_id) ch->id = opts->id;
    if (opts->has_max_retransmits) ch->max_retransmits = opts->max_retransmits;
    if (opts->has_max_packet_life_time) ch->max_packet_life_time = opts->max_packet_life_time;
    ch->priority = opts->priority;
    if (ch->id == SLUICE_UNSET && pc->role_known) {
        int id = pick_stream_id(pc);
        if (id < 0) {
            channel_unlink(ch);
            sluice_channel_destroy(ch);
            return id;
        }
        ch->id = (uint16_t)id;
    }
    sluice_peer_now(pc);
    sluice_channel_try_open(pc, ch);
    *out = ch;
    return SLUICE_OK;
}
