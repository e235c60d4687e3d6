#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdp.h"
#include "util.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static char *read_sample(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/sdp/%s", SLUICE_SAMPLES_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char *buf = malloc(8192);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 8191, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A sluice_sdp is ~80 KB: keep it off the test's stack. */
static sluice_sdp *sdp_new(void) {
    sluice_sdp *s = calloc(1, sizeof *s);
    assert_non_null(s);
    return s;
}

static int parse_str(const char *text, sluice_sdp *s, char *err, size_t cap) {
    return sluice_sdp_parse(text, strlen(text), s, err, cap);
}

static const sluice_sdp_media *dc(const sluice_sdp *s) {
    assert_true(s->datachannel_index >= 0);
    return &s->media[s->datachannel_index];
}

#define FP32 "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"

/* A minimal valid description; tests splice lines into it. */
#define HEAD "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
#define MLINE "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n"
#define ICE "a=ice-ufrag:abcd\na=ice-pwd:abcdefghijklmnopqrstuv\n"
#define FPL "a=fingerprint:sha-256 " FP32 "\n"
#define MINIMAL HEAD "a=group:BUNDLE 0\n" MLINE ICE FPL "a=setup:actpass\na=mid:0\na=sctp-port:5000\n"

/* ---- every real sample parses with the right values ---------------------------------------- */

typedef struct sample_expect {
    const char *file;
    const char *ufrag, *pwd, *fp_prefix;
    sluice_sdp_setup setup;
    bool has_mms;
    uint64_t mms;
    size_t candidates;
    bool trickle, eoc;
    const char *proto;
    uint16_t port;
    const char *origin_user;
    const char *first_candidate;
} sample_expect;

static const sample_expect k_samples[] = {
    {"aiortc-answer.sdp", "DCUY", "5uGiWlgE9VH8mcAV3D9Oon", "C0:3D:7D:41", SLUICE_SDP_SETUP_ACTIVE, true, 65536, 1,
     false, true, "UDP/DTLS/SCTP", 51334, "-",
     "candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 51334 typ host"},
    {"aiortc-offer.sdp", "Zlie", "J4C9C9WGAAJkDLcIw9gVIq", "84:73:BB:16", SLUICE_SDP_SETUP_ACTPASS, true, 65536, 1,
     false, true, "DTLS/SCTP", 35756, "-",
     "candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 35756 typ host"},
    {"chromium-answer.sdp", "WQNu", "eJ/s5PD4WXWNT2IAXlFS8ZPR", "1A:E2:FA:E8", SLUICE_SDP_SETUP_ACTIVE, true, 262144,
     1, true, false, "UDP/DTLS/SCTP", 48410, "-",
     "candidate:2255990513 1 udp 2113937151 198.18.0.1 48410 typ host generation 0 network-cost 999"},
    {"chromium-offer.sdp", "/rHK", "O36lfVM7eAEtweYL6StXeM3X", "FF:1B:AD:94", SLUICE_SDP_SETUP_ACTPASS, true, 262144,
     1, true, false, "UDP/DTLS/SCTP", 53437, "-",
     "candidate:2005680388 1 udp 2113937151 198.18.0.1 53437 typ host generation 0 network-cost 999"},
    {"ndc-answer.sdp", "W1Ym", "Adxjl1V+4aqLDzZlLgueOy", "B8:86:44:36", SLUICE_SDP_SETUP_ACTIVE, true, 262144, 1,
     true, true, "UDP/DTLS/SCTP", 54365, "rtc", "candidate:1 1 UDP 2114977791 127.0.0.1 54365 typ host"},
    {"ndc-offer.sdp", "0lYB", "b65Tb6sDFyCpAp3GiuLiz/", "2E:24:C2:F5", SLUICE_SDP_SETUP_ACTPASS, true, 262144, 1,
     true, true, "UDP/DTLS/SCTP", 53884, "rtc", "candidate:1 1 UDP 2114977791 127.0.0.1 53884 typ host"},
    {"pion-answer.sdp", "QQeOjQktiMHduuVf", "gyHbvUDIUlljPJnnGjMocVSOfBDaZueG", "9F:8C:E2:90",
     SLUICE_SDP_SETUP_ACTIVE, false, 65536, 2, false, true, "UDP/DTLS/SCTP", 9, "-",
     "candidate:2878742611 1 udp 2130706431 127.0.0.1 52850 typ host"},
    {"pion-offer.sdp", "qgfKDMIfrPaYOKHa", "TWTPiwhfrKxPylIxOYhSdHYsXMYVYAfh", "DB:1F:60:08",
     SLUICE_SDP_SETUP_ACTPASS, false, 65536, 2, false, true, "UDP/DTLS/SCTP", 9, "-",
     "candidate:2878742611 1 udp 2130706431 127.0.0.1 51900 typ host"},
    {"werift-answer.sdp", "a267", "506941d84e614dc1a441e7", "EE:76:14:29", SLUICE_SDP_SETUP_ACTIVE, true, 65536, 2,
     true, true, "UDP/DTLS/SCTP", 9, "-",
     "candidate:626da4e5384a0ce2d0d93678a 1 udp 2116026367 127.0.0.1 40778 typ host generation 0 ufrag a267"},
    {"werift-offer.sdp", "d40b", "bc3f7bdac4954af3b098ae", "AA:95:16:7D", SLUICE_SDP_SETUP_ACTPASS, true, 65536, 2,
     true, true, "UDP/DTLS/SCTP", 9, "-",
     "candidate:626da4e5384a0ce2d0d93678a 1 udp 2116026367 127.0.0.1 58313 typ host generation 0 ufrag d40b"},
    {"wrtc-answer.sdp", "1usn", "Io0XjTXQq2qEKsskl8Ht8h2w", "58:FD:6F:2C", SLUICE_SDP_SETUP_ACTIVE, true, 262144, 3,
     true, false, "UDP/DTLS/SCTP", 39021, "-",
     "candidate:891985923 1 udp 2122260223 198.18.0.1 39021 typ host generation 0 network-id 3 network-cost 50"},
    {"wrtc-offer.sdp", "p1wZ", "M50uzIg0GN72YP0ZVRQs9ZFJ", "17:6E:A3:7C", SLUICE_SDP_SETUP_ACTPASS, true, 262144, 6,
     true, false, "UDP/DTLS/SCTP", 36838, "-",
     "candidate:891985923 1 udp 2122260223 198.18.0.1 36838 typ host generation 0 network-id 3 network-cost 50"},
};

static void check_sample(const sample_expect *e, const sluice_sdp *s) {
    assert_int_equal(s->media_count, 1);
    assert_int_equal(s->datachannel_index, 0);
    const sluice_sdp_media *m = dc(s);
    assert_string_equal(m->kind, "application");
    assert_true(m->is_datachannel);
    assert_string_equal(m->mid, "0");
    assert_string_equal(m->ice_ufrag, e->ufrag);
    assert_string_equal(m->ice_pwd, e->pwd);
    assert_int_equal(m->fingerprints_count, 1);
    assert_string_equal(m->fingerprints[0].alg, "sha-256");
    assert_int_equal(strlen(m->fingerprints[0].hex), 95);
    assert_memory_equal(m->fingerprints[0].hex, e->fp_prefix, strlen(e->fp_prefix));
    assert_int_equal(m->setup, e->setup);
    assert_int_equal(m->has_max_message_size, e->has_mms);
    assert_int_equal(m->max_message_size, e->mms);
    assert_int_equal(m->sctp_port, 5000);
    assert_int_equal(m->candidates_count, e->candidates);
    assert_int_equal(m->candidates_ignored, 0);
    assert_string_equal(m->candidates[0], e->first_candidate);
    assert_int_equal(m->ice_trickle, e->trickle);
    assert_false(m->ice_lite);
    assert_int_equal(m->end_of_candidates, e->eoc);
    assert_string_equal(m->proto, e->proto);
    assert_string_equal(m->fmt, strcmp(e->proto, "DTLS/SCTP") == 0 ? "5000" : "webrtc-datachannel");
    assert_int_equal(m->port, e->port);
    assert_string_equal(s->origin_user, e->origin_user);
    assert_int_equal(s->bundle_count, 1);
    assert_string_equal(s->bundle[0], "0");
}

