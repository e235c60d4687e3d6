/*
 * sluice — WebRTC data channels in C, with the semantics of Godot's
 * WebRTCPeerConnection / WebRTCDataChannel.
 *
 * Conventions (apply to every function below unless its comment says otherwise):
 *  - Functions returning `int` return SLUICE_OK (0) or a value >= 0 on success and a
 *    negative `sluice_err` code on failure. On failure nothing was changed.
 *  - Threading: one sluice_peer (and its channels) is used from one thread at a time.
 *    Different peers may live on different threads. There are no globals and no
 *    internal threads.
 *  - Events are delivered only on the caller's thread, from inside sluice_peer_poll()
 *    (callbacks) or sluice_peer_poll_event() (pull). Callbacks may call any sluice
 *    function, including sluice_peer_close() and sluice_peer_free(): such calls are
 *    deferred safely until the callback returns.
 *  - Time is `sluice_time` microseconds from an arbitrary epoch chosen by the caller
 *    (monotonic). sluice_peer_poll() uses CLOCK_MONOTONIC; the sans-IO entry points
 *    take `now` explicitly.
 *  - Strings are NUL-terminated UTF-8 and are copied when passed in.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SLUICE_BUILDING) && defined(__GNUC__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0
#define SLUICE_VERSION_STRING "0.1.0"

/** Microseconds on a monotonic clock whose epoch the caller picks. */
typedef uint64_t sluice_time;
/** A deadline that never comes. */
#define SLUICE_TIME_NEVER UINT64_MAX

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */
/* ------------------------------------------------------------------------- */

/** Error codes: always negative; 0 is success. */
typedef enum sluice_err {
    SLUICE_OK = 0,
    SLUICE_ERR_INVALID_ARGUMENT = -1,  /**< a NULL or out-of-range argument */
    SLUICE_ERR_NOMEM = -2,             /**< an allocation failed; state unchanged */
    SLUICE_ERR_NOT_IMPLEMENTED = -3,   /**< reserved: no function returns it today */
    SLUICE_ERR_INVALID_STATE = -4,     /**< not allowed in the current state */
    SLUICE_ERR_MALFORMED = -5,         /**< bad bytes or text from the network or the caller */
    SLUICE_ERR_BUFFER_FULL = -6,       /**< back-pressure: send buffer cap reached; retry later */
    SLUICE_ERR_TOO_LARGE = -7,         /**< over the remote max-message-size, or the whole send buffer */
    SLUICE_ERR_NOT_FOUND = -8,         /**< no such object / nothing matching */
    SLUICE_ERR_INTEGRITY = -9,         /**< authentication (HMAC, fingerprint, CRC) failed */
    SLUICE_ERR_CONFIG = -10,           /**< bad configuration (ICE server URL, option, ...) */
    SLUICE_ERR_SDP = -11,              /**< malformed or unusable SDP */
    SLUICE_ERR_CANDIDATE = -12,        /**< malformed ICE candidate line */
    SLUICE_ERR_DTLS = -13,             /**< DTLS handshake or record failure */
    SLUICE_ERR_FINGERPRINT = -14,      /**< peer certificate does not match the SDP fingerprint */
    SLUICE_ERR_SCTP = -15,             /**< SCTP association failure */
    SLUICE_ERR_IO = -16,               /**< a socket call failed */
    SLUICE_ERR_CLOSED = -17,           /**< the object is closed */
    SLUICE_ERR_EXHAUSTED = -18,        /**< no free stream id / port / slot left */
    SLUICE_ERR_TIMEOUT = -19,          /**< a protocol timer gave up */
    SLUICE_ERR_NOBUFS = -20,           /**< caller's output buffer too small */
    SLUICE_ERR_UNSUPPORTED = -21,      /**< valid but not supported (e.g. a scheme or a hash) */
    SLUICE_ERR_ABORTED = -22,          /**< the peer aborted */
    SLUICE_ERR_ID_IN_USE = -23,        /**< a channel with that stream id exists */
    SLUICE_ERR_CRYPTO = -24,           /**< an OpenSSL primitive failed */
    SLUICE_ERR_AGAIN = -25,            /**< nothing available now (e.g. no packet to receive) */
} sluice_err;

/** A static English description of `err` (never NULL; "unknown error" for unknown codes). */
SLUICE_API const char *sluice_strerror(int err);

/** The library version string, e.g. "0.1.0". */
SLUICE_API const char *sluice_version(void);

/* ------------------------------------------------------------------------- */
/* Hooks: allocator, logging, randomness                                     */
/* ------------------------------------------------------------------------- */

/**
 * Allocator hooks. Any NULL function means "use the C library". `free` is called
 * with NULL never; `realloc` with ptr NULL behaves like malloc. OpenSSL's own
 * allocations do not go through these hooks.
 */
