/* The peer connection: state machines of GODOT_API.md on top of the sans-IO ICE agent,
 * DTLS endpoint and SCTP association. Everything here is sans-IO too; socket mode
 * (sluice_peer_poll) drives the same entry points from src/io.c. */
#include "peer.h"

#include "mux.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "mdns.h"
#include "tls.h"

static void peer_free_now(sluice_peer *pc);
static void peer_process(sluice_peer *pc, sluice_time now);

/* ------------------------------------------------------------------ time ---------- */

sluice_time sluice_peer_now(sluice_peer *pc) {
    if (!pc->cfg.sans_io) {
        sluice_time t = sluice_clock_monotonic_us();
        if (t > pc->now) pc->now = t;
    }
    return pc->now;
}

/* ------------------------------------------------------------------ events -------- */

static void event_clear(sluice_peer *pc, peer_event *e) {
    sluice_mem_free(pc->alloc, e->s1);
    sluice_mem_free(pc->alloc, e->s2);
    e->s1 = e->s2 = NULL;
}

static peer_event *event_push(sluice_peer *pc, sluice_event_type type) {
    if (pc->ev_count == pc->ev_cap) {
        size_t ncap = pc->ev_cap ? pc->ev_cap * 2 : 16;
        peer_event *n = sluice_mem_calloc(pc->alloc, ncap, sizeof *n);
        if (!n) return NULL;
        for (size_t i = 0; i < pc->ev_count; i++) n[i] = pc->events[(pc->ev_head + i) % pc->ev_cap];
        sluice_mem_free(pc->alloc, pc->events);
        pc->events = n;
        pc->ev_cap = ncap;
        pc->ev_head = 0;
    }
    peer_event *e = &pc->events[(pc->ev_head + pc->ev_count) % pc->ev_cap];
    memset(e, 0, sizeof *e);
    e->type = type;
    pc->ev_count++;
    return e;
}

static void emit_state(sluice_peer *pc, sluice_event_type type, int state) {
    peer_event *e = event_push(pc, type);
    if (e) e->state = state;
}

void sluice_peer_emit_error(sluice_peer *pc, int err, const char *reason) {
    SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "%s (%s)", reason, sluice_strerror(err));
    /* A hostile peer can cause one error per packet: while the application does not drain
     * the queue, further ERROR events are only logged. */
    if (pc->ev_count >= PEER_MAX_QUEUED_EVENTS_FOR_ERRORS) return;
    peer_event *e = event_push(pc, SLUICE_EVENT_ERROR);
    if (!e) return;
    e->error = err;
    e->s1 = sluice_mem_strdup(pc->alloc, reason);
}

void sluice_peer_emit_channel(sluice_peer *pc, sluice_event_type type, sluice_channel *ch) {
    peer_event *e = event_push(pc, type);
    if (e) e->ch = ch;
    if (e && type == SLUICE_EVENT_CHANNEL_MESSAGE) ch->message_event_queued = true;
}

bool sluice_peer_message_event_pending(sluice_peer *pc, sluice_channel *ch) {
    (void)pc;
    /* A flag, not a scan of the queue: the queue can hold thousands of events (a peer
     * opening channels while the application does not poll), and this runs per message. */
    return ch->message_event_queued;
}

static void set_conn_state(sluice_peer *pc, sluice_connection_state st) {
    if (pc->conn_state == st) return;
    if (pc->conn_state == SLUICE_CONNECTION_CLOSED) return;
    pc->conn_state = st;
    emit_state(pc, SLUICE_EVENT_CONNECTION_STATE, st);
}

static void set_gathering_state(sluice_peer *pc, sluice_gathering_state st) {
    if (pc->gathering_state == st) return;
    pc->gathering_state = st;
    emit_state(pc, SLUICE_EVENT_GATHERING_STATE, st);
}

static void set_signaling_state(sluice_peer *pc, sluice_signaling_state st) {
    if (pc->signaling_state == st) return;
    pc->signaling_state = st;
    emit_state(pc, SLUICE_EVENT_SIGNALING_STATE, st);
}

static void fail_connection(sluice_peer *pc, int err, const char *reason) {
    sluice_peer_emit_error(pc, err, reason);
    set_conn_state(pc, SLUICE_CONNECTION_FAILED);
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next)
        if (ch->state != SLUICE_CHANNEL_CLOSED) sluice_channel_set_state(ch, SLUICE_CHANNEL_CLOSED);
}

/* ------------------------------------------------------------------ config -------- */

static void owned_config_release(const sluice_allocator *a, peer_owned_config *o) {
    sluice_mem_free(a, o->bind_address);
    sluice_mem_free(a, o->cert_pem);
    sluice_mem_free(a, o->key_pem);
    sluice_mem_free(a, o->turn_username);
    sluice_mem_free(a, o->turn_password);
    sluice_mem_free(a, o->turn_ca_pem);
    sluice_mem_free(a, o->stun_urls);
    sluice_mem_free(a, o->turn_urls);
    memset(o, 0, sizeof *o);
}

static void peer_config_release(sluice_peer *pc) { owned_config_release(pc->alloc, &pc->own); }

/* Copies `cfg` into pc; on failure pc's configuration is unchanged. */
static int peer_config_apply(sluice_peer *pc, const sluice_config *cfg) {
    int rc = sluice_config_validate(cfg);
    if (rc) return rc;
    peer_owned_config tmp;
    memset(&tmp, 0, sizeof tmp);
    size_t nurls = 0;
    for (size_t i = 0; i < cfg->ice_servers_count; i++) nurls += cfg->ice_servers[i].urls_count;
    if (nurls && (!(tmp.stun_urls = sluice_mem_calloc(pc->alloc, nurls, sizeof *tmp.stun_urls)) ||
                  !(tmp.turn_urls = sluice_mem_calloc(pc->alloc, nurls, sizeof *tmp.turn_urls)))) {
        owned_config_release(pc->alloc, &tmp);
        return SLUICE_ERR_NOMEM;
    }
    if ((cfg->bind_address && !(tmp.bind_address = sluice_mem_strdup(pc->alloc, cfg->bind_address))) ||
        (cfg->certificate_pem && !(tmp.cert_pem = sluice_mem_strdup(pc->alloc, cfg->certificate_pem))) ||
        (cfg->private_key_pem && !(tmp.key_pem = sluice_mem_strdup(pc->alloc, cfg->private_key_pem))) ||
        (cfg->turn_ca_pem && !(tmp.turn_ca_pem = sluice_mem_strdup(pc->alloc, cfg->turn_ca_pem)))) {
        owned_config_release(pc->alloc, &tmp);
        return SLUICE_ERR_NOMEM;
    }
    if (cfg->turn_ca_pem) {
        /* Fail now, not at the first turns: connection, when the PEM holds no certificate. */
        sluice_tls_ctx *ctx = NULL;
        sluice_logger log = {cfg->log_fn, cfg->log_user, cfg->log_level};
        rc = sluice_tls_ctx_new(&ctx, cfg->turn_ca_pem, false, pc->alloc, &log);
        sluice_tls_ctx_free(ctx);
        if (rc) {
            owned_config_release(pc->alloc, &tmp);
            return rc;
        }
    }
    for (size_t i = 0; i < cfg->ice_servers_count; i++) {
        const sluice_ice_server *s = &cfg->ice_servers[i];
        for (size_t j = 0; j < s->urls_count; j++) {
            sluice_ice_url u;
            sluice_ice_url_parse(s->urls[j], &u); /* validated above */
            if (u.scheme == SLUICE_ICE_SCHEME_TURN || u.scheme == SLUICE_ICE_SCHEME_TURNS) {
                tmp.turn_urls[tmp.turn_count++] = u;
                if (!tmp.turn_username) {
                    tmp.turn_username = sluice_mem_strdup(pc->alloc, s->username);
                    tmp.turn_password = sluice_mem_strdup(pc->alloc, s->credential);
                    if (!tmp.turn_username || !tmp.turn_password) {
                        owned_config_release(pc->alloc, &tmp);
                        return SLUICE_ERR_NOMEM;
                    }
                }
            } else {
                tmp.stun_urls[tmp.stun_count++] = u;
            }
        }
    }
    peer_config_release(pc);
    pc->cfg = *cfg;
    pc->cfg.ice_servers = NULL;
    pc->cfg.ice_servers_count = 0;
    pc->own = tmp;
    pc->cfg.bind_address = pc->own.bind_address;
    pc->cfg.certificate_pem = pc->own.cert_pem;
    pc->cfg.private_key_pem = pc->own.key_pem;
    pc->cfg.turn_ca_pem = pc->own.turn_ca_pem;
    pc->log.fn = cfg->log_fn;
    pc->log.user = cfg->log_user;
    pc->log.level = cfg->log_level;
    pc->rng.fn = cfg->random_fn;
    pc->rng.user = cfg->random_user;
    return SLUICE_OK;
}

/* ------------------------------------------------------------------ teardown ------ */