static void test_sdp_parses_every_real_sample(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_samples); i++) {
        size_t len;
        char *text = read_sample(k_samples[i].file, &len);
        char err[256];
        int rc = sluice_sdp_parse(text, len, s, err, sizeof err);
        if (rc != SLUICE_OK) fail_msg("%s: %s", k_samples[i].file, err);
        check_sample(&k_samples[i], s);
        free(text);
    }
    free(s);
}

static void test_sdp_parses_samples_with_lf_line_endings(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_samples); i++) {
        size_t len;
        char *text = read_sample(k_samples[i].file, &len);
        size_t o = 0;
        for (size_t j = 0; j < len; j++)
            if (text[j] != '\r') text[o++] = text[j];
        assert_int_equal(sluice_sdp_parse(text, o, s, NULL, 0), SLUICE_OK);
        check_sample(&k_samples[i], s);
        free(text);
    }
    free(s);
}

static void test_sdp_sample_values_exact(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    size_t len;
    char *text = read_sample("chromium-answer.sdp", &len);
    assert_int_equal(sluice_sdp_parse(text, len, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->session_id, 3567490227997892661ull);
    assert_int_equal(s->session_version, 2);
    assert_string_equal(dc(s)->fingerprints[0].hex,
                        "1A:E2:FA:E8:24:EC:E4:BB:0E:D7:96:63:9F:DC:A7:90:BD:6D:9A:1D:8B:86:DB:77:B2:48:78:58:37:A1:4E:66");
    free(text);

    /* pion: fingerprint at session level, component-2 candidate kept for the ICE layer. */
    text = read_sample("pion-offer.sdp", &len);
    assert_int_equal(sluice_sdp_parse(text, len, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->session_id, 7998292022779744961ull);
    assert_string_equal(dc(s)->candidates[1], "candidate:2878742611 2 udp 2130706431 127.0.0.1 51900 typ host");
    free(text);

    /* aiortc 1.4 offer: the old DTLS/SCTP + a=sctpmap syntax. */
    text = read_sample("aiortc-offer.sdp", &len);
    assert_int_equal(sluice_sdp_parse(text, len, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->session_id, 4004839324ull);
    free(text);
    free(s);
}

/* ---- syntax variants ------------------------------------------------------------------------ */

static void test_sdp_minimal_description_parses(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    char err[200];
    assert_int_equal(parse_str(MINIMAL, s, err, sizeof err), SLUICE_OK);
    const sluice_sdp_media *m = dc(s);
    assert_string_equal(m->ice_ufrag, "abcd");
    assert_false(m->has_max_message_size);
    assert_int_equal(m->max_message_size, 65536); /* RFC 8841 §6 default */
    assert_int_equal(m->candidates_count, 0);
    assert_false(m->end_of_candidates);
    assert_int_equal(s->session_id, 1);
    assert_int_equal(s->session_version, 2);
    free(s);
}

static void test_sdp_max_message_size_zero_means_unlimited(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    assert_int_equal(parse_str(MINIMAL "a=max-message-size:0\n", s, NULL, 0), SLUICE_OK);
    assert_true(dc(s)->has_max_message_size);
    assert_int_equal(dc(s)->max_message_size, 0);
    assert_int_equal(parse_str(MINIMAL "a=max-message-size:18446744073709551615\n", s, NULL, 0), SLUICE_OK);
    assert_int_equal(dc(s)->max_message_size, UINT64_MAX);
    free(s);
}

static void test_sdp_old_sctpmap_syntax_sets_port(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = HEAD "m=application 9 DTLS/SCTP 5001\n" ICE FPL "a=setup:actpass\na=mid:data\n"
                         "a=sctpmap:5001 webrtc-datachannel 1024\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_true(dc(s)->is_datachannel);
    assert_int_equal(dc(s)->sctp_port, 5001);
    assert_string_equal(dc(s)->mid, "data");
    /* Without a=sctpmap the m= format is the port. */
    t = HEAD "m=application 9 DTLS/SCTP 6000\n" ICE FPL "a=setup:actpass\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_int_equal(dc(s)->sctp_port, 6000);
    /* An sctpmap for some other SCTP application is not a data channel. */
    t = HEAD "m=application 9 DTLS/SCTP 5000\n" ICE FPL "a=sctpmap:5000 bfcp 16\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->datachannel_index, -1);
    assert_false(s->media[0].is_datachannel);
    free(s);
}

static void test_sdp_proto_is_case_insensitive(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = HEAD "m=application 9 udp/dtls/sctp webrtc-datachannel\n" ICE FPL "a=setup:active\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_true(dc(s)->is_datachannel);
    assert_string_equal(dc(s)->proto, "udp/dtls/sctp");
    t = HEAD "m=application 9 TCP/DTLS/SCTP webrtc-datachannel\n" ICE FPL "a=setup:active\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_true(dc(s)->is_datachannel);
    free(s);
}

static void test_sdp_media_values_override_session_values(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = HEAD "a=ice-ufrag:sess\na=ice-pwd:sessionpasswordsession\na=ice-options:trickle\n"
                         "a=fingerprint:SHA-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\n"
                         "a=setup:passive\na=ice-lite\n"
                         "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:a\n"
                         "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:d\n"
                         "a=ice-ufrag:medi\na=ice-options:ice2\n" FPL "a=setup:active\n";
    char err[200];
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_OK);
    assert_int_equal(s->media_count, 2);
    assert_int_equal(s->datachannel_index, 1);
    const sluice_sdp_media *a = &s->media[0], *d = &s->media[1];
    assert_false(a->is_datachannel);
    assert_string_equal(a->kind, "audio");
    assert_string_equal(a->ice_ufrag, "sess");
    assert_string_equal(a->fingerprints[0].alg, "sha-1"); /* lower-cased */
    assert_int_equal(a->setup, SLUICE_SDP_SETUP_PASSIVE);
    assert_true(a->ice_trickle);
    assert_string_equal(d->ice_ufrag, "medi");
    assert_string_equal(d->ice_pwd, "sessionpasswordsession");
    assert_false(d->ice_trickle); /* media a=ice-options without trickle wins */
    assert_true(d->ice_lite);
    assert_int_equal(d->fingerprints_count, 1);
    assert_string_equal(d->fingerprints[0].alg, "sha-256");
    assert_int_equal(d->setup, SLUICE_SDP_SETUP_ACTIVE);
    free(s);
}

static void test_sdp_accepts_all_fingerprint_hashes(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    char t[2048], hex[200];
    static const struct {
        const char *alg;
        size_t bytes;
    } algs[] = {{"sha-1", 20}, {"sha-256", 32}, {"sha-384", 48}, {"sha-512", 64}, {"SHA-512", 64}};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(algs); i++) {
        uint8_t raw[64];
        for (size_t j = 0; j < sizeof raw; j++) raw[j] = (uint8_t)(j * 7);
        assert_true(sluice_hex_encode(hex, sizeof hex, raw, algs[i].bytes, ':', true) > 0);
        snprintf(t, sizeof t, HEAD MLINE ICE "a=fingerprint:%s %s\na=fingerprint:sha-256 " FP32 "\n", algs[i].alg,
                 hex);
        char err[200];
        assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_OK);
        assert_int_equal(dc(s)->fingerprints_count, 2);
        assert_string_equal(dc(s)->fingerprints[0].hex, hex);
        assert_true(strncmp(dc(s)->fingerprints[0].alg, "sha-", 4) == 0);
    }
    free(s);
}

