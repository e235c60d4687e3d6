/* SDP (RFC 8866) for WebRTC data channels: parse and write the subset of RFC 8841
 * (SCTP over DTLS), RFC 8839 (ICE), RFC 8842 (DTLS setup/fingerprint), RFC 9429 (JSEP). */
#ifndef SLUICE_SDP_H
#define SLUICE_SDP_H

#include "util.h"

#define SLUICE_SDP_MAX_FINGERPRINTS 4
#define SLUICE_SDP_MAX_CANDIDATES 32
#define SLUICE_SDP_MAX_MEDIA 8
#define SLUICE_SDP_MAX_LINE 4096 /**< longest accepted line, without the line ending */

typedef enum sluice_sdp_setup {
    SLUICE_SDP_SETUP_NONE = 0, /**< absent */
    SLUICE_SDP_SETUP_ACTPASS = 1,
    SLUICE_SDP_SETUP_ACTIVE = 2,
    SLUICE_SDP_SETUP_PASSIVE = 3,
    SLUICE_SDP_SETUP_HOLDCONN = 4,
} sluice_sdp_setup;

typedef struct sluice_sdp_fingerprint {
    char alg[16];  /**< lower-case: "sha-256", "sha-1", "sha-384", "sha-512" */
    char hex[200]; /**< "AB:CD:..." as written */
} sluice_sdp_fingerprint;

/** One m= section. For data channels kind == "application" and is_datachannel. */
typedef struct sluice_sdp_media {
    char kind[16];           /**< "application", "audio", "video", ... */
    uint16_t port;           /**< m= line port (0 = rejected) */
    char proto[32];          /**< "UDP/DTLS/SCTP", "DTLS/SCTP", ... as written */
    char fmt[33];            /**< first <fmt> of the m= line (an answer's rejected section echoes it) */
    bool is_datachannel;     /**< a usable data channel section (new or old syntax) */
    char mid[33];            /**< a=mid ("" when absent) */
    char ice_ufrag[257], ice_pwd[257]; /**< media level, else copied from session level */
    bool ice_trickle, ice_lite;        /**< a=ice-options contains "trickle"; a=ice-lite */
    sluice_sdp_fingerprint fingerprints[SLUICE_SDP_MAX_FINGERPRINTS]; /**< media, else session */
    size_t fingerprints_count;
    sluice_sdp_setup setup;
    uint16_t sctp_port;      /**< a=sctp-port, or the old m= format / a=sctpmap port; default 5000 */
    bool has_max_message_size;
    uint64_t max_message_size; /**< a=max-message-size (0 = unlimited); 65536 when absent */
    char candidates[SLUICE_SDP_MAX_CANDIDATES][256]; /**< "candidate:..." lines, without "a=" */
    size_t candidates_count;
    bool end_of_candidates;
    size_t candidates_ignored; /**< candidate lines beyond the array (dropped, no error) */
    bool bundle_only;        /**< a=bundle-only (RFC 9143): usable even with port 0 */
} sluice_sdp_media;

typedef struct sluice_sdp {
    uint64_t session_id, session_version;
    char origin_user[64];
    sluice_sdp_media media[SLUICE_SDP_MAX_MEDIA];
    size_t media_count;
    int datachannel_index;   /**< index of the first data channel section, -1 when none */
    char bundle[8][33];      /**< a=group:BUNDLE mids */
    size_t bundle_count;
} sluice_sdp;

/**
 * Parse an SDP (CRLF or LF). Unknown lines and attributes are skipped. On error returns
 * SDP and writes a readable message naming the line ("line 7: bad m= line") into
 * errbuf (may be NULL). A description with no data channel section parses fine
 * (datachannel_index = -1); the peer layer decides. On error *out is zeroed (with
 * datachannel_index = -1), so parse into a scratch struct, not the one in use.
 * Limits: lines <= SLUICE_SDP_MAX_LINE bytes, at most SLUICE_SDP_MAX_MEDIA m= sections
 * (more is an error), candidates beyond SLUICE_SDP_MAX_CANDIDATES per section are
 * ignored (counted in candidates_ignored), fingerprints beyond the array likewise.
 * Strict where it matters: NUL/control bytes, ufrag (4-256) / pwd (22-256) outside the
 * RFC 8839 grammar, fingerprints that are not hex pairs of the hash's length, mid/sctp
 * attributes before the first m=, duplicate mids, BUNDLE mids without a section.
 * Errors: INVALID_ARGUMENT (NULL out, or NULL text with len > 0), SDP.
 */
