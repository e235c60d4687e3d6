/* The peer connection: joins ICE, DTLS, SCTP, DCEP and SDP behind the Godot-shaped public
 * API of sluice.h. The public functions are declared there; this private header holds the
 * state shared by src/peer.c (connection, descriptions, transports, events) and
 * src/channel.c (data channels, DCEP, receive queues). */
#ifndef SLUICE_PEER_H
#define SLUICE_PEER_H

#include "sluice.h"
#include "util.h"

#include "config.h"
#include "dtls.h"
#include "ice.h"
#include "io.h"
#include "sctp/sctp.h"
#include "sdp.h"

/* A received message. `data` is the buffer SCTP reassembled into (ownership taken, no
 * copy), NULL for an empty message. */
typedef struct peer_msg {
    struct peer_msg *next;
    size_t len;
    bool is_text;
    uint8_t *data;
} peer_msg;

struct sluice_channel {
    sluice_peer *pc;
    struct sluice_channel *next;
    char *label;
    char *protocol;
    bool ordered, negotiated;
    uint16_t id;                   /* SLUICE_UNSET until assigned */
    uint16_t max_retransmits;      /* SLUICE_UNSET when unset */
    uint16_t max_packet_life_time; /* SLUICE_UNSET when unset */
    uint16_t priority;
    sluice_channel_state state;
    bool remote_created;   /* opened by the peer through DCEP */
    size_t remote_cost;    /* what it counts in remote_channel_bytes */
    bool open_sent;        /* our DCEP OPEN is queued */
    bool ack_received;     /* DCEP ACK seen (before: send ordered, RFC 8832 §6) */
    bool local_reset_sent; /* our outgoing stream reset requested */
    bool local_reset_done;
    bool remote_reset;     /* peer reset its outgoing stream */
    bool released;
    bool last_was_string;
    bool message_event_queued; /* a CHANNEL_MESSAGE event for it is in the peer's queue */
    size_t low_threshold;
    peer_msg *rx_head, *rx_tail;
    size_t rx_count, rx_bytes;
    void *user;
};

#define PEER_MAX_PENDING_CANDIDATES 64
/* Channels opened by the peer (DCEP) that this peer still holds, CLOSED ones the application
 * has not released included: at most this many, and their objects, labels and protocols at
 * most cfg.max_receive_buffer bytes. Further OPENs are refused (ERROR event, stream reset). */
#define PEER_MAX_REMOTE_CHANNELS 4096
/* What a received message waiting for the application costs beyond its payload (its record,
 * allocator overhead): charged against cfg.max_receive_buffer with the payload. */
#define PEER_MSG_OVERHEAD 64u
#define PEER_MAX_LOCAL_CANDIDATES 32
#define PEER_SCTP_MTU 1191
#define PEER_MAX_SCTP_EVENTS_PER_TURN 4096
#define PEER_MAX_MDNS 16
#define PEER_DTLS_SETTLE_US 20000
#define PEER_MAX_QUEUED_EVENTS_FOR_ERRORS 1024
#define PEER_DTLS_START_GRACE_US 500000
#define PEER_MDNS_TRIES 3

/* A remote ".local" candidate waiting for its mDNS answer. */
typedef struct peer_mdns {
    sluice_ice_candidate cand;
    sluice_time next_query;
    int tries;
} peer_mdns;

typedef struct peer_event {
    sluice_event_type type;
    sluice_channel *ch;
    int state;
    int error;
    int mline_index;
    char *s1; /* sdp / candidate / reason */
    char *s2; /* sdp type / mid */
} peer_event;

/* What a configuration owns once copied: every string, and the ICE URLs parsed and sized
 * to what was given (a URL is ~0.5 KB: no fixed worst-case arrays per peer). */
typedef struct peer_owned_config {
    char *bind_address, *cert_pem, *key_pem;
    sluice_ice_url *stun_urls, *turn_urls;
    size_t stun_count, turn_count;
    char *turn_username, *turn_password;
    char *turn_ca_pem;
} peer_owned_config;

struct sluice_peer {
    /* configuration (deep copy) */
    sluice_config cfg;
    peer_owned_config own; /* the strings and URL lists `cfg` points into */

    sluice_allocator alloc_copy;
    const sluice_allocator *alloc;
    sluice_logger log;
    sluice_rng rng;
    sluice_callbacks cb;
    bool has_cb;
    void *user;

    sluice_connection_state conn_state;
    sluice_gathering_state gathering_state;
    sluice_signaling_state signaling_state;

    sluice_dtls_cert *cert;
    char fingerprint[160]; /* "AB:CD:..." sha-256 */

