/* Tests of src/config.c: configuration defaults and validation, ICE server URLs
 * (RFC 7064, RFC 7065), data-channel options with Godot's rules. Each rule: one bad
 * input and the error code it gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

/* ---- sluice_ice_url_parse: accepted forms ----------------------------------------- */

static sluice_ice_url parse_ok(const char *url) {
    sluice_ice_url u;
    memset(&u, 0x5a, sizeof u);
    int rc = sluice_ice_url_parse(url, &u);
    if (rc != SLUICE_OK) fail_msg("%s: expected OK, got %d", url, rc);
    return u;
}

static void test_ice_url_stun_host_default_port(void **state) {
    (void)state;
    sluice_ice_url u = parse_ok("stun:stun.l.google.com");
    assert_int_equal(u.scheme, SLUICE_ICE_SCHEME_STUN);
    assert_string_equal(u.host, "stun.l.google.com");
    assert_false(u.host_is_ipv6);
    assert_int_equal(u.port, 3478); /* RFC 7064 §3.2: default port 3478 */
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_UDP);
}

static void test_ice_url_stun_explicit_port(void **state) {
    (void)state;
    sluice_ice_url u = parse_ok("stun:stun.l.google.com:19302");
    assert_string_equal(u.host, "stun.l.google.com");
    assert_int_equal(u.port, 19302);
    u = parse_ok("stun:h:1");
    assert_int_equal(u.port, 1);
    u = parse_ok("stun:h:65535");
    assert_int_equal(u.port, 65535);
}

static void test_ice_url_stuns_default_port_5349_over_tcp(void **state) {
    (void)state;
    sluice_ice_url u = parse_ok("stuns:example.org");
    assert_int_equal(u.scheme, SLUICE_ICE_SCHEME_STUNS);
    assert_int_equal(u.port, 5349); /* RFC 7064 §3.2: default port 5349 for stuns */
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_TCP);
}

static void test_ice_url_turn_and_turns_defaults(void **state) {
    (void)state;
    sluice_ice_url u = parse_ok("turn:turn.example.org");
    assert_int_equal(u.scheme, SLUICE_ICE_SCHEME_TURN);
    assert_int_equal(u.port, 3478);
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_UDP);
    u = parse_ok("turns:turn.example.org");
    assert_int_equal(u.scheme, SLUICE_ICE_SCHEME_TURNS);
    assert_int_equal(u.port, 5349);
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_TCP);
    u = parse_ok("turns:turn.example.org:443");
    assert_int_equal(u.port, 443);
}

static void test_ice_url_turn_transport_query(void **state) {
    (void)state;
    /* RFC 7065 §3.1: turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ] */
    sluice_ice_url u = parse_ok("turn:10.0.0.1:3479?transport=tcp");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 3479);
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_TCP);
    u = parse_ok("turn:10.0.0.1?transport=udp");
    assert_int_equal(u.port, 3478);
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_UDP);
    u = parse_ok("turns:t.example?transport=tcp");
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_TCP);
    u = parse_ok("turn:h?TRANSPORT=TCP");
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_TCP);
}

static void test_ice_url_scheme_is_case_insensitive(void **state) {
    (void)state;
    assert_int_equal(parse_ok("STUN:h").scheme, SLUICE_ICE_SCHEME_STUN);
    assert_int_equal(parse_ok("Stuns:h").scheme, SLUICE_ICE_SCHEME_STUNS);
    assert_int_equal(parse_ok("TuRn:h").scheme, SLUICE_ICE_SCHEME_TURN);
    assert_int_equal(parse_ok("TURNS:h").scheme, SLUICE_ICE_SCHEME_TURNS);
    /* The host keeps its case. */
    assert_string_equal(parse_ok("STUN:Example.ORG").host, "Example.ORG");
}

