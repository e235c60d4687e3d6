/* SCTP packet framing (RFC 9260 §3): common header, CRC32c (or RFC 9653 zero checksum),
 * chunk iteration with length/padding checks, and codecs of the control chunks and their
 * parameters (INIT/INIT-ACK, COOKIE-ECHO/ACK, HEARTBEAT, ABORT/ERROR causes, SHUTDOWN*,
 * RE-CONFIG RFC 6525). Pure codecs: no state, no allocation. DATA/I-DATA/SACK/FORWARD-TSN
 * codecs live in data.h. */
#ifndef SLUICE_SCTP_PACKET_H
#define SLUICE_SCTP_PACKET_H

#include "sctp/data.h" /* DATA, SACK, I-DATA, (I-)FORWARD-TSN chunk types */
#include "util.h"

/* ---- chunk types (RFC 9260 §3.2, RFC 6525, RFC 3758, RFC 8260) --------------------- */
#define SLUICE_SCTP_CHUNK_INIT 1
#define SLUICE_SCTP_CHUNK_INIT_ACK 2
#define SLUICE_SCTP_CHUNK_HEARTBEAT 4
#define SLUICE_SCTP_CHUNK_HEARTBEAT_ACK 5
#define SLUICE_SCTP_CHUNK_ABORT 6
#define SLUICE_SCTP_CHUNK_SHUTDOWN 7
#define SLUICE_SCTP_CHUNK_SHUTDOWN_ACK 8
#define SLUICE_SCTP_CHUNK_ERROR 9
#define SLUICE_SCTP_CHUNK_COOKIE_ECHO 10
#define SLUICE_SCTP_CHUNK_COOKIE_ACK 11
#define SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE 14
#define SLUICE_SCTP_CHUNK_RECONFIG 0x82

/** T bit of ABORT and SHUTDOWN-COMPLETE (RFC 9260 §3.3.7, §3.3.13). */
#define SLUICE_SCTP_FLAG_T 0x01

/* ---- INIT / INIT-ACK parameters ------------------------------------------------------ */
#define SLUICE_SCTP_PARAM_HEARTBEAT_INFO 1
#define SLUICE_SCTP_PARAM_IPV4 5
#define SLUICE_SCTP_PARAM_IPV6 6
#define SLUICE_SCTP_PARAM_STATE_COOKIE 7
#define SLUICE_SCTP_PARAM_UNRECOGNIZED 8
#define SLUICE_SCTP_PARAM_COOKIE_PRESERVATIVE 9
#define SLUICE_SCTP_PARAM_HOSTNAME 11
#define SLUICE_SCTP_PARAM_SUPPORTED_ADDR_TYPES 12
#define SLUICE_SCTP_PARAM_OUT_SSN_RESET 13
#define SLUICE_SCTP_PARAM_IN_SSN_RESET 14
#define SLUICE_SCTP_PARAM_SSN_TSN_RESET 15
#define SLUICE_SCTP_PARAM_RECONFIG_RESPONSE 16
#define SLUICE_SCTP_PARAM_ADD_OUT_STREAMS 17
#define SLUICE_SCTP_PARAM_ADD_IN_STREAMS 18
#define SLUICE_SCTP_PARAM_ECN 0x8000
#define SLUICE_SCTP_PARAM_ZERO_CHECKSUM 0x8001
#define SLUICE_SCTP_PARAM_RANDOM 0x8002
#define SLUICE_SCTP_PARAM_CHUNK_LIST 0x8003
#define SLUICE_SCTP_PARAM_HMAC_ALGO 0x8004
#define SLUICE_SCTP_PARAM_PADDING 0x8005
#define SLUICE_SCTP_PARAM_SUPPORTED_EXT 0x8008
#define SLUICE_SCTP_PARAM_FORWARD_TSN_SUPPORTED 0xC000
#define SLUICE_SCTP_PARAM_ADAPTATION 0xC006

