/* Fuzz the STUN parser, integrity check and ChannelData parser: no input may crash,
 * read out of bounds or leak. */
#include <stddef.h>
#include <stdint.h>

#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sluice_stun_msg m;
    if (sluice_stun_parse(data, size, &m) == SLUICE_OK) {
        (void)sluice_stun_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBt", 22);
        char buf[64];
        if (m.has_username) (void)sluice_stun_str_copy(m.username, buf, sizeof buf);
    }
    uint16_t ch;
    const uint8_t *p;
    size_t n;
    (void)sluice_stun_channel_data_parse(data, size, &ch, &p, &n);
    return 0;
}