static void test_ice_url_ipv4_and_bracketed_ipv6_hosts(void **state) {
    (void)state;
    sluice_ice_url u = parse_ok("stun:192.0.2.1");
    assert_string_equal(u.host, "192.0.2.1");
    assert_false(u.host_is_ipv6);
    u = parse_ok("stun:[2001:db8::1]");
    assert_string_equal(u.host, "2001:db8::1"); /* without brackets */
    assert_true(u.host_is_ipv6);
    assert_int_equal(u.port, 3478);
    u = parse_ok("turn:[::1]:5000?transport=tcp");
    assert_string_equal(u.host, "::1");
    assert_true(u.host_is_ipv6);
    assert_int_equal(u.port, 5000);
    assert_int_equal(u.transport, SLUICE_ICE_TRANSPORT_TCP);
    u = parse_ok("turns:[::ffff:192.0.2.1]");
    assert_true(u.host_is_ipv6);
    assert_int_equal(u.port, 5349);
}

static void test_ice_url_host_name_characters(void **state) {
    (void)state;
    assert_string_equal(parse_ok("stun:a-b_c~d.e").host, "a-b_c~d.e");
    assert_string_equal(parse_ok("stun:x").host, "x");
    char url[5 + 256];
    memcpy(url, "stun:", 5);
    memset(url + 5, 'a', 255);
    url[5 + 255] = '\0';
    assert_int_equal(strlen(parse_ok(url).host), 255);
}

/* ---- sluice_ice_url_parse: rejected forms ------------------------------------------- */

static void test_ice_url_rejects_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        /* unknown scheme or no scheme */
        "http:example.org", "stunx:h", "stun", "turn", "example.org:3478", "", ":h",
        /* RFC 7064/7065 have no authority part */
        "stun://stun.example.org", "turn://h:3478", "turns:/h",
        /* empty host */
        "stun:", "turn::3478", "stun:?transport=udp", "turn:?transport=udp",
        /* bad ports */
        "stun:h:", "stun:h:0", "stun:h:00000", "stun:h:65536", "stun:h:99999", "stun:h:123456",
        "stun:h:-1", "stun:h:+80", "stun:h:80a", "stun:h:0x10", "stun:h:3478:1", "stun:[::1]:",
        "stun:[::1]:0", "stun:[::1]:70000",
        /* query only on turn, only transport=udp|tcp */
        "stun:h?transport=udp", "stuns:h?transport=tcp", "turn:h?transport=sctp", "turn:h?transport=",
        "turn:h?", "turn:h?foo=bar", "turn:h?transport=udp&x=y", "turn:h?transport=udp?transport=tcp",
        /* TURN over DTLS is not supported */
        "turns:h?transport=udp",
        /* IPv6 literals: brackets required and closed, contents an IPv6 address */
        "stun:[::1", "stun:[]", "stun:[::1]x", "stun:[::1]3478", "stun:::1", "stun:2001:db8::1",
        "stun:[1.2.3.4]", "stun:[example.org]", "stun:[fe80::1%25eth0]",
        /* spaces and other characters not allowed in a host */
        "stun: h", "stun:h ", " stun:h", "stun:h :3478", "stun:h: 3478", "stun:h:3478 ", "stun:a b",
        "stun:h\t", "turn:user@h", "stun:h/path", "stun:h#frag", "stun:h%41", "stun:h;x",
    };
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(bad); i++) {
        sluice_ice_url u;
        memset(&u, 0x5a, sizeof u);
        sluice_ice_url before;
        memcpy(&before, &u, sizeof u);
        int rc = sluice_ice_url_parse(bad[i], &u);
        if (rc != SLUICE_ERR_CONFIG) fail_msg("\"%s\": expected CONFIG, got %d", bad[i], rc);
        assert_memory_equal(&u, &before, sizeof u); /* untouched on error */
    }
}

static void test_ice_url_rejects_host_too_long(void **state) {
    (void)state;
    char url[5 + 300];
    memcpy(url, "stun:", 5);
    memset(url + 5, 'a', 256);
    url[5 + 256] = '\0';
    sluice_ice_url u;
    assert_int_equal(sluice_ice_url_parse(url, &u), SLUICE_ERR_CONFIG);
}

static void test_ice_url_null_arguments(void **state) {
    (void)state;
    sluice_ice_url u;
    assert_int_equal(sluice_ice_url_parse(NULL, &u), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_ice_url_parse("stun:h", NULL), SLUICE_ERR_INVALID_ARGUMENT);
}