static void test_sdp_port_zero_section_is_not_usable(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = HEAD "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\n" ICE FPL "a=mid:0\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->datachannel_index, -1);
    assert_int_equal(s->media[0].port, 0);
    /* RFC 8843 bundle-only sections carry port 0 but are in use. */
    t = HEAD "a=group:BUNDLE 0\nm=application 0 UDP/DTLS/SCTP webrtc-datachannel\n" ICE FPL
             "a=mid:0\na=bundle-only\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->datachannel_index, 0);
    assert_true(dc(s)->bundle_only);
    free(s);
}

static void test_sdp_without_datachannel_section_parses(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111 103\n" ICE FPL "a=mid:0\n"
                         "m=video 9/2 UDP/TLS/RTP/SAVPF 96\na=mid:1\n";
    assert_int_equal(parse_str(t, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->media_count, 2);
    assert_int_equal(s->datachannel_index, -1);
    assert_int_equal(parse_str(HEAD, s, NULL, 0), SLUICE_OK);
    assert_int_equal(s->media_count, 0);
    assert_int_equal(s->datachannel_index, -1);
    free(s);
}

static void test_sdp_skips_unknown_lines_and_attributes(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\ni=info\r\nu=http://x\r\ne=a@b\r\nb=AS:30\r\n"
                    "t=0 0\r\nr=7d 1h 0 25h\r\nz=0 0\r\nk=clear:x\r\nx=unknown\r\n"
                    "a=msid-semantic: WMS\r\na=extmap-allow-mixed\r\na=x-foo:bar baz\r\na=group:LS 0\r\n"
                    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\nb=AS:30\r\n"
                    "a=sendrecv\r\na=sctp-init:AAAA\r\na=group:BUNDLE 7\r\na=ice-ufrag:abcd\r\n"
                    "a=ice-pwd:abcdefghijklmnopqrstuv\r\n" "a=ice-options:ice2,trickle\r\n"
                    "a=fingerprint:sha-256 " FP32 "\r\na=setup:actpass\r\na=mid:0\r\n\r\n";
    char err[200];
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_OK);
    assert_int_equal(s->bundle_count, 0); /* a media-level a=group is ignored */
    assert_true(dc(s)->ice_trickle);      /* "ice2,trickle" as libdatachannel writes it */
    free(s);
}

static void test_sdp_ice_options_with_space_separated_trickle(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    assert_int_equal(parse_str(HEAD "a=ice-options:ice2 trickle\n" MLINE ICE FPL, s, NULL, 0), SLUICE_OK);
    assert_true(dc(s)->ice_trickle);
    assert_int_equal(parse_str(HEAD "a=ice-options:ice2 trickled,x\n" MLINE ICE FPL, s, NULL, 0), SLUICE_OK);
    assert_false(dc(s)->ice_trickle);
    assert_int_equal(parse_str(HEAD "a=ice-options:trickle\n" MLINE "a=ice-options:\n" ICE FPL, s, NULL, 0), SLUICE_OK);
    assert_false(dc(s)->ice_trickle); /* an empty media-level list overrides */
    free(s);
}

/* Firefox's shape (written from its documented output, not a captured sample): session-level
 * fingerprint and ice-options, a long o= user name, a=sendrecv at both levels, a large
 * max-message-size, mDNS host candidates. */
static void test_sdp_parses_firefox_shaped_offer(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    const char *t = "v=0\r\n"
                    "o=mozilla...THIS_IS_SDPARTA-99.0 6511439433316496381 0 IN IP4 0.0.0.0\r\n"
                    "s=-\r\nt=0 0\r\na=sendrecv\r\n"
                    "a=fingerprint:sha-256 " FP32 "\r\n"
                    "a=group:BUNDLE 0\r\na=ice-options:trickle\r\na=msid-semantic:WMS *\r\n"
                    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n"
                    "a=ice-pwd:4b4e6b9a8f3c2d1e0f9a8b7c6d5e4f3a\r\na=ice-ufrag:9c2f1a7e\r\na=mid:0\r\n"
                    "a=setup:actpass\r\na=sctp-port:5000\r\na=max-message-size:1073741823\r\n"
                    "a=candidate:0 1 UDP 2122252543 0b1d8a8c-1a1e-4b0f-9c77-3d6f0c9d2b1a.local 53172 typ host\r\n"
                    "a=end-of-candidates\r\n";
    char err[200];
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_OK);
    assert_string_equal(s->origin_user, "mozilla...THIS_IS_SDPARTA-99.0");
    assert_int_equal(s->session_id, 6511439433316496381ull);
    const sluice_sdp_media *m = dc(s);
    assert_string_equal(m->ice_ufrag, "9c2f1a7e");
    assert_int_equal(m->fingerprints_count, 1);
    assert_true(m->ice_trickle);
    assert_int_equal(m->max_message_size, 1073741823);
    assert_int_equal(m->candidates_count, 1);
    assert_true(m->end_of_candidates);
    free(s);
}

static void test_sdp_session_end_of_candidates_applies_to_media(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    assert_int_equal(parse_str(HEAD "a=end-of-candidates\n" MLINE ICE FPL, s, NULL, 0), SLUICE_OK);
    assert_true(dc(s)->end_of_candidates);
    free(s);
}

static void test_sdp_extra_candidates_and_fingerprints_are_ignored(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    size_t cap = 64 * 1024, n = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    n += (size_t)snprintf(t + n, cap - n, "%s", MINIMAL);
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(t + n, cap - n, "a=candidate:%d 1 udp 2130706431 10.0.0.%d %d typ host\n", i, i,
                              1000 + i);
    for (int i = 0; i < 6; i++) n += (size_t)snprintf(t + n, cap - n, "a=fingerprint:sha-1 %s\n",
                                                      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33");
    assert_int_equal(sluice_sdp_parse(t, n, s, NULL, 0), SLUICE_OK);
    assert_int_equal(dc(s)->candidates_count, SLUICE_SDP_MAX_CANDIDATES);
    assert_int_equal(dc(s)->candidates_ignored, 40 - SLUICE_SDP_MAX_CANDIDATES);
    assert_string_equal(dc(s)->candidates[31], "candidate:31 1 udp 2130706431 10.0.0.31 1031 typ host");
    assert_int_equal(dc(s)->fingerprints_count, SLUICE_SDP_MAX_FINGERPRINTS);
    free(t);
    free(s);
}

static void test_sdp_limits_at_their_maximum_are_accepted(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    char t[4096], ufrag[257], pwd[257], mid[33], cand[246];
    memset(ufrag, 'u', 256);
    ufrag[256] = 0;
    memset(pwd, 'p', 256);
    pwd[256] = 0;
    memset(mid, 'm', 32);
    mid[32] = 0;
    memset(cand, 'c', 245); /* "candidate:" + 245 = 255 characters */
    cand[245] = 0;
    snprintf(t, sizeof t, HEAD MLINE "a=ice-ufrag:%s\na=ice-pwd:%s\na=mid:%s\na=candidate:%s\n", ufrag, pwd, mid,
             cand);
    char err[200];
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_OK);
    assert_string_equal(dc(s)->ice_ufrag, ufrag);
    assert_string_equal(dc(s)->ice_pwd, pwd);
    assert_string_equal(dc(s)->mid, mid);
    assert_int_equal(strlen(dc(s)->candidates[0]), 255);
    free(s);
}

