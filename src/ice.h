/* ICE agent (RFC 8445, 8838 trickle, 7675 consent), sans-IO: `now` and datagrams in,
 * datagrams, events and one deadline out. The agent owns no sockets: it knows local
 * addresses given to it by the I/O layer (or the sans-IO caller) and says from which
 * local address each datagram goes.
 *
 * Typical use by the peer layer:
 *   sluice_ice_settings_default(&s); s.controlling = offerer; ...; sluice_ice_new(&a, &s, ...);
 *   sluice_ice_add_local_address() per bound socket; sluice_ice_gather(a, now);
 *   signal sluice_ice_local_ufrag/pwd and the LOCAL_CANDIDATE events (format them);
 *   sluice_ice_set_remote_credentials() + sluice_ice_add_remote_candidate() from the SDP/trickle;
 *   loop: handle_datagram (first byte 0..3 and 64..79), poll_transmit until 0, poll_event,
 *         handle_timeout at next_deadline; DTLS goes out through wrap_app_data and comes in
 *         directly (20..63) or, over TURN, through handle_datagram's `app` output.
 * STUN/TURN server URLs must hold IP literals (no DNS here; resolve before; for turns: keep
 * the configured name in sluice_ice_url.server_name for certificate checks). stuns: URLs
 * are skipped (a TCP mapping is useless for UDP candidates). After
 * sluice_ice_close(), drain poll_transmit once more: it carries TURN deallocations. */
#ifndef SLUICE_ICE_H
#define SLUICE_ICE_H

#include "util.h"

typedef enum sluice_ice_cand_type {
    SLUICE_ICE_CAND_HOST = 0,
    SLUICE_ICE_CAND_SRFLX = 1,
    SLUICE_ICE_CAND_PRFLX = 2,
    SLUICE_ICE_CAND_RELAY = 3,
} sluice_ice_cand_type;

/** One candidate (RFC 8839 §5.1). `hostname` is set instead of addr.ip for ".local" names. */
typedef struct sluice_ice_candidate {
    char foundation[33];
    uint16_t component;     /**< 1 (RTP) — 2 accepted and ignored */
    bool tcp;               /**< transport TCP (parsed; not used for checks) */
    uint32_t priority;
    sluice_addr addr;       /**< family 0 when hostname holds an unresolved name */
    char hostname[256];     /**< mDNS name like "<uuid>.local", else "" */
    sluice_ice_cand_type type;
    bool has_related;
    sluice_addr related;    /**< raddr/rport */
    char ufrag[257];        /**< "ufrag" extension, "" when absent */
    uint32_t generation;
} sluice_ice_candidate;

/** Parse a candidate line, with or without "a=" and "candidate:" (RFC 8839). Unknown
 *  extensions are ignored. Errors: CANDIDATE. */
int sluice_ice_candidate_parse(const char *line, sluice_ice_candidate *out);
/** Format as "candidate:<foundation> 1 udp <prio> <ip> <port> typ <type> [raddr .. rport ..]"
 *  (no "a=", no CRLF). Returns the length or NOBUFS. */
int sluice_ice_candidate_format(const sluice_ice_candidate *c, char *buf, size_t cap);
/** RFC 8445 §5.1.2.1 priority. */
uint32_t sluice_ice_priority(sluice_ice_cand_type type, uint16_t local_pref, uint16_t component);

typedef enum sluice_ice_state {
    SLUICE_ICE_NEW = 0,
    SLUICE_ICE_CHECKING = 1,
    SLUICE_ICE_CONNECTED = 2,
    SLUICE_ICE_COMPLETED = 3,
    SLUICE_ICE_DISCONNECTED = 4,
    SLUICE_ICE_FAILED = 5,
    SLUICE_ICE_CLOSED = 6,
} sluice_ice_state;

typedef struct sluice_ice_settings {
    bool controlling;              /**< offerer is controlling (JSEP); may flip on role conflict */
    uint32_t ta_ms;                /**< check pacing Ta; default 50 */
    uint32_t consent_interval_ms;  /**< consent check period; default 5000 (randomised 0.8..1.2) */
    uint32_t disconnect_ms;        /**< no traffic/response → DISCONNECTED; default 5000 */
    uint32_t fail_ms;              /**< no response → FAILED; default 30000 */
    uint32_t connect_timeout_ms;   /**< checking with no valid pair → FAILED; default 30000 */
    bool aggressive_nomination;    /**< as controlling: USE-CANDIDATE on every check; default false */
    size_t max_remote_candidates;  /**< bound; default 64 */
    size_t max_pairs;              /**< bound; default 256 */
    /* STUN / TURN servers (parsed ICE URLs) used for srflx / relay gathering. */
    const sluice_ice_url *stun_servers; size_t stun_servers_count;
    const sluice_ice_url *turn_servers; size_t turn_servers_count;
    const char *turn_username;
    const char *turn_password;
    bool relay_only;
} sluice_ice_settings;