/* Drop transports and descriptions; channels stay (CLOSED) until released or freed. */
static void peer_reset_transports(sluice_peer *pc) {
    sluice_sctp_free(pc->sctp);
    sluice_dtls_free(pc->dtls);
    sluice_ice_free(pc->ice);
    sluice_io_close(pc->io);
    pc->sctp = NULL;
    pc->dtls = NULL;
    pc->ice = NULL;
    pc->io = NULL;
    pc->dtls_started = pc->sctp_up = pc->role_known = pc->dtls_client = false;
    pc->dtls_wait_since = 0;
    pc->peer_known_at = 0;
    pc->remote_is_libdatachannel = false;
    pc->ice_connected_once = false;
    pc->has_dtls_path = false;
    sluice_mem_free(pc->alloc, pc->local_sdp);
    sluice_mem_free(pc->alloc, pc->remote_offer_sdp);
    pc->local_sdp = pc->remote_offer_sdp = NULL;
    pc->local_type[0] = '\0';
    pc->have_remote = false;
    for (size_t i = 0; i < pc->local_candidates_count; i++) sluice_mem_free(pc->alloc, pc->local_candidates[i]);
    pc->local_candidates_count = 0;
    pc->pending_remote_count = 0;
    sluice_mem_free(pc->alloc, pc->pending_remote);
    pc->pending_remote = NULL;
    pc->pending_remote_eoc = false;
    pc->remote_max_message_size = 65536;
    pc->mdns_count = 0;
}


/* ------------------------------------------------------------------ new/free ------ */

int sluice_peer_new(sluice_peer **out, const sluice_config *cfg, const sluice_callbacks *cb, void *user) {
    if (!out) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_config def;
    if (!cfg) {
        sluice_config_default(&def);
        cfg = &def;
    }
    int rc = sluice_config_validate(cfg);
    if (rc) return rc;
    const sluice_allocator *a = (cfg->allocator.malloc ? &cfg->allocator : NULL);
    sluice_peer *pc = sluice_mem_calloc(a, 1, sizeof *pc);
    if (!pc) return SLUICE_ERR_NOMEM;
    if (a) {
        pc->alloc_copy = *a;
        pc->alloc = &pc->alloc_copy;
    }
    rc = peer_config_apply(pc, cfg);
    if (rc) {
        sluice_mem_free(pc->alloc, pc);
        return rc;
    }
    if (cb && cb->on_event) {
        pc->cb = *cb;
        pc->has_cb = true;
    }
    pc->user = user;
    pc->remote_max_message_size = 65536;
    pc->data_mline_index = 0;
    if (pc->own.cert_pem) rc = sluice_dtls_cert_from_pem(&pc->cert, pc->own.cert_pem, pc->own.key_pem);
    else rc = sluice_dtls_cert_generate(&pc->cert);
    if (rc == SLUICE_OK) {
        int n = sluice_dtls_cert_fingerprint(pc->cert, "sha-256", pc->fingerprint, sizeof pc->fingerprint);
        if (n < 0) rc = n;
    }
    if (rc) {
        peer_config_release(pc);
        sluice_dtls_cert_free(pc->cert);
        sluice_mem_free(pc->alloc, pc);
        return rc;
    }
    pc->session_id = sluice_rng_u64(&pc->rng) >> 2;
    pc->now = pc->cfg.sans_io ? 0 : sluice_clock_monotonic_us();
    *out = pc;
    return SLUICE_OK;
}

static void peer_free_now(sluice_peer *pc) {
    peer_reset_transports(pc);
    if (pc->mux) sluice_mux_detach(pc->mux, pc);
    sluice_channel *ch = pc->channels;
    while (ch) {
        sluice_channel *n = ch->next;
        sluice_channel_destroy(ch);
        ch = n;
    }
    for (size_t i = 0; i < pc->ev_count; i++) event_clear(pc, &pc->events[(pc->ev_head + i) % pc->ev_cap]);
    event_clear(pc, &pc->current);
    sluice_mem_free(pc->alloc, pc->events);
    sluice_mem_free(pc->alloc, pc->mdns);
    sluice_dtls_cert_free(pc->cert);
    peer_config_release(pc);
    const sluice_allocator *a = pc->alloc ? &pc->alloc_copy : NULL;
    sluice_allocator copy;
    if (a) {
        copy = *a;
        a = &copy;
    }
    sluice_mem_free(a, pc);
}

void sluice_peer_free(sluice_peer *pc) {
    if (!pc) return;
    if (pc->in_callback) {
        /* Freed when the callback returns (sluice_peer_poll checks this flag). */
        pc->free_requested = true;
        return;
    }
    peer_free_now(pc);
}

void *sluice_peer_user(const sluice_peer *pc) { return pc ? pc->user : NULL; }

/* ------------------------------------------------------------------ close --------- */

static void flush_io(sluice_peer *pc);

void sluice_peer_close(sluice_peer *pc) {
    if (!pc || pc->closed) return;
    sluice_time now = sluice_peer_now(pc);
    pc->closed = true;
    sluice_channel_close_all(pc);
    if (pc->sctp && pc->sctp_up) sluice_sctp_abort(pc->sctp, now, "peer connection closed");
    /* Move the ABORT into DTLS before close_notify. */
    if (pc->sctp && pc->dtls && sluice_dtls_get_state(pc->dtls) == SLUICE_DTLS_CONNECTED) {
        for (int i = 0; i < 8; i++) {
            int n = sluice_sctp_poll_packet(pc->sctp, now, pc->scratch, sizeof pc->scratch);
            if (n <= 0) break;
            sluice_dtls_write(pc->dtls, pc->scratch, (size_t)n);
        }
    }
    if (pc->dtls) sluice_dtls_close(pc->dtls);
    if (!pc->cfg.sans_io) flush_io(pc);
    if (pc->ice) sluice_ice_close(pc->ice);
    if (!pc->cfg.sans_io) flush_io(pc); /* TURN deallocations */
    set_conn_state(pc, SLUICE_CONNECTION_CLOSED);
    set_signaling_state(pc, SLUICE_SIGNALING_CLOSED);
}

int sluice_peer_initialize(sluice_peer *pc, const sluice_config *cfg) {
    if (!pc) return SLUICE_ERR_INVALID_ARGUMENT;
    if (cfg) {
        int rc = sluice_config_validate(cfg);
        if (rc) return rc;
        /* Allocator changes would orphan memory of the old one: not allowed on re-init. */
        bool had = pc->alloc != NULL, has = cfg->allocator.malloc != NULL;
        if (had != has || (had && memcmp(&pc->alloc_copy, &cfg->allocator, sizeof cfg->allocator)))
            return SLUICE_ERR_CONFIG;
    }
    if (!pc->closed && pc->conn_state != SLUICE_CONNECTION_NEW) sluice_peer_close(pc);
    sluice_channel_close_all(pc);
    if (cfg) {
        int rc = peer_config_apply(pc, cfg);
        if (rc) return rc;
        if (pc->mux) pc->cfg.sans_io = sluice_mux_is_sans_io(pc->mux); /* the mux decides */
    }
    peer_reset_transports(pc);
    /* Old channels are detached from the stream-id space: mark them so they never match. */
    for (sluice_channel *ch = pc->channels; ch; ch = ch->next) ch->state = SLUICE_CHANNEL_CLOSED;
    pc->closed = false;
    pc->conn_state = SLUICE_CONNECTION_NEW;
    pc->gathering_state = SLUICE_GATHERING_NEW;
    pc->signaling_state = SLUICE_SIGNALING_STABLE;
    pc->session_id = sluice_rng_u64(&pc->rng) >> 2;
    pc->session_version = 0;
    pc->rx_blocked = false;
    return SLUICE_OK;
}












/* STUN/TURN servers given by name are resolved once, when the ICE agent is made (the agent
 * works on addresses). getaddrinfo may block briefly; a name that does not resolve is
 * skipped with a warning, as browsers do. */
static void resolve_server_names(sluice_peer *pc, sluice_ice_url *urls, size_t *count) {
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        sluice_ice_url u = urls[i];
        sluice_addr a;
        if (sluice_addr_parse(&a, u.host, u.port) != SLUICE_OK) {
            /* turns: verifies the certificate against the name as configured. */
            if (!u.server_name[0]) snprintf(u.server_name, sizeof u.server_name, "%s", u.host);
            struct addrinfo hints, *res = NULL;
            memset(&hints, 0, sizeof hints);
            hints.ai_family = pc->cfg.ice_ipv6 ? AF_UNSPEC : AF_INET;
            hints.ai_socktype = u.transport == SLUICE_ICE_TRANSPORT_TCP ? SOCK_STREAM : SOCK_DGRAM;
            hints.ai_flags = AI_ADDRCONFIG;
            int rc = getaddrinfo(u.host, NULL, &hints, &res);
            bool ok = false;
            for (struct addrinfo *r = res; rc == 0 && r && !ok; r = r->ai_next) {
                char ip[64];
                if (getnameinfo(r->ai_addr, r->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) == 0 &&
                    strlen(ip) < sizeof u.host) {
                    SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "ICE server %s is %s", u.host, ip);
                    snprintf(u.host, sizeof u.host, "%s", ip);
                    u.host_is_ipv6 = r->ai_family == AF_INET6;
                    ok = true;
                }
            }
            if (res) freeaddrinfo(res);
            if (!ok) {
                SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "ICE server %s does not resolve: skipped", u.host);
                continue;
            }
        }
        urls[kept++] = u;
    }
    *count = kept;
}

/* sans-IO: sluice_transmit cannot say "this goes on a TCP/TLS stream", so TURN servers
 * reached over TCP or TLS would get bare datagrams; they are left out, with a warning. */