static void test_sdp_null_arguments(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    assert_int_equal(sluice_sdp_parse("v=0", 3, NULL, NULL, 0), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_sdp_parse(NULL, 3, s, NULL, 0), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_sdp_parse(NULL, 0, s, NULL, 0), SLUICE_ERR_SDP);
    free(s);
}

/* ---- malformed input: each with its line number and reason ---------------------------------- */

typedef struct bad_case {
    const char *name;
    const char *text;
    const char *msg; /* expected prefix of the error message, "line N: ..." */
} bad_case;

static const bad_case k_bad[] = {
    {"empty", "", "empty SDP"},
    {"no v= line", "o=- 1 2 IN IP4 127.0.0.1\ns=-\n", "line 1: SDP must start with a v=0 line"},
    {"v=1", "v=1\n", "line 1: unsupported SDP version"},
    {"second v=", HEAD "v=0\n", "line 5: v= may appear only once"},
    {"no o= line", "v=0\ns=-\nt=0 0\n", "SDP has no o= line"},
    {"m= before o=", "v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\n", "line 2: m= line before the o= line"},
    {"o= with 5 fields", "v=0\no=- 1 2 IN IP4\n", "line 2: bad o= line: expected 6 fields"},
    {"o= with 7 fields", "v=0\no=- 1 2 IN IP4 1.2.3.4 x\n", "line 2: bad o= line: more than 6 fields"},
    {"o= session id not a number", "v=0\no=- abc 2 IN IP4 127.0.0.1\n", "line 2: bad o= line: session id"},
    {"o= session id overflows", "v=0\no=- 18446744073709551616 2 IN IP4 127.0.0.1\n", "line 2: bad o= line: session id"},
    {"o= version negative", "v=0\no=- 1 -2 IN IP4 127.0.0.1\n", "line 2: bad o= line: session version"},
    {"second o=", HEAD "o=- 1 2 IN IP4 127.0.0.1\n", "line 5: o= must appear once"},
    {"line without =", HEAD "hello\n", "line 5: expected '<letter>=<value>'"},
    {"upper-case type", HEAD "A=foo\n", "line 5: expected '<letter>=<value>'"},
    {"one character line", HEAD "a\n", "line 5: expected '<letter>=<value>'"},
    {"m= too short", HEAD "m=application 9\n", "line 5: bad m= line: expected"},
    {"m= without fmt", HEAD "m=application 9 UDP/DTLS/SCTP\n", "line 5: bad m= line: expected"},
    {"m= port not numeric", HEAD "m=application x9 UDP/DTLS/SCTP webrtc-datachannel\n", "line 5: bad m= line: port"},
    {"m= port too big", HEAD "m=application 65536 UDP/DTLS/SCTP webrtc-datachannel\n", "line 5: bad m= line: port"},
    {"m= port negative", HEAD "m=application -1 UDP/DTLS/SCTP webrtc-datachannel\n", "line 5: bad m= line: port"},
    {"m= bad port count", HEAD "m=application 9/x UDP/DTLS/SCTP webrtc-datachannel\n", "line 5: bad m= line: bad port count"},
    {"m= media type too long", HEAD "m=applicationapplication 9 UDP/DTLS/SCTP webrtc-datachannel\n",
     "line 5: bad m= line: media type too long"},
    {"m= proto too long", HEAD "m=application 9 UDP/DTLS/SCTP/AAAAAAAAAAAAAAAAAAAAAAAAAAAAA x\n",
     "line 5: bad m= line: proto too long"},
    {"m= format too long", HEAD "m=application 9 UDP/DTLS/SCTP webrtc-datachannel-but-longer-than-32\n",
     "line 5: bad m= line: format too long"},
    {"old syntax with bad port", HEAD "m=application 9 DTLS/SCTP 99999\n",
     "line 5: bad m= line: DTLS/SCTP format must be an SCTP port"},
    {"mid at session level", HEAD "a=mid:0\n" MLINE, "line 5: a=mid is only allowed in a media section"},
    {"candidate at session level", HEAD "a=candidate:1 1 udp 1 1.2.3.4 5 typ host\n",
     "line 5: a=candidate is only allowed in a media section"},
    {"sctp-port at session level", HEAD "a=sctp-port:5000\n", "line 5: a=sctp-port is only allowed in a media section"},
    {"max-message-size at session level", HEAD "a=max-message-size:1\n",
     "line 5: a=max-message-size is only allowed in a media section"},
    {"sctpmap at session level", HEAD "a=sctpmap:5000 webrtc-datachannel 1\n",
     "line 5: a=sctpmap is only allowed in a media section"},
    {"empty attribute name", HEAD MLINE "a=:x\n", "line 7: a= line without an attribute name"},
    {"fingerprint bad hex", HEAD MLINE "a=fingerprint:sha-256 ZZ:CD:EF:01\n",
     "line 7: a=fingerprint value is not colon-separated hex bytes"},
    {"fingerprint one digit groups", HEAD MLINE "a=fingerprint:sha-256 A:B:C\n",
     "line 7: a=fingerprint value is not colon-separated hex bytes"},
    {"fingerprint trailing colon", HEAD MLINE "a=fingerprint:sha-256 " FP32 ":\n",
     "line 7: a=fingerprint value is not colon-separated hex bytes"},
    {"fingerprint wrong length", HEAD MLINE "a=fingerprint:sha-256 AB:CD\n",
     "line 7: a=fingerprint sha-256 needs 32 bytes, got 2"},
    {"fingerprint sha-1 with 32 bytes", HEAD MLINE "a=fingerprint:sha-1 " FP32 "\n",
     "line 7: a=fingerprint sha-1 needs 20 bytes, got 32"},
    {"fingerprint without value", HEAD MLINE "a=fingerprint:sha-256\n", "line 7: a=fingerprint must be"},
    {"fingerprint with 3 fields", HEAD MLINE "a=fingerprint:sha-256 AB CD\n", "line 7: a=fingerprint must be"},
    {"fingerprint empty", HEAD MLINE "a=fingerprint:\n", "line 7: a=fingerprint needs a value"},
    {"fingerprint alg too long", HEAD MLINE "a=fingerprint:sha-256-but-much-longer AB\n",
     "line 7: a=fingerprint hash name too long"},
    {"setup unknown", HEAD MLINE "a=setup:both\n", "line 7: a=setup must be"},
    {"ufrag too short", HEAD MLINE "a=ice-ufrag:abc\n", "line 7: a=ice-ufrag must be 4-256 characters (got 3)"},
    {"ufrag bad char", HEAD MLINE "a=ice-ufrag:ab-cd\n", "line 7: a=ice-ufrag has a character outside"},
    {"pwd too short", HEAD MLINE "a=ice-pwd:short\n", "line 7: a=ice-pwd must be 22-256 characters (got 5)"},
    {"pwd with space", HEAD MLINE "a=ice-pwd:abcdefghijk lmnopqrstuvw\n", "line 7: a=ice-pwd has a character"},
    {"mid not a token", HEAD MLINE "a=mid:a\"b\n", "line 7: a=mid must be a non-empty token"},
    {"mid empty", HEAD MLINE "a=mid:\n", "line 7: a=mid needs a value"},
    {"mid too long", HEAD MLINE "a=mid:0123456789012345678901234567890123\n", "line 7: a=mid too long"},
    {"duplicate mid", HEAD MLINE "a=mid:x\n" MLINE "a=mid:x\n", "line 10: duplicate a=mid:x"},
    {"sctp-port zero", HEAD MLINE "a=sctp-port:0\n", "line 7: a=sctp-port must be a port 1-65535"},
    {"sctp-port too big", HEAD MLINE "a=sctp-port:65536\n", "line 7: a=sctp-port must be a port 1-65535"},
    {"sctp-port not numeric", HEAD MLINE "a=sctp-port:50a\n", "line 7: a=sctp-port must be a port 1-65535"},
    {"sctpmap missing app", HEAD MLINE "a=sctpmap:5000\n", "line 7: a=sctpmap must be"},
    {"sctpmap bad port", HEAD MLINE "a=sctpmap:99999 webrtc-datachannel\n", "line 7: a=sctpmap port must be"},
    {"max-message-size negative", HEAD MLINE "a=max-message-size:-1\n", "line 7: a=max-message-size must be"},
    {"max-message-size overflow", HEAD MLINE "a=max-message-size:18446744073709551616\n",
     "line 7: a=max-message-size must be"},
    {"max-message-size absurd length", HEAD MLINE "a=max-message-size:000000000000000000000000001\n",
     "line 7: a=max-message-size must be"},
    {"empty candidate", HEAD MLINE "a=candidate:\n", "line 7: a=candidate needs a value"},
    {"group without semantics", HEAD "a=group:\n", "line 5: a=group needs a value"},
    {"BUNDLE names unknown mid", HEAD "a=group:BUNDLE 0 1\n" MLINE "a=mid:0\n",
     "line 5: a=group:BUNDLE names mid '1' but no m= section has it"},
    {"missing mid on BUNDLE", HEAD "a=group:BUNDLE 0\n" MLINE "a=mid:0\n" MLINE,
     "line 9: m= section without a=mid while a=group:BUNDLE is used"},
    {"BUNDLE mid not a token", HEAD "a=group:BUNDLE 0 a\"b\n", "line 5: a=group:BUNDLE mid is not a token"},
    {"BUNDLE mid too long", HEAD "a=group:BUNDLE 0123456789012345678901234567890123\n",
     "line 5: a=group:BUNDLE mid too long"},
    {"BUNDLE with too many mids", HEAD "a=group:BUNDLE 0 1 2 3 4 5 6 7 8\n", "line 5: a=group:BUNDLE lists more than 8"},
    {"too many m= sections",
     HEAD MLINE MLINE MLINE MLINE MLINE MLINE MLINE MLINE MLINE, "line 21: too many m= sections (at most 8)"},
    {"control character", HEAD "s=\001\n", "line 5: control character 0x01"},
    {"bare CR inside a line", HEAD "s=a\rb\n", "line 5: control character 0x0d"},
    {"DEL character", HEAD MLINE "a=mid:\177\n", "line 7: control character 0x7f"},
};