/* ---- sluice_config_validate ------------------------------------------------------------ */

static void test_config_default_is_valid(void **state) {
    (void)state;
    sluice_config c;
    memset(&c, 0xff, sizeof c);
    sluice_config_default(&c);
    assert_int_equal(c.version, SLUICE_CONFIG_VERSION);
    assert_int_equal(c.ice_servers_count, 0);
    assert_null(c.ice_servers);
    assert_int_equal(c.ice_policy, SLUICE_ICE_POLICY_ALL);
    assert_int_equal(c.max_message_size, 262144);
    assert_int_equal(c.sctp_rto_initial_ms, 1000);
    assert_int_equal(c.sctp_rto_min_ms, 200);
    assert_int_equal(c.sctp_rto_max_ms, 10000);
    assert_int_equal(c.log_level, SLUICE_LOG_WARN);
    assert_null(c.allocator.malloc);
    assert_int_equal(sluice_config_validate(&c), SLUICE_OK);
    sluice_config_default(NULL); /* harmless */
    assert_int_equal(sluice_config_validate(NULL), SLUICE_ERR_INVALID_ARGUMENT);
}

static sluice_config defaults(void) {
    sluice_config c;
    sluice_config_default(&c);
    return c;
}

#define EXPECT_CONFIG(stmt)                                                           \
    do {                                                                              \
        sluice_config c = defaults();                                                 \
        stmt;                                                                         \
        int rc_ = sluice_config_validate(&c);                                         \
        if (rc_ != SLUICE_ERR_CONFIG) fail_msg("%s: expected CONFIG, got %d", #stmt, rc_); \
    } while (0)

#define EXPECT_OK(stmt)                                                               \
    do {                                                                              \
        sluice_config c = defaults();                                                 \
        stmt;                                                                         \
        int rc_ = sluice_config_validate(&c);                                         \
        if (rc_ != SLUICE_OK) fail_msg("%s: expected OK, got %d", #stmt, rc_);        \
    } while (0)

static void test_config_rejects_wrong_version(void **state) {
    (void)state;
    EXPECT_CONFIG(c.version = 0);
    EXPECT_CONFIG(c.version = SLUICE_CONFIG_VERSION + 1);
}

static const char *const stun_urls[] = {"stun:stun.l.google.com:19302", "stun:[2001:db8::1]"};
static const char *const turn_urls[] = {"turn:turn.example.org?transport=udp", "turns:turn.example.org"};
static const char *const bad_urls[] = {"stun:ok.example", "stun://bad.example"};
static const char *const null_url[] = {NULL};

static void test_config_accepts_stun_and_turn_servers(void **state) {
    (void)state;
    sluice_ice_server s[2] = {
        {stun_urls, 2, NULL, NULL},
        {turn_urls, 2, "user", "secret"},
    };
    EXPECT_OK((c.ice_servers = s, c.ice_servers_count = 2));
}

static void test_config_rejects_ice_server_list_problems(void **state) {
    (void)state;
    sluice_ice_server one = {stun_urls, 1, NULL, NULL};
    /* count without array */
    EXPECT_CONFIG(c.ice_servers_count = 1);
    /* more servers than SLUICE_MAX_ICE_SERVERS */
    sluice_ice_server many[SLUICE_MAX_ICE_SERVERS + 1];
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(many); i++) many[i] = one;
    EXPECT_OK((c.ice_servers = many, c.ice_servers_count = SLUICE_MAX_ICE_SERVERS));
    EXPECT_CONFIG((c.ice_servers = many, c.ice_servers_count = SLUICE_MAX_ICE_SERVERS + 1));
    /* a server without URLs */
    sluice_ice_server nourls = {stun_urls, 0, NULL, NULL};
    EXPECT_CONFIG((c.ice_servers = &nourls, c.ice_servers_count = 1));
    sluice_ice_server nullurls = {NULL, 1, NULL, NULL};
    EXPECT_CONFIG((c.ice_servers = &nullurls, c.ice_servers_count = 1));
    /* more URLs than SLUICE_MAX_ICE_URLS */
    const char *urls[SLUICE_MAX_ICE_URLS + 1];
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(urls); i++) urls[i] = "stun:h";
    sluice_ice_server manyurls = {urls, SLUICE_MAX_ICE_URLS, NULL, NULL};
    EXPECT_OK((c.ice_servers = &manyurls, c.ice_servers_count = 1));
    manyurls.urls_count = SLUICE_MAX_ICE_URLS + 1;
    EXPECT_CONFIG((c.ice_servers = &manyurls, c.ice_servers_count = 1));
    /* one bad URL among good ones, and a NULL URL */
    sluice_ice_server bad = {bad_urls, 2, NULL, NULL};
    EXPECT_CONFIG((c.ice_servers = &bad, c.ice_servers_count = 1));
    sluice_ice_server nul = {null_url, 1, NULL, NULL};
    EXPECT_CONFIG((c.ice_servers = &nul, c.ice_servers_count = 1));
}

