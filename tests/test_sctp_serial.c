#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sctp/serial.h"

static void test_sn32_orders_across_wrap(void **state) {
    (void)state;
    assert_true(sluice_sn32_lt(1, 2));
    assert_true(sluice_sn32_lt(0xffffffffu, 0));
    assert_true(sluice_sn32_lt(0xfffffff0u, 5));
    assert_false(sluice_sn32_lt(5, 0xfffffff0u));
    assert_true(sluice_sn32_gt(5, 0xfffffff0u));
    assert_true(sluice_sn32_le(7, 7));
    assert_false(sluice_sn32_lt(7, 7));
    assert_true(sluice_sn32_ge(0, 0xffffffffu));
    assert_int_equal(sluice_sn32_max(0xfffffffeu, 3), 3);
}

static void test_sn32_half_space_is_neither_less_nor_greater(void **state) {
    (void)state;
    assert_false(sluice_sn32_lt(0, 0x80000000u));
    assert_false(sluice_sn32_gt(0, 0x80000000u));
    assert_true(sluice_sn32_lt(0, 0x7fffffffu));
}

static void test_sn32_diff_is_signed_and_wrap_safe(void **state) {
    (void)state;
    assert_int_equal(sluice_sn32_diff(0xfffffffeu, 2), 4);
    assert_int_equal(sluice_sn32_diff(2, 0xfffffffeu), -4);
    assert_int_equal(sluice_sn32_diff(100, 100), 0);
}

static void test_sn16_orders_across_wrap(void **state) {
    (void)state;
    assert_true(sluice_sn16_lt(65535, 0));
    assert_true(sluice_sn16_lt(65530, 10));
    assert_false(sluice_sn16_lt(10, 65530));
    assert_true(sluice_sn16_gt(1, 65535));
    assert_true(sluice_sn16_le(3, 3));
    assert_true(sluice_sn16_ge(0, 65000));
    assert_false(sluice_sn16_lt(0, 0x8000));
}

static void test_sn32_unwrap_is_monotonic_across_wrap(void **state) {
    (void)state;
    uint64_t ref = 0xfffffff0u;
    uint64_t u = sluice_sn32_unwrap(ref, 0x00000005u);
    assert_true(u == 0x100000005ull);
    assert_true(sluice_sn32_unwrap(u, 0xfffffff8u) == 0xfffffff8ull);
    assert_true(sluice_sn32_unwrap(3, 0xfffffffeu) == 0xfffffffeull); /* never below 0 */
    assert_true(sluice_sn32_unwrap(0x300000010ull, 0x00000008u) == 0x300000008ull);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sn32_orders_across_wrap),
        cmocka_unit_test(test_sn32_half_space_is_neither_less_nor_greater),
        cmocka_unit_test(test_sn32_diff_is_signed_and_wrap_safe),
        cmocka_unit_test(test_sn16_orders_across_wrap),
        cmocka_unit_test(test_sn32_unwrap_is_monotonic_across_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