static void drop_stream_servers(sluice_peer *pc) {
    size_t kept = 0;
    for (size_t i = 0; i < pc->own.turn_count; i++) {
        const sluice_ice_url *u = &pc->own.turn_urls[i];
        if (u->transport == SLUICE_ICE_TRANSPORT_TCP || u->scheme == SLUICE_ICE_SCHEME_TURNS) {
            SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer",
                       "TURN server %s over %s skipped: sans_io carries UDP only", u->host,
                       u->scheme == SLUICE_ICE_SCHEME_TURNS ? "TLS" : "TCP");
            continue;
        }
        pc->own.turn_urls[kept++] = *u;
    }
    pc->own.turn_count = kept;
}

static int ensure_ice(sluice_peer *pc, bool controlling) {
    if (pc->ice) return SLUICE_OK;
    if (pc->mux && pc->own.turn_count) {
        /* A TURN allocation belongs to one 5-tuple: peers sharing the mux's port cannot
         * each have one (mux.h). */
        SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "TURN servers ignored: this peer is on a mux");
        pc->own.turn_count = 0;
    }
    if (!pc->cfg.sans_io) {
        resolve_server_names(pc, pc->own.stun_urls, &pc->own.stun_count);
        resolve_server_names(pc, pc->own.turn_urls, &pc->own.turn_count);
    } else {
        drop_stream_servers(pc);
    }
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = controlling;
    s.disconnect_ms = pc->cfg.consent_disconnect_ms;
    s.fail_ms = pc->cfg.consent_fail_ms;
    s.stun_servers = pc->own.stun_urls;
    s.stun_servers_count = pc->own.stun_count;
    s.turn_servers = pc->own.turn_urls;
    s.turn_servers_count = pc->own.turn_count;
    s.turn_username = pc->own.turn_username;
    s.turn_password = pc->own.turn_password;
    s.relay_only = pc->cfg.ice_policy == SLUICE_ICE_POLICY_RELAY;
    int rc = sluice_ice_new(&pc->ice, &s, pc->alloc, &pc->rng, &pc->log);
    if (rc) return rc;
    if (pc->mux) sluice_mux_index_peer(pc->mux, pc);
    for (size_t i = 0; i < pc->local_addrs_count; i++) sluice_ice_add_local_address(pc->ice, &pc->local_addrs[i]);
    return SLUICE_OK;
}

/* Build our SDP (offer or answer) into a new string. */
static int build_sdp(sluice_peer *pc, sluice_sdp_setup setup, bool with_candidates, const sluice_sdp *mirror,
                     char **out) {
    sluice_sdp_local l;
    memset(&l, 0, sizeof l);
    l.session_id = pc->session_id;
    l.session_version = pc->session_version;
    l.mid = pc->data_mid[0] ? pc->data_mid : "0";
    l.ice_ufrag = sluice_ice_local_ufrag(pc->ice);
    l.ice_pwd = sluice_ice_local_pwd(pc->ice);
    l.fingerprint_alg = "sha-256";
    l.fingerprint_hex = pc->fingerprint;
    l.setup = setup;
    l.sctp_port = 5000;
    l.max_message_size = pc->cfg.max_message_size;
    l.mirror = mirror;
    if (with_candidates) {
        l.candidates = (const char *const *)pc->local_candidates;
        l.candidates_count = pc->local_candidates_count;
        l.end_of_candidates = pc->gathering_state == SLUICE_GATHERING_COMPLETE;
    }
    sluice_buf b;
    sluice_buf_init(&b, pc->alloc, 1 << 20);
    int rc = sluice_sdp_write(&l, &b);
    if (rc == SLUICE_OK) rc = sluice_buf_append(&b, "", 1);
    if (rc) {
        sluice_buf_clear(&b);
        return rc;
    }
    *out = (char *)b.data;
    return SLUICE_OK;
}

/* Queue SESSION_DESCRIPTION; the caller must learn when it could not (NOMEM). */
static int emit_sdp(sluice_peer *pc, const char *type, char *sdp_owned) {
    char *t = sluice_mem_strdup(pc->alloc, type);
    peer_event *e = t ? event_push(pc, SLUICE_EVENT_SESSION_DESCRIPTION) : NULL;
    if (!e) {
        sluice_mem_free(pc->alloc, t);
        sluice_mem_free(pc->alloc, sdp_owned);
        return SLUICE_ERR_NOMEM;
    }
    e->s1 = sdp_owned;
    e->s2 = t;
    return SLUICE_OK;
}

/* ICE restart of our side: new ufrag/pwd, our candidates signalled again (gathering
 * goes back to GATHERING), and a mux routes the new ufrag to us. The roles are chosen
 * again as for an initial exchange (RFC 8839 §4.4.2.1: the answerer "follows the
 * procedures for generating an initial answer"; RFC 8445 §6.1.1): the offerer of the
 * restart controls, unless the other side is lite. */
static int restart_ice_now(sluice_peer *pc, bool controlling) {
    int rc = sluice_ice_restart(pc->ice, sluice_peer_now(pc));
    if (rc) return rc;
    sluice_ice_set_controlling(pc->ice, controlling);
    for (size_t i = 0; i < pc->local_candidates_count; i++) sluice_mem_free(pc->alloc, pc->local_candidates[i]);
    pc->local_candidates_count = 0;
    set_gathering_state(pc, SLUICE_GATHERING_GATHERING);
    if (pc->mux) sluice_mux_index_peer(pc->mux, pc);
    return SLUICE_OK;
}

int sluice_peer_create_offer(sluice_peer *pc) {
    if (!pc) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->closed) return SLUICE_ERR_INVALID_STATE;
    if (!sluice_channel_any(pc)) return SLUICE_ERR_INVALID_STATE;
    if (pc->signaling_state != SLUICE_SIGNALING_STABLE && pc->signaling_state != SLUICE_SIGNALING_HAVE_LOCAL_OFFER)
        return SLUICE_ERR_INVALID_STATE;
    int rc = ensure_ice(pc, true);
    if (rc) return rc;
    if (!pc->have_remote) {
        memcpy(pc->data_mid, "0", 2);
        pc->data_mline_index = 0;
    }
    if (pc->restart_on_next_offer && pc->have_remote) {
        rc = restart_ice_now(pc, true);
        if (rc) return rc;
        pc->restart_on_next_offer = false;
        pc->local_restart_pending = true;
    }
    pc->session_version++;
    char *sdp;
    /* A subsequent offer states the role we have (RFC 8842 §5.2 allows active/passive in
     * offers): answering actpass, pion 3.1 picks active whatever its role, which would
     * flip the roles of the running association (apply_remote_update refuses that). */
    sluice_sdp_setup setup = SLUICE_SDP_SETUP_ACTPASS;
    if (pc->have_remote && pc->role_known) setup = pc->dtls_client ? SLUICE_SDP_SETUP_ACTIVE : SLUICE_SDP_SETUP_PASSIVE;
    rc = build_sdp(pc, setup, false, NULL, &sdp);
    if (rc) return rc;
    return emit_sdp(pc, "offer", sdp);
}

int sluice_peer_restart_ice(sluice_peer *pc) {
    if (!pc) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->closed || !pc->have_remote || !pc->ice) return SLUICE_ERR_INVALID_STATE;
    pc->restart_on_next_offer = true;
    return SLUICE_OK;
}

static int parse_sdp_checked(sluice_peer *pc, const char *text, sluice_sdp **out) {
    sluice_sdp *sdp = sluice_mem_calloc(pc->alloc, 1, sizeof *sdp);
    if (!sdp) return SLUICE_ERR_NOMEM;
    char err[160] = "";
    int rc = sluice_sdp_parse(text, strlen(text), sdp, err, sizeof err);
    if (rc == SLUICE_OK && sdp->datachannel_index < 0) {
        rc = SLUICE_ERR_SDP;
        snprintf(err, sizeof err, "no data channel (m=application ... webrtc-datachannel) section");
    }
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof msg, "bad session description: %s", err[0] ? err : sluice_strerror(rc));
        sluice_peer_emit_error(pc, SLUICE_ERR_SDP, msg);
        sluice_mem_free(pc->alloc, sdp);
        return SLUICE_ERR_SDP;
    }
    *out = sdp;
    return SLUICE_OK;
}

static int open_sockets(sluice_peer *pc) {
    if (pc->cfg.sans_io || pc->io || pc->mux) return SLUICE_OK;
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = pc->own.bind_address;
    s.port_min = pc->cfg.port_min;
    s.port_max = pc->cfg.port_max;
    s.loopback = pc->cfg.ice_loopback;
    s.ipv6 = pc->cfg.ice_ipv6;
    s.tls_ca_pem = pc->own.turn_ca_pem;
    int rc = sluice_io_open(&pc->io, &s, pc->alloc, &pc->log);
    if (rc) return rc;
    sluice_addr addrs[SLUICE_IO_MAX_SOCKETS];
    size_t n = sluice_io_local_addresses(pc->io, addrs, SLUICE_IO_MAX_SOCKETS);
    for (size_t i = 0; i < n && i < SLUICE_IO_MAX_SOCKETS; i++) sluice_ice_add_local_address(pc->ice, &addrs[i]);
    return SLUICE_OK;
}

static void start_gathering(sluice_peer *pc) {
    if (pc->gathering_state != SLUICE_GATHERING_NEW) return;
    int rc = open_sockets(pc);
    if (rc) {
        sluice_peer_emit_error(pc, rc, "could not open UDP sockets");
        return;
    }
    set_gathering_state(pc, SLUICE_GATHERING_GATHERING);
    rc = sluice_ice_gather(pc->ice, pc->now);
    if (rc) sluice_peer_emit_error(pc, rc, "ICE gathering failed to start");
}