static void test_sdp_rejects_malformed_input_with_line_number(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_bad); i++) {
        char err[256];
        memset(s, 0x5a, sizeof *s);
        int rc = parse_str(k_bad[i].text, s, err, sizeof err);
        if (rc != SLUICE_ERR_SDP) fail_msg("case '%s': expected SDP error, got %d", k_bad[i].name, rc);
        if (strncmp(err, k_bad[i].msg, strlen(k_bad[i].msg)) != 0)
            fail_msg("case '%s': message '%s' does not start with '%s'", k_bad[i].name, err, k_bad[i].msg);
        /* On error the output is zeroed, never half-filled. */
        assert_int_equal(s->media_count, 0);
        assert_int_equal(s->datachannel_index, -1);
        assert_int_equal(s->bundle_count, 0);
    }
    free(s);
}

static void test_sdp_rejects_nul_byte(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    char t[] = MINIMAL;
    char *p = strstr(t, "a=mid:0");
    assert_non_null(p);
    p[5] = '\0'; /* "a=mid\0..." on line 12 */
    char err[128];
    assert_int_equal(sluice_sdp_parse(t, sizeof t - 1, s, err, sizeof err), SLUICE_ERR_SDP);
    assert_string_equal(err, "line 12: NUL byte in the SDP");
    free(s);
}

static void test_sdp_rejects_absurd_lengths(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    size_t cap = 20000;
    char *t = malloc(cap), err[128];
    assert_non_null(t);
    /* A line longer than SLUICE_SDP_MAX_LINE, even of an unknown attribute. */
    int n = snprintf(t, cap, HEAD "a=x-junk:");
    memset(t + n, 'A', 5000);
    memcpy(t + n + 5000, "\n", 2);
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_ERR_SDP);
    assert_string_equal(err, "line 5: line too long (5009 bytes, at most 4096)");
    /* 257-character ufrag, 300-character candidate, 200-character fingerprint. */
    n = snprintf(t, cap, HEAD MLINE "a=ice-ufrag:");
    memset(t + n, 'u', 257);
    memcpy(t + n + 257, "\n", 2);
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_ERR_SDP);
    assert_string_equal(err, "line 7: a=ice-ufrag must be 4-256 characters (got 257)");
    n = snprintf(t, cap, HEAD MLINE "a=candidate:");
    memset(t + n, 'c', 300);
    memcpy(t + n + 300, "\n", 2);
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_ERR_SDP);
    assert_string_equal(err, "line 7: a=candidate too long (at most 255 characters)");
    n = snprintf(t, cap, HEAD MLINE "a=fingerprint:sha-512 ");
    for (int i = 0; i < 67; i++) n += snprintf(t + n, cap - (size_t)n, i ? ":AB" : "AB");
    memcpy(t + n, "\n", 2);
    assert_int_equal(parse_str(t, s, err, sizeof err), SLUICE_ERR_SDP);
    assert_string_equal(err, "line 7: a=fingerprint value too long (200 characters)");
    free(t);
    free(s);
}

static void test_sdp_error_message_is_truncated_safely(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    char err[8];
    assert_int_equal(parse_str("v=1\n", s, err, sizeof err), SLUICE_ERR_SDP);
    assert_string_equal(err, "line 1:");
    assert_int_equal(parse_str("v=1\n", s, NULL, 0), SLUICE_ERR_SDP);
    assert_int_equal(parse_str("v=1\n", s, err, 0), SLUICE_ERR_SDP);
    free(s);
}

/* Every prefix and many seeded mutations of every sample: no crash, no leak, no overread
 * (ASan), and either OK or SDP with a message. */
static void test_sdp_survives_truncation_and_mutation(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    sluice_prng prng;
    sluice_prng_seed(&prng, 0x5d9);
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_samples); i++) {
        size_t len;
        char *text = read_sample(k_samples[i].file, &len);
        for (size_t cut = 0; cut <= len; cut++) {
            char *copy = malloc(cut ? cut : 1); /* exact size: ASan catches any overread */
            assert_non_null(copy);
            memcpy(copy, text, cut);
            char err[128];
            int rc = sluice_sdp_parse(copy, cut, s, err, sizeof err);
            assert_true(rc == SLUICE_OK || (rc == SLUICE_ERR_SDP && err[0]));
            free(copy);
        }
        for (int round = 0; round < 300; round++) {
            char *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, text, len);
            int flips = 1 + (int)(sluice_prng_next(&prng) % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = (size_t)(sluice_prng_next(&prng) % len);
                static const char pool[] = "\0\r\n :=/-9aZ\xff";
                copy[at] = pool[sluice_prng_next(&prng) % (sizeof pool - 1)];
            }
            char err[128];
            int rc = sluice_sdp_parse(copy, len, s, err, sizeof err);
            assert_true(rc == SLUICE_OK || (rc == SLUICE_ERR_SDP && err[0]));
            free(copy);
        }
        free(text);
    }
    free(s);
}

/* ---- writer ------------------------------------------------------------------------------- */