static void test_config_turn_without_credentials_is_config_error(void **state) {
    (void)state;
    sluice_ice_server s = {turn_urls, 1, NULL, NULL};
    EXPECT_CONFIG((c.ice_servers = &s, c.ice_servers_count = 1));
    s.username = "user";
    EXPECT_CONFIG((c.ice_servers = &s, c.ice_servers_count = 1));
    s.username = NULL;
    s.credential = "secret";
    EXPECT_CONFIG((c.ice_servers = &s, c.ice_servers_count = 1));
    s.username = "";
    EXPECT_CONFIG((c.ice_servers = &s, c.ice_servers_count = 1));
    /* turns: needs them as well (second URL of the list) */
    sluice_ice_server t = {turn_urls + 1, 1, NULL, NULL};
    EXPECT_CONFIG((c.ice_servers = &t, c.ice_servers_count = 1));
    s.username = "user";
    EXPECT_OK((c.ice_servers = &s, c.ice_servers_count = 1));
}

static void test_config_rejects_overlong_credentials(void **state) {
    (void)state;
    char long_str[514];
    memset(long_str, 'u', 513);
    long_str[513] = '\0';
    sluice_ice_server s = {turn_urls, 1, long_str, "secret"};
    EXPECT_CONFIG((c.ice_servers = &s, c.ice_servers_count = 1));
    s.username = "user";
    s.credential = long_str;
    EXPECT_CONFIG((c.ice_servers = &s, c.ice_servers_count = 1));
    long_str[512] = '\0'; /* 512 is the limit */
    EXPECT_OK((c.ice_servers = &s, c.ice_servers_count = 1));
}

static void test_config_rejects_unknown_ice_policy(void **state) {
    (void)state;
    EXPECT_OK(c.ice_policy = SLUICE_ICE_POLICY_RELAY);
    EXPECT_CONFIG(c.ice_policy = (sluice_ice_policy)2);
    EXPECT_CONFIG(c.ice_policy = (sluice_ice_policy)-1);
}

static void test_config_port_range_rules(void **state) {
    (void)state;
    EXPECT_OK((c.port_min = 50000, c.port_max = 50010));
    EXPECT_OK((c.port_min = 50000, c.port_max = 50000));
    EXPECT_CONFIG((c.port_min = 50010, c.port_max = 50000));
    EXPECT_CONFIG((c.port_min = 0, c.port_max = 50000));
    EXPECT_CONFIG((c.port_min = 50000, c.port_max = 0));
}

static void test_config_bind_address_must_be_an_ip(void **state) {
    (void)state;
    EXPECT_OK(c.bind_address = "192.168.1.2");
    EXPECT_OK(c.bind_address = "::1");
    EXPECT_CONFIG(c.bind_address = "eth0");
    EXPECT_CONFIG(c.bind_address = "");
}

static void test_config_certificate_and_key_both_or_neither(void **state) {
    (void)state;
    EXPECT_CONFIG(c.certificate_pem = "-----BEGIN CERTIFICATE-----");
    EXPECT_CONFIG(c.private_key_pem = "-----BEGIN PRIVATE KEY-----");
    /* Validation checks presence only; parsing the PEM is the DTLS layer's job. */
    EXPECT_OK((c.certificate_pem = "cert", c.private_key_pem = "key"));
}

