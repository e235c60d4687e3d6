/* Fuzz the mDNS response and query parsers (name compression, bounds). */
#include <stddef.h>
#include <stdint.h>

#include "mdns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sluice_addr out[4];
    uint32_t ttl;
    (void)sluice_mdns_parse_response(data, size, "host.local", out, 4, &ttl);
    char name[300];
    uint16_t qt;
    (void)sluice_mdns_parse_query(data, size, name, sizeof name, &qt);
    return 0;
}
