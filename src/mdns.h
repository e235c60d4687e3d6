/* Multicast DNS (RFC 6762) codec for ICE ".local" candidates (draft-ietf-mmusic-mdns-ice-
 * candidates): a one-shot query for "<uuid>.local" A/AAAA and the parsing of answers.
 * Sans-IO: the I/O layer sends the query to 224.0.0.251:5353 / [ff02::fb]:5353 from an
 * ephemeral port (RFC 6762 §6.7 responders answer by unicast; Chromium answers by multicast
 * to port 5353, which the I/O layer also listens on) and feeds replies back. */
#ifndef SLUICE_MDNS_H
#define SLUICE_MDNS_H

#include "util.h"

#define SLUICE_MDNS_PORT 5353
#define SLUICE_MDNS_TYPE_A 1
#define SLUICE_MDNS_TYPE_AAAA 28

/** True for a syntactically valid host name ending in ".local" (case-insensitive). */
bool sluice_mdns_is_local_name(const char *name);

/**
 * Build a one-shot query for `name` with an A and/or AAAA question. `unicast_response`
 * sets the QU bit (RFC 6762 §5.4). `id` should be 0 for multicast (§18.1).
 * Returns the length; INVALID_ARGUMENT (bad name, no question); NOBUFS.
 */
int sluice_mdns_build_query(const char *name, bool want_a, bool want_aaaa, bool unicast_response, uint16_t id,
                            uint8_t *buf, size_t cap);

/**
 * Build a response announcing `name` → `addr` (A or AAAA by family) with cache-flush set
 * (RFC 6762 §10.2). For tests and for answering queries about our own names.
 * Returns the length; INVALID_ARGUMENT; NOBUFS.
 */
int sluice_mdns_build_response(const char *name, const sluice_addr *addr, uint32_t ttl, uint8_t *buf, size_t cap);

/**
 * Parse a response and collect the A/AAAA records (answer and additional sections) whose
 * owner is `name` (case-insensitive). Ports in `out` are 0. `ttl` (may be NULL) gets the
 * smallest TTL seen. Name compression is followed with a bound on jumps.
 * Returns the number of addresses written (0: none for that name, or a query);
 * MALFORMED for bad bytes.
 */
int sluice_mdns_parse_response(const uint8_t *data, size_t len, const char *name, sluice_addr *out, size_t max,
                               uint32_t *ttl);

/**
 * Parse a query: the first question name (decoded, NUL-terminated) and its type.
 * Returns OK; NOT_FOUND (not a query or no question); MALFORMED; NOBUFS (name too long for buf).
 */
int sluice_mdns_parse_query(const uint8_t *data, size_t len, char *name, size_t cap, uint16_t *qtype);

#endif