/* The DTLS role is known: create the endpoint (a server must be ready for an early
 * ClientHello) and give in-band channels their stream ids. */
static int setup_dtls(sluice_peer *pc, const sluice_sdp_media *remote) {
    if (pc->dtls) return SLUICE_OK;
    sluice_dtls_settings ds;
    sluice_dtls_settings_default(&ds);
    ds.is_client = pc->dtls_client;
    ds.retransmit_initial_ms = pc->cfg.dtls_retransmit_initial_ms;
    int rc = sluice_dtls_new(&pc->dtls, &ds, pc->cert, pc->alloc, &pc->log);
    if (rc) return rc;
    for (size_t i = 0; i < remote->fingerprints_count; i++) {
        int r = sluice_dtls_add_remote_fingerprint(pc->dtls, remote->fingerprints[i].alg, remote->fingerprints[i].hex);
        if (r) SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "ignoring fingerprint %s: %s",
                          remote->fingerprints[i].alg, sluice_strerror(r));
    }
    pc->role_known = true;
    sluice_channel_assign_ids(pc);
    return SLUICE_OK;
}

static int add_remote_candidate_parsed(sluice_peer *pc, const sluice_ice_candidate *c) {
    if (c->addr.family == 0) {
        /* An mDNS name (browsers hide host IPs this way): resolve it on the local link.
         * The sans-IO caller owns no multicast socket of ours: there it is skipped. */
        if (pc->cfg.sans_io || pc->mux || !sluice_mdns_is_local_name(c->hostname) || pc->mdns_count >= PEER_MAX_MDNS) {
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "skipping unresolved candidate host %s", c->hostname);
            return SLUICE_OK;
        }
        if (!pc->mdns && !(pc->mdns = sluice_mem_calloc(pc->alloc, PEER_MAX_MDNS, sizeof *pc->mdns))) {
            SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "no memory to resolve %s", c->hostname);
            return SLUICE_ERR_NOMEM;
        }
        peer_mdns *m = &pc->mdns[pc->mdns_count++];
        m->cand = *c;
        m->next_query = pc->now;
        m->tries = 0;
        return SLUICE_OK;
    }
    int rc = sluice_ice_add_remote_candidate(pc->ice, pc->now, c);
    if (rc) SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "remote candidate not added: %s", sluice_strerror(rc));
    return rc;
}

/* The a=candidate lines of a remote data section. */
static void add_sdp_candidates(sluice_peer *pc, const sluice_sdp_media *m) {
    for (size_t i = 0; i < m->candidates_count; i++) {
        sluice_ice_candidate c;
        if (sluice_ice_candidate_parse(m->candidates[i], &c) == SLUICE_OK) add_remote_candidate_parsed(pc, &c);
        else SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "skipping unparsable SDP candidate");
    }
}

/* Apply the data section of a remote description (offer or answer). */
static int apply_remote_media(sluice_peer *pc, const sluice_sdp *sdp, bool is_offer) {
    const sluice_sdp_media *m = &sdp->media[sdp->datachannel_index];
    if (!m->ice_ufrag[0] || !m->ice_pwd[0]) {
        sluice_peer_emit_error(pc, SLUICE_ERR_SDP, "bad session description: no a=ice-ufrag / a=ice-pwd");
        return SLUICE_ERR_SDP;
    }
    if (m->fingerprints_count == 0) {
        sluice_peer_emit_error(pc, SLUICE_ERR_SDP, "bad session description: no a=fingerprint");
        return SLUICE_ERR_SDP;
    }
    bool client;
    if (is_offer) {
        /* RFC 8842 §5.2: answer actpass with active (as browsers do); mirror active/passive. */
        client = m->setup != SLUICE_SDP_SETUP_ACTIVE;
        if (m->setup == SLUICE_SDP_SETUP_HOLDCONN) {
            sluice_peer_emit_error(pc, SLUICE_ERR_SDP, "bad session description: a=setup:holdconn");
            return SLUICE_ERR_SDP;
        }
    } else {
        if (m->setup == SLUICE_SDP_SETUP_ACTPASS || m->setup == SLUICE_SDP_SETUP_HOLDCONN) {
            sluice_peer_emit_error(pc, SLUICE_ERR_SDP, "bad session description: answer with a=setup:actpass");
            return SLUICE_ERR_SDP;
        }
        client = m->setup != SLUICE_SDP_SETUP_ACTIVE; /* absent → we are active (RFC 8842 default) */
    }
    int rc = ensure_ice(pc, !is_offer);
    if (rc) return rc;
    if (m->ice_lite) {
        sluice_ice_set_remote_lite(pc->ice, true);
        sluice_ice_set_controlling(pc->ice, true);
    }
    rc = sluice_ice_set_remote_credentials(pc->ice, m->ice_ufrag, m->ice_pwd);
    if (rc) {
        sluice_peer_emit_error(pc, SLUICE_ERR_SDP, "bad session description: unusable ICE credentials");
        return SLUICE_ERR_SDP;
    }
    snprintf(pc->remote_ufrag, sizeof pc->remote_ufrag, "%s", m->ice_ufrag);
    snprintf(pc->remote_pwd, sizeof pc->remote_pwd, "%s", m->ice_pwd);
    pc->dtls_client = client;
    pc->remote_fp = m->fingerprints[0];
    pc->remote_is_libdatachannel = strcmp(sdp->origin_user, "rtc") == 0;
    pc->remote_sctp_port = m->sctp_port ? m->sctp_port : 5000;
    pc->remote_max_message_size = m->has_max_message_size ? m->max_message_size : 65536;
    if (is_offer) {
        snprintf(pc->data_mid, sizeof pc->data_mid, "%s", m->mid[0] ? m->mid : "0");
        pc->data_mline_index = sdp->datachannel_index;
    }
    rc = setup_dtls(pc, m);
    if (rc) return rc;
    pc->have_remote = true;
    add_sdp_candidates(pc, m);
    for (size_t i = 0; i < pc->pending_remote_count; i++) add_remote_candidate_parsed(pc, &pc->pending_remote[i]);
    pc->pending_remote_count = 0;
    sluice_mem_free(pc->alloc, pc->pending_remote);
    pc->pending_remote = NULL;
    if (m->end_of_candidates || pc->pending_remote_eoc) sluice_ice_remote_gathering_done(pc->ice);
    return SLUICE_OK;
}

static int reject_update(sluice_peer *pc, const char *why) {
    char msg[200];
    snprintf(msg, sizeof msg, "bad session description: %s", why);
    sluice_peer_emit_error(pc, SLUICE_ERR_SDP, msg);
    return SLUICE_ERR_SDP;
}

/* A description after the first one (renegotiation, RFC 8829 §5.2.2 / §5.3.2): the DTLS
 * association and the SCTP association stay, so the certificate, the DTLS roles, the data
 * section and the SCTP port must not change. New ICE credentials are an ICE restart (RFC
 * 8839 §4.4.1.1.1): we restart too (new ufrag/pwd of ours, candidates signalled again)
 * while data keeps flowing on the pair in use. */
static int apply_remote_update(sluice_peer *pc, const sluice_sdp *sdp, bool is_offer) {
    const sluice_sdp_media *m = &sdp->media[sdp->datachannel_index];
    if (!m->ice_ufrag[0] || !m->ice_pwd[0]) return reject_update(pc, "no a=ice-ufrag / a=ice-pwd");
    if (sdp->datachannel_index != pc->data_mline_index || strcmp(m->mid[0] ? m->mid : "0", pc->data_mid) != 0)
        return reject_update(pc, "the data channel m= section moved or changed its mid");
    bool same_cert = false;
    for (size_t i = 0; i < m->fingerprints_count; i++)
        if (sluice_strcasecmp(m->fingerprints[i].alg, pc->remote_fp.alg) == 0 &&
            sluice_strcasecmp(m->fingerprints[i].hex, pc->remote_fp.hex) == 0)
            same_cert = true;
    if (!same_cert)
        return reject_update(pc, "a=fingerprint changed: a new DTLS association needs a new peer connection");
    /* The roles stay (RFC 8842 §5.5): an offer may say actpass, or confirm the role it has;
     * one that asks for the other role is refused. An answer cannot be refused usefully
     * (we would stay in have-local-offer): pion 3.1 answers "active" to any subsequent
     * offer whatever its role while its DTLS keeps running, so a contradicting answer is
     * ignored with a warning: the running association decides the roles. */
    bool flips = m->setup == SLUICE_SDP_SETUP_HOLDCONN || (m->setup == SLUICE_SDP_SETUP_ACTIVE && pc->dtls_client) ||
                 (m->setup == SLUICE_SDP_SETUP_PASSIVE && !pc->dtls_client) ||
                 (!is_offer && m->setup == SLUICE_SDP_SETUP_ACTPASS);
    if (flips && is_offer) return reject_update(pc, "a=setup would change the DTLS roles of the existing association");
    if (flips)
        SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer",
                   "answer's a=setup contradicts the running DTLS association: ignored (we stay %s)",
                   pc->dtls_client ? "client" : "server");
    if ((m->sctp_port ? m->sctp_port : 5000) != pc->remote_sctp_port)
        return reject_update(pc, "a=sctp-port changed: a new SCTP association needs a new peer connection");
    if (strcmp(m->ice_ufrag, pc->remote_ufrag) != 0 || strcmp(m->ice_pwd, pc->remote_pwd) != 0) {
        if (!is_offer && !pc->local_restart_pending)
            return reject_update(pc, "new ICE credentials in an answer to an offer without an ICE restart");
        if (is_offer) {
            int rc = restart_ice_now(pc, m->ice_lite);
            if (rc) return rc;
        }
        int rc = sluice_ice_set_remote_credentials(pc->ice, m->ice_ufrag, m->ice_pwd);
        if (rc) return reject_update(pc, "unusable ICE credentials");
        snprintf(pc->remote_ufrag, sizeof pc->remote_ufrag, "%s", m->ice_ufrag);
        snprintf(pc->remote_pwd, sizeof pc->remote_pwd, "%s", m->ice_pwd);
        SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "ICE restart (%s)", is_offer ? "remote offer" : "our offer");
    }
    pc->local_restart_pending = false;
    pc->remote_max_message_size = m->has_max_message_size ? m->max_message_size : 65536;
    add_sdp_candidates(pc, m);
    if (m->end_of_candidates) sluice_ice_remote_gathering_done(pc->ice);
    return SLUICE_OK;
}

