/* Codecs of the SCTP data-path chunks: DATA (RFC 9260 §3.3.1), SACK (§3.3.4),
 * FORWARD-TSN (RFC 3758 §3.2), I-DATA and I-FORWARD-TSN (RFC 8260 §2.1, §2.3).
 *
 * Parsers take a chunk's flags and its value (the bytes after the 4-byte chunk header, up to
 * the chunk length, padding excluded), never allocate, and return SLUICE_OK or
 * SLUICE_ERR_MALFORMED. Variable-length parts (payload, gap blocks, duplicate TSNs, skipped
 * streams) are left in the input and read through accessors, so the parsed struct is only
 * valid while the input is.
 *
 * Writers emit a whole chunk (4-byte header, value, zero padding to a multiple of 4) into a
 * sluice_wr and return SLUICE_OK, or SLUICE_ERR_NOBUFS leaving the writer's position
 * unchanged (its sticky err flag is NOT set, so the caller can start a new packet). */
#ifndef SLUICE_SCTP_DATA_H
#define SLUICE_SCTP_DATA_H

#include "util.h"

enum {
    SLUICE_SCTP_CHUNK_DATA = 0,
    SLUICE_SCTP_CHUNK_SACK = 3,
    SLUICE_SCTP_CHUNK_IDATA = 64,
    SLUICE_SCTP_CHUNK_FORWARD_TSN = 192,
    SLUICE_SCTP_CHUNK_IFORWARD_TSN = 194,
};

/* DATA / I-DATA chunk flags (RFC 9260 §3.3.1, RFC 7053 I bit). */
#define SLUICE_SCTP_DATA_FLAG_END 0x01u
#define SLUICE_SCTP_DATA_FLAG_BEGIN 0x02u
#define SLUICE_SCTP_DATA_FLAG_UNORDERED 0x04u
#define SLUICE_SCTP_DATA_FLAG_IMMEDIATE 0x08u

/** Header sizes including the 4-byte chunk header. */
#define SLUICE_SCTP_DATA_HEADER_LEN 16u
#define SLUICE_SCTP_IDATA_HEADER_LEN 20u

/** One DATA or I-DATA chunk. For DATA, `mid` holds the 16-bit SSN and `fsn` is 0.
 *  For I-DATA, `ppid` is only carried on the first fragment (B set); other fragments carry
 *  the FSN in that place and `ppid` is 0 (RFC 8260 §2.1); the first fragment has FSN 0. */
typedef struct sluice_sctp_data {
    uint32_t tsn;
    uint16_t stream;
    uint32_t mid;
    uint32_t fsn;
    uint32_t ppid;
    bool unordered, beginning, ending, immediate;
    bool idata;
    const uint8_t *payload; /**< points into the parsed input (or caller data when writing) */
    size_t len;             /**< > 0: an empty DATA chunk is malformed (RFC 9260 §6.2 "No User Data") */
} sluice_sctp_data;

/** Parse a DATA chunk value. Errors: MALFORMED (short, or no user data). */
int sluice_sctp_data_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_data *out);
/** Parse an I-DATA chunk value. Errors: MALFORMED. */
int sluice_sctp_idata_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_data *out);
/** Write `d` as DATA (d->idata false) or I-DATA (true). Errors: NOBUFS, INVALID_ARGUMENT (len 0
 *  or chunk longer than 65535). */
int sluice_sctp_data_write(sluice_wr *w, const sluice_sctp_data *d);
/** Bytes the chunk for a payload of `payload_len` takes on the wire, padding included. */
static inline size_t sluice_sctp_data_wire_len(bool idata, size_t payload_len) {
    size_t n = (idata ? SLUICE_SCTP_IDATA_HEADER_LEN : SLUICE_SCTP_DATA_HEADER_LEN) + payload_len;
    return (n + 3u) & ~(size_t)3u;
}

/** A gap ack block, offsets relative to the cumulative TSN ack (RFC 9260 §3.3.4). */
typedef struct sluice_sctp_gap {
    uint16_t start, end;
} sluice_sctp_gap;

typedef struct sluice_sctp_sack {
    uint32_t cum_tsn;
    uint32_t a_rwnd;
    uint16_t num_gaps;
    uint16_t num_dups;
    const uint8_t *gaps_raw; /**< num_gaps * 4 bytes in the input */
    const uint8_t *dups_raw; /**< num_dups * 4 bytes in the input */
} sluice_sctp_sack;

/** Parse a SACK value. The lengths must match the counts exactly. Gap blocks are returned as
 *  sent (possibly out of order, overlapping or with start > end: the consumer validates).
 *  Errors: MALFORMED. */
int sluice_sctp_sack_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_sack *out);
static inline sluice_sctp_gap sluice_sctp_sack_gap(const sluice_sctp_sack *s, size_t i) {
    sluice_sctp_gap g = {sluice_load_be16(s->gaps_raw + 4 * i), sluice_load_be16(s->gaps_raw + 4 * i + 2)};
    return g;
}
static inline uint32_t sluice_sctp_sack_dup(const sluice_sctp_sack *s, size_t i) {
    return sluice_load_be32(s->dups_raw + 4 * i);
}
/** Write a SACK. Errors: NOBUFS, INVALID_ARGUMENT (more than 65535 gaps or dups). */
int sluice_sctp_sack_write(sluice_wr *w, uint32_t cum_tsn, uint32_t a_rwnd, const sluice_sctp_gap *gaps,
                           size_t num_gaps, const uint32_t *dups, size_t num_dups);

/** One skipped stream in a FORWARD-TSN (stream, SSN; unordered false) or an I-FORWARD-TSN
 *  (stream, U flag, MID). */
typedef struct sluice_sctp_skip {
    uint16_t stream;
    bool unordered;
    uint32_t mid; /**< SSN for FORWARD-TSN */
} sluice_sctp_skip;

typedef struct sluice_sctp_fwd {
    uint32_t new_cum_tsn;
    bool idata;          /**< parsed from an I-FORWARD-TSN */
    size_t num_skips;
    const uint8_t *raw;  /**< num_skips * 4 (FORWARD-TSN) or * 8 (I-FORWARD-TSN) bytes */
} sluice_sctp_fwd;

/** Parse a FORWARD-TSN value. Errors: MALFORMED (short or trailing partial entry). */
int sluice_sctp_fwd_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_fwd *out);
/** Parse an I-FORWARD-TSN value. Errors: MALFORMED. */
int sluice_sctp_ifwd_parse(uint8_t flags, const uint8_t *value, size_t len, sluice_sctp_fwd *out);
/** The i-th skipped stream of a parsed (I-)FORWARD-TSN. */
sluice_sctp_skip sluice_sctp_fwd_skip(const sluice_sctp_fwd *f, size_t i);
/** Write a FORWARD-TSN (idata false; `unordered` skips are not representable and are left out)
 *  or an I-FORWARD-TSN (idata true). Errors: NOBUFS, INVALID_ARGUMENT (chunk > 65535 bytes). */
int sluice_sctp_fwd_write(sluice_wr *w, bool idata, uint32_t new_cum_tsn, const sluice_sctp_skip *skips,
                          size_t num_skips);

#endif /* SLUICE_SCTP_DATA_H */