void sluice_ice_settings_default(sluice_ice_settings *s);

typedef struct sluice_ice_agent sluice_ice_agent;

/** Create an agent with fresh local ufrag (4+ chars) / pwd (22+ chars) from `rng`.
 *  `rng`, `log` must outlive the agent. Errors: NOMEM. */
int sluice_ice_new(sluice_ice_agent **out, const sluice_ice_settings *s, const sluice_allocator *alloc,
                   const sluice_rng *rng, const sluice_logger *log);
void sluice_ice_free(sluice_ice_agent *a);

/** Replace the local credentials (tests, or an application that must reuse signalled ones).
 *  RFC 8839 §5.4: ufrag 4..256 and pwd 22..256 ice-chars. Call before checks start.
 *  Errors: INVALID_ARGUMENT. */
int sluice_ice_set_local_credentials(sluice_ice_agent *a, const char *ufrag, const char *pwd);

const char *sluice_ice_local_ufrag(const sluice_ice_agent *a);
const char *sluice_ice_local_pwd(const sluice_ice_agent *a);
bool sluice_ice_is_controlling(const sluice_ice_agent *a);
void sluice_ice_set_controlling(sluice_ice_agent *a, bool controlling);

/** Remote credentials from the SDP. A change of ufrag/pwd after the first call is an ICE
 *  restart of the remote side. Errors: INVALID_ARGUMENT (empty / too long). */
int sluice_ice_set_remote_credentials(sluice_ice_agent *a, const char *ufrag, const char *pwd);
/** The remote side is ICE-lite (a=ice-lite): we are controlling and nominate. */
void sluice_ice_set_remote_lite(sluice_ice_agent *a, bool lite);

/** Declare a local address (a bound socket). Host candidates are made from these when
 *  gathering starts (or at once, when gathering already started). Errors: NOMEM, EXHAUSTED. */
int sluice_ice_add_local_address(sluice_ice_agent *a, const sluice_addr *local);

/** Start gathering: host candidates at once (events), srflx/relay as servers answer. */
int sluice_ice_gather(sluice_ice_agent *a, sluice_time now);

/** Add a remote candidate (already parsed). Ignored (OK) when component != 1 or TCP; kept
 *  aside when it holds an mDNS name (see sluice_ice_resolve_hostname).
 *  Errors: EXHAUSTED (max_remote_candidates, or too many unresolved names). */
int sluice_ice_add_remote_candidate(sluice_ice_agent *a, sluice_time now, const sluice_ice_candidate *c);
/** Remote candidates with an mDNS host name ("<uuid>.local") wait, bounded, until resolved.
 *  Lists up to `max` distinct names still unresolved; returns how many were written. */
size_t sluice_ice_unresolved_hostnames(const sluice_ice_agent *a, const char **names, size_t max);
/** The name resolved (mDNS answer, see mdns.h) to `ip` (port ignored): the waiting candidates
 *  with that name are added with this address. Returns how many; 0 when none waited. */
int sluice_ice_resolve_hostname(sluice_ice_agent *a, sluice_time now, const char *name, const sluice_addr *ip);

/** The remote side sent end-of-candidates. */
void sluice_ice_remote_gathering_done(sluice_ice_agent *a);

/** ICE restart of our side: new local ufrag/pwd, gathering again. */
int sluice_ice_restart(sluice_ice_agent *a, sluice_time now);

/** A STUN datagram (or TURN ChannelData / Data indication) received on `local` from `remote`.
 *  Non-STUN application data arriving via TURN is returned through `app`/`app_len`
 *  (pointers into `data`) with the real remote in *app_from; otherwise app_len = 0.
 *  Bad packets are dropped and counted (returns OK). */
int sluice_ice_handle_datagram(sluice_ice_agent *a, sluice_time now, const sluice_addr *local,
                               const sluice_addr *remote, const uint8_t *data, size_t len,
                               const uint8_t **app, size_t *app_len, sluice_addr *app_from);

/** Note that an authenticated non-STUN datagram (DTLS) arrived on this path (keeps
 *  consent timers happy only per RFC 7675 rules: consent needs STUN responses). */
void sluice_ice_note_traffic(sluice_ice_agent *a, sluice_time now, const sluice_addr *local,
                             const sluice_addr *remote);

/** The next STUN/TURN datagram to send: returns its length, 0 when none, NOBUFS. */
int sluice_ice_poll_transmit(sluice_ice_agent *a, sluice_time now, sluice_addr *local,
                             sluice_addr *remote, uint8_t *buf, size_t cap);

/** Wrap application data (DTLS) for the selected pair: writes into buf the datagram to send
 *  (raw, or TURN ChannelData/Send indication when the local candidate is relayed).
 *  Returns the length; INVALID_STATE when there is no selected pair; NOBUFS. */
