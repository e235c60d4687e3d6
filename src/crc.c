#include "crc.h"

#include <string.h>

#include "crc_tables.inc"

uint32_t sluice_crc32(uint32_t crc, const uint8_t *data, size_t len) {
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = crc32_ieee_table[0][(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t sluice_crc32c_portable(uint32_t crc, const uint8_t *data, size_t len) {
    crc = ~crc;
    while (len && ((uintptr_t)data & 7)) {
        crc = crc32c_tables[0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, data, 4);
        memcpy(&hi, data + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = crc32c_tables[7][lo & 0xFF] ^ crc32c_tables[6][(lo >> 8) & 0xFF] ^
              crc32c_tables[5][(lo >> 16) & 0xFF] ^ crc32c_tables[4][lo >> 24] ^
              crc32c_tables[3][hi & 0xFF] ^ crc32c_tables[2][(hi >> 8) & 0xFF] ^
              crc32c_tables[1][(hi >> 16) & 0xFF] ^ crc32c_tables[0][hi >> 24];
        data += 8;
        len -= 8;
    }
    while (len--) crc = crc32c_tables[0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *data,
                                                                size_t len) {
    uint64_t c = ~crc;
    while (len && ((uintptr_t)data & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *data++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, data, 8);
        c = _mm_crc32_u64(c, v);
        data += 8;
        len -= 8;
    }
    while (len--) c = _mm_crc32_u8((uint32_t)c, *data++);
    return ~(uint32_t)c;
}

uint32_t sluice_crc32c(uint32_t crc, const uint8_t *data, size_t len) {
    /* __builtin_cpu_supports reads a table libgcc fills at start-up: no state of ours. */
    if (__builtin_cpu_supports("sse4.2")) return crc32c_sse42(crc, data, len);
    return sluice_crc32c_portable(crc, data, len);
}
#else
uint32_t sluice_crc32c(uint32_t crc, const uint8_t *data, size_t len) {
    return sluice_crc32c_portable(crc, data, len);
}
#endif