int sluice_peer_set_local_description(sluice_peer *pc, const char *type, const char *sdp) {
    if (!pc || !type || !sdp) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->closed) return SLUICE_ERR_INVALID_STATE;
    bool offer = strcmp(type, "offer") == 0, answer = strcmp(type, "answer") == 0;
    if (!offer && !answer) return SLUICE_ERR_INVALID_ARGUMENT;
    if (offer && pc->signaling_state != SLUICE_SIGNALING_STABLE &&
        pc->signaling_state != SLUICE_SIGNALING_HAVE_LOCAL_OFFER)
        return SLUICE_ERR_INVALID_STATE;
    if (answer && pc->signaling_state != SLUICE_SIGNALING_HAVE_REMOTE_OFFER) return SLUICE_ERR_INVALID_STATE;
    if (!pc->ice) return SLUICE_ERR_INVALID_STATE; /* never created an offer/answer */
    sluice_sdp *parsed;
    int rc = parse_sdp_checked(pc, sdp, &parsed);
    if (rc) return rc;
    const sluice_sdp_media *m = &parsed->media[parsed->datachannel_index];
    /* It must be a description this peer produced (same ICE credentials). */
    if (strcmp(m->ice_ufrag, sluice_ice_local_ufrag(pc->ice)) != 0) {
        sluice_mem_free(pc->alloc, parsed);
        sluice_peer_emit_error(pc, SLUICE_ERR_SDP, "local description was not created by this peer (ice-ufrag differs)");
        return SLUICE_ERR_SDP;
    }
    pc->local_setup = m->setup;
    sluice_mem_free(pc->alloc, parsed);
    char *copy = sluice_mem_strdup(pc->alloc, sdp);
    if (!copy) return SLUICE_ERR_NOMEM;
    sluice_mem_free(pc->alloc, pc->local_sdp);
    pc->local_sdp = copy;
    snprintf(pc->local_type, sizeof pc->local_type, "%s", type);
    sluice_peer_now(pc);
    set_signaling_state(pc, offer ? SLUICE_SIGNALING_HAVE_LOCAL_OFFER : SLUICE_SIGNALING_STABLE);
    start_gathering(pc);
    peer_process(pc, pc->now);
    return SLUICE_OK;
}

int sluice_peer_set_remote_description(sluice_peer *pc, const char *type, const char *sdp) {
    if (!pc || !type || !sdp) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->closed) return SLUICE_ERR_INVALID_STATE;
    bool offer = strcmp(type, "offer") == 0, answer = strcmp(type, "answer") == 0;
    if (!offer && !answer) return SLUICE_ERR_INVALID_ARGUMENT;
    if (offer && pc->signaling_state != SLUICE_SIGNALING_STABLE) return SLUICE_ERR_INVALID_STATE;
    if (answer && pc->signaling_state != SLUICE_SIGNALING_HAVE_LOCAL_OFFER) return SLUICE_ERR_INVALID_STATE;
    if (pc->conn_state == SLUICE_CONNECTION_FAILED) return SLUICE_ERR_INVALID_STATE;
    sluice_sdp *parsed;
    int rc = parse_sdp_checked(pc, sdp, &parsed);
    if (rc) return rc;
    char why[160] = "";
    if (sluice_sdp_check_remote(parsed, offer, offer ? NULL : pc->data_mid, why, sizeof why) != SLUICE_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "bad session description: %s", why);
        sluice_peer_emit_error(pc, SLUICE_ERR_SDP, msg);
        sluice_mem_free(pc->alloc, parsed);
        return SLUICE_ERR_SDP;
    }
    char *offer_copy = NULL;
    if (offer && !(offer_copy = sluice_mem_strdup(pc->alloc, sdp))) {
        sluice_mem_free(pc->alloc, parsed);
        return SLUICE_ERR_NOMEM;
    }
    sluice_peer_now(pc);
    rc = pc->have_remote ? apply_remote_update(pc, parsed, offer) : apply_remote_media(pc, parsed, offer);
    if (rc) {
        sluice_mem_free(pc->alloc, offer_copy);
        sluice_mem_free(pc->alloc, parsed);
        return rc;
    }
    if (offer) {
        sluice_mem_free(pc->alloc, pc->remote_offer_sdp);
        pc->remote_offer_sdp = offer_copy;
        set_signaling_state(pc, SLUICE_SIGNALING_HAVE_REMOTE_OFFER);
        pc->session_version++;
        char *answer_sdp;
        rc = build_sdp(pc, pc->dtls_client ? SLUICE_SDP_SETUP_ACTIVE : SLUICE_SDP_SETUP_PASSIVE, false, parsed,
                       &answer_sdp);
        sluice_mem_free(pc->alloc, parsed);
        if (rc) return rc;
        rc = emit_sdp(pc, "answer", answer_sdp);
        if (rc) return rc;
    } else {
        sluice_mem_free(pc->alloc, parsed);
        set_signaling_state(pc, SLUICE_SIGNALING_STABLE);
    }
    peer_process(pc, pc->now);
    return SLUICE_OK;
}

int sluice_peer_add_ice_candidate(sluice_peer *pc, const char *mid, int mline_index, const char *candidate) {
    if (!pc) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->closed) return SLUICE_ERR_INVALID_STATE;
    const char *c = candidate ? candidate : "";
    while (*c == ' ') c++;
    bool eoc = c[0] == '\0' || strcmp(c, "end-of-candidates") == 0 || strcmp(c, "a=end-of-candidates") == 0;
    if (!eoc && mid && mid[0] && pc->have_remote && strcmp(mid, pc->data_mid) != 0 &&
        mline_index != pc->data_mline_index)
        return SLUICE_ERR_CANDIDATE;
    if (eoc) {
        if (pc->have_remote) sluice_ice_remote_gathering_done(pc->ice);
        else pc->pending_remote_eoc = true;
        return SLUICE_OK;
    }
    sluice_ice_candidate parsed;
    int rc = sluice_ice_candidate_parse(c, &parsed);
    if (rc) return SLUICE_ERR_CANDIDATE;
    if (parsed.component != 1 || parsed.tcp) return SLUICE_OK; /* not usable by us: ignore */
    if (!pc->have_remote) {
        /* Signaling often races; keep a bounded number until the remote description. */
        if (pc->pending_remote_count >= PEER_MAX_PENDING_CANDIDATES) return SLUICE_ERR_EXHAUSTED;
        if (!pc->pending_remote &&
            !(pc->pending_remote = sluice_mem_calloc(pc->alloc, PEER_MAX_PENDING_CANDIDATES, sizeof *pc->pending_remote)))
            return SLUICE_ERR_NOMEM;
        pc->pending_remote[pc->pending_remote_count++] = parsed;
        return SLUICE_OK;
    }
    sluice_peer_now(pc);
    /* The agent's candidate table is bounded: say so when it is full (EXHAUSTED). */
    rc = add_remote_candidate_parsed(pc, &parsed);
    peer_process(pc, pc->now);
    return rc == SLUICE_ERR_EXHAUSTED || rc == SLUICE_ERR_NOMEM ? rc : SLUICE_OK;
}