int sluice_ice_wrap_app_data(sluice_ice_agent *a, const uint8_t *data, size_t len, sluice_addr *local,
                             sluice_addr *remote, uint8_t *buf, size_t cap);

/** True when datagrams between `local` and `remote` travel over a TCP connection to a TURN
 *  server (a turn: URL with ?transport=tcp). The I/O layer then connects from the IP of
 *  `local` to `remote`, writes each datagram of poll_transmit/wrap_app_data for that pair to
 *  the stream as is (STUN and padded ChannelData are self-delimiting, RFC 8656 §12.5), splits
 *  the received stream with sluice_turn_tcp_frame() (turn.h) and hands each message to
 *  sluice_ice_handle_datagram() with the same `local` / `remote`. */
bool sluice_ice_is_tcp_path(const sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote);

typedef enum sluice_ice_path_transport {
    SLUICE_ICE_PATH_UDP = 0,
    SLUICE_ICE_PATH_TCP = 1, /**< turn:...?transport=tcp */
    SLUICE_ICE_PATH_TLS = 2, /**< turns: — a TCP path (is_tcp_path is true) carrying TLS */
} sluice_ice_path_transport;

/** How datagrams between `local` and `remote` travel. For TLS the stream framing is the same
 *  as for TCP, inside TLS; verify the server against sluice_ice_path_server_name(). */
sluice_ice_path_transport sluice_ice_path_transport_of(const sluice_ice_agent *a, const sluice_addr *local,
                                                       const sluice_addr *remote);
/** For a TCP/TLS path: the name the TURN server's certificate must carry (the URL's
 *  server_name, else its host); NULL for other paths. Valid while the agent lives. */
const char *sluice_ice_path_server_name(const sluice_ice_agent *a, const sluice_addr *local,
                                        const sluice_addr *remote);

/** The I/O layer lost the TCP/TLS connection of that path (refused, reset, TLS handshake or
 *  certificate verification failed, closed by the server): its TURN client fails at once
 *  rather than after the 39.5 s transaction timeout. Other paths: ignored. */
void sluice_ice_path_closed(sluice_ice_agent *a, const sluice_addr *local, const sluice_addr *remote);

sluice_time sluice_ice_next_deadline(const sluice_ice_agent *a);
void sluice_ice_handle_timeout(sluice_ice_agent *a, sluice_time now);

typedef enum sluice_ice_event_type {
    SLUICE_ICE_EVENT_LOCAL_CANDIDATE = 1,  /**< `candidate` gathered */
    SLUICE_ICE_EVENT_GATHERING_DONE = 2,
    SLUICE_ICE_EVENT_STATE = 3,            /**< `state` */
    SLUICE_ICE_EVENT_SELECTED_PAIR = 4,    /**< `local`, `remote` (selected pair changed) */
    SLUICE_ICE_EVENT_ROLE_CHANGED = 5,     /**< after a 487 role conflict */
} sluice_ice_event_type;

typedef struct sluice_ice_event {
    sluice_ice_event_type type;
    sluice_ice_candidate candidate;
    sluice_ice_state state;
    sluice_addr local, remote;
} sluice_ice_event;

/** Pull the next event: 1 when written, 0 when none. */
int sluice_ice_poll_event(sluice_ice_agent *a, sluice_ice_event *ev);

sluice_ice_state sluice_ice_get_state(const sluice_ice_agent *a);
/** True once an authenticated Binding request from the peer arrived (it carried our ufrag and
 *  was keyed with our password), i.e. the peer has applied our description; always true for
 *  an ICE-lite peer (which never sends checks). Reset by an ICE restart. */
bool sluice_ice_peer_knows_us(const sluice_ice_agent *a);
/** True when `remote` is a remote candidate (signalled or peer-reflexive) or the source of
 *  one of the last authenticated requests: the only addresses whose non-STUN traffic (DTLS)
 *  the peer accepts (RFC 8445 §11: data only on validated paths; an off-path sender of
 *  a plaintext DTLS alert must not end the handshake). */
bool sluice_ice_remote_is_known(const sluice_ice_agent *a, const sluice_addr *remote);

/** The selected pair; false when none. */
bool sluice_ice_selected_pair(const sluice_ice_agent *a, sluice_addr *local, sluice_addr *remote);

void sluice_ice_close(sluice_ice_agent *a);

/** True when `data` is STUN by its first byte (RFC 7983: 0..3). */
static inline bool sluice_ice_is_stun(const uint8_t *data, size_t len) {
    return len >= 20 && data[0] <= 3;
}

/** STUN packets dropped so far (malformed, unauthenticated, no room for their state). */
uint64_t sluice_ice_dropped(const sluice_ice_agent *a);

#endif
