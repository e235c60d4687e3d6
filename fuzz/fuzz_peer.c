/* Hostile datagrams into a live peer connection: a sans-IO answerer that applied a real
 * Chromium offer (so ICE, DTLS and the demultiplexer are all armed) receives the input cut
 * into datagrams (2-byte big-endian length prefixes), from the offerer's candidate address
 * and from strangers, with time moving on. Nothing may crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sluice.h"
#include "util.h"

static const char offer[] =
    "v=0\r\no=- 7078799507789043045 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS\r\nm=application 53437 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 198.18.0.1\r\n"
    "a=candidate:2005680388 1 udp 2113937151 198.18.0.1 53437 typ host generation 0 network-cost 999\r\n"
    "a=ice-ufrag:/rHK\r\na=ice-pwd:O36lfVM7eAEtweYL6StXeM3X\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 FF:1B:AD:94:0A:7A:D9:CF:FA:81:12:69:1D:79:6B:9E:AA:E5:83:05:12:A7:94:85:84:86:6F:D8:A8:"
    "A7:DF:17\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sluice_prng prng;
    sluice_prng_seed(&prng, 7);
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = &prng;
    sluice_peer *pc;
    if (sluice_peer_new(&pc, &cfg, NULL, NULL) != SLUICE_OK) return 0;
    sluice_addr local, remote, stranger;
    sluice_addr_parse(&local, "10.0.0.2", 4000);
    sluice_addr_parse(&remote, "198.18.0.1", 53437);
    sluice_addr_parse(&stranger, "10.9.9.9", 9999);
    sluice_peer_add_local_address(pc, &local);
    sluice_event ev;
    if (sluice_peer_set_remote_description(pc, "offer", offer) == SLUICE_OK) {
        char answer[4096] = "";
        while (sluice_peer_poll_event(pc, &ev) == 1)
            if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) snprintf(answer, sizeof answer, "%s", ev.sdp);
        sluice_peer_set_local_description(pc, "answer", answer);
    }
    sluice_time now = 1000000;
    size_t off = 0;
    uint8_t out[2048];
    sluice_transmit tx;
    while (off + 2 <= size) {
        size_t len = (size_t)((data[off] << 8) | data[off + 1]) % 1500;
        off += 2;
        if (len > size - off) len = size - off;
        const sluice_addr *from = (data[off - 1] & 1) ? &stranger : &remote;
        sluice_peer_handle_datagram(pc, now, &local, from, data + off, len);
        off += len;
        now += 7000;
        if (sluice_peer_next_deadline(pc) <= now) sluice_peer_handle_timeout(pc, now);
        for (int i = 0; i < 64 && sluice_peer_poll_transmit(pc, now, out, sizeof out, &tx) == 1; i++) {
        }
        while (sluice_peer_poll_event(pc, &ev) == 1) {
        }
    }
    sluice_peer_free(pc);
    return 0;
}
