/* libFuzzer target for the DCEP codec: parsing never reads out of bounds, and a parsed
 * DATA_CHANNEL_OPEN written back gives the same bytes (reliability 0 when reliable). */
#include <stdlib.h>
#include <string.h>

#include "dcep.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int type = sluice_dcep_message_type(data, size);
    if (type != SLUICE_DCEP_OPEN && type != SLUICE_DCEP_ACK && type != SLUICE_ERR_MALFORMED) abort();
    sluice_dcep_open o;
    if (sluice_dcep_parse_open(data, size, &o) != SLUICE_OK) return 0;
    if (type != SLUICE_DCEP_OPEN || !sluice_dcep_channel_type_valid(o.channel_type)) abort();
    size_t need = sluice_dcep_open_size(&o);
    if (need > size) abort();
    uint8_t *out = malloc(need ? need : 1);
    if (!out) return 0;
    int n = sluice_dcep_write_open(&o, out, need);
    if (n != (int)need) abort();
    uint8_t expect[12];
    memcpy(expect, data, 12);
    if ((o.channel_type & 0x7f) == 0) memset(expect + 4, 0, 4);
    if (memcmp(out, expect, 12) || memcmp(out + 12, data + 12, need - 12)) abort();
    if (sluice_dcep_write_open(&o, out, need - 1) != SLUICE_ERR_NOBUFS) abort();
    free(out);
    return 0;
}
