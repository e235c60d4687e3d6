/* STUN message codec (RFC 8489) with the ICE (RFC 8445 §16) and TURN (RFC 8656)
 * attributes. Pure: no state, no allocation. Parsing walks a bounded reader and keeps
 * pointers into the caller's bytes; building writes into a caller buffer through a
 * bounded writer and keeps the header length up to date after every attribute. */
#ifndef SLUICE_STUN_H
#define SLUICE_STUN_H

#include "util.h"

#define SLUICE_STUN_MAGIC 0x2112A442u
#define SLUICE_STUN_HEADER_LEN 20
#define SLUICE_STUN_TID_LEN 12

/* Methods (RFC 8489 §18.2, RFC 8656 §17). */
#define SLUICE_STUN_BINDING 0x001
#define SLUICE_STUN_ALLOCATE 0x003
#define SLUICE_STUN_REFRESH 0x004
#define SLUICE_STUN_SEND 0x006
#define SLUICE_STUN_DATA 0x007
#define SLUICE_STUN_CREATE_PERMISSION 0x008
#define SLUICE_STUN_CHANNEL_BIND 0x009

/* Classes (RFC 8489 §5). */
#define SLUICE_STUN_REQUEST 0
#define SLUICE_STUN_INDICATION 1
#define SLUICE_STUN_SUCCESS 2
#define SLUICE_STUN_ERROR 3

/* Attributes. */
#define SLUICE_STUN_ATTR_MAPPED_ADDRESS 0x0001
#define SLUICE_STUN_ATTR_USERNAME 0x0006
#define SLUICE_STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define SLUICE_STUN_ATTR_ERROR_CODE 0x0009
#define SLUICE_STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define SLUICE_STUN_ATTR_CHANNEL_NUMBER 0x000C
#define SLUICE_STUN_ATTR_LIFETIME 0x000D
#define SLUICE_STUN_ATTR_XOR_PEER_ADDRESS 0x0012
#define SLUICE_STUN_ATTR_DATA 0x0013
#define SLUICE_STUN_ATTR_REALM 0x0014
#define SLUICE_STUN_ATTR_NONCE 0x0015
#define SLUICE_STUN_ATTR_XOR_RELAYED_ADDRESS 0x0016
#define SLUICE_STUN_ATTR_REQUESTED_TRANSPORT 0x0019
#define SLUICE_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define SLUICE_STUN_ATTR_USERHASH 0x001E
#define SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define SLUICE_STUN_ATTR_PRIORITY 0x0024
#define SLUICE_STUN_ATTR_USE_CANDIDATE 0x0025
#define SLUICE_STUN_ATTR_PASSWORD_ALGORITHMS 0x8002
#define SLUICE_STUN_ATTR_ALTERNATE_DOMAIN 0x8003
#define SLUICE_STUN_ATTR_SOFTWARE 0x8022
#define SLUICE_STUN_ATTR_ALTERNATE_SERVER 0x8023
#define SLUICE_STUN_ATTR_FINGERPRINT 0x8028
#define SLUICE_STUN_ATTR_ICE_CONTROLLED 0x8029
#define SLUICE_STUN_ATTR_ICE_CONTROLLING 0x802A

#define SLUICE_STUN_FINGERPRINT_XOR 0x5354554Eu
#define SLUICE_STUN_MAX_UNKNOWN 8
#define SLUICE_STUN_MAX_PEERS 4

/** A byte string inside the parsed message (not NUL-terminated). */
typedef struct sluice_stun_str {
    const uint8_t *p;
    size_t len;
} sluice_stun_str;

/** A parsed message. Pointers refer to the bytes given to sluice_stun_parse(). */
typedef struct sluice_stun_msg {
    uint16_t method;
    uint8_t cls;
    uint8_t tid[SLUICE_STUN_TID_LEN];
    const uint8_t *raw; /**< the whole message */
    size_t len;         /**< 20 + header length */

    bool has_xor_mapped, has_mapped, has_xor_relayed;
    sluice_addr xor_mapped, mapped, xor_relayed;
    sluice_addr xor_peer[SLUICE_STUN_MAX_PEERS];
    size_t xor_peer_count;

    bool has_username, has_realm, has_nonce, has_software, has_data, has_error;
    sluice_stun_str username, realm, nonce, software, data, error_reason;
    uint16_t error_code; /**< class*100 + number, e.g. 401 */

    bool has_priority, use_candidate, has_controlling, has_controlled;
    uint32_t priority;
    uint64_t tiebreaker; /**< from ICE-CONTROLLING or ICE-CONTROLLED */

    bool has_lifetime, has_requested_transport, has_channel_number;
    uint32_t lifetime;
    uint8_t requested_transport;
    uint16_t channel_number;

    /** Offsets of MESSAGE-INTEGRITY(-SHA256) / FINGERPRINT attribute headers, 0 = absent. */
    size_t integrity_off, integrity_sha256_off, fingerprint_off;
    size_t integrity_sha256_len; /**< HMAC length in the -SHA256 attribute (16..32) */

    /** Unknown comprehension-required attributes (type < 0x8000): answer 420 (RFC 8489 §6.3.1). */
    uint16_t unknown[SLUICE_STUN_MAX_UNKNOWN];
    size_t unknown_count;
    /** UNKNOWN-ATTRIBUTES list in an error response. */
    uint16_t unknown_listed[SLUICE_STUN_MAX_UNKNOWN];
    size_t unknown_listed_count;
} sluice_stun_msg;