int sluice_peer_local_description(sluice_peer *pc, char *buf, size_t cap, const char **type) {
    if (!pc || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    if (!pc->local_sdp || !pc->ice) return SLUICE_ERR_NOT_FOUND;
    char *sdp;
    sluice_sdp_setup setup = pc->local_setup ? pc->local_setup : SLUICE_SDP_SETUP_ACTPASS;
    sluice_sdp *mirror = NULL;
    if (strcmp(pc->local_type, "answer") == 0 && pc->remote_offer_sdp) {
        /* An answer mirrors the offer's m= sections: parse the kept offer again. */
        mirror = sluice_mem_calloc(pc->alloc, 1, sizeof *mirror);
        if (!mirror) return SLUICE_ERR_NOMEM;
        if (sluice_sdp_parse(pc->remote_offer_sdp, strlen(pc->remote_offer_sdp), mirror, NULL, 0) != SLUICE_OK) {
            sluice_mem_free(pc->alloc, mirror);
            return SLUICE_ERR_SDP;
        }
    }
    int rc = build_sdp(pc, setup, true, mirror, &sdp);
    sluice_mem_free(pc->alloc, mirror);
    if (rc) return rc;
    size_t n = strlen(sdp);
    if (n + 1 > cap) {
        sluice_mem_free(pc->alloc, sdp);
        return SLUICE_ERR_NOBUFS;
    }
    memcpy(buf, sdp, n + 1);
    sluice_mem_free(pc->alloc, sdp);
    if (type) *type = pc->local_type;
    return (int)n;
}

uint64_t sluice_peer_remote_max_message_size(const sluice_peer *pc) {
    return pc ? pc->remote_max_message_size : 65536;
}




void sluice_peer_process_sctp(sluice_peer *pc, sluice_time now) {
    if (!pc->sctp) return;
    sluice_sctp_event ev;
    for (int i = 0; i < PEER_MAX_SCTP_EVENTS_PER_TURN; i++) {
        /* Back-pressure: leave messages inside SCTP (its window shrinks) while the
         * application has not read what it already has. */
        if (pc->rx_total_bytes >= pc->cfg.max_receive_buffer) {
            pc->rx_blocked = true;
            break;
        }
        pc->rx_blocked = false;
        if (sluice_sctp_poll_event(pc->sctp, &ev) != 1) break;
        switch (ev.type) {
        case SLUICE_SCTP_EVENT_CONNECTED:
            pc->sctp_up = true;
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "SCTP association up (%u out, %u in streams)",
                       ev.num_outbound, ev.num_inbound);
            for (sluice_channel *ch = pc->channels; ch; ch = ch->next) sluice_channel_try_open(pc, ch);
            break;
        case SLUICE_SCTP_EVENT_MESSAGE:
            sluice_channel_deliver(pc, &ev.message);
            sluice_mem_free(pc->alloc, ev.message.data);
            break;
        case SLUICE_SCTP_EVENT_STREAM_RESET: sluice_channel_on_remote_reset(pc, ev.stream); break;
        case SLUICE_SCTP_EVENT_STREAM_RESET_DONE: sluice_channel_on_reset_done(pc, ev.stream); break;
        case SLUICE_SCTP_EVENT_STREAM_RESET_REQUESTED: sluice_channel_on_reset_requested(pc, ev.stream); break;
        case SLUICE_SCTP_EVENT_BUFFERED_LOW: {
            sluice_channel *ch = sluice_channel_find(pc, ev.stream);
            if (ch) sluice_peer_emit_channel(pc, SLUICE_EVENT_CHANNEL_BUFFERED_AMOUNT_LOW, ch);
            break;
        }
        case SLUICE_SCTP_EVENT_CLOSED:
            pc->sctp_up = false;
            if (!pc->closed) {
                sluice_channel_close_all(pc);
                /* A peer that closes its connection often just ABORTs the association
                 * (aiortc, usrsctp stacks): that is a close, not a failure. */
                if (ev.error && ev.error != SLUICE_ERR_ABORTED) {
                    fail_connection(pc, ev.error, ev.reason[0] ? ev.reason : "SCTP association lost");
                } else {
                    SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "association closed by the peer (%s)",
                               ev.reason[0] ? ev.reason : "shutdown");
                    set_conn_state(pc, SLUICE_CONNECTION_CLOSED);
                }
            }
            break;
        }
    }
    (void)now;
}

static void start_sctp(sluice_peer *pc, sluice_time now) {
    if (pc->sctp) return;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.local_port = 5000;
    s.remote_port = pc->remote_sctp_port ? pc->remote_sctp_port : 5000;
    /* SCTP packets must fit one DTLS record in a datagram <= the DTLS MTU (1200):
     * 1163 bytes with AES-GCM. */
    s.mtu = SLUICE_MIN((size_t)PEER_SCTP_MTU, sluice_dtls_max_payload(pc->dtls));
    s.rwnd = pc->cfg.sctp_receive_window;
    s.max_send_buffer = pc->cfg.max_send_buffer;
    s.max_message_size = pc->cfg.max_message_size;
    s.rto_initial_ms = pc->cfg.sctp_rto_initial_ms;
    s.rto_min_ms = pc->cfg.sctp_rto_min_ms;
    s.rto_max_ms = pc->cfg.sctp_rto_max_ms;
    int rc = sluice_sctp_new(&pc->sctp, &s, pc->alloc, &pc->rng, &pc->log);
    if (rc == SLUICE_OK) rc = sluice_sctp_connect(pc->sctp, now);
    if (rc) fail_connection(pc, rc, "could not start the SCTP association");
}

static void process_dtls(sluice_peer *pc, sluice_time now) {
    if (!pc->dtls) return;
    sluice_dtls_state st = sluice_dtls_get_state(pc->dtls);
    if (st == SLUICE_DTLS_CONNECTED) {
        if (!pc->sctp) {
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "DTLS connected");
            set_conn_state(pc, SLUICE_CONNECTION_CONNECTED);
            start_sctp(pc, now);
        }
        for (;;) {
            int n = sluice_dtls_read(pc->dtls, pc->scratch, sizeof pc->scratch);
            if (n == SLUICE_ERR_AGAIN) break;
            if (n < 0) continue; /* oversized record dropped */
            if (pc->sctp) sluice_sctp_handle_packet(pc->sctp, now, pc->scratch, (size_t)n);
        }
    } else if (st == SLUICE_DTLS_FAILED && !pc->closed && pc->conn_state != SLUICE_CONNECTION_FAILED) {
        fail_connection(pc, sluice_dtls_error(pc->dtls) ? sluice_dtls_error(pc->dtls) : SLUICE_ERR_DTLS,
                        sluice_dtls_reason(pc->dtls)[0] ? sluice_dtls_reason(pc->dtls) : "DTLS failed");
    } else if (st == SLUICE_DTLS_CLOSED && !pc->closed && pc->conn_state != SLUICE_CONNECTION_CLOSED) {
        /* The peer sent close_notify: it closed the connection. */
        sluice_channel_close_all(pc);
        set_conn_state(pc, SLUICE_CONNECTION_CLOSED);
    }
}

static void maybe_start_dtls(sluice_peer *pc, sluice_time now) {
    if (!pc->dtls || pc->dtls_started || !pc->dtls_client) return;
    if (!sluice_ice_selected_pair(pc->ice, NULL, NULL)) return;
    /* Our checks can succeed before the DTLS server has our answer (it answers checks with
     * its own password): its DTLS would then reject our certificate (libdatachannel sends
     * "unknown CA"). Start once the peer proves it has our description (an authenticated
     * request), or after PEER_DTLS_START_GRACE_US in case its requests never reach us. */
    if (!pc->dtls_wait_since) pc->dtls_wait_since = now ? now : 1;
    if (!sluice_ice_peer_knows_us(pc->ice)) {
        if (now - pc->dtls_wait_since < PEER_DTLS_START_GRACE_US) return;
        SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "no check from the peer yet: starting DTLS anyway");
    } else if (pc->remote_is_libdatachannel) {
        /* Even then, libdatachannel (0.24) can run ICE before it stores the remote
         * fingerprint, and kills the connection with "unknown CA" when our ClientHello
         * lands in between (seen 2 runs in 12 on loopback). A short settle time after its
         * proof avoids it. Only for that stack (its SDP origin is "rtc"): others keep the
         * fast start. */
        if (!pc->peer_known_at) pc->peer_known_at = now ? now : 1;
        if (now - pc->peer_known_at < PEER_DTLS_SETTLE_US) return;
    }
    pc->dtls_started = true;
    set_conn_state(pc, SLUICE_CONNECTION_CONNECTING);
    int rc = sluice_dtls_start(pc->dtls, now);
    if (rc) fail_connection(pc, rc, "DTLS handshake could not start");
}

static void process_ice(sluice_peer *pc, sluice_time now) {
    if (!pc->ice) return;
    sluice_ice_event ev;
    while (sluice_ice_poll_event(pc->ice, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_ICE_EVENT_LOCAL_CANDIDATE: {
            char line[300];
            int n = sluice_ice_candidate_format(&ev.candidate, line, sizeof line);
            if (n < 0) break;
            if (pc->local_candidates_count < PEER_MAX_LOCAL_CANDIDATES) {
                char *copy = sluice_mem_strdup(pc->alloc, line);
                if (copy) pc->local_candidates[pc->local_candidates_count++] = copy;
            }
            peer_event *e = event_push(pc, SLUICE_EVENT_ICE_CANDIDATE);
            if (e) {
                e->s1 = sluice_mem_strdup(pc->alloc, line);
                e->s2 = sluice_mem_strdup(pc->alloc, pc->data_mid[0] ? pc->data_mid : "0");
                e->mline_index = pc->data_mline_index;
            }
            break;
        }
        case SLUICE_ICE_EVENT_GATHERING_DONE: set_gathering_state(pc, SLUICE_GATHERING_COMPLETE); break;
        case SLUICE_ICE_EVENT_STATE:
            switch (ev.state) {
            case SLUICE_ICE_CHECKING:
                if (pc->conn_state == SLUICE_CONNECTION_NEW) set_conn_state(pc, SLUICE_CONNECTION_CONNECTING);
                break;
            case SLUICE_ICE_CONNECTED:
            case SLUICE_ICE_COMPLETED:
                pc->ice_connected_once = true;
                if (pc->conn_state == SLUICE_CONNECTION_DISCONNECTED)
                    set_conn_state(pc, pc->dtls && sluice_dtls_get_state(pc->dtls) == SLUICE_DTLS_CONNECTED
                                           ? SLUICE_CONNECTION_CONNECTED
                                           : SLUICE_CONNECTION_CONNECTING);
                else if (pc->conn_state == SLUICE_CONNECTION_NEW)
                    set_conn_state(pc, SLUICE_CONNECTION_CONNECTING);
                break;
            case SLUICE_ICE_DISCONNECTED:
                if (pc->conn_state != SLUICE_CONNECTION_CLOSED && pc->conn_state != SLUICE_CONNECTION_FAILED)
                    set_conn_state(pc, SLUICE_CONNECTION_DISCONNECTED);
                break;
            case SLUICE_ICE_FAILED:
                if (!pc->closed) fail_connection(pc, SLUICE_ERR_TIMEOUT, "ICE failed (no usable path or consent lost)");
                break;
            default: break;
            }
            break;
        case SLUICE_ICE_EVENT_SELECTED_PAIR: {
            char l[64], r[64];
            sluice_addr_format(&ev.local, l, sizeof l);
            sluice_addr_format(&ev.remote, r, sizeof r);
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "selected pair %s -> %s", l, r);
            break;
        }
        case SLUICE_ICE_EVENT_ROLE_CHANGED: break;
        }
    }
    maybe_start_dtls(pc, now);
}