static sluice_sdp_local local_example(void) {
    static const char *const cands[] = {
        "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
        "a=candidate:2 1 udp 1694498815 203.0.113.7 40000 typ srflx raddr 0.0.0.0 rport 0",
    };
    sluice_sdp_local l;
    memset(&l, 0, sizeof l);
    l.session_id = 4611686018427387904ull;
    l.session_version = 2;
    l.mid = "0";
    l.ice_ufrag = "Uf+/";
    l.ice_pwd = "0123456789abcdefABCDEF";
    l.fingerprint_alg = "sha-256";
    l.fingerprint_hex = FP32;
    l.setup = SLUICE_SDP_SETUP_ACTPASS;
    l.sctp_port = 5000;
    l.max_message_size = 262144;
    l.candidates = cands;
    l.candidates_count = 2;
    l.end_of_candidates = true;
    return l;
}

static void test_sdp_write_produces_browser_form(void **state) {
    (void)state;
    sluice_sdp_local l = local_example();
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    assert_int_equal(sluice_sdp_write(&l, &b), SLUICE_OK);
    const char *want = "v=0\r\n"
                       "o=- 4611686018427387904 2 IN IP4 127.0.0.1\r\n"
                       "s=-\r\n"
                       "t=0 0\r\n"
                       "a=group:BUNDLE 0\r\n"
                       "a=msid-semantic: WMS\r\n"
                       "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                       "c=IN IP4 0.0.0.0\r\n"
                       "a=ice-ufrag:Uf+/\r\n"
                       "a=ice-pwd:0123456789abcdefABCDEF\r\n"
                       "a=ice-options:trickle\r\n"
                       "a=fingerprint:sha-256 " FP32 "\r\n"
                       "a=setup:actpass\r\n"
                       "a=mid:0\r\n"
                       "a=sctp-port:5000\r\n"
                       "a=max-message-size:262144\r\n"
                       "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
                       "a=candidate:2 1 udp 1694498815 203.0.113.7 40000 typ srflx raddr 0.0.0.0 rport 0\r\n"
                       "a=end-of-candidates\r\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    sluice_buf_clear(&b);
}

static void test_sdp_write_parse_round_trip(void **state) {
    (void)state;
    sluice_sdp *s = sdp_new();
    static const sluice_sdp_setup setups[] = {SLUICE_SDP_SETUP_ACTPASS, SLUICE_SDP_SETUP_ACTIVE,
                                              SLUICE_SDP_SETUP_PASSIVE};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(setups); i++) {
        sluice_sdp_local l = local_example();
        l.setup = setups[i];
        l.mid = i == 2 ? "data" : "0";
        l.session_id = UINT64_MAX; /* top bit cleared on output (JSEP §5.2.1) */
        l.session_version = i;
        l.max_message_size = i == 1 ? 0 : 65536 * (i + 1);
        l.candidates_count = i; /* 0, 1, 2 candidates */
        l.end_of_candidates = i != 0;
        l.ice_lite = i == 2;
        sluice_buf b;
        sluice_buf_init(&b, NULL, 0);
        assert_int_equal(sluice_sdp_write(&l, &b), SLUICE_OK);
        char err[200];
        assert_int_equal(sluice_sdp_parse((const char *)b.data, b.len, s, err, sizeof err), SLUICE_OK);
        assert_int_equal(s->session_id, INT64_MAX);
        assert_int_equal(s->session_version, i);
        assert_int_equal(s->bundle_count, 1);
        assert_string_equal(s->bundle[0], l.mid);
        const sluice_sdp_media *m = dc(s);
        assert_string_equal(m->mid, l.mid);
        assert_int_equal(m->port, 9);
        assert_string_equal(m->proto, "UDP/DTLS/SCTP");
        assert_string_equal(m->ice_ufrag, l.ice_ufrag);
        assert_string_equal(m->ice_pwd, l.ice_pwd);
        assert_true(m->ice_trickle);
        assert_int_equal(m->ice_lite, l.ice_lite);
        assert_int_equal(m->fingerprints_count, 1);
        assert_string_equal(m->fingerprints[0].alg, "sha-256");
        assert_string_equal(m->fingerprints[0].hex, FP32);
        assert_int_equal(m->setup, l.setup);
        assert_int_equal(m->sctp_port, 5000);
        assert_true(m->has_max_message_size);
        assert_int_equal(m->max_message_size, l.max_message_size);
        assert_int_equal(m->candidates_count, i);
        if (i >= 1) assert_string_equal(m->candidates[0], l.candidates[0]);
        if (i >= 2) assert_string_equal(m->candidates[1], l.candidates[1] + 2); /* "a=" dropped */
        assert_int_equal(m->end_of_candidates, l.end_of_candidates);
        sluice_buf_clear(&b);
    }
    free(s);
}

static void test_sdp_write_appends_to_existing_content(void **state) {
    (void)state;
    sluice_sdp_local l = local_example();
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    assert_int_equal(sluice_buf_append(&b, "XY", 2), SLUICE_OK);
    assert_int_equal(sluice_sdp_write(&l, &b), SLUICE_OK);
    assert_memory_equal(b.data, "XYv=0\r\n", 7);
    sluice_buf_clear(&b);
}

static void test_sdp_write_rejects_bad_local_values(void **state) {
    (void)state;
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    sluice_sdp_local l;
    static const char *const bad_cand[] = {"candidate:1 1 udp 1 1.2.3.4 5 typ host\r\na=setup:passive"};
    static const char *const not_cand[] = {"foo"};
    static const char *const null_cand[] = {NULL};
    for (int i = 0; i < 15; i++) {
        l = local_example();
        switch (i) {
        case 0: l.mid = NULL; break;
        case 1: l.mid = ""; break;
        case 2: l.mid = "a b"; break;
        case 3: l.ice_ufrag = "ab\r\na=x"; break;
        case 4: l.ice_ufrag = "abc"; break;
        case 5: l.ice_pwd = "short"; break;
        case 6: l.fingerprint_alg = NULL; break;
        case 7: l.fingerprint_hex = "AB:C"; break;
        case 8: l.fingerprint_hex = "AB\nCD"; break;
        case 9: l.setup = SLUICE_SDP_SETUP_NONE; break;
        case 10: l.sctp_port = 0; break;
        case 11: l.candidates = bad_cand; l.candidates_count = 1; break;
        case 12: l.candidates = not_cand; l.candidates_count = 1; break;
        case 13: l.candidates = null_cand; l.candidates_count = 1; break;
        case 14: l.candidates = NULL; l.candidates_count = 1; break;
        }
        if (sluice_sdp_write(&l, &b) != SLUICE_ERR_INVALID_ARGUMENT) fail_msg("case %d accepted", i);
        assert_int_equal(b.len, 0);
    }
    assert_int_equal(sluice_sdp_write(NULL, &b), SLUICE_ERR_INVALID_ARGUMENT);
    l = local_example();
    assert_int_equal(sluice_sdp_write(&l, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    sluice_buf_clear(&b);
}

static void test_sdp_write_is_all_or_nothing_when_buffer_full(void **state) {
    (void)state;
    sluice_sdp_local l = local_example();
    sluice_buf b;
    sluice_buf_init(&b, NULL, 400); /* too small for the whole description */
    assert_int_equal(sluice_buf_append(&b, "keep", 4), SLUICE_OK);
    assert_int_equal(sluice_sdp_write(&l, &b), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "keep", 4);
    sluice_buf_clear(&b);
}

/* The allocator failing at each step: NOMEM, nothing appended, no leak. */
typedef struct fail_alloc {
    int left;
} fail_alloc;

static void *fa_malloc(size_t n, void *u) {
    fail_alloc *f = u;
    return f->left-- > 0 ? malloc(n) : NULL;
}
static void *fa_realloc(void *p, size_t n, void *u) {
    fail_alloc *f = u;
    return f->left-- > 0 ? realloc(p, n) : NULL;
}
static void fa_free(void *p, void *u) {
    (void)u;
    free(p);
}

static void test_sdp_write_handles_allocation_failure(void **state) {
    (void)state;
    sluice_sdp_local l = local_example();
    bool succeeded = false;
    for (int budget = 0; budget < 20 && !succeeded; budget++) {
        fail_alloc f = {budget};
        sluice_allocator a = {fa_malloc, fa_realloc, fa_free, &f};
        sluice_buf b;
        sluice_buf_init(&b, &a, 0);
        int rc = sluice_sdp_write(&l, &b);
        if (rc == SLUICE_OK) succeeded = true;
        else {
            assert_int_equal(rc, SLUICE_ERR_NOMEM);
            assert_int_equal(b.len, 0);
        }
        sluice_buf_clear(&b);
    }
    assert_true(succeeded);
}


/* ---- JSEP offer/answer rules ---------------------------------------------------------------- */

static sluice_sdp *parse_sample(const char *name) {
    sluice_sdp *s = sdp_new();
    size_t len;
    char *text = read_sample(name, &len);
    assert_int_equal(sluice_sdp_parse(text, len, s, NULL, 0), SLUICE_OK);
    free(text);
    return s;
}

static void test_sdp_check_remote_accepts_every_sample(void **state) {
    (void)state;
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_samples); i++) {
        sluice_sdp *s = parse_sample(k_samples[i].file);
        bool offer = strstr(k_samples[i].file, "offer") != NULL;
        char err[200];
        if (sluice_sdp_check_remote(s, offer, offer ? NULL : "0", err, sizeof err) != SLUICE_OK)
            fail_msg("%s: %s", k_samples[i].file, err);
        /* Every real answerer chose active: as the offerer we are the DTLS server. */
        if (!offer) assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, dc(s)->setup), 0);
        else assert_int_equal(sluice_sdp_answer_setup(dc(s)->setup), SLUICE_SDP_SETUP_ACTIVE);
        free(s);
    }
}