    sluice_ice_agent *ice;
    sluice_dtls *dtls;
    sluice_sctp *sctp;
    sluice_io *io;
    struct sluice_mux *mux; /* served by a mux (mux.c): no sockets of its own */
    size_t mux_slot;
    bool dtls_started;
    sluice_time dtls_wait_since; /* DTLS client: waiting for proof the peer has our answer */
    sluice_time peer_known_at;   /* when that proof came */
    bool remote_is_libdatachannel; /* its SDP origin is "rtc": see maybe_start_dtls */
    bool sctp_up;
    bool dtls_client;
    bool role_known;
    bool ice_connected_once;
    bool closed;

    /* descriptions */
    uint64_t session_id, session_version;
    char *local_sdp;          /* as applied */
    char local_type[8];       /* "offer" / "answer" / "" */
    char *remote_offer_sdp;   /* answerer: the offer, to mirror its m= sections again */
    bool have_remote;
    char data_mid[33];
    int data_mline_index;
    uint16_t remote_sctp_port;
    uint64_t remote_max_message_size; /* 0 = unlimited */
    sluice_sdp_setup local_setup;
    char remote_ufrag[257], remote_pwd[257];
    sluice_sdp_fingerprint remote_fp; /* the first a=fingerprint: a later description must keep it */
    bool restart_on_next_offer;       /* sluice_peer_restart_ice() called */
    bool local_restart_pending;       /* our offer restarted ICE: its answer brings new credentials */

    char *local_candidates[PEER_MAX_LOCAL_CANDIDATES];
    size_t local_candidates_count;
    sluice_ice_candidate *pending_remote; /* allocated only when candidates come early */
    size_t pending_remote_count;
    bool pending_remote_eoc;

    peer_mdns *mdns; /* PEER_MAX_MDNS of them, from the first ".local" candidate until none waits */
    size_t mdns_count;

    /* sans-IO local addresses declared before the ICE agent exists */
    sluice_addr local_addrs[16];
    size_t local_addrs_count;

    /* DTLS fallback path before ICE selects a pair (answering a ClientHello early) */
    bool has_dtls_path;
    sluice_addr dtls_local, dtls_remote;

    sluice_channel *channels;
    size_t remote_channels, remote_channel_bytes; /* held peer-opened channels: see
                                                     PEER_MAX_REMOTE_CHANNELS */

    /* events */
    peer_event *events;
    size_t ev_head, ev_count, ev_cap;
    peer_event current; /* strings of the last event handed out */

    int in_callback;
    bool free_requested;

    sluice_time now;
    size_t rx_total_bytes; /* received, not read: payload + PEER_MSG_OVERHEAD per message */
    bool rx_blocked;

    uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
    uint64_t messages_sent, messages_received, datagrams_dropped;

    uint8_t scratch[2048];
    uint8_t scratch2[2048];
};


/* ---- peer.c, for channel.c ---- */
sluice_time sluice_peer_now(sluice_peer *pc);
void sluice_peer_emit_error(sluice_peer *pc, int err, const char *reason);
void sluice_peer_emit_channel(sluice_peer *pc, sluice_event_type type, sluice_channel *ch);
bool sluice_peer_message_event_pending(sluice_peer *pc, sluice_channel *ch);
void sluice_peer_process_sctp(sluice_peer *pc, sluice_time now);

/* ---- channel.c, for peer.c ---- */
/** The open (not CLOSED) channel on stream `id`, or NULL. */
sluice_channel *sluice_channel_find(sluice_peer *pc, uint16_t id);
void sluice_channel_destroy(sluice_channel *ch);
/** Change state and queue the matching CHANNEL_* event. */
void sluice_channel_set_state(sluice_channel *ch, sluice_channel_state st);
/** SCTP is up (or the channel was created later): open it (DCEP OPEN or negotiated). */
void sluice_channel_try_open(sluice_peer *pc, sluice_channel *ch);
/** The DTLS role is known: give in-band channels their stream ids (RFC 8832 §6 parity). */
void sluice_channel_assign_ids(sluice_peer *pc);
void sluice_channel_close_all(sluice_peer *pc);
/** True when at least one channel is not CLOSED. */
bool sluice_channel_any(const sluice_peer *pc);
/** A message from SCTP: DCEP, or user data for a channel's receive queue (takes m->data). */
void sluice_channel_deliver(sluice_peer *pc, sluice_sctp_message *m);
void sluice_channel_on_remote_reset(sluice_peer *pc, uint16_t stream);
void sluice_channel_on_reset_done(sluice_peer *pc, uint16_t stream);
void sluice_channel_on_reset_requested(sluice_peer *pc, uint16_t stream);
/** Free released channels that are CLOSED (only while no queued event names them). */
void sluice_channel_release_closed(sluice_peer *pc);

#endif