/** True when `data` has the shape of a STUN message: first two bits 0, magic cookie,
 *  length multiple of 4 and equal to len - 20 (RFC 8489 §6, RFC 7983). */
bool sluice_stun_looks_like(const uint8_t *data, size_t len);

/**
 * Parse a STUN message (all of `len`). Every attribute is bounds-checked; malformed known
 * attributes, attributes after FINGERPRINT, or a wrong FINGERPRINT fail the whole message.
 * Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 / FINGERPRINT are
 * ignored (RFC 8489 §14.5). Unknown comprehension-optional attributes are skipped;
 * unknown comprehension-required ones are listed in `unknown`.
 * Errors: MALFORMED, INTEGRITY (bad FINGERPRINT).
 */
int sluice_stun_parse(const uint8_t *data, size_t len, sluice_stun_msg *m);

/**
 * Check MESSAGE-INTEGRITY (HMAC-SHA1) or, when present, MESSAGE-INTEGRITY-SHA256 with `key`
 * (short-term: the password; long-term: sluice_stun_long_term_key()).
 * Errors: NOT_FOUND (no integrity attribute), INTEGRITY (mismatch), CRYPTO.
 */
int sluice_stun_check_integrity(const sluice_stun_msg *m, const uint8_t *key, size_t key_len);

/** Long-term credential key MD5(username ":" realm ":" password) (RFC 8489 §9.2.2). Errors: CRYPTO. */
int sluice_stun_long_term_key(const char *username, const char *realm, size_t realm_len,
                              const char *password, uint8_t key[16]);

/** Copy a parsed string into a NUL-terminated buffer. Errors: NOBUFS. */
int sluice_stun_str_copy(sluice_stun_str s, char *buf, size_t cap);
/** True when the parsed string equals the NUL-terminated `s`. */
bool sluice_stun_str_eq(sluice_stun_str s, const char *cstr);

/* ---- building ------------------------------------------------------------------- */

/** Start a message in `w` (which must be empty). */
void sluice_stun_build_begin(sluice_wr *w, uint16_t method, uint8_t cls, const uint8_t tid[12]);
/** Add an attribute with padding to 4 bytes. */
void sluice_stun_add(sluice_wr *w, uint16_t type, const void *value, size_t len);
void sluice_stun_add_u32(sluice_wr *w, uint16_t type, uint32_t v);
void sluice_stun_add_u64(sluice_wr *w, uint16_t type, uint64_t v);
void sluice_stun_add_str(sluice_wr *w, uint16_t type, const char *s);
/** Address attribute, XOR-encoded when `type` is one of the XOR-* types. */
void sluice_stun_add_addr(sluice_wr *w, uint16_t type, const sluice_addr *a);
/** ERROR-CODE with a reason phrase (RFC 8489 §14.8). */
void sluice_stun_add_error(sluice_wr *w, uint16_t code, const char *reason);
/** MESSAGE-INTEGRITY over everything before it (RFC 8489 §14.5). */
void sluice_stun_add_integrity(sluice_wr *w, const uint8_t *key, size_t key_len);
/** FINGERPRINT (RFC 8489 §14.7): must be last. */
void sluice_stun_add_fingerprint(sluice_wr *w);
/** Length of the finished message, or NOBUFS / CRYPTO when a step failed. */
int sluice_stun_build_end(sluice_wr *w);

/** A random transaction id. */
void sluice_stun_new_tid(const sluice_rng *rng, uint8_t tid[12]);

const char *sluice_stun_method_name(uint16_t method);

/* ---- TURN ChannelData (RFC 8656 §12.4) --------------------------------------------- */

/** True when the first byte is in 64..79 and the shape fits. */
bool sluice_stun_is_channel_data(const uint8_t *data, size_t len);
/** Parse ChannelData: channel number and payload (padding, if any, ignored). Errors: MALFORMED. */
int sluice_stun_channel_data_parse(const uint8_t *data, size_t len, uint16_t *channel,
                                   const uint8_t **payload, size_t *payload_len);
/** Write ChannelData (padded to 4 when `pad`, as over TCP). Returns length or NOBUFS. */
int sluice_stun_channel_data_build(uint8_t *buf, size_t cap, uint16_t channel, const uint8_t *payload,
                                   size_t len, bool pad);

#endif
