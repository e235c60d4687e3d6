/* Fuzz the turns: TLS client wrapper with what a hostile TURN server could send: the bytes
 * are fed in chunks (sizes from the input) while the handshake and reads are driven. It must
 * fail cleanly (a reason, no crash, no leak) and never exceed its feed bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) return 0;
    sluice_tls_ctx *ctx = NULL;
    if (sluice_tls_ctx_new(&ctx, NULL, false, NULL, NULL) != SLUICE_OK) return 0;
    sluice_tls_client *c = NULL;
    if (sluice_tls_client_new(&c, ctx, (data[0] & 1) ? "turn.example.org" : "192.0.2.1") != SLUICE_OK) abort();
    size_t off = 1;
    uint8_t out[4096], plain[2048];
    while (off < size) {
        size_t chunk = 1 + (data[off] % 97) * 3;
        off++;
        if (chunk > size - off) chunk = size - off;
        int rc = sluice_tls_client_feed(c, data + off, chunk);
        if (rc != SLUICE_OK && rc != SLUICE_ERR_CRYPTO) abort();
        off += chunk;
        while (sluice_tls_client_take(c, out, sizeof out) > 0) {
        }
        int h = sluice_tls_client_handshake(c);
        int r = sluice_tls_client_read(c, plain, sizeof plain);
        if (h < 0 && r >= 0) abort(); /* a failed connection stays failed */
        if (h < 0 && sluice_tls_client_reason(c)[0] == 0) abort();
        if (h < 0) break;
    }
    sluice_tls_client_free(c);
    sluice_tls_ctx_free(ctx);
    return 0;
}