static void test_sdp_check_remote_rejects_unusable_descriptions(void **state) {
    (void)state;
    static const struct {
        const char *text;
        bool offer;
        const char *msg;
    } cases[] = {
        {HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111\n" ICE FPL "a=mid:0\n", true, "the offer has no data channel section"},
        {HEAD "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\na=mid:0\n", false,
         "the answer rejected the data channel section (m= port 0)"},
        {HEAD MLINE ICE FPL "a=setup:active\na=mid:1\n", false, "the answer's data channel mid '1' is not the offered '0'"},
        {HEAD MLINE "a=ice-pwd:abcdefghijklmnopqrstuv\n" FPL, true, "the offer has no a=ice-ufrag"},
        {HEAD MLINE "a=ice-ufrag:abcd\n" FPL, false, "the answer has no a=ice-pwd"},
        {HEAD MLINE ICE "a=setup:actpass\n", true, "the offer has no a=fingerprint"},
        {HEAD MLINE ICE FPL "a=setup:holdconn\n", true, "a=setup:holdconn in the offer"},
        {HEAD MLINE ICE FPL "a=setup:actpass\n", false, "a=setup:actpass in an answer"},
    };
    sluice_sdp *s = sdp_new();
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(cases); i++) {
        char err[200];
        assert_int_equal(parse_str(cases[i].text, s, NULL, 0), SLUICE_OK);
        assert_int_equal(sluice_sdp_check_remote(s, cases[i].offer, "0", err, sizeof err), SLUICE_ERR_SDP);
        if (strncmp(err, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: '%s' does not start with '%s'", i, err, cases[i].msg);
    }
    /* An answer without a=setup is active by default (RFC 4145 §4); passive is fine too. */
    assert_int_equal(parse_str(HEAD MLINE ICE FPL "a=mid:0\n", s, NULL, 0), SLUICE_OK);
    assert_int_equal(sluice_sdp_check_remote(s, false, "0", NULL, 0), SLUICE_OK);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, dc(s)->setup), 0);
    assert_int_equal(sluice_sdp_check_remote(NULL, false, "0", NULL, 0), SLUICE_ERR_INVALID_ARGUMENT);
    free(s);
}

static void test_sdp_answer_setup_and_dtls_role(void **state) {
    (void)state;
    assert_int_equal(sluice_sdp_answer_setup(SLUICE_SDP_SETUP_ACTPASS), SLUICE_SDP_SETUP_ACTIVE);
    assert_int_equal(sluice_sdp_answer_setup(SLUICE_SDP_SETUP_NONE), SLUICE_SDP_SETUP_ACTIVE);
    assert_int_equal(sluice_sdp_answer_setup(SLUICE_SDP_SETUP_PASSIVE), SLUICE_SDP_SETUP_ACTIVE);
    assert_int_equal(sluice_sdp_answer_setup(SLUICE_SDP_SETUP_ACTIVE), SLUICE_SDP_SETUP_PASSIVE);
    assert_int_equal(sluice_sdp_answer_setup(SLUICE_SDP_SETUP_HOLDCONN), SLUICE_SDP_SETUP_NONE);
    /* Offerer (actpass) learning the answer. */
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, SLUICE_SDP_SETUP_ACTIVE), 0);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, SLUICE_SDP_SETUP_PASSIVE), 1);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, SLUICE_SDP_SETUP_NONE), 0);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, SLUICE_SDP_SETUP_ACTPASS), SLUICE_ERR_SDP);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTPASS, SLUICE_SDP_SETUP_HOLDCONN), SLUICE_ERR_SDP);
    /* Answerer, with the offer's value. */
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTIVE, SLUICE_SDP_SETUP_ACTPASS), 1);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTIVE, SLUICE_SDP_SETUP_PASSIVE), 1);
    /* An offer without a=setup is answered active (as actpass) and stays consistent. */
    assert_int_equal(sluice_sdp_dtls_client(sluice_sdp_answer_setup(SLUICE_SDP_SETUP_NONE), SLUICE_SDP_SETUP_NONE), 1);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_PASSIVE, SLUICE_SDP_SETUP_NONE), 0);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_PASSIVE, SLUICE_SDP_SETUP_ACTIVE), 0);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_ACTIVE, SLUICE_SDP_SETUP_ACTIVE), SLUICE_ERR_SDP);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_PASSIVE, SLUICE_SDP_SETUP_PASSIVE), SLUICE_ERR_SDP);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_NONE, SLUICE_SDP_SETUP_ACTIVE),
                     SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_sdp_dtls_client(SLUICE_SDP_SETUP_HOLDCONN, SLUICE_SDP_SETUP_ACTIVE),
                     SLUICE_ERR_INVALID_ARGUMENT);
}

/* Write an answer mirroring `offer`; parse it back into `answer`. */
static void write_answer(const sluice_sdp *offer, const char *mid, sluice_sdp *answer, sluice_buf *b) {
    sluice_sdp_local l = local_example();
    l.setup = sluice_sdp_answer_setup(offer->media[offer->datachannel_index].setup);
    l.mid = mid;
    l.mirror = offer;
    sluice_buf_init(b, NULL, 0);
    assert_int_equal(sluice_sdp_write(&l, b), SLUICE_OK);
    char err[200];
    if (sluice_sdp_parse((const char *)b->data, b->len, answer, err, sizeof err) != SLUICE_OK)
        fail_msg("answer does not parse: %s\n%.*s", err, (int)b->len, (const char *)b->data);
    assert_int_equal(answer->media_count, offer->media_count);
    assert_int_equal(answer->datachannel_index, offer->datachannel_index);
    assert_int_equal(sluice_sdp_check_remote(answer, false, offer->media[offer->datachannel_index].mid, err,
                                             sizeof err), SLUICE_OK);
}

