/* Placeholder demo: replaced by the two-peer loopback demo once the peer layer lands. */
#include <stdio.h>
#include "sluice.h"
int main(void) {
    printf("sluice %s\n", sluice_version());
    return 0;
}
