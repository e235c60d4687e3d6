/* Stateful fuzzing of a live ICE agent. The input is a program of operations: raw datagrams,
 * correctly signed requests and responses (so the fuzzer gets past MESSAGE-INTEGRITY),
 * time jumps and API calls (restart, new remote credentials, candidates, app data, close).
 * Sanitizers catch memory errors; the agent must never loop or crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ice.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static uint8_t u8(prog *g) { return g->p < g->end ? *g->p++ : 0; }
static uint16_t u16(prog *g) { return (uint16_t)(u8(g) << 8 | u8(g)); }
static uint32_t u32(prog *g) { return (uint32_t)u16(g) << 16 | u16(g); }
static uint64_t u64(prog *g) { return (uint64_t)u32(g) << 32 | u32(g); }

static const char *LUFRAG = "fuzzufrag", *LPWD = "fuzzpasswordfuzzpassword12";
static const char *RUFRAG = "remu", *RPWD = "remotepasswordremotepass";

static sluice_addr remote_addr(uint8_t i) {
    sluice_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.ip[0] = 10; a.ip[1] = 0; a.ip[2] = 0; a.ip[3] = (uint8_t)(2 + (i & 3));
    a.port = (uint16_t)(6000 + (i >> 2 & 3));
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    prog g = {data, data + size};
    sluice_prng prng;
    sluice_prng_seed(&prng, 1);
    sluice_rng rng = {sluice_prng_random_fn, &prng};
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.controlling = u8(&g) & 1;
    s.aggressive_nomination = u8(&g) & 1;
    s.max_remote_candidates = 8;
    s.max_pairs = 16;
    sluice_ice_agent *a;
    if (sluice_ice_new(&a, &s, NULL, &rng, NULL) != SLUICE_OK) return 0;
    sluice_ice_set_local_credentials(a, LUFRAG, LPWD);
    sluice_ice_set_remote_credentials(a, RUFRAG, RPWD);
    sluice_addr local;
    sluice_addr_parse(&local, "10.0.0.1", 5000);
    sluice_ice_add_local_address(a, &local);
    sluice_time now = 1000000;
    sluice_ice_gather(a, now);
    sluice_ice_candidate c;
    if (sluice_ice_candidate_parse("candidate:1 1 udp 2130706431 10.0.0.2 6000 typ host", &c) == SLUICE_OK)
        sluice_ice_add_remote_candidate(a, now, &c);

    uint8_t last_tid[12] = {0};
    sluice_addr last_to = remote_addr(0);
    bool have_tid = false;
    for (int steps = 0; steps < 200 && g.p < g.end; steps++) {
        uint8_t op = u8(&g) % 6;
        uint8_t buf[700];
        if (op == 0) { /* raw datagram */
            size_t n = u8(&g) % 200;
            sluice_addr from = remote_addr(u8(&g));
            if (n > (size_t)(g.end - g.p)) n = (size_t)(g.end - g.p);
            memcpy(buf, g.p, n);
            g.p += n;
            sluice_ice_handle_datagram(a, now, &local, &from, buf, n, NULL, NULL, NULL);
        } else if (op == 1) { /* signed request */
            uint8_t flags = u8(&g);
            uint8_t tid[12];
            for (int i = 0; i < 12; i++) tid[i] = u8(&g);
            sluice_wr w = sluice_wr_make(buf, sizeof buf);
            sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, tid);
            char user[64];
            strcpy(user, LUFRAG);
            strcat(user, ":");
            strcat(user, RUFRAG);
            sluice_stun_add_str(&w, SLUICE_STUN_ATTR_USERNAME, user);
            if (flags & 1) sluice_stun_add_u32(&w, SLUICE_STUN_ATTR_PRIORITY, u32(&g));
            if (flags & 2) sluice_stun_add(&w, SLUICE_STUN_ATTR_USE_CANDIDATE, NULL, 0);
            if (flags & 4) sluice_stun_add_u64(&w, SLUICE_STUN_ATTR_ICE_CONTROLLING, u64(&g));
            if (flags & 8) sluice_stun_add_u64(&w, SLUICE_STUN_ATTR_ICE_CONTROLLED, u64(&g));
            if (flags & 16) sluice_stun_add(&w, 0x7F00, "x", 1);
            sluice_stun_add_integrity(&w, (const uint8_t *)LPWD, strlen(LPWD));
            if (flags & 32) sluice_stun_add_fingerprint(&w);
            int n = sluice_stun_build_end(&w);
            sluice_addr from = remote_addr(u8(&g));
            if (n > 0) sluice_ice_handle_datagram(a, now, &local, &from, buf, (size_t)n, NULL, NULL, NULL);
        } else if (op == 2 && have_tid) { /* signed response to the last request we sent */
            uint8_t kind = u8(&g);
            sluice_wr w = sluice_wr_make(buf, sizeof buf);
            bool err = kind & 1;
            sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, err ? SLUICE_STUN_ERROR : SLUICE_STUN_SUCCESS, last_tid);
            if (err) sluice_stun_add_error(&w, (kind & 2) ? 487 : (uint16_t)(300 + u8(&g) % 300), "e");
            sluice_addr mapped = remote_addr(u8(&g));
            sluice_stun_add_addr(&w, SLUICE_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
            sluice_stun_add_integrity(&w, (const uint8_t *)RPWD, strlen(RPWD));
            int n = sluice_stun_build_end(&w);
            sluice_addr from = (kind & 4) ? remote_addr(u8(&g)) : last_to;
            if (n > 0) sluice_ice_handle_datagram(a, now, &local, &from, buf, (size_t)n, NULL, NULL, NULL);
        } else if (op == 3) { /* time */
            now += (sluice_time)u16(&g) * 1000;
            sluice_ice_handle_timeout(a, now);
        } else if (op == 4) { /* API */
            uint8_t k = u8(&g) % 6;
            if (k == 0) sluice_ice_restart(a, now);
            else if (k == 1) sluice_ice_set_remote_credentials(a, "newu", "newpasswordnewpassword");
            else if (k == 2) {
                sluice_addr r = remote_addr(u8(&g));
                c.addr = r;
                c.priority = u32(&g);
                sluice_ice_add_remote_candidate(a, now, &c);
            } else if (k == 3) {
                sluice_addr l, r;
                sluice_ice_wrap_app_data(a, (const uint8_t *)"\x17\xfe\xfd", 3, &l, &r, buf, sizeof buf);
            } else if (k == 4) {
                sluice_ice_set_controlling(a, u8(&g) & 1);
            } else {
                sluice_ice_remote_gathering_done(a);
            }
        } else if (op == 5) {
            sluice_time d = sluice_ice_next_deadline(a);
            if (d != SLUICE_TIME_NEVER && d > now && d - now < 120000000) now = d;
            sluice_ice_handle_timeout(a, now);
        }
        bool check_deadline = op == 3 || op == 5;
        /* Drain output; remember the last request to answer it later. */
        int sent = 0;
        for (int i = 0; i < 64; i++) {
            sluice_addr l, r;
            int n = sluice_ice_poll_transmit(a, now, &l, &r, buf, sizeof buf);
            if (n <= 0) break;
            sent++;
            sluice_stun_msg m;
            if (sluice_stun_parse(buf, (size_t)n, &m) == SLUICE_OK && m.cls == SLUICE_STUN_REQUEST) {
                memcpy(last_tid, m.tid, 12);
                last_to = r;
                have_tid = true;
            }
        }
        sluice_ice_event ev;
        while (sluice_ice_poll_event(a, &ev) == 1) {}
        /* Invariant: once timeouts are handled and output drained, the next deadline lies in
         * the future (else an event loop would spin). One more round may be needed when a
         * timeout enabled new work. */
        if (check_deadline && sent < 64) {
            sluice_ice_handle_timeout(a, now);
            while (sluice_ice_poll_transmit(a, now, &(sluice_addr){0}, &(sluice_addr){0}, buf, sizeof buf) > 0) {}
            if (sluice_ice_next_deadline(a) <= now) abort();
        }
    }
    sluice_ice_close(a);
    sluice_ice_free(a);
    return 0;
}