static void test_sdp_answer_to_every_sample_offer(void **state) {
    (void)state;
    sluice_sdp *answer = sdp_new();
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(k_samples); i++) {
        if (!strstr(k_samples[i].file, "offer")) continue;
        sluice_sdp *offer = parse_sample(k_samples[i].file);
        sluice_buf b;
        write_answer(offer, NULL, answer, &b);
        assert_string_equal(dc(answer)->mid, "0");
        assert_int_equal(dc(answer)->setup, SLUICE_SDP_SETUP_ACTIVE);
        assert_int_equal(answer->bundle_count, 1);
        /* aiortc 1.4 offers the old syntax: answered in kind. */
        bool old = strcmp(dc(offer)->proto, "DTLS/SCTP") == 0;
        assert_string_equal(dc(answer)->proto, old ? "DTLS/SCTP" : "UDP/DTLS/SCTP");
        assert_int_equal(dc(answer)->sctp_port, 5000);
        if (old) assert_non_null(strstr((const char *)b.data, "a=sctpmap:5000 webrtc-datachannel 65535\r\n"));
        else assert_non_null(strstr((const char *)b.data, "a=sctp-port:5000\r\n"));
        assert_int_equal(dc(answer)->sctp_port, 5000);
        sluice_buf_clear(&b);
        free(offer);
    }
    free(answer);
}

static void test_sdp_answer_rejects_media_sections_in_order(void **state) {
    (void)state;
    sluice_sdp *offer = sdp_new(), *answer = sdp_new();
    const char *t = HEAD "a=group:BUNDLE a v data\n"
                         "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\n" ICE FPL "a=setup:actpass\na=mid:a\n"
                         "m=video 9 UDP/TLS/RTP/SAVPF 96 97\na=mid:v\n"
                         "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=mid:data\n";
    assert_int_equal(parse_str(t, offer, NULL, 0), SLUICE_OK);
    assert_int_equal(offer->datachannel_index, 2);
    sluice_buf b;
    write_answer(offer, "data", answer, &b);
    assert_int_equal(answer->media_count, 3);
    assert_string_equal(answer->media[0].kind, "audio");
    assert_int_equal(answer->media[0].port, 0);
    assert_string_equal(answer->media[0].mid, "a");
    assert_string_equal(answer->media[0].fmt, "111");
    assert_string_equal(answer->media[1].kind, "video");
    assert_int_equal(answer->media[1].port, 0);
    assert_string_equal(answer->media[1].mid, "v");
    assert_string_equal(answer->media[2].mid, "data");
    assert_int_equal(answer->media[2].port, 9);
    /* RFC 8843 §7.3.3: rejected sections leave the BUNDLE group. */
    assert_int_equal(answer->bundle_count, 1);
    assert_string_equal(answer->bundle[0], "data");
    assert_non_null(strstr((const char *)b.data, "a=group:BUNDLE data\r\n"
                                                 "a=msid-semantic: WMS\r\n"
                                                 "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"
                                                 "c=IN IP4 0.0.0.0\r\n"
                                                 "a=mid:a\r\n"
                                                 "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"));
    sluice_buf_clear(&b);
    free(offer);
    free(answer);
}

static void test_sdp_answer_without_bundle_when_offer_has_none(void **state) {
    (void)state;
    sluice_sdp *offer = sdp_new(), *answer = sdp_new();
    assert_int_equal(parse_str(HEAD MLINE ICE FPL "a=setup:actpass\na=mid:x\n", offer, NULL, 0), SLUICE_OK);
    sluice_buf b;
    write_answer(offer, "x", answer, &b);
    assert_int_equal(answer->bundle_count, 0);
    assert_null(strstr((const char *)b.data, "a=group"));
    assert_string_equal(dc(answer)->mid, "x");
    sluice_buf_clear(&b);
    /* No a=mid in the offer (pre-BUNDLE peers): none in the answer either. */
    assert_int_equal(parse_str(HEAD MLINE ICE FPL "a=setup:active\n", offer, NULL, 0), SLUICE_OK);
    write_answer(offer, NULL, answer, &b);
    assert_null(strstr((const char *)b.data, "a=mid"));
    assert_int_equal(dc(answer)->setup, SLUICE_SDP_SETUP_PASSIVE);
    sluice_buf_clear(&b);
    free(offer);
    free(answer);
}

static void test_sdp_answer_rejects_bad_mirror_use(void **state) {
    (void)state;
    sluice_sdp *offer = parse_sample("chromium-offer.sdp");
    sluice_sdp_local l = local_example();
    l.setup = SLUICE_SDP_SETUP_ACTIVE;
    l.mirror = offer;
    l.mid = "1"; /* not the offered mid */
    sluice_buf b;
    sluice_buf_init(&b, NULL, 0);
    assert_int_equal(sluice_sdp_write(&l, &b), SLUICE_ERR_INVALID_ARGUMENT);
    l.mid = NULL;
    offer->datachannel_index = -1; /* nothing to answer */
    assert_int_equal(sluice_sdp_write(&l, &b), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(b.len, 0);
    sluice_buf_clear(&b);
    free(offer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdp_parses_every_real_sample),
        cmocka_unit_test(test_sdp_parses_samples_with_lf_line_endings),
        cmocka_unit_test(test_sdp_sample_values_exact),
        cmocka_unit_test(test_sdp_minimal_description_parses),
        cmocka_unit_test(test_sdp_max_message_size_zero_means_unlimited),
        cmocka_unit_test(test_sdp_old_sctpmap_syntax_sets_port),
        cmocka_unit_test(test_sdp_proto_is_case_insensitive),
        cmocka_unit_test(test_sdp_media_values_override_session_values),
        cmocka_unit_test(test_sdp_accepts_all_fingerprint_hashes),
        cmocka_unit_test(test_sdp_port_zero_section_is_not_usable),
        cmocka_unit_test(test_sdp_without_datachannel_section_parses),
        cmocka_unit_test(test_sdp_skips_unknown_lines_and_attributes),
        cmocka_unit_test(test_sdp_ice_options_with_space_separated_trickle),
        cmocka_unit_test(test_sdp_parses_firefox_shaped_offer),
        cmocka_unit_test(test_sdp_session_end_of_candidates_applies_to_media),
        cmocka_unit_test(test_sdp_extra_candidates_and_fingerprints_are_ignored),
        cmocka_unit_test(test_sdp_limits_at_their_maximum_are_accepted),
        cmocka_unit_test(test_sdp_null_arguments),
        cmocka_unit_test(test_sdp_rejects_malformed_input_with_line_number),
        cmocka_unit_test(test_sdp_rejects_nul_byte),
        cmocka_unit_test(test_sdp_rejects_absurd_lengths),
        cmocka_unit_test(test_sdp_error_message_is_truncated_safely),
        cmocka_unit_test(test_sdp_survives_truncation_and_mutation),
        cmocka_unit_test(test_sdp_write_produces_browser_form),
        cmocka_unit_test(test_sdp_write_parse_round_trip),
        cmocka_unit_test(test_sdp_write_appends_to_existing_content),
        cmocka_unit_test(test_sdp_write_rejects_bad_local_values),
        cmocka_unit_test(test_sdp_write_is_all_or_nothing_when_buffer_full),
        cmocka_unit_test(test_sdp_write_handles_allocation_failure),
        cmocka_unit_test(test_sdp_check_remote_accepts_every_sample),
        cmocka_unit_test(test_sdp_check_remote_rejects_unusable_descriptions),
        cmocka_unit_test(test_sdp_answer_setup_and_dtls_role),
        cmocka_unit_test(test_sdp_answer_to_every_sample_offer),
        cmocka_unit_test(test_sdp_answer_rejects_media_sections_in_order),
        cmocka_unit_test(test_sdp_answer_without_bundle_when_offer_has_none),
        cmocka_unit_test(test_sdp_answer_rejects_bad_mirror_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
