/* Fuzz the DTLS endpoint with arbitrary datagrams: byte 0 picks the role (bit 0: client),
 * then datagrams follow as [u16 length][bytes]. Each datagram goes through record
 * filtering and OpenSSL; outputs are drained, timers fired. Must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dtls.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* One certificate for the process: generating one per input would dominate. */
    static sluice_dtls_cert *cert;
    if (!cert && sluice_dtls_cert_generate(&cert) != SLUICE_OK) abort();
    if (size < 1) return 0;
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.is_client = data[0] & 1;
    s.max_queued_datagrams = 16;
    sluice_dtls *d;
    if (sluice_dtls_new(&d, &s, cert, NULL, NULL) != SLUICE_OK) return 0;
    sluice_dtls_add_remote_fingerprint(d, "sha-256",
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF");
    sluice_time now = 1000;
    if (data[0] & 2) sluice_dtls_start(d, now);
    sluice_rd r = sluice_rd_make(data + 1, size - 1);
    uint8_t out[2048];
    while (sluice_rd_left(&r) >= 2) {
        size_t len = sluice_rd_u16(&r);
        len = SLUICE_MIN(len, sluice_rd_left(&r));
        const uint8_t *dg = sluice_rd_bytes(&r, len);
        now += 5000;
        sluice_dtls_handle_datagram(d, now, dg, len);
        while (sluice_dtls_poll_datagram(d, out, sizeof out) > 0) {}
        while (sluice_dtls_read(d, out, sizeof out) > 0) {}
        sluice_time t = sluice_dtls_next_deadline(d);
        if (t != SLUICE_TIME_NEVER && t <= now + 200000) sluice_dtls_handle_timeout(d, t);
        if (t != SLUICE_TIME_NEVER && t > now) now = t <= now + 200000 ? t : now;
    }
    sluice_dtls_close(d);
    while (sluice_dtls_poll_datagram(d, out, sizeof out) > 0) {}
    sluice_dtls_free(d);
    return 0;
}
