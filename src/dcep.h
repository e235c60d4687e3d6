/* DCEP (RFC 8832): DATA_CHANNEL_OPEN and DATA_CHANNEL_ACK codecs, channel types, and the
 * WebRTC PPIDs (RFC 8831 §8). Pure codec: no state. */
#ifndef SLUICE_DCEP_H
#define SLUICE_DCEP_H

#include "util.h"

#define SLUICE_PPID_DCEP 50u
#define SLUICE_PPID_STRING 51u
#define SLUICE_PPID_BINARY_PARTIAL 52u /* deprecated */
#define SLUICE_PPID_BINARY 53u
#define SLUICE_PPID_STRING_PARTIAL 54u /* deprecated */
#define SLUICE_PPID_STRING_EMPTY 56u
#define SLUICE_PPID_BINARY_EMPTY 57u

#define SLUICE_DCEP_OPEN 0x03u
#define SLUICE_DCEP_ACK 0x02u

/** Channel types (RFC 8832 §5.1). */
#define SLUICE_DCEP_RELIABLE 0x00u
#define SLUICE_DCEP_RELIABLE_UNORDERED 0x80u
#define SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT 0x01u
#define SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED 0x81u
#define SLUICE_DCEP_PARTIAL_RELIABLE_TIMED 0x02u
#define SLUICE_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED 0x82u

/** Priorities (RFC 8831 §6.4, W3C RTCPriorityType); "low" is the default. */
#define SLUICE_DCEP_PRIORITY_VERY_LOW 128u
#define SLUICE_DCEP_PRIORITY_LOW 256u
#define SLUICE_DCEP_PRIORITY_MEDIUM 512u
#define SLUICE_DCEP_PRIORITY_HIGH 1024u

typedef struct sluice_dcep_open {
    uint8_t channel_type;
    uint16_t priority;
    uint32_t reliability; /**< retransmits or lifetime ms, per channel_type */
    const char *label;    /**< not NUL-terminated when parsed: use label_len */
    size_t label_len;
    const char *protocol;
    size_t protocol_len;
} sluice_dcep_open;

/** Parse a DCEP message's type byte: returns OPEN, ACK, or MALFORMED (empty/unknown). */
int sluice_dcep_message_type(const uint8_t *data, size_t len);

/** Parse DATA_CHANNEL_OPEN; label/protocol point into `data` (never NULL on success, even
 *  when empty). Bytes after the protocol are ignored. Errors: MALFORMED (not OPEN,
 *  truncated, lengths beyond the message, unknown channel type; *out untouched),
 *  INVALID_ARGUMENT (NULL out). Label/protocol are not checked for UTF-8. */
int sluice_dcep_parse_open(const uint8_t *data, size_t len, sluice_dcep_open *out);

/** Encoded size of an OPEN message. */
size_t sluice_dcep_open_size(const sluice_dcep_open *o);
/** Write OPEN into buf. Returns length, NOBUFS (nothing written), or INVALID_ARGUMENT
 *  (label/protocol > 65535, NULL with a length, unknown channel type). The reliability
 *  parameter is written as 0 for the reliable types (RFC 8832 §5.1: ignored there). */
int sluice_dcep_write_open(const sluice_dcep_open *o, uint8_t *buf, size_t cap);
/** Write ACK (one byte). Returns 1 or NOBUFS. */
int sluice_dcep_write_ack(uint8_t *buf, size_t cap);

/** Channel type from ordered / partial reliability options (retransmits win if both). */
uint8_t sluice_dcep_channel_type(bool ordered, bool has_max_retransmits, bool has_max_lifetime);
/** One of the six channel types of RFC 8832 §5.1. */
bool sluice_dcep_channel_type_valid(uint8_t channel_type);
/** False for the unordered types (high bit set). */
bool sluice_dcep_channel_type_ordered(uint8_t channel_type);

#endif