/* Run every layer until nothing changes. */
static void peer_process(sluice_peer *pc, sluice_time now) {
    if (pc->closed) return;
    process_ice(pc, now);
    process_dtls(pc, now);
    sluice_peer_process_sctp(pc, now);
    process_dtls(pc, now); /* SCTP may have been created: drain records that queued meanwhile */
    sluice_peer_process_sctp(pc, now);
}

/* ------------------------------------------------------------------ sans-IO ------- */

int sluice_peer_add_local_address(sluice_peer *pc, const sluice_addr *local) {
    if (!pc || !local || (local->family != 4 && local->family != 6)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->local_addrs_count >= SLUICE_ARRAY_LEN(pc->local_addrs)) return SLUICE_ERR_EXHAUSTED;
    pc->local_addrs[pc->local_addrs_count++] = *local;
    if (pc->ice) return sluice_ice_add_local_address(pc->ice, local);
    return SLUICE_OK;
}

int sluice_peer_handle_datagram(sluice_peer *pc, sluice_time now, const sluice_addr *local,
                                const sluice_addr *remote, const uint8_t *data, size_t len) {
    if (!pc || !local || !remote || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (now > pc->now) pc->now = now;
    now = pc->now;
    pc->packets_received++;
    pc->bytes_received += len;
    if (pc->closed || !pc->ice || len == 0) {
        pc->datagrams_dropped++;
        return SLUICE_OK;
    }
    uint8_t first = data[0];
    const uint8_t *dtls_data = NULL;
    size_t dtls_len = 0;
    sluice_addr dtls_from = *remote;
    if (first <= 3 || (first >= 64 && first <= 79)) {
        const uint8_t *app = NULL;
        size_t app_len = 0;
        sluice_addr app_from;
        memset(&app_from, 0, sizeof app_from);
        sluice_ice_handle_datagram(pc->ice, now, local, remote, data, len, &app, &app_len, &app_from);
        if (app_len && sluice_dtls_is_record(app, app_len)) {
            dtls_data = app;
            dtls_len = app_len;
            dtls_from = app_from;
        }
    } else if (sluice_dtls_is_record(data, len) && sluice_ice_remote_is_known(pc->ice, remote)) {
        dtls_data = data;
        dtls_len = len;
        sluice_ice_note_traffic(pc->ice, now, local, remote);
    } else {
        /* not STUN, or DTLS from an address ICE does not know: a stranger's (RFC 8445 §11) */
        pc->datagrams_dropped++;
    }
    if (dtls_data) {
        if (pc->dtls) {
            if (!pc->has_dtls_path) {
                pc->has_dtls_path = true;
                pc->dtls_local = *local;
                pc->dtls_remote = dtls_from;
            }
            sluice_dtls_handle_datagram(pc->dtls, now, dtls_data, dtls_len);
        } else {
            pc->datagrams_dropped++;
        }
    }
    peer_process(pc, now);
    return SLUICE_OK;
}

/* Send a DTLS datagram over the selected pair (or the path the peer's DTLS came from). */
static int wrap_dtls(sluice_peer *pc, const uint8_t *d, size_t n, uint8_t *buf, size_t cap, sluice_transmit *tx) {
    int w = sluice_ice_wrap_app_data(pc->ice, d, n, &tx->local, &tx->remote, buf, cap);
    if (w == SLUICE_ERR_INVALID_STATE && pc->has_dtls_path) {
        if (n > cap) return SLUICE_ERR_NOBUFS;
        memcpy(buf, d, n);
        tx->local = pc->dtls_local;
        tx->remote = pc->dtls_remote;
        w = (int)n;
    }
    return w;
}

int sluice_peer_poll_transmit(sluice_peer *pc, sluice_time now, uint8_t *buf, size_t cap, sluice_transmit *tx) {
    if (!pc || !buf || !tx) return SLUICE_ERR_INVALID_ARGUMENT;
    if (cap < 1500) return SLUICE_ERR_NOBUFS;
    if (now > pc->now) pc->now = now;
    now = pc->now;
    if (!pc->ice) return 0;
    int n = sluice_ice_poll_transmit(pc->ice, now, &tx->local, &tx->remote, buf, cap);
    if (n > 0) {
        tx->len = (size_t)n;
        pc->packets_sent++;
        pc->bytes_sent += (size_t)n;
        return 1;
    }
    if (!pc->dtls) return 0;
    for (int guard = 0; guard < 64; guard++) {
        int d = sluice_dtls_poll_datagram(pc->dtls, pc->scratch2, sizeof pc->scratch2);
        if (d > 0) {
            int w = wrap_dtls(pc, pc->scratch2, (size_t)d, buf, cap, tx);
            if (w < 0) continue; /* no path yet: DTLS retransmits later */
            tx->len = (size_t)w;
            pc->packets_sent++;
            pc->bytes_sent += (size_t)w;
            return 1;
        }
        if (!pc->sctp || sluice_dtls_get_state(pc->dtls) != SLUICE_DTLS_CONNECTED) return 0;
        int p = sluice_sctp_poll_packet(pc->sctp, now, pc->scratch, sizeof pc->scratch);
        if (p <= 0) return 0;
        int rc = sluice_dtls_write(pc->dtls, pc->scratch, (size_t)p);
        if (rc) SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "DTLS write failed: %s", sluice_strerror(rc));
    }
    return 0;
}

sluice_time sluice_peer_next_deadline(const sluice_peer *pc) {
    if (!pc || pc->closed) return SLUICE_TIME_NEVER;
    sluice_time t = SLUICE_TIME_NEVER;
    if (pc->ice) t = sluice_time_min(t, sluice_ice_next_deadline(pc->ice));
    if (pc->dtls) t = sluice_time_min(t, sluice_dtls_next_deadline(pc->dtls));
    if (pc->sctp) t = sluice_time_min(t, sluice_sctp_next_deadline(pc->sctp));
    if (pc->io)
        for (size_t i = 0; i < pc->mdns_count; i++) t = sluice_time_min(t, pc->mdns[i].next_query);
    if (pc->dtls_wait_since && !pc->dtls_started) {
        t = sluice_time_min(t, pc->dtls_wait_since + PEER_DTLS_START_GRACE_US);
        if (pc->peer_known_at) t = sluice_time_min(t, pc->peer_known_at + PEER_DTLS_SETTLE_US);
    }
    return t;
}

int sluice_peer_handle_timeout(sluice_peer *pc, sluice_time now) {
    if (!pc) return SLUICE_ERR_INVALID_ARGUMENT;
    if (now > pc->now) pc->now = now;
    now = pc->now;
    if (pc->closed) return SLUICE_OK;
    if (pc->ice && sluice_ice_next_deadline(pc->ice) <= now) sluice_ice_handle_timeout(pc->ice, now);
    if (pc->dtls && sluice_dtls_next_deadline(pc->dtls) <= now) sluice_dtls_handle_timeout(pc->dtls, now);
    if (pc->sctp && sluice_sctp_next_deadline(pc->sctp) <= now) sluice_sctp_handle_timeout(pc->sctp, now);
    peer_process(pc, now);
    return SLUICE_OK;
}

/* ------------------------------------------------------------------ socket mode --- */

static void mdns_drop(sluice_peer *pc, size_t i) {
    pc->mdns[i] = pc->mdns[--pc->mdns_count];
}

static void on_mdns_reply(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data,
                          size_t len) {
    sluice_peer *pc = user;
    (void)local;
    (void)remote;
    for (size_t i = 0; i < pc->mdns_count;) {
        sluice_addr addrs[4];
        int n = sluice_mdns_parse_response(data, len, pc->mdns[i].cand.hostname, addrs, 4, NULL);
        if (n <= 0) {
            i++;
            continue;
        }
        sluice_ice_candidate c = pc->mdns[i].cand;
        mdns_drop(pc, i);
        for (int k = 0; k < n; k++) {
            uint16_t port = c.addr.port;
            c.addr = addrs[k];
            c.addr.port = port;
            char a[64];
            sluice_addr_format(&c.addr, a, sizeof a);
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "mDNS: %s is %s", c.hostname, a);
            c.hostname[0] = '\0';
            if (pc->ice) sluice_ice_add_remote_candidate(pc->ice, pc->now, &c);
        }
    }
    peer_process(pc, pc->now);
}

