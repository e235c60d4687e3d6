/* The peer connection: joins ICE, DTLS, SCTP, DCEP and SDP behind the Godot-shaped public
 * API of sluice.h. The public functions are declared there; this header holds the pieces
 * shared with the channel code (src/channel.c). */
#ifndef SLUICE_PEER_H
#define SLUICE_PEER_H

#include "sluice.h"
#include "util.h"

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
    bool open_sent;        /* our DCEP OPEN is queued */
    bool ack_received;     /* DCEP ACK seen (before: send ordered, RFC 8832 §6) */
    bool local_reset_sent; /* our outgoing stream reset requested */
    bool local_reset_done;
    bool remote_reset;     /* peer reset its outgoing stream */
    bool released;
    bool last_was_string;
    size_t low_threshold;
    peer_msg *rx_head, *rx_tail;
    size_t rx_count, rx_bytes;
    void *user;
};

#endif
