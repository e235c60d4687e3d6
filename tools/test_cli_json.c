/* Unit tests of sluice-cli's strict JSON reader/writer (the interop signaling lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli_json.h"

static cli_json *parse(const char *s)
{
    char err[128];
    return cli_json_parse(s, strlen(s), err, sizeof err);
}

static void test_json_reads_candidate_message(void **state)
{
    (void)state;
    cli_json *m = parse("{\"type\":\"candidate\",\"mid\":\"0\",\"index\":0,"
                        "\"candidate\":\"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\"}");
    assert_non_null(m);
    assert_string_equal(cli_json_get_string(m, "type"), "candidate");
    assert_string_equal(cli_json_get_string(m, "mid"), "0");
    assert_true(cli_json_get_number(m, "index", -1) == 0);
    assert_string_equal(cli_json_get_string(m, "candidate"),
                        "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host");
    assert_null(cli_json_get_string(m, "sdp"));
    cli_json_free(m);
}

static void test_json_unescapes_sdp_crlf_and_unicode(void **state)
{
    (void)state;
    cli_json *m = parse(" {\"type\":\"offer\",\"sdp\":\"v=0\\r\\ns=\\u00e9\\ud83d\\ude00\\\"\\\\\\/\"} \n");
    assert_non_null(m);
    assert_string_equal(cli_json_get_string(m, "sdp"), "v=0\r\ns=\xc3\xa9\xf0\x9f\x98\x80\"\\/");
    cli_json_free(m);
}

static void test_json_reads_nested_bye(void **state)
{
    (void)state;
    cli_json *m = parse("{\"type\":\"bye\",\"ok\":true,\"result\":{\"details\":{\"sha256\":\"ab\","
                        "\"bytes\":67108864,\"ids\":[1,2,3]},\"error\":null}}");
    assert_non_null(m);
    assert_true(cli_json_get_bool(m, "ok", false));
    const cli_json *d = cli_json_get(cli_json_get(m, "result"), "details");
    assert_string_equal(cli_json_get_string(d, "sha256"), "ab");
    assert_true(cli_json_get_number(d, "bytes", 0) == 67108864.0);
    cli_str s = {0};
    cli_str_json_value(&s, cli_json_get(m, "result"));
    assert_string_equal(s.p, "{\"details\":{\"sha256\":\"ab\",\"bytes\":67108864,\"ids\":[1,2,3]},\"error\":null}");
    cli_str_free(&s);
    cli_json_free(m);
}

static void test_json_rejects_malformed_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "{", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":\"x\"} x", "{'a':1}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}", "{\"a\":\"\\u0000\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xc0\x80\"}", "{\"a\":tru}", "{\"a\":1e}", "\"abc",
        "{\"a\":1e999}", "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        cli_json *v = cli_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
        if (v) {
            fail_msg("accepted bad JSON #%zu: %s", i, bad[i]);
        }
        assert_true(err[0] != '\0');
    }
}

static void test_json_writer_escapes_and_roundtrips(void **state)
{
    (void)state;
    const char text[] = "a\"b\\c\r\nd\te\x01\x7f\xc3\xa9";
    cli_str s = {0};
    cli_str_puts(&s, "{\"sdp\":");
    cli_str_json_string(&s, text, sizeof text - 1);
    cli_str_puts(&s, "}");
    assert_false(s.failed);
    assert_string_equal(s.p, "{\"sdp\":\"a\\\"b\\\\c\\r\\nd\\te\\u0001\\u007f\xc3\xa9\"}");
    cli_json *m = parse(s.p);
    assert_non_null(m);
    assert_string_equal(cli_json_get_string(m, "sdp"), text);
    cli_json_free(m);
    cli_str_free(&s);
}

static void test_json_writer_grows_past_initial_capacity(void **state)
{
    (void)state;
    size_t n = 300000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    cli_str s = {0};
    cli_str_printf(&s, "%s", big);
    cli_str_json_string(&s, big, n);
    assert_int_equal(s.len, 2 * n + 2);
    cli_str_free(&s);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_reads_candidate_message),
        cmocka_unit_test(test_json_unescapes_sdp_crlf_and_unicode),
        cmocka_unit_test(test_json_reads_nested_bye),
        cmocka_unit_test(test_json_rejects_malformed_lines),
        cmocka_unit_test(test_json_writer_escapes_and_roundtrips),
        cmocka_unit_test(test_json_writer_grows_past_initial_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