static void test_config_buffer_sizes_nonzero_and_consistent(void **state) {
    (void)state;
    EXPECT_CONFIG(c.max_message_size = 0);
    EXPECT_CONFIG(c.max_send_buffer = 0);
    EXPECT_CONFIG(c.max_receive_buffer = 0);
    /* A message must fit the receive buffer. */
    EXPECT_CONFIG((c.max_message_size = 1000, c.max_receive_buffer = 999));
    EXPECT_OK((c.max_message_size = 1000, c.max_receive_buffer = 1000));
    EXPECT_CONFIG(c.sctp_receive_window = 1499);
    EXPECT_OK(c.sctp_receive_window = 1500);
}

static void test_config_rto_order(void **state) {
    (void)state;
    EXPECT_CONFIG(c.sctp_rto_min_ms = 0);
    EXPECT_CONFIG((c.sctp_rto_min_ms = 1001, c.sctp_rto_initial_ms = 1000));
    EXPECT_CONFIG((c.sctp_rto_initial_ms = 20000, c.sctp_rto_max_ms = 10000));
    EXPECT_OK((c.sctp_rto_min_ms = 500, c.sctp_rto_initial_ms = 500, c.sctp_rto_max_ms = 500));
}

static void test_config_dtls_and_consent_timers(void **state) {
    (void)state;
    EXPECT_CONFIG(c.dtls_retransmit_initial_ms = 0);
    EXPECT_CONFIG(c.dtls_retransmit_initial_ms = 60001);
    EXPECT_OK(c.dtls_retransmit_initial_ms = 60000);
    EXPECT_CONFIG(c.consent_disconnect_ms = 0);
    EXPECT_CONFIG((c.consent_disconnect_ms = 30001, c.consent_fail_ms = 30000));
    EXPECT_OK((c.consent_disconnect_ms = 30000, c.consent_fail_ms = 30000));
}

static void test_config_rejects_unknown_log_level(void **state) {
    (void)state;
    EXPECT_OK(c.log_level = SLUICE_LOG_TRACE);
    EXPECT_CONFIG(c.log_level = (sluice_log_level)(SLUICE_LOG_TRACE + 1));
}

static void *a_malloc(size_t n, void *u) { (void)u; return malloc(n); }
static void *a_realloc(void *p, size_t n, void *u) { (void)u; return realloc(p, n); }
static void a_free(void *p, void *u) { (void)u; free(p); }

static void test_config_allocator_all_or_nothing(void **state) {
    (void)state;
    EXPECT_OK((c.allocator.malloc = a_malloc, c.allocator.realloc = a_realloc, c.allocator.free = a_free));
    EXPECT_CONFIG(c.allocator.malloc = a_malloc);
    EXPECT_CONFIG(c.allocator.free = a_free);
    EXPECT_CONFIG((c.allocator.malloc = a_malloc, c.allocator.free = a_free));
    EXPECT_CONFIG((c.allocator.realloc = a_realloc, c.allocator.free = a_free));
}

/* ---- channel options ----------------------------------------------------------------- */

static void test_channel_options_default(void **state) {
    (void)state;
    sluice_channel_options o;
    memset(&o, 0xff, sizeof o);
    sluice_channel_options_default(&o);
    assert_true(o.ordered);
    assert_false(o.negotiated);
    assert_false(o.has_id);
    assert_int_equal(o.id, SLUICE_UNSET);
    assert_false(o.has_max_retransmits);
    assert_int_equal(o.max_retransmits, SLUICE_UNSET);
    assert_false(o.has_max_packet_life_time);
    assert_int_equal(o.max_packet_life_time, SLUICE_UNSET);
    assert_null(o.protocol);
    assert_int_equal(o.priority, 256);
    assert_int_equal(sluice_channel_options_validate(&o, "chat"), SLUICE_OK);
    assert_int_equal(sluice_channel_options_validate(&o, NULL), SLUICE_OK);
    sluice_channel_options_default(NULL);
}

