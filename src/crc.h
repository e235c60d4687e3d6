/* CRC-32 (IEEE 802.3, STUN FINGERPRINT) and CRC-32c (Castagnoli, SCTP). */
#ifndef SLUICE_CRC_H
#define SLUICE_CRC_H

#include <stddef.h>
#include <stdint.h>

/** CRC-32 as used by STUN FINGERPRINT (before the 0x5354554e xor). `crc` starts at 0. */
uint32_t sluice_crc32(uint32_t crc, const uint8_t *data, size_t len);

/** CRC-32c (RFC 9260 Appendix A) of `data`; `crc` starts at 0. Uses SSE4.2 when the CPU has it. */
uint32_t sluice_crc32c(uint32_t crc, const uint8_t *data, size_t len);

/** The portable (table, slicing-by-8) CRC-32c, exposed so tests compare both paths. */
uint32_t sluice_crc32c_portable(uint32_t crc, const uint8_t *data, size_t len);

#endif
