/* Serial number arithmetic for SCTP TSNs (32 bit), SSNs (16 bit) and MIDs/FSNs (32 bit),
 * RFC 1982 as required by RFC 9260 §1.6 and RFC 8260 §2.1. Header-only.
 *
 * "a < b" means b is ahead of a by less than half the number space. Exactly half apart is
 * undefined in RFC 1982; here it compares as "not less" both ways, so callers must never
 * rely on it (windows are always far smaller than 2^31 / 2^15).
 *
 * sluice_sn32_unwrap() maps a 32-bit serial to a 64-bit monotonically increasing value
 * relative to a 64-bit reference, so internal tables can index and sort without wrap. */
#ifndef SLUICE_SCTP_SERIAL_H
#define SLUICE_SCTP_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

static inline bool sluice_sn32_lt(uint32_t a, uint32_t b) {
    return a != b && (uint32_t)(b - a) < 0x80000000u;
}
static inline bool sluice_sn32_le(uint32_t a, uint32_t b) { return a == b || sluice_sn32_lt(a, b); }
static inline bool sluice_sn32_gt(uint32_t a, uint32_t b) { return sluice_sn32_lt(b, a); }
static inline bool sluice_sn32_ge(uint32_t a, uint32_t b) { return sluice_sn32_le(b, a); }
/** Signed distance b - a (valid when |b - a| < 2^31). */
static inline int32_t sluice_sn32_diff(uint32_t a, uint32_t b) {
    uint32_t d = b - a;
    return d < 0x80000000u ? (int32_t)d : -(int32_t)(uint32_t)(a - b);
}
static inline uint32_t sluice_sn32_max(uint32_t a, uint32_t b) { return sluice_sn32_lt(a, b) ? b : a; }

static inline bool sluice_sn16_lt(uint16_t a, uint16_t b) {
    return a != b && (uint16_t)(b - a) < 0x8000u;
}
static inline bool sluice_sn16_le(uint16_t a, uint16_t b) { return a == b || sluice_sn16_lt(a, b); }
static inline bool sluice_sn16_gt(uint16_t a, uint16_t b) { return sluice_sn16_lt(b, a); }
static inline bool sluice_sn16_ge(uint16_t a, uint16_t b) { return sluice_sn16_le(b, a); }

/** The 64-bit value closest to `ref` whose low 32 bits are `sn` (never below 0). */
static inline uint64_t sluice_sn32_unwrap(uint64_t ref, uint32_t sn) {
    int64_t d = sluice_sn32_diff((uint32_t)ref, sn);
    if (d < 0 && (uint64_t)(-d) > ref) d += (int64_t)1 << 32; /* would go negative: take the next lap */
    return (uint64_t)((int64_t)ref + d);
}

#endif /* SLUICE_SCTP_SERIAL_H */
