/* SCTP reassembly (dcsctp's ReassemblyQueue with TraditionalReassemblyStreams and
 * InterleavedReassemblyStreams): turns new DATA / I-DATA chunks into whole messages,
 * delivers ordered messages per stream in SSN / MID order and unordered ones as soon as
 * complete (RFC 9260 §6.5, §6.6, §6.9; RFC 8260 §2.1), discards what an (I-)FORWARD-TSN
 * skips (RFC 3758 §3.6, RFC 8260 §2.3), and resets incoming SSNs/MIDs on stream reset
 * (RFC 6525 §5.2.2).
 *
 * DATA fragments of one message have consecutive TSNs (B ... E); I-DATA fragments share a
 * MID and are ordered by FSN. Consecutive fragments are joined as they arrive into one
 * growing buffer, which becomes the delivered message: one copy per byte when fragments
 * arrive in order, no per-fragment allocation. Limits: bytes held (partial + complete-undelivered) are capped
 * by max_bytes (BUFFER_FULL, chunk refused: the peer retransmits), messages by
 * max_message_size (TOO_LARGE: the association should ABORT, as sctp.h documents). */
#ifndef SLUICE_SCTP_REASM_H
#define SLUICE_SCTP_REASM_H

#include "util.h"
#include "sctp/data.h"
#include "sctp/sctp.h"

typedef struct sluice_sctp_reasm_settings {
    size_t max_bytes;         /**< bytes held (see sluice_sctp_reasm_buffered); default 4 MiB */
    size_t max_message_size;  /**< default 256 KiB */
    bool idata;               /**< chunks are I-DATA; default false */
    /** Partial runs and complete ordered messages waiting for an earlier one are kept in
     *  sorted lists per stream. A chunk that sorts first or last is placed at once; one that
     *  falls in the middle may walk at most this many entries (default 512; runs are searched
     *  from both ends, waiting messages from the lowest), else it is
     *  refused (BUFFER_FULL: the peer retransmits it, usually after the hole before it is
     *  filled). This bounds the work a peer can cause per chunk. */
    size_t max_sorted_walk;
    /** Inbound streams negotiated (0 = 65536): (I-)FORWARD-TSN skips of streams at or above
     *  it are ignored, so a peer cannot make us keep state for streams that cannot exist. */
    uint32_t num_streams;
} sluice_sctp_reasm_settings;

void sluice_sctp_reasm_settings_default(sluice_sctp_reasm_settings *s);

typedef struct sluice_sctp_reasm sluice_sctp_reasm;

/** Heap object. Errors: NOMEM, INVALID_ARGUMENT. */
int sluice_sctp_reasm_new(sluice_sctp_reasm **out, const sluice_sctp_reasm_settings *s,
                          const sluice_allocator *alloc);
/** Frees everything held, including undelivered messages. */
void sluice_sctp_reasm_free(sluice_sctp_reasm *q);
void sluice_sctp_reasm_set_idata(sluice_sctp_reasm *q, bool idata);

/** Add a chunk the TSN tracker said is new (its payload is copied). `force`: accept even over
 *  max_bytes (the chunk is cum ack + 1; a hard limit of 2 * max_bytes still applies).
 *  Errors: TOO_LARGE (its message exceeds max_message_size; that message is dropped),
 *  BUFFER_FULL (over the cap; nothing kept), MALFORMED (DATA vs I-DATA mismatch, an I-DATA
 *  fragment other than the first with FSN 0), NOMEM. A fragment already held is ignored. */
int sluice_sctp_reasm_add(sluice_sctp_reasm *q, const sluice_sctp_data *d, bool force);

/** Take the next deliverable message. Returns 1 (ownership of out->data passes to the
 *  caller: free with sluice_mem_free(alloc, data)) or 0. */
int sluice_sctp_reasm_poll(sluice_sctp_reasm *q, sluice_sctp_message *out);

/** Apply an (I-)FORWARD-TSN: drop fragments with TSN <= new cum TSN (DATA) or of skipped
 *  messages (I-DATA), and advance each listed ordered stream past the given SSN / MID, which
 *  may make later messages deliverable. */
void sluice_sctp_reasm_handle_forward_tsn(sluice_sctp_reasm *q, const sluice_sctp_fwd *f);

/** RFC 6525 §5.2.2: incoming streams reset (n == 0: all): next expected SSN / MID becomes 0.
 *  Partial data of those streams is dropped. */
void sluice_sctp_reasm_reset_streams(sluice_sctp_reasm *q, const uint16_t *streams, size_t n);

/** Bytes held (partial and complete-undelivered messages, plus 128 bytes of bookkeeping
 *  charged per message or partial run): subtract from the receive window. */
size_t sluice_sctp_reasm_buffered(const sluice_sctp_reasm *q);

typedef struct sluice_sctp_reasm_stats {
    uint64_t messages_delivered, messages_too_large, chunks_refused_full, chunks_discarded_by_fwd;
} sluice_sctp_reasm_stats;
void sluice_sctp_reasm_get_stats(const sluice_sctp_reasm *q, sluice_sctp_reasm_stats *out);

#endif /* SLUICE_SCTP_REASM_H */
