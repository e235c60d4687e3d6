/* A program built against an installed sluice (pkg-config and find_package tests). */
#include <sluice.h>
#include <stdio.h>

int main(void) {
    sluice_peer *pc;
    if (sluice_peer_new(&pc, NULL, NULL, NULL) != SLUICE_OK) return 1;
    printf("sluice %s: peer state %d\n", sluice_version(), (int)sluice_peer_connection_state(pc));
    sluice_peer_free(pc);
    return 0;
}
