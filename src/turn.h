/* TURN client (RFC 8656), sans-IO: one allocation on one TURN server, reached from one
 * local base address. Datagrams to the server come out of sluice_turn_poll_transmit();
 * datagrams from the server go into sluice_turn_handle(). Application datagrams to a
 * peer are wrapped with sluice_turn_wrap() (ChannelData when a channel is bound, else a
 * Send indication); those from a peer come back unwrapped from sluice_turn_handle().
 *
 * Over TCP (RFC 6062 §4.1 / RFC 8656 §12.5: STUN and ChannelData back to back on the
 * stream, ChannelData padded to 4) the same messages are used; sluice_turn_tcp_frame()
 * finds message boundaries in the received stream. */
#ifndef SLUICE_TURN_H
#define SLUICE_TURN_H

#include "stun.h"
#include "util.h"

typedef enum sluice_turn_state {
    SLUICE_TURN_IDLE = 0,
    SLUICE_TURN_ALLOCATING = 1,
    SLUICE_TURN_READY = 2,      /**< relayed address known */
    SLUICE_TURN_FAILED = 3,     /**< see error_code */
    SLUICE_TURN_CLOSED = 4,
} sluice_turn_state;

#define SLUICE_TURN_MAX_PEERS 16
#define SLUICE_TURN_MAX_TXNS 8

typedef struct sluice_turn_peer {
    sluice_addr addr;
    sluice_time perm_expires;    /**< 0: no permission yet */
    sluice_time perm_refresh_at; /**< when to send CreatePermission again */
    bool perm_pending;
    uint16_t channel;            /**< 0x4000..0x4FFF, 0 = none */
    bool channel_bound;
    bool channel_pending;
    sluice_time channel_refresh_at;
} sluice_turn_peer;

typedef struct sluice_turn_txn {
    bool active;
    uint16_t method;
    int peer;               /**< index in peers (CreatePermission / ChannelBind), -1 */
    uint8_t tid[SLUICE_STUN_TID_LEN];
    sluice_time next;       /**< retransmit (UDP) or give-up time */
    uint32_t rto_ms;
    int sends;
    bool send_now;
    bool authed;            /**< the last send carried credentials */
} sluice_turn_txn;

typedef struct sluice_turn_settings {
    uint32_t lifetime_s;      /**< requested allocation lifetime; default 600 */
    uint32_t rto_ms;          /**< initial retransmission timeout; default 500 */
    int max_sends;            /**< Rc; default 7 */
    bool use_channels;        /**< bind channels for peers; default true */
    bool tcp;                 /**< the server is reached over TCP: no retransmissions */
} sluice_turn_settings;

void sluice_turn_settings_default(sluice_turn_settings *s);

/** An embedded client (init/clear; no allocation). */
typedef struct sluice_turn_client {
    sluice_turn_settings set;
    sluice_turn_state state;
    sluice_addr server, base;
    char username[129], password[129];
    char realm[764];
    uint8_t nonce[764];
    size_t nonce_len;
    uint8_t key[16];
    bool have_auth;
    int stale_nonce_retries;
    sluice_addr relayed, mapped;
    sluice_time expires, refresh_at;
    bool refresh_inflight;
    sluice_turn_peer peers[SLUICE_TURN_MAX_PEERS];
    size_t peer_count;
    sluice_turn_txn txns[SLUICE_TURN_MAX_TXNS];
    uint16_t error_code;      /**< last error response that failed the allocation */
    uint64_t dropped;         /**< malformed / unauthenticated / unexpected datagrams */
    const sluice_rng *rng;
    const sluice_logger *log;
} sluice_turn_client;

/** Prepare a client (IDLE). Strings are copied. Errors: INVALID_ARGUMENT (too long / NULL). */
int sluice_turn_init(sluice_turn_client *t, const sluice_turn_settings *s, const sluice_addr *server,
                     const sluice_addr *base, const char *username, const char *password, const sluice_rng *rng,
                     const sluice_logger *log);
/** Start allocating (sends Allocate without credentials first; RFC 8656 §7.1). */
void sluice_turn_start(sluice_turn_client *t, sluice_time now);
/** Deallocate (Refresh with LIFETIME 0, not retransmitted) and go CLOSED. */
void sluice_turn_close(sluice_turn_client *t, sluice_time now);

/** True when a datagram received on `local` from `remote` belongs to this client. */
bool sluice_turn_owns(const sluice_turn_client *t, const sluice_addr *local, const sluice_addr *remote);

/**
 * A datagram from the server. Returns 1 with *peer, *payload (pointer into data) and
 * *payload_len set when it carried data from a peer (Data indication or ChannelData);
 * 0 when consumed (a response); MALFORMED / INTEGRITY when dropped (also counted).
 */
int sluice_turn_handle(sluice_turn_client *t, sluice_time now, const uint8_t *data, size_t len, sluice_addr *peer,
                       const uint8_t **payload, size_t *payload_len);

/** Next datagram to the server (from `base`): its length, 0 when none, NOBUFS. */
int sluice_turn_poll_transmit(sluice_turn_client *t, sluice_time now, uint8_t *buf, size_t cap);

/** Ask for a permission (and a channel when enabled) towards `peer`; refreshed while the
 *  client lives. Errors: EXHAUSTED (too many peers), INVALID_STATE (not READY yet: remembered). */
int sluice_turn_add_peer(sluice_turn_client *t, sluice_time now, const sluice_addr *peer);

/** Wrap `data` for `peer` into buf (ChannelData if bound, else Send indication).
 *  Returns the length; NOBUFS; INVALID_STATE when not READY. */
int sluice_turn_wrap(sluice_turn_client *t, const sluice_addr *peer, const uint8_t *data, size_t len, uint8_t *buf,
                     size_t cap);

/** True when a permission for the peer's IP is installed. */
bool sluice_turn_has_permission(const sluice_turn_client *t, const sluice_addr *peer);

sluice_time sluice_turn_next_deadline(const sluice_turn_client *t);
void sluice_turn_handle_timeout(sluice_turn_client *t, sluice_time now);

/** The TCP/TLS connection to the server failed or closed: the allocation (or the attempt)
 *  is gone, the client becomes FAILED at once. No-op for IDLE/FAILED/CLOSED clients. */
void sluice_turn_transport_closed(sluice_turn_client *t);

/** TCP: length of the first complete STUN or ChannelData message at the start of `data`
 *  (with ChannelData padding), 0 when more bytes are needed, MALFORMED when the stream
 *  holds something else. */
int sluice_turn_tcp_frame(const uint8_t *data, size_t len);

#endif