typedef struct sluice_allocator {
    void *(*malloc)(size_t size, void *user);
    void *(*realloc)(void *ptr, size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} sluice_allocator;

typedef enum sluice_log_level {
    SLUICE_LOG_ERROR = 0,
    SLUICE_LOG_WARN = 1,
    SLUICE_LOG_INFO = 2,
    SLUICE_LOG_DEBUG = 3,
    SLUICE_LOG_TRACE = 4,
} sluice_log_level;

/**
 * Log sink. `module` is a short static name ("ice", "dtls", "sctp", ...), `msg` one
 * line without newline, valid only during the call. Called on the thread that drives
 * the peer; must not call back into sluice.
 */
typedef void (*sluice_log_fn)(void *user, sluice_log_level level, const char *module,
                              const char *msg);

/**
 * Random source: fill `out` with `len` unpredictable bytes; return 0, or -1 on
 * failure. The default uses OpenSSL's RAND_bytes. Tests inject a seeded one.
 * Must not call back into sluice.
 */
typedef int (*sluice_random_fn)(void *user, uint8_t *out, size_t len);

/* ------------------------------------------------------------------------- */
/* Addresses                                                                 */
/* ------------------------------------------------------------------------- */

/** A transport address (IPv4 or IPv6 + port), in network byte order for `ip`. */
typedef struct sluice_addr {
    uint8_t family; /**< 4 or 6 (0 = unset) */
    uint16_t port;  /**< host byte order */
    uint8_t ip[16]; /**< IPv4 in the first 4 bytes */
} sluice_addr;

/** Parse "1.2.3.4", "::1" or "[::1]" plus `port` into `out`. Errors: INVALID_ARGUMENT, MALFORMED. */
SLUICE_API int sluice_addr_parse(sluice_addr *out, const char *ip, uint16_t port);
/** Format as "1.2.3.4:5" or "[::1]:5" into `buf` (>= 48 bytes advised). Returns length or NOBUFS. */
SLUICE_API int sluice_addr_format(const sluice_addr *a, char *buf, size_t cap);
/** True when both have the same family, ip and port. */
SLUICE_API bool sluice_addr_equal(const sluice_addr *a, const sluice_addr *b);

/* ------------------------------------------------------------------------- */
/* ICE server URLs and configuration                                         */
/* ------------------------------------------------------------------------- */

typedef enum sluice_ice_scheme {
    SLUICE_ICE_SCHEME_STUN = 0,
    SLUICE_ICE_SCHEME_STUNS = 1,
    SLUICE_ICE_SCHEME_TURN = 2,
    SLUICE_ICE_SCHEME_TURNS = 3,
} sluice_ice_scheme;

typedef enum sluice_ice_transport {
    SLUICE_ICE_TRANSPORT_UDP = 0,
    SLUICE_ICE_TRANSPORT_TCP = 1,
} sluice_ice_transport;

/** A parsed ICE server URL (RFC 7064 / RFC 7065). */
typedef struct sluice_ice_url {
    sluice_ice_scheme scheme;
    char host[256];      /**< host name or IP literal, without brackets */
    bool host_is_ipv6;   /**< host was a bracketed IPv6 literal */
    uint16_t port;       /**< explicit port, or the scheme default (3478 / 5349) */
    sluice_ice_transport transport; /**< from ?transport=, default UDP (TCP for turns/stuns) */
    /** turns: the name the server certificate must carry (and the TLS SNI). "" means `host`.
     *  Set by the peer to the configured host name before it replaces `host` with the
     *  resolved IP literal; sluice_ice_url_parse leaves it empty. */
    char server_name[256];
} sluice_ice_url;

/**
 * Parse an ICE server URL: `stun:host[:port]`, `stuns:`, `turn:host[:port][?transport=udp|tcp]`,
 * `turns:` (TURN over TLS, verified: see sluice_config.turn_ca_pem). IPv6 literals in brackets.
 * `stuns:` parses, but the ICE agent skips it (a STUN answer over TCP gives no UDP candidate).
 * Errors: INVALID_ARGUMENT (NULL),
 * CONFIG (anything malformed: unknown scheme, empty host, bad port, unknown query).
 */
SLUICE_API int sluice_ice_url_parse(const char *url, sluice_ice_url *out);

/** One entry of Godot's `iceServers`: `urls` is one string or an array of strings. */
typedef struct sluice_ice_server {
    const char *const *urls; /**< `urls_count` URL strings */
    size_t urls_count;
    const char *username;    /**< may be NULL (required for turn:/turns:) */
    const char *credential;  /**< may be NULL (required for turn:/turns:) */
} sluice_ice_server;

typedef enum sluice_ice_policy {
    SLUICE_ICE_POLICY_ALL = 0,
    SLUICE_ICE_POLICY_RELAY = 1, /**< only relay candidates are used */
} sluice_ice_policy;

/**
 * Peer connection configuration. Fill with sluice_config_default(), then edit.
 * Pointers must stay valid only during sluice_peer_new()/sluice_peer_initialize():
 * everything is copied.
 */
typedef struct sluice_config {
    uint32_t version; /**< set by sluice_config_default(); do not change */

    const sluice_ice_server *ice_servers;
    size_t ice_servers_count;
    sluice_ice_policy ice_policy;
    bool ice_loopback;       /**< gather 127.0.0.1/::1 host candidates (default false) */
    bool ice_ipv6;           /**< gather IPv6 host candidates (default true) */
    const char *bind_address; /**< gather only this local IP (default NULL: all) */
    uint16_t port_min, port_max; /**< UDP port range (0,0 = any) */
    bool sans_io;            /**< true: open no sockets; the caller feeds datagrams */

    const char *certificate_pem; /**< NULL: generate an ECDSA P-256 certificate */
    const char *private_key_pem;

    size_t max_message_size;   /**< largest message we accept (advertised in SDP); default 262144 */
    size_t max_send_buffer;    /**< per connection, bytes queued to send; default 16 MiB */
    size_t max_receive_buffer; /**< per connection, bytes of received messages not yet read; default 16 MiB */
    uint32_t sctp_receive_window; /**< advertised a_rwnd; default 4 MiB */
    uint32_t sctp_rto_initial_ms; /**< default 1000 */
    uint32_t sctp_rto_min_ms;     /**< default 200 */
    uint32_t sctp_rto_max_ms;     /**< default 10000 */
    uint32_t dtls_retransmit_initial_ms; /**< default 100 */
    uint32_t consent_disconnect_ms; /**< silence before DISCONNECTED; default 5000 */
    uint32_t consent_fail_ms;       /**< silence before FAILED; default 30000 */

    sluice_allocator allocator;
    sluice_log_fn log_fn;
    void *log_user;
    sluice_log_level log_level; /**< default SLUICE_LOG_WARN */
    sluice_random_fn random_fn; /**< NULL: OpenSSL RAND_bytes */
    void *random_user;

    /** turns: (TURN over TLS): PEM text of CA certificates trusted in addition to the system
     *  store, for TURN servers with a private CA. Default NULL (system store only). The
     *  server certificate is always verified, with the host name of the URL; there is no
     *  option to turn that off. Text without any certificate makes initialize fail (CONFIG). */
    const char *turn_ca_pem;
} sluice_config;

#define SLUICE_CONFIG_VERSION 1

/** Fill `cfg` with the defaults above. */
SLUICE_API void sluice_config_default(sluice_config *cfg);

/**
 * Check a configuration without creating anything: every ICE URL parses, turn:/turns:
 * have username and credential, ranges are sane (port_min <= port_max, buffer sizes
 * > 0, rto_min <= rto_initial <= rto_max), certificate and key both or neither.
 * Errors: INVALID_ARGUMENT (NULL), CONFIG.
 */
SLUICE_API int sluice_config_validate(const sluice_config *cfg);

/* ------------------------------------------------------------------------- */
/* Channel options                                                           */
/* ------------------------------------------------------------------------- */

/** Sentinel for "unset" max_retransmits / max_packet_life_time and "unassigned" id. */
#define SLUICE_UNSET 65535u

/** Data channel options (Godot's dictionary). Fill with sluice_channel_options_default(). */
typedef struct sluice_channel_options {
    bool ordered;           /**< default true */
    bool negotiated;        /**< default false; requires has_id */
    bool has_id;
    uint16_t id;            /**< 0..65534 */
    bool has_max_retransmits;
    uint16_t max_retransmits;
    bool has_max_packet_life_time;
    uint16_t max_packet_life_time; /**< milliseconds */
    const char *protocol;   /**< may be NULL (= "") */
    uint16_t priority;      /**< DCEP priority, default 256 (normal) */
} sluice_channel_options;

SLUICE_API void sluice_channel_options_default(sluice_channel_options *o);

/**
 * Set one option by its Godot dictionary key, for bindings that get a dictionary:
 * "negotiated", "ordered" (0/1), "id", "maxRetransmits", "maxPacketLifeTime" and its
 * Godot 3 spelling "maxPacketLifetime", "priority". Errors: INVALID_ARGUMENT (NULL),
 * CONFIG (unknown key, value out of range).
 */
SLUICE_API int sluice_channel_options_set_int(sluice_channel_options *o, const char *key,
                                              int64_t value);

/**
 * Check Godot's rules: negotiated requires an id; maxRetransmits and maxPacketLifeTime
 * are exclusive; id <= 65534; protocol <= 65535 bytes; `label` (may be NULL) <= 65535
 * bytes. Errors: INVALID_ARGUMENT, CONFIG.
 */
SLUICE_API int sluice_channel_options_validate(const sluice_channel_options *o,
                                               const char *label);

/* ------------------------------------------------------------------------- */
/* States                                                                    */
/* ------------------------------------------------------------------------- */

typedef enum sluice_connection_state {
    SLUICE_CONNECTION_NEW = 0,
    SLUICE_CONNECTION_CONNECTING = 1,
    SLUICE_CONNECTION_CONNECTED = 2,
    SLUICE_CONNECTION_DISCONNECTED = 3,
    SLUICE_CONNECTION_FAILED = 4,
    SLUICE_CONNECTION_CLOSED = 5,
} sluice_connection_state;

typedef enum sluice_gathering_state {
    SLUICE_GATHERING_NEW = 0,
    SLUICE_GATHERING_GATHERING = 1,
    SLUICE_GATHERING_COMPLETE = 2,
} sluice_gathering_state;

typedef enum sluice_signaling_state {
    SLUICE_SIGNALING_STABLE = 0,
    SLUICE_SIGNALING_HAVE_LOCAL_OFFER = 1,
    SLUICE_SIGNALING_HAVE_REMOTE_OFFER = 2,
    SLUICE_SIGNALING_HAVE_LOCAL_PRANSWER = 3,
    SLUICE_SIGNALING_HAVE_REMOTE_PRANSWER = 4,
    SLUICE_SIGNALING_CLOSED = 5,
} sluice_signaling_state;

typedef enum sluice_channel_state {
    SLUICE_CHANNEL_CONNECTING = 0,
    SLUICE_CHANNEL_OPEN = 1,
    SLUICE_CHANNEL_CLOSING = 2,
    SLUICE_CHANNEL_CLOSED = 3,
} sluice_channel_state;

/* ------------------------------------------------------------------------- */
/* Events                                                                    */
/* ------------------------------------------------------------------------- */

typedef struct sluice_peer sluice_peer;
typedef struct sluice_channel sluice_channel;

typedef enum sluice_event_type {
    SLUICE_EVENT_NONE = 0,
    SLUICE_EVENT_SESSION_DESCRIPTION = 1, /**< Godot session_description_created(type, sdp) */
    SLUICE_EVENT_ICE_CANDIDATE = 2,       /**< Godot ice_candidate_created(mid, index, name) */
    SLUICE_EVENT_DATA_CHANNEL = 3,        /**< Godot data_channel_received(channel) */
    SLUICE_EVENT_CONNECTION_STATE = 4,
    SLUICE_EVENT_GATHERING_STATE = 5,
    SLUICE_EVENT_SIGNALING_STATE = 6,
    SLUICE_EVENT_CHANNEL_OPEN = 7,
    SLUICE_EVENT_CHANNEL_CLOSING = 8,
    SLUICE_EVENT_CHANNEL_CLOSED = 9,
    SLUICE_EVENT_CHANNEL_MESSAGE = 10,    /**< a message is ready to sluice_channel_recv() */
    SLUICE_EVENT_CHANNEL_BUFFERED_AMOUNT_LOW = 11,
    SLUICE_EVENT_ERROR = 12,              /**< a non-fatal or fatal error with a reason */
} sluice_event_type;

/**
 * One event. String pointers stay valid until the next sluice_peer_poll_event() or
 * sluice_peer_poll() call on the same peer (or, for callbacks, until the callback returns).
 */
typedef struct sluice_event {
    sluice_event_type type;
    sluice_channel *channel; /**< DATA_CHANNEL and CHANNEL_* events */
    const char *sdp_type;    /**< SESSION_DESCRIPTION: "offer" or "answer" */
    const char *sdp;         /**< SESSION_DESCRIPTION */
    const char *mid;         /**< ICE_CANDIDATE: media id */
    int mline_index;         /**< ICE_CANDIDATE: real m-line index */
    const char *candidate;   /**< ICE_CANDIDATE: "candidate:..." line ("" = end of candidates) */
    int state;               /**< *_STATE events: the new state */
    int error;               /**< ERROR: the sluice_err code */
    const char *reason;      /**< ERROR, CONNECTION_STATE(FAILED), CHANNEL_CLOSED: readable reason or "" */
} sluice_event;

/**
 * Optional callback, called from inside sluice_peer_poll() on the caller's thread for
 * every queued event (when on_event is NULL, events stay queued for
 * sluice_peer_poll_event()). A callback may call any sluice function; close and free
 * are deferred safely until it returns.
 */
typedef struct sluice_callbacks {
    void (*on_event)(sluice_peer *pc, const sluice_event *ev, void *user);
} sluice_callbacks;

/* ------------------------------------------------------------------------- */
/* Peer connection (Godot WebRTCPeerConnection)                              */
/* ------------------------------------------------------------------------- */

/**
 * Create a peer connection in STATE_NEW. `cfg` NULL = defaults. `cb` NULL: events are
 * only queued for sluice_peer_poll_event(); otherwise sluice_peer_poll() delivers them
 * to cb->on_event. Errors: INVALID_ARGUMENT, CONFIG, NOMEM, CRYPTO (certificate).
 * On error *out is NULL.
 */
SLUICE_API int sluice_peer_new(sluice_peer **out, const sluice_config *cfg,
                               const sluice_callbacks *cb, void *user);

/** Free the peer and all its channels; never blocks. NULL is ignored. Safe inside callbacks. */
SLUICE_API void sluice_peer_free(sluice_peer *pc);

/** The user pointer given to sluice_peer_new(). */
SLUICE_API void *sluice_peer_user(const sluice_peer *pc);

/**
 * Godot initialize(config): close any previous connection and channels (they go CLOSED
 * and their objects stay valid until the peer is freed), apply `cfg` (NULL = keep the
 * current one) and go back to STATE_NEW. Errors: CONFIG (bad config: the previous
 * state and configuration stay as they were), NOMEM.
 */
SLUICE_API int sluice_peer_initialize(sluice_peer *pc, const sluice_config *cfg);

/**
 * Godot create_data_channel(label, options). `opts` NULL = defaults. The channel is owned
 * by the peer. Allowed in every state but CLOSED (W3C; Godot requires STATE_NEW).
 * Errors: INVALID_ARGUMENT, CONFIG (options invalid), ID_IN_USE, EXHAUSTED, INVALID_STATE, NOMEM.
 */
SLUICE_API int sluice_peer_create_channel(sluice_peer *pc, const char *label,
                                          const sluice_channel_options *opts,
                                          sluice_channel **out);

/**
 * Godot create_offer(): queues SESSION_DESCRIPTION("offer", sdp). Needs at least one
 * channel. Errors: INVALID_STATE (no channel, or signaling state not STABLE/HAVE_LOCAL_OFFER).
 */
SLUICE_API int sluice_peer_create_offer(sluice_peer *pc);

/**
 * Like the browser's restartIce() (Godot has no such call): the next
 * sluice_peer_create_offer() carries new ICE credentials, and ICE runs again once the
 * answer arrives; DTLS, SCTP and the channels stay, and data keeps flowing on the path in
 * use meanwhile. Use it after the network changed (DISCONNECTED, a new interface).
 * A remote offer with new credentials restarts ICE the same way without this call.
 * Errors: INVALID_ARGUMENT, INVALID_STATE (closed, or no remote description yet).
 */
SLUICE_API int sluice_peer_restart_ice(sluice_peer *pc);

/**
 * Godot set_local_description(type, sdp): applies a description produced by this peer
 * ("offer" or "answer"); starts ICE gathering, which queues ICE_CANDIDATE events.
 * Errors: INVALID_ARGUMENT, SDP, INVALID_STATE.
 */
SLUICE_API int sluice_peer_set_local_description(sluice_peer *pc, const char *type,
                                                 const char *sdp);

/**
 * Godot set_remote_description(type, sdp). "offer": applied and an answer is generated
 * and queued as SESSION_DESCRIPTION("answer"). "answer": applied; the connection
 * proceeds. Candidates inside the SDP are used. Errors: INVALID_ARGUMENT, SDP (names
 * the line in the ERROR event reason and the log), INVALID_STATE. On error nothing changes.
 * A later offer or answer (renegotiation) is accepted when it keeps the DTLS certificate,
 * the DTLS roles, the data m= section and the SCTP port; new ICE credentials in it are an
 * ICE restart (see sluice_peer_restart_ice()); a changed max-message-size applies.
 * Anything else is refused with SDP (a new DTLS/SCTP association needs a new peer).
 */
SLUICE_API int sluice_peer_set_remote_description(sluice_peer *pc, const char *type,
                                                  const char *sdp);

/**
 * Godot add_ice_candidate(media, index, name). `candidate` with or without "a=";
 * NULL, "" or "end-of-candidates" = end of candidates. Candidates that arrive before the
 * remote description (signaling races) are kept (up to 64) and used when it is set.
 * Candidates of other components or TCP are accepted and ignored. Errors: CANDIDATE
 * (malformed, or `mid`/`mline_index` name another section; nothing else changes),
 * EXHAUSTED (too many early candidates, or the ICE agent's table of 64 remote candidates
 * is full), INVALID_STATE (closed).
 */
SLUICE_API int sluice_peer_add_ice_candidate(sluice_peer *pc, const char *mid, int mline_index,
                                             const char *candidate);

/**
 * Godot poll(): read ready sockets, feed the core with the current monotonic time, send
 * what it produced, fire timers, then deliver events (to the callbacks, if any).
 * Never blocks. Errors: CLOSED after free was requested inside a callback.
 */
SLUICE_API int sluice_peer_poll(sluice_peer *pc);

/**
 * Pull the next queued event into `ev`. Returns 1 when an event was written, 0 when the
 * queue is empty. Strings in `ev` stay valid until the next call on this peer.
 */
SLUICE_API int sluice_peer_poll_event(sluice_peer *pc, sluice_event *ev);

/** Godot close(): closes the connection and all channels (they go CLOSED). Idempotent. */
SLUICE_API void sluice_peer_close(sluice_peer *pc);

SLUICE_API sluice_connection_state sluice_peer_connection_state(const sluice_peer *pc);
SLUICE_API sluice_gathering_state sluice_peer_gathering_state(const sluice_peer *pc);
SLUICE_API sluice_signaling_state sluice_peer_signaling_state(const sluice_peer *pc);

/**
 * The current local description (W3C localDescription): the SDP last applied with
 * sluice_peer_set_local_description(), with every local candidate gathered so far and
 * a=end-of-candidates once gathering is complete. For non-trickle signaling: wait for
 * GATHERING_STATE COMPLETE, then send this. Returns the length written (NUL-terminated),
 * NOBUFS (cap too small), NOT_FOUND (no local description yet). `type` (may be NULL)
 * receives "offer" or "answer".
 */
SLUICE_API int sluice_peer_local_description(sluice_peer *pc, char *buf, size_t cap,
                                             const char **type);

/** The remote max-message-size in bytes: 65536 when the SDP had none or before a remote
 *  description is set (RFC 8841 default); 0 = no limit. */
SLUICE_API uint64_t sluice_peer_remote_max_message_size(const sluice_peer *pc);

/** Our DTLS certificate's fingerprint, "sha-256 AB:CD:...", into `buf`. Returns length or NOBUFS. */
SLUICE_API int sluice_peer_local_fingerprint(const sluice_peer *pc, char *buf, size_t cap);

/* --- event-loop integration (socket mode) -------------------------------- */

/** Copy up to `cap` socket fds to watch for reading. Returns the count (may exceed cap). */
SLUICE_API int sluice_peer_fds(const sluice_peer *pc, int *fds, size_t cap);
/** Milliseconds until sluice_peer_poll() must run again (-1: no timer pending). */
SLUICE_API int sluice_peer_timeout_ms(const sluice_peer *pc);

/* --- sans-IO interface (config.sans_io = true; the caller owns the sockets) ---- */

/** Declare a local address the caller receives datagrams on; a host candidate is made for it. */
SLUICE_API int sluice_peer_add_local_address(sluice_peer *pc, const sluice_addr *local);

/**
 * Feed one received datagram. Errors: INVALID_ARGUMENT; malformed datagrams are counted
 * and dropped (returns OK). Never re-entrant: no callback is called from here.
 */
SLUICE_API int sluice_peer_handle_datagram(sluice_peer *pc, sluice_time now,
                                           const sluice_addr *local, const sluice_addr *remote,
                                           const uint8_t *data, size_t len);

/** A datagram to send. */
typedef struct sluice_transmit {
    sluice_addr local;  /**< send from this local address */
    sluice_addr remote; /**< to this address */
    size_t len;         /**< bytes written into the caller's buffer */
} sluice_transmit;

/**
 * Take the next datagram to send into `buf`. Returns 1 (one written, `tx` filled),
 * 0 (nothing to send), or NOBUFS (`cap` below 1500; nothing taken).
 */
SLUICE_API int sluice_peer_poll_transmit(sluice_peer *pc, sluice_time now, uint8_t *buf,
                                         size_t cap, sluice_transmit *tx);

/** The next deadline, SLUICE_TIME_NEVER when none. */
SLUICE_API sluice_time sluice_peer_next_deadline(const sluice_peer *pc);
/** Run the timers due at `now`. */
SLUICE_API int sluice_peer_handle_timeout(sluice_peer *pc, sluice_time now);

/* --- statistics ---------------------------------------------------------- */

typedef struct sluice_peer_stats {
    uint64_t bytes_sent, bytes_received;       /**< UDP payload bytes */
    uint64_t packets_sent, packets_received;   /**< UDP datagrams */
    uint64_t messages_sent, messages_received; /**< data channel messages */
    uint64_t datagrams_dropped;                /**< malformed / unauthenticated input */
    uint32_t rtt_us;           /**< SCTP smoothed RTT */
    uint32_t cwnd;             /**< SCTP congestion window, bytes */
    uint32_t peer_rwnd;        /**< peer's advertised receive window */
    uint32_t bytes_in_flight;
    uint64_t retransmissions;  /**< SCTP chunks retransmitted */
    bool has_selected_pair;
    sluice_addr selected_local, selected_remote;
} sluice_peer_stats;

SLUICE_API int sluice_peer_get_stats(const sluice_peer *pc, sluice_peer_stats *out);

/* ------------------------------------------------------------------------- */
/* Demultiplexer: many peer connections on one UDP port                      */
/* ------------------------------------------------------------------------- */

/**
 * A sluice_mux owns one UDP socket (or, with sans_io, just routes) and serves many peers
 * created with sluice_peer_new_on_mux(). Each such peer gathers the mux's address as its
 * only host candidate and sends through it. Incoming datagrams are routed (RFC 7983 first
 * byte, then): a STUN Binding request by the first half of its USERNAME "<our ufrag>:<their
 * ufrag>" (each peer's ufrag is unique); a STUN response or indication by the transaction
 * id of the request a peer sent; everything else (DTLS, consent from a known path) by the
 * remote address, bound to a peer once that peer answered a check from it or sent DTLS to
 * it (i.e. once the peer's ICE validated it). Anything else is dropped and counted.
 *
 * Limits: one remote transport address belongs to one peer at a time (DTLS carries no
 * connection id), so two muxes cannot run many connections between the same two ports;
 * peers on a mux gather host and server-reflexive candidates only (a TURN allocation is
 * bound to one 5-tuple: TURN servers are ignored with a warning).
 * Threading: the mux and all its peers are used from one thread.
 * Datagrams of a mux's peers go only through the mux (sluice_mux_handle_datagram /
 * sluice_mux_poll_transmit, or the mux's socket): it learns its routes from what they send.
 */
typedef struct sluice_mux sluice_mux;

typedef struct sluice_mux_config {
    uint32_t version;          /**< set by sluice_mux_config_default(); do not change */
    bool sans_io;              /**< true: open no socket; feed sluice_mux_handle_datagram() */
    /** Socket mode: the IP literal to bind (required; not a wildcard: it is the host
     *  candidate). sans-IO: the address the caller's socket receives on (required). */
    const char *bind_address;
    uint16_t port;             /**< port to bind (socket mode, 0 = any) or of the caller's socket (sans-IO) */
    size_t max_peers;          /**< default 1024 */
    size_t max_addresses;      /**< remote addresses remembered; default 4 per peer */
    size_t max_transactions;   /**< outstanding STUN requests remembered; default 8 per peer */
    sluice_allocator allocator;
    sluice_log_fn log_fn;
    void *log_user;
    sluice_log_level log_level; /**< default SLUICE_LOG_WARN */
} sluice_mux_config;

#define SLUICE_MUX_CONFIG_VERSION 1

SLUICE_API void sluice_mux_config_default(sluice_mux_config *cfg);

/** Create a mux (socket mode: binds the socket). Errors: INVALID_ARGUMENT, CONFIG, NOMEM,
 *  IO (bind failed). On error *out is NULL. */
SLUICE_API int sluice_mux_new(const sluice_mux_config *cfg, sluice_mux **out);
/** Free the mux. Its peers must have been freed before (INVALID_STATE otherwise; nothing
 *  is freed). NULL is ignored (OK). */
SLUICE_API int sluice_mux_free(sluice_mux *m);
/** The mux's local address (socket mode: with the bound port). */
SLUICE_API int sluice_mux_local_address(const sluice_mux *m, sluice_addr *out);

/**
 * sluice_peer_new() for a peer served by `m`: `cfg` as for sluice_peer_new() (its
 * sans_io, bind_address, ports, ice_loopback/ice_ipv6 are ignored: the mux decides).
 * Errors: as sluice_peer_new(), EXHAUSTED (max_peers reached).
 */
SLUICE_API int sluice_peer_new_on_mux(sluice_mux *m, sluice_peer **out, const sluice_config *cfg,
                                      const sluice_callbacks *cb, void *user);

/* --- socket mode --- */
/** The socket fd to watch for reading (one). Returns the count (1), 0 in sans-IO mode. */
SLUICE_API int sluice_mux_fds(const sluice_mux *m, int *fds, size_t cap);
/** Read the socket and route what arrived, run every peer's due timers, send what every
 *  peer produced. Never blocks, calls no callback: events wait in each peer for
 *  sluice_peer_poll() / sluice_peer_poll_event() (sluice_peer_poll() of a mux peer also
 *  reads the shared socket and sends its own datagrams, so polling only the peers works). */
SLUICE_API int sluice_mux_poll(sluice_mux *m);
/** Milliseconds until sluice_mux_poll() must run again (-1: none pending). */
SLUICE_API int sluice_mux_timeout_ms(const sluice_mux *m);

/* --- sans-IO mode --- */
/** Route one received datagram to its peer (no callback is called). Unknown or
 *  malformed datagrams are counted and dropped (OK). Errors: INVALID_ARGUMENT. */
SLUICE_API int sluice_mux_handle_datagram(sluice_mux *m, sluice_time now, const sluice_addr *remote,
                                          const uint8_t *data, size_t len);
/** The next datagram any peer wants to send (peers taken in turn). As
 *  sluice_peer_poll_transmit(): 1, 0 (nothing), NOBUFS. */
SLUICE_API int sluice_mux_poll_transmit(sluice_mux *m, sluice_time now, uint8_t *buf, size_t cap,
                                        sluice_transmit *tx);
/** The earliest deadline of all peers (SLUICE_TIME_NEVER when none). */
SLUICE_API sluice_time sluice_mux_next_deadline(const sluice_mux *m);
/** Run the timers of every peer due at `now`. */
SLUICE_API int sluice_mux_handle_timeout(sluice_mux *m, sluice_time now);

typedef struct sluice_mux_stats {
    size_t peers;                 /**< peers attached now */
    size_t addresses;             /**< remote addresses bound to a peer now */
    uint64_t routed_ufrag;        /**< Binding requests routed by USERNAME */
    uint64_t routed_transaction;  /**< STUN responses routed by transaction id */
    uint64_t routed_address;      /**< datagrams routed by remote address */
    uint64_t dropped_unknown;     /**< nobody's: dropped */
    uint64_t dropped_malformed;   /**< not STUN/DTLS/ChannelData shaped: dropped */
    uint64_t address_rebinds;     /**< an address moved to another peer */
    uint64_t send_drops;          /**< datagrams the kernel refused (socket mode) */
} sluice_mux_stats;

SLUICE_API int sluice_mux_get_stats(const sluice_mux *m, sluice_mux_stats *out);

/* ------------------------------------------------------------------------- */
/* Data channel (Godot WebRTCDataChannel)                                    */
/* ------------------------------------------------------------------------- */

/**
 * Godot put_packet(): send one message, text (PPID 51, empty: 56) or binary (53 / 57).
 * Never blocks. Errors: INVALID_STATE (not OPEN), TOO_LARGE (above the remote
 * max-message-size, or above max_send_buffer: it could never be queued),
 * BUFFER_FULL (send buffer cap reached; nothing queued; retry after it drains).
 */
SLUICE_API int sluice_channel_send(sluice_channel *ch, const void *data, size_t len, bool is_text);

/** Number of whole messages waiting (Godot get_available_packet_count()). */
SLUICE_API size_t sluice_channel_available(const sluice_channel *ch);
/** Size of the next waiting message, or AGAIN when none. */
SLUICE_API int64_t sluice_channel_next_size(const sluice_channel *ch);

/**
 * Godot get_packet(): copy the next message into `buf` and remove it. Returns its length.
 * Errors: AGAIN (none waiting), NOBUFS (cap too small; the message stays queued).
 * `is_text` (may be NULL) receives was_string_packet().
 */
SLUICE_API int64_t sluice_channel_recv(sluice_channel *ch, void *buf, size_t cap, bool *is_text);

/** Whether the last message taken by sluice_channel_recv() was text. */
SLUICE_API bool sluice_channel_was_string(const sluice_channel *ch);

/** Bytes queued to send and not yet handed to the network (W3C bufferedAmount). */
SLUICE_API size_t sluice_channel_buffered_amount(const sluice_channel *ch);
/** Set the threshold for CHANNEL_BUFFERED_AMOUNT_LOW (fires on crossing down to <= it). */
SLUICE_API void sluice_channel_set_buffered_amount_low_threshold(sluice_channel *ch, size_t bytes);

SLUICE_API sluice_channel_state sluice_channel_ready_state(const sluice_channel *ch);
/** Stream id, or SLUICE_UNSET (65535) while not yet assigned. */
SLUICE_API uint16_t sluice_channel_id(const sluice_channel *ch);
SLUICE_API const char *sluice_channel_label(const sluice_channel *ch);
SLUICE_API const char *sluice_channel_protocol(const sluice_channel *ch);
SLUICE_API bool sluice_channel_ordered(const sluice_channel *ch);
SLUICE_API bool sluice_channel_negotiated(const sluice_channel *ch);
/** The value, or SLUICE_UNSET (65535) when unset. */
SLUICE_API uint16_t sluice_channel_max_retransmits(const sluice_channel *ch);
/** The value in ms, or SLUICE_UNSET (65535) when unset. */
SLUICE_API uint16_t sluice_channel_max_packet_life_time(const sluice_channel *ch);

/** Godot close(): outgoing stream reset; CLOSING, then CLOSED when both sides reset. Idempotent. */
SLUICE_API void sluice_channel_close(sluice_channel *ch);

/** The peer connection this channel belongs to. */
SLUICE_API sluice_peer *sluice_channel_peer(const sluice_channel *ch);

/** Attach/read a user pointer (for bindings). */
SLUICE_API void sluice_channel_set_user(sluice_channel *ch, void *user);
SLUICE_API void *sluice_channel_user(const sluice_channel *ch);

/**
 * Tell the peer the application no longer references `ch`: its memory is reclaimed once
 * it is CLOSED (immediately if already CLOSED). Without this, channels live until the
 * peer is freed. `ch` must not be used afterwards.
 */
SLUICE_API void sluice_channel_release(sluice_channel *ch);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_H */
