/* Fuzz the candidate line parser and check format/parse round-trips of what it accepts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char line[4097];
    memcpy(line, data, size);
    line[size] = 0;
    sluice_ice_candidate c, d;
    if (sluice_ice_candidate_parse(line, &c) != SLUICE_OK) return 0;
    char out[1024];
    int n = sluice_ice_candidate_format(&c, out, sizeof out);
    if (n < 0) return 0;
    /* What we format must parse back to the same essentials. */
    if (sluice_ice_candidate_parse(out, &d) != SLUICE_OK) abort();
    if (d.priority != c.priority || d.type != c.type || d.component != c.component ||
        strcmp(d.foundation, c.foundation) != 0 || !sluice_addr_equal(&d.addr, &c.addr))
        abort();
    return 0;
}