int sluice_sdp_parse(const char *text, size_t len, sluice_sdp *out, char *errbuf, size_t errcap);

/** What we write into an offer or an answer. */
typedef struct sluice_sdp_local {
    uint64_t session_id, session_version;
    const char *mid;        /**< "0" */
    const char *ice_ufrag, *ice_pwd;
    const char *fingerprint_alg;  /**< "sha-256" */
    const char *fingerprint_hex;  /**< "AB:CD:..." */
    sluice_sdp_setup setup; /**< ACTPASS in offers, ACTIVE/PASSIVE in answers */
    uint16_t sctp_port;     /**< 5000 */
    uint64_t max_message_size;
    bool ice_lite;          /**< never for now */
    const char *const *candidates; /**< candidate lines to include (may be 0) */
    size_t candidates_count;
    bool end_of_candidates;
    /**
     * Answers only: the parsed remote offer (NULL for offers). JSEP RFC 9429 §5.3.1: the
     * answer has one m= section per offered one, in order; every section but the offer's
     * data channel section is rejected (port 0, its mid kept, not in BUNDLE). The data
     * channel section answers with the offer's mid (`mid` may be NULL, else must match)
     * and, if the offer used the old "DTLS/SCTP <port>" form, with that form too. BUNDLE
     * is written only when the offer bundled the data channel section (RFC 9143).
     */
    const sluice_sdp *mirror;
} sluice_sdp_local;

/** Write the SDP (CRLF line endings) into `out` (appended; nothing appended on error).
 *  Strings are checked (no CR/LF/space injection, RFC grammar of ufrag/pwd/mid/fingerprint).
 *  Errors: NOMEM, BUFFER_FULL, INVALID_ARGUMENT. */
int sluice_sdp_write(const sluice_sdp_local *l, sluice_buf *out);

/* ---- offer/answer rules the peer layer applies (JSEP RFC 9429, RFC 8842) ------------- */

/**
 * Check that a parsed remote description is usable for data channels: a data channel
 * section (not rejected), ICE ufrag and pwd, at least one fingerprint, and an a=setup
 * allowed for its role (offer: not holdconn; answer: active, passive or absent, never
 * actpass — RFC 8842 §5). For an answer, `local_mid` (may be NULL) is the mid we
 * offered for the data channel: the answer's data channel section must carry it.
 * Errors: SDP with a readable reason in errbuf (may be NULL).
 */
int sluice_sdp_check_remote(const sluice_sdp *remote, bool is_offer, const char *local_mid,
                            char *errbuf, size_t errcap);

/** Our a=setup in an answer to `offered` (RFC 8842 §5, JSEP §5.3.1: prefer active).
 *  Returns ACTIVE (offer actpass, passive or absent), PASSIVE (offer active) or NONE
 *  (offer holdconn: cannot answer). */
sluice_sdp_setup sluice_sdp_answer_setup(sluice_sdp_setup offered);

/**
 * Our DTLS role once both a=setup values are known: 1 = client (we are "active"),
 * 0 = server. A `remote` NONE means active when `local` is ACTPASS (it is an answer:
 * RFC 4145 §4 default), else actpass (it was an offer, see sluice_sdp_answer_setup).
 * Errors: SDP (both active, both passive, remote actpass/holdconn when we sent actpass),
 * INVALID_ARGUMENT (local NONE or HOLDCONN).
 */
int sluice_sdp_dtls_client(sluice_sdp_setup local, sluice_sdp_setup remote);

#endif