static void test_channel_options_negotiated_requires_id(void **state) {
    (void)state;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "negotiated", 1), SLUICE_OK);
    assert_true(o.negotiated);
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_ERR_CONFIG);
    assert_int_equal(sluice_channel_options_set_int(&o, "id", 0), SLUICE_OK);
    assert_true(o.has_id);
    assert_int_equal(o.id, 0);
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_OK);
}

static void test_channel_options_retransmits_and_lifetime_exclusive(void **state) {
    (void)state;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "maxRetransmits", 3), SLUICE_OK);
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_OK);
    /* Each key alone is accepted; the combination is refused at validation (W3C). */
    assert_int_equal(sluice_channel_options_set_int(&o, "maxPacketLifeTime", 100), SLUICE_OK);
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_ERR_CONFIG);
}

static void test_channel_options_id_65535_is_config_error(void **state) {
    (void)state;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "id", 65535), SLUICE_ERR_CONFIG);
    assert_false(o.has_id); /* unchanged */
    assert_int_equal(sluice_channel_options_set_int(&o, "id", 65534), SLUICE_OK);
    assert_int_equal(o.id, 65534);
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_OK);
    o.id = 65535; /* set directly in the struct */
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_ERR_CONFIG);
}

static void test_channel_options_label_and_protocol_limit_65535(void **state) {
    (void)state;
    /* RFC 8832 §5.1: Label Length and Protocol Length are 16-bit fields. */
    char *big = malloc(65537);
    assert_non_null(big);
    memset(big, 'l', 65536);
    big[65536] = '\0';
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_validate(&o, big), SLUICE_ERR_CONFIG);
    o.protocol = big;
    assert_int_equal(sluice_channel_options_validate(&o, "x"), SLUICE_ERR_CONFIG);
    big[65535] = '\0';
    assert_int_equal(sluice_channel_options_validate(&o, big), SLUICE_OK);
    free(big);
}

static void test_channel_options_godot3_and_w3c_lifetime_spellings(void **state) {
    (void)state;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "maxPacketLifetime", 500), SLUICE_OK);
    assert_true(o.has_max_packet_life_time);
    assert_int_equal(o.max_packet_life_time, 500);
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "maxPacketLifeTime", 700), SLUICE_OK);
    assert_true(o.has_max_packet_life_time);
    assert_int_equal(o.max_packet_life_time, 700);
}

static void test_channel_options_set_int_every_key(void **state) {
    (void)state;
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    assert_int_equal(sluice_channel_options_set_int(&o, "ordered", 0), SLUICE_OK);
    assert_false(o.ordered);
    assert_int_equal(sluice_channel_options_set_int(&o, "ordered", 1), SLUICE_OK);
    assert_true(o.ordered);
    assert_int_equal(sluice_channel_options_set_int(&o, "negotiated", 0), SLUICE_OK);
    assert_false(o.negotiated);
    assert_int_equal(sluice_channel_options_set_int(&o, "maxRetransmits", 0), SLUICE_OK);
    assert_true(o.has_max_retransmits);
    assert_int_equal(o.max_retransmits, 0);
    assert_int_equal(sluice_channel_options_set_int(&o, "priority", 512), SLUICE_OK);
    assert_int_equal(o.priority, 512);
}

static void test_channel_options_unknown_key_is_config_error(void **state) {
    (void)state;
    static const char *const keys[] = {"", "foo", "Ordered", "ID", "maxretransmits", "max_retransmits",
                                       "maxPacketLifeTimes", "protocol", "label"};
    sluice_channel_options o, before;
    sluice_channel_options_default(&o);
    memcpy(&before, &o, sizeof o);
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(keys); i++) {
        int rc = sluice_channel_options_set_int(&o, keys[i], 1);
        if (rc != SLUICE_ERR_CONFIG) fail_msg("key \"%s\": expected CONFIG, got %d", keys[i], rc);
    }
    assert_memory_equal(&o, &before, sizeof o);
    assert_int_equal(sluice_channel_options_set_int(NULL, "id", 1), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_channel_options_set_int(&o, NULL, 1), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_channel_options_validate(NULL, "x"), SLUICE_ERR_INVALID_ARGUMENT);
}