/** RFC 9653 §4: Error Detection Method Identifier for "SCTP over DTLS". */
#define SLUICE_SCTP_EDMID_DTLS 1

/* ---- error causes (RFC 9260 §3.3.10, RFC 6525 none) -------------------------------- */
#define SLUICE_SCTP_CAUSE_INVALID_STREAM 1
#define SLUICE_SCTP_CAUSE_MISSING_PARAM 2
#define SLUICE_SCTP_CAUSE_STALE_COOKIE 3
#define SLUICE_SCTP_CAUSE_OUT_OF_RESOURCE 4
#define SLUICE_SCTP_CAUSE_UNRESOLVABLE_ADDR 5
#define SLUICE_SCTP_CAUSE_UNRECOGNIZED_CHUNK 6
#define SLUICE_SCTP_CAUSE_INVALID_PARAM 7
#define SLUICE_SCTP_CAUSE_UNRECOGNIZED_PARAMS 8
#define SLUICE_SCTP_CAUSE_NO_USER_DATA 9
#define SLUICE_SCTP_CAUSE_COOKIE_WHILE_SHUTDOWN 10
#define SLUICE_SCTP_CAUSE_RESTART_NEW_ADDRS 11
#define SLUICE_SCTP_CAUSE_USER_ABORT 12
#define SLUICE_SCTP_CAUSE_PROTOCOL_VIOLATION 13

/* ---- RE-CONFIG response results (RFC 6525 §4.4) ------------------------------------- */
#define SLUICE_SCTP_RESULT_NOTHING 0
#define SLUICE_SCTP_RESULT_PERFORMED 1
#define SLUICE_SCTP_RESULT_DENIED 2
#define SLUICE_SCTP_RESULT_ERROR_WRONG_SSN 3
#define SLUICE_SCTP_RESULT_ERROR_IN_PROGRESS 4
#define SLUICE_SCTP_RESULT_ERROR_BAD_SEQ 5
#define SLUICE_SCTP_RESULT_IN_PROGRESS 6

#define SLUICE_SCTP_HEADER_LEN 12
#define SLUICE_SCTP_CHUNK_HEADER_LEN 4

/** Round up to the 4-byte chunk/parameter alignment (RFC 9260 §3.2). */
static inline size_t sluice_sctp_pad4(size_t n) { return (n + 3u) & ~(size_t)3u; }

/* ---- common header --------------------------------------------------------------------- */

typedef struct sluice_sctp_header {
    uint16_t src_port, dst_port;
    uint32_t vtag;
    uint32_t checksum; /**< as on the wire (CRC32c is stored little-endian, RFC 9260 App. A) */
} sluice_sctp_header;

/** Parse the common header. Errors: MALFORMED (len < 12). */
int sluice_sctp_header_parse(sluice_sctp_header *h, const uint8_t *d, size_t len);

/** Check the packet's CRC32c. When `accept_zero` (RFC 9653 negotiated), a checksum field of
 *  zero is accepted too. Errors: INTEGRITY, MALFORMED. */
int sluice_sctp_packet_verify(const uint8_t *d, size_t len, bool accept_zero);

/** Write the CRC32c into a finished packet (or zero when `zero_checksum`, RFC 9653 §5.2). */
void sluice_sctp_packet_seal(uint8_t *d, size_t len, bool zero_checksum);

/* ---- chunk iteration --------------------------------------------------------------------- */

typedef struct sluice_sctp_chunk {
    uint8_t type, flags;
    uint16_t length;      /**< chunk length field (header + value, without padding) */
    const uint8_t *value; /**< points into the packet */
    size_t value_len;     /**< length - 4 */
    const uint8_t *raw;   /**< the chunk from its header (for ERROR reports / cookies) */
} sluice_sctp_chunk;

typedef struct sluice_sctp_chunk_iter {
    sluice_rd rd;
} sluice_sctp_chunk_iter;