/* Send due mDNS queries (250 ms, 500 ms, 1 s apart); give up after the last one. */
static void mdns_service(sluice_peer *pc, sluice_time now) {
    if (!pc->io) return;
    if (pc->mdns_count == 0) {
        sluice_mem_free(pc->alloc, pc->mdns);
        pc->mdns = NULL;
        sluice_io_mdns_close(pc->io); /* nothing to resolve: give port 5353 back */
        return;
    }
    sluice_io_set_mdns_handler(pc->io, on_mdns_reply, pc);
    for (size_t i = 0; i < pc->mdns_count;) {
        peer_mdns *m = &pc->mdns[i];
        if (now < m->next_query) {
            i++;
            continue;
        }
        if (m->tries >= PEER_MDNS_TRIES) {
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "mDNS: no answer for %s, candidate skipped", m->cand.hostname);
            mdns_drop(pc, i);
            continue;
        }
        uint8_t q[300];
        /* QM, not QU: Chromium's responder ignores questions with the unicast-response bit
         * (class 0x8001) and answers QM ones by multicast, which io hears on port 5353.
         * Coming from an ephemeral port, the query is still a legacy one (RFC 6762 §6.7):
         * responders that follow the RFC answer it by unicast to that port. */
        int n = sluice_mdns_build_query(m->cand.hostname, true, false, false, 0, q, sizeof q);
        if (n > 0 && sluice_io_mdns_query(pc->io, q, (size_t)n) != SLUICE_OK)
            SLUICE_LOG(&pc->log, SLUICE_LOG_INFO, "peer", "mDNS: query for %s could not be sent", m->cand.hostname);
        m->tries++;
        m->next_query = now + (250000ull << (m->tries - 1));
        i++;
    }
}

static void on_io_datagram(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data,
                           size_t len) {
    sluice_peer *pc = user;
    sluice_peer_handle_datagram(pc, pc->now, local, remote, data, len);
}

/* Lost TCP/TLS connections to TURN servers fail their allocations at once. */
static void io_stream_events(sluice_peer *pc) {
    sluice_addr local, remote;
    while (sluice_io_poll_stream_closed(pc->io, &local, &remote))
        if (pc->ice) sluice_ice_path_closed(pc->ice, &local, &remote);
}

static void flush_io(sluice_peer *pc) {
    if (pc->mux) {
        sluice_mux_flush_peer(pc->mux, pc);
        return;
    }
    if (!pc->io) return;
    sluice_transmit tx;
    uint8_t buf[SLUICE_IO_MAX_DATAGRAM];
    for (int i = 0; i < 4096; i++) {
        int r = sluice_peer_poll_transmit(pc, pc->now, buf, sizeof buf, &tx);
        if (r != 1) break;
        sluice_ice_path_transport pt =
            pc->ice ? sluice_ice_path_transport_of(pc->ice, &tx.local, &tx.remote) : SLUICE_ICE_PATH_UDP;
        int rc = SLUICE_OK;
        if (pt == SLUICE_ICE_PATH_TLS)
            rc = sluice_io_send_tls(pc->io, &tx.local, &tx.remote,
                                    sluice_ice_path_server_name(pc->ice, &tx.local, &tx.remote), buf, tx.len);
        else if (pt == SLUICE_ICE_PATH_TCP)
            rc = sluice_io_send_tcp(pc->io, &tx.local, &tx.remote, buf, tx.len);
        else
            sluice_io_send(pc->io, &tx.local, &tx.remote, buf, tx.len);
        /* A connection that cannot be opened loses the message for good (no retransmission
         * on streams): its TURN allocation fails now. A full buffer is back-pressure only. */
        if (rc != SLUICE_OK && rc != SLUICE_ERR_BUFFER_FULL) {
            SLUICE_LOG(&pc->log, SLUICE_LOG_WARN, "peer", "TURN stream could not be opened: %s", sluice_strerror(rc));
            sluice_ice_path_closed(pc->ice, &tx.local, &tx.remote);
        }
    }
    sluice_io_flush(pc->io);
    io_stream_events(pc);
}


static void fill_public_event(peer_event *e, sluice_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->type = e->type;
    ev->channel = e->ch;
    ev->state = e->state;
    ev->error = e->error;
    ev->mline_index = e->mline_index;
    ev->reason = "";
    switch (e->type) {
    case SLUICE_EVENT_SESSION_DESCRIPTION:
        ev->sdp = e->s1 ? e->s1 : "";
        ev->sdp_type = e->s2 ? e->s2 : "";
        break;
    case SLUICE_EVENT_ICE_CANDIDATE:
        ev->candidate = e->s1 ? e->s1 : "";
        ev->mid = e->s2 ? e->s2 : "";
        break;
    default: ev->reason = e->s1 ? e->s1 : ""; break;
    }
}

int sluice_peer_poll_event(sluice_peer *pc, sluice_event *ev) {
    if (!pc || !ev) return SLUICE_ERR_INVALID_ARGUMENT;
    event_clear(pc, &pc->current);
    if (pc->ev_count == 0) {
        sluice_channel_release_closed(pc);
        memset(ev, 0, sizeof *ev);
        return 0;
    }
    pc->current = pc->events[pc->ev_head];
    pc->ev_head = (pc->ev_head + 1) % pc->ev_cap;
    pc->ev_count--;
    if (pc->current.type == SLUICE_EVENT_CHANNEL_MESSAGE && pc->current.ch) pc->current.ch->message_event_queued = false;
    fill_public_event(&pc->current, ev);
    return 1;
}

int sluice_peer_poll(sluice_peer *pc) {
    if (!pc) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->in_callback) return SLUICE_ERR_INVALID_STATE; /* no re-entrant poll */
    sluice_time now = sluice_peer_now(pc);
    if (pc->io && !pc->closed) {
        mdns_service(pc, now);
        sluice_io_recv(pc->io, on_io_datagram, pc, 4096);
        io_stream_events(pc);
        if (sluice_peer_next_deadline(pc) <= now) sluice_peer_handle_timeout(pc, now);
        flush_io(pc);
    } else if (pc->mux && !pc->closed) {
        sluice_mux_service_peer(pc->mux, pc, now); /* reads the shared socket, sends ours */
    }
    if (!pc->has_cb) return SLUICE_OK;
    sluice_event ev;
    while (sluice_peer_poll_event(pc, &ev) == 1) {
        pc->in_callback++;
        pc->cb.on_event(pc, &ev, pc->user);
        pc->in_callback--;
        if (pc->free_requested) {
            peer_free_now(pc);
            return SLUICE_ERR_CLOSED;
        }
    }
    event_clear(pc, &pc->current);
    /* Sends that callbacks queued go out now rather than on the next poll. */
    if ((pc->io || pc->mux) && !pc->closed) flush_io(pc);
    return SLUICE_OK;
}

int sluice_peer_fds(const sluice_peer *pc, int *fds, size_t cap) {
    if (!pc || (!fds && cap)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (pc->mux) return sluice_mux_fds(pc->mux, fds, cap);
    if (!pc->io) return 0;
    return sluice_io_fds(pc->io, fds, cap);
}

int sluice_peer_timeout_ms(const sluice_peer *pc) {
    if (!pc) return -1;
    if (pc->ev_count) return 0;
    if (pc->io && sluice_io_tcp_pending(pc->io)) return 5; /* a TCP connect/write is in progress */
    sluice_time d = sluice_peer_next_deadline(pc);
    if (d == SLUICE_TIME_NEVER) return -1;
    sluice_time now = sluice_clock_monotonic_us();
    if (d <= now) return 0;
    uint64_t ms = (d - now + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}

/* ------------------------------------------------------------------ getters ------- */

sluice_connection_state sluice_peer_connection_state(const sluice_peer *pc) {
    return pc ? pc->conn_state : SLUICE_CONNECTION_CLOSED;
}
sluice_gathering_state sluice_peer_gathering_state(const sluice_peer *pc) {
    return pc ? pc->gathering_state : SLUICE_GATHERING_NEW;
}
sluice_signaling_state sluice_peer_signaling_state(const sluice_peer *pc) {
    return pc ? pc->signaling_state : SLUICE_SIGNALING_CLOSED;
}

int sluice_peer_local_fingerprint(const sluice_peer *pc, char *buf, size_t cap) {
    if (!pc || !buf) return SLUICE_ERR_INVALID_ARGUMENT;
    int n = snprintf(buf, cap, "sha-256 %s", pc->fingerprint);
    if (n < 0 || (size_t)n >= cap) return SLUICE_ERR_NOBUFS;
    return n;
}

int sluice_peer_get_stats(const sluice_peer *pc, sluice_peer_stats *out) {
    if (!pc || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    out->bytes_sent = pc->bytes_sent;
    out->bytes_received = pc->bytes_received;
    out->packets_sent = pc->packets_sent;
    out->packets_received = pc->packets_received;
    out->messages_sent = pc->messages_sent;
    out->messages_received = pc->messages_received;
    out->datagrams_dropped = pc->datagrams_dropped + (pc->ice ? sluice_ice_dropped(pc->ice) : 0);
    if (pc->sctp) {
        sluice_sctp_stats s;
        sluice_sctp_get_stats(pc->sctp, &s);
        out->rtt_us = s.srtt_us;
        out->cwnd = s.cwnd;
        out->peer_rwnd = s.peer_rwnd;
        out->bytes_in_flight = s.bytes_in_flight;
        out->retransmissions = s.retransmissions;
    }
    if (pc->ice) out->has_selected_pair = sluice_ice_selected_pair(pc->ice, &out->selected_local, &out->selected_remote);
    return SLUICE_OK;
}