static void test_channel_options_out_of_range_values(void **state) {
    (void)state;
    static const struct {
        const char *key;
        int64_t value;
    } bad[] = {
        {"ordered", 2},          {"ordered", -1},           {"negotiated", 2},
        {"negotiated", -1},      {"id", -1},                {"id", 65535},
        {"id", INT64_MAX},       {"maxRetransmits", -1},    {"maxRetransmits", 65536},
        {"maxPacketLifeTime", -1}, {"maxPacketLifeTime", 65536}, {"maxPacketLifetime", 65536},
        {"maxPacketLifetime", INT64_MIN}, {"priority", -1}, {"priority", 65536},
    };
    sluice_channel_options o, before;
    sluice_channel_options_default(&o);
    memcpy(&before, &o, sizeof o);
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(bad); i++) {
        int rc = sluice_channel_options_set_int(&o, bad[i].key, bad[i].value);
        if (rc != SLUICE_ERR_CONFIG)
            fail_msg("%s=%lld: expected CONFIG, got %d", bad[i].key, (long long)bad[i].value, rc);
    }
    assert_memory_equal(&o, &before, sizeof o); /* nothing changed on error */
    assert_int_equal(sluice_channel_options_set_int(&o, "maxRetransmits", 65535), SLUICE_OK);
    assert_int_equal(sluice_channel_options_set_int(&o, "priority", 65535), SLUICE_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ice_url_stun_host_default_port),
        cmocka_unit_test(test_ice_url_stun_explicit_port),
        cmocka_unit_test(test_ice_url_stuns_default_port_5349_over_tcp),
        cmocka_unit_test(test_ice_url_turn_and_turns_defaults),
        cmocka_unit_test(test_ice_url_turn_transport_query),
        cmocka_unit_test(test_ice_url_scheme_is_case_insensitive),
        cmocka_unit_test(test_ice_url_ipv4_and_bracketed_ipv6_hosts),
        cmocka_unit_test(test_ice_url_host_name_characters),
        cmocka_unit_test(test_ice_url_rejects_malformed),
        cmocka_unit_test(test_ice_url_rejects_host_too_long),
        cmocka_unit_test(test_ice_url_null_arguments),
        cmocka_unit_test(test_config_default_is_valid),
        cmocka_unit_test(test_config_rejects_wrong_version),
        cmocka_unit_test(test_config_accepts_stun_and_turn_servers),
        cmocka_unit_test(test_config_rejects_ice_server_list_problems),
        cmocka_unit_test(test_config_turn_without_credentials_is_config_error),
        cmocka_unit_test(test_config_rejects_overlong_credentials),
        cmocka_unit_test(test_config_rejects_unknown_ice_policy),
        cmocka_unit_test(test_config_port_range_rules),
        cmocka_unit_test(test_config_bind_address_must_be_an_ip),
        cmocka_unit_test(test_config_certificate_and_key_both_or_neither),
        cmocka_unit_test(test_config_buffer_sizes_nonzero_and_consistent),
        cmocka_unit_test(test_config_rto_order),
        cmocka_unit_test(test_config_dtls_and_consent_timers),
        cmocka_unit_test(test_config_rejects_unknown_log_level),
        cmocka_unit_test(test_config_allocator_all_or_nothing),
        cmocka_unit_test(test_channel_options_default),
        cmocka_unit_test(test_channel_options_negotiated_requires_id),
        cmocka_unit_test(test_channel_options_retransmits_and_lifetime_exclusive),
        cmocka_unit_test(test_channel_options_id_65535_is_config_error),
        cmocka_unit_test(test_channel_options_label_and_protocol_limit_65535),
        cmocka_unit_test(test_channel_options_godot3_and_w3c_lifetime_spellings),
        cmocka_unit_test(test_channel_options_set_int_every_key),
        cmocka_unit_test(test_channel_options_unknown_key_is_config_error),
        cmocka_unit_test(test_channel_options_out_of_range_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
