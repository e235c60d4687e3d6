/* Fuzz the `sluice` tool's HTTP/WebSocket codec (tools/sluice_ws.c) as a server and as a
 * client: arbitrary bytes, fed in arbitrary slices, never crash, leak or grow a buffer past
 * its bound; whatever is accepted is answered (pages, 101, echoes) as the server would. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/sluice_ws.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    bool client = data[0] & 1;
    size_t slice = 1 + (data[1] % 64) * ((data[0] >> 1) % 8 + 1); /* 1 .. 512 bytes per feed */
    data += 2;
    size -= 2;
    ws_limits lim;
    ws_limits_default(&lim);
    lim.max_header = 512;
    lim.max_message = 4096;
    lim.max_out = 16384;
    ws_conn ws;
    if (ws_init(&ws, client, &lim) != 0) {
        abort();
    }
    if (client) {
        /* The server's answer must carry the accept value of this fixed key. */
        const uint8_t key[16] = {0};
        ws_client_start(&ws, "h", "/ws", key);
    }
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < slice ? size - off : slice;
        ws_feed(&ws, data + off, n);
        off += n;
        if (ws.in_len > in_limit(&ws)) {
            abort();
        }
        ws_event ev;
        while (ws_next_event(&ws, &ev) == 1) {
            switch (ev.type) {
            case WS_EV_HTTP_GET:
                ws_http_respond(&ws, 200, "text/plain", "ok", 2);
                break;
            case WS_EV_UPGRADE:
                if (strlen(ev.target) % 2) {
                    ws_accept(&ws);
                } else {
                    ws_http_respond(&ws, 409, "text/plain", "", 0);
                }
                break;
            case WS_EV_MESSAGE:
                if (ev.len > lim.max_message || (ev.is_text && !ws_utf8_valid(ev.data, ev.len))) {
                    abort();
                }
                ws_send(&ws, ev.data, ev.len, ev.is_text);
                break;
            default:
                break;
            }
        }
        if (ws_out_pending(&ws) > lim.max_out) {
            abort();
        }
        /* the socket takes half of what is waiting */
        ws_out_consume(&ws, ws_out_pending(&ws) / 2);
    }
    ws_free(&ws);
    return 0;
}
