/* Configuration helpers shared by the peer layer (the public part is in sluice.h). */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include "sluice.h"

/** Upper bounds that keep a hostile or mistaken configuration from growing without limit. */
#define SLUICE_MAX_ICE_SERVERS 16
#define SLUICE_MAX_ICE_URLS 8

#endif
