// Compiles include/sluice.h as C++ and calls into the library through it.
#include "sluice.h"

#include <cstdio>
#include <cstring>

int main() {
    sluice_config cfg;
    sluice_config_default(&cfg);
    if (sluice_config_validate(&cfg) != SLUICE_OK) return 1;
    if (std::strcmp(sluice_strerror(SLUICE_ERR_NOMEM), "out of memory") != 0) return 1;
    std::printf("1 passed, 0 failed\n");
    return 0;
}
