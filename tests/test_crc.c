#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crc.h"
#include "util.h"

/* RFC 3720 B.4 / RFC 9260 appendix test vectors for CRC-32c, and the classic "123456789". */
static void test_crc32c_check_value(void **state) {
    (void)state;
    const uint8_t *s = (const uint8_t *)"123456789";
    assert_int_equal(sluice_crc32c(0, s, 9), 0xE3069283u);
    assert_int_equal(sluice_crc32c_portable(0, s, 9), 0xE3069283u);
}

static void test_crc32c_rfc3720_vectors(void **state) {
    (void)state;
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    assert_int_equal(sluice_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(sluice_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    assert_int_equal(sluice_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    assert_int_equal(sluice_crc32c(0, buf, 32), 0x113FDB5Cu);
}

static void test_crc32c_hw_matches_portable_all_lengths_and_offsets(void **state) {
    (void)state;
    uint8_t buf[300];
    sluice_prng p;
    sluice_prng_seed(&p, 42);
    sluice_prng_random_fn(&p, buf, sizeof buf);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 7)
            assert_int_equal(sluice_crc32c(0, buf + off, len), sluice_crc32c_portable(0, buf + off, len));
}

static void test_crc32c_incremental(void **state) {
    (void)state;
    const uint8_t *s = (const uint8_t *)"123456789";
    uint32_t c = sluice_crc32c(0, s, 4);
    c = sluice_crc32c(c, s + 4, 5);
    assert_int_equal(c, 0xE3069283u);
}

static void test_crc32_check_value(void **state) {
    (void)state;
    assert_int_equal(sluice_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(sluice_crc32(0, NULL, 0), 0u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test(test_crc32c_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_hw_matches_portable_all_lengths_and_offsets),
        cmocka_unit_test(test_crc32c_incremental),
        cmocka_unit_test(test_crc32_check_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