/** Iterate the chunks of a whole packet (skips the common header; caller checked len >= 12). */
void sluice_sctp_chunk_iter_init(sluice_sctp_chunk_iter *it, const uint8_t *pkt, size_t len);
/** 1 with *c filled, 0 at the end, MALFORMED for a length < 4 or past the packet end. The
 *  last chunk may omit its padding; padding of others must be present (RFC 9260 §3.2). */
int sluice_sctp_chunk_next(sluice_sctp_chunk_iter *it, sluice_sctp_chunk *c);

/* ---- packet writer --------------------------------------------------------------------- */

typedef struct sluice_sctp_pkt {
    sluice_wr w;
    size_t nchunks;
} sluice_sctp_pkt;

/** Start a packet into buf (cap >= 12). */
void sluice_sctp_pkt_begin(sluice_sctp_pkt *p, uint8_t *buf, size_t cap, uint16_t sport,
                           uint16_t dport, uint32_t vtag);
/** Room left for a chunk whose padded size is needed. */
static inline size_t sluice_sctp_pkt_room(const sluice_sctp_pkt *p) { return sluice_wr_left(&p->w); }
/** Append one chunk (header + value + zero padding). Errors: NOBUFS (nothing written). */
int sluice_sctp_pkt_chunk(sluice_sctp_pkt *p, uint8_t type, uint8_t flags, const uint8_t *value,
                          size_t value_len);
/** Reserve a chunk whose value the caller writes: returns a pointer to value_len bytes, or NULL. */
uint8_t *sluice_sctp_pkt_chunk_begin(sluice_sctp_pkt *p, uint8_t type, uint8_t flags,
                                     size_t value_len);
/** Seal (checksum) and return the length. */
size_t sluice_sctp_pkt_end(sluice_sctp_pkt *p, bool zero_checksum);

/* ---- INIT / INIT-ACK ----------------------------------------------------------------- */

#define SLUICE_SCTP_MAX_UNRECOGNIZED 8

/** Extensions announced through Supported Extensions (0x8008) / Forward-TSN-Supported. */
typedef struct sluice_sctp_features {
    bool reconfig;      /**< RE-CONFIG 0x82 listed */
    bool forward_tsn;   /**< FORWARD-TSN 0xC0 listed or param 0xC000 present */
    bool idata;         /**< I-DATA 0x40 and I-FORWARD-TSN 0xC2 listed */
    bool zero_checksum; /**< 0x8001 with EDMID = DTLS */
} sluice_sctp_features;

typedef struct sluice_sctp_init {
    uint32_t init_tag, a_rwnd;
    uint16_t os, mis;
    uint32_t initial_tsn;
    sluice_sctp_features feat;
    const uint8_t *cookie; /**< INIT-ACK state cookie value (points into the packet) */
    size_t cookie_len;
    bool has_hostname;     /**< RFC 9260 §5.1.2: Unresolvable Address */
    /** Parameters to report back: unrecognized ones whose type has bit 14 set (RFC 9260
     *  §3.2.1), each the whole TLV (pointer into the packet, unpadded length). */
    size_t n_unrec;
    const uint8_t *unrec[SLUICE_SCTP_MAX_UNRECOGNIZED];
    uint16_t unrec_len[SLUICE_SCTP_MAX_UNRECOGNIZED];
} sluice_sctp_init;

/** Parse an INIT or INIT-ACK value. Errors: MALFORMED (short, bad parameter length, zero
 *  init tag, zero OS or MIS: RFC 9260 §3.3.2 says to ABORT on those). */
int sluice_sctp_init_parse(sluice_sctp_init *out, const uint8_t *value, size_t len);

/** Encode an INIT/INIT-ACK value (no chunk header) into w. `unrec` params (INIT-ACK only)
 *  are wrapped in Unrecognized Parameter (8). Errors: NOBUFS. */
int sluice_sctp_init_write(sluice_wr *w, const sluice_sctp_init *in);
/** The encoded value size of sluice_sctp_init_write. */
size_t sluice_sctp_init_size(const sluice_sctp_init *in);

/* ---- error causes (ABORT / ERROR values) -------------------------------------------- */

typedef struct sluice_sctp_cause {
    uint16_t code;
    const uint8_t *info; /**< cause-specific bytes */
    size_t info_len;
} sluice_sctp_cause;

typedef struct sluice_sctp_cause_iter {
    sluice_rd rd;
} sluice_sctp_cause_iter;

void sluice_sctp_cause_iter_init(sluice_sctp_cause_iter *it, const uint8_t *value, size_t len);
/** 1 with *c, 0 at the end, MALFORMED. */
int sluice_sctp_cause_next(sluice_sctp_cause_iter *it, sluice_sctp_cause *c);
/** Append one cause TLV with padding. */
void sluice_sctp_cause_write(sluice_wr *w, uint16_t code, const uint8_t *info, size_t len);
/** A short readable text for an ABORT/ERROR value: "user abort: <reason>" etc. */
void sluice_sctp_cause_describe(const uint8_t *value, size_t len, char *out, size_t cap);
const char *sluice_sctp_cause_name(uint16_t code);

/* ---- HEARTBEAT / SHUTDOWN ----------------------------------------------------------- */

/** HEARTBEAT value: one Heartbeat Info parameter; returns its info. Errors: MALFORMED. */
int sluice_sctp_heartbeat_parse(const uint8_t *value, size_t len, const uint8_t **info,
                                size_t *info_len);
/** SHUTDOWN value: Cumulative TSN Ack. Errors: MALFORMED. */
int sluice_sctp_shutdown_parse(const uint8_t *value, size_t len, uint32_t *cum_tsn);

/* ---- RE-CONFIG (RFC 6525 §3-4) ---------------------------------------------------- */

typedef struct sluice_sctp_reconfig_param {
    uint16_t type;
    uint32_t req_seq;        /**< request seq; for RESPONSE: response seq */
    uint32_t resp_seq;       /**< OUT_SSN_RESET: the response seq it answers */
    uint32_t last_tsn;       /**< OUT_SSN_RESET: sender's last assigned TSN */
    uint32_t result;         /**< RESPONSE */
    bool has_tsns;           /**< RESPONSE: next TSNs present */
    uint32_t sender_next_tsn, receiver_next_tsn;
    uint16_t new_streams;    /**< ADD_*_STREAMS */
    size_t n_streams;        /**< OUT/IN_SSN_RESET stream list (0 = all streams) */
    const uint8_t *streams;  /**< big-endian uint16 list, read with sluice_sctp_reconfig_stream */
    const uint8_t *raw;      /**< whole TLV */
    size_t raw_len;
} sluice_sctp_reconfig_param;

static inline uint16_t sluice_sctp_reconfig_stream(const sluice_sctp_reconfig_param *p, size_t i) {
    return sluice_load_be16(p->streams + 2 * i);
}

typedef struct sluice_sctp_reconfig_iter {
    sluice_rd rd;
} sluice_sctp_reconfig_iter;

void sluice_sctp_reconfig_iter_init(sluice_sctp_reconfig_iter *it, const uint8_t *value, size_t len);
/** 1 with *p, 0 at the end, MALFORMED (bad length for a known type). Unknown types are
 *  returned with only type/raw set. */
int sluice_sctp_reconfig_next(sluice_sctp_reconfig_iter *it, sluice_sctp_reconfig_param *p);

/** Append parameters to a RE-CONFIG value. */
void sluice_sctp_reconfig_write_out_reset(sluice_wr *w, uint32_t req_seq, uint32_t resp_seq,
                                          uint32_t last_tsn, const uint16_t *streams, size_t n);
void sluice_sctp_reconfig_write_in_reset(sluice_wr *w, uint32_t req_seq, const uint16_t *streams,
                                         size_t n);
void sluice_sctp_reconfig_write_response(sluice_wr *w, uint32_t resp_seq, uint32_t result);
void sluice_sctp_reconfig_write_add_streams(sluice_wr *w, uint16_t type, uint32_t req_seq,
                                            uint16_t n);

#endif
