/* Fuzz target for ICE server URLs (RFC 7064 / RFC 7065): sluice_ice_url_parse must never
 * crash, and whatever it accepts must be self-consistent and survive a round trip
 * (print the parsed URL back, parse again, get the same result). The URL is also run
 * through sluice_config_validate as one ICE server. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const scheme_names[] = {"stun", "stuns", "turn", "turns"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *url = malloc(size + 1);
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';

    sluice_ice_url u;
    int rc = sluice_ice_url_parse(url, &u);
    if (rc == SLUICE_OK) {
        size_t hn = strnlen(u.host, sizeof u.host);
        if (hn == 0 || hn == sizeof u.host) abort();
        if (u.port == 0) abort();
        if ((unsigned)u.scheme > SLUICE_ICE_SCHEME_TURNS) abort();
        bool secure = u.scheme == SLUICE_ICE_SCHEME_STUNS || u.scheme == SLUICE_ICE_SCHEME_TURNS;
        if (secure && u.transport != SLUICE_ICE_TRANSPORT_TCP) abort();
        if (u.host_is_ipv6) {
            sluice_addr a;
            if (sluice_addr_parse(&a, u.host, 0) != SLUICE_OK || a.family != 6) abort();
        }
        /* Round trip. */
        char again[400];
        bool turn = u.scheme >= SLUICE_ICE_SCHEME_TURN;
        int n = snprintf(again, sizeof again, "%s:%s%s%s:%u%s", scheme_names[u.scheme],
                         u.host_is_ipv6 ? "[" : "", u.host, u.host_is_ipv6 ? "]" : "", u.port,
                         turn ? (u.transport == SLUICE_ICE_TRANSPORT_TCP ? "?transport=tcp" : "?transport=udp")
                              : "");
        if (n <= 0 || (size_t)n >= sizeof again) abort();
        sluice_ice_url v;
        if (sluice_ice_url_parse(again, &v) != SLUICE_OK) abort();
        if (v.scheme != u.scheme || v.port != u.port || v.transport != u.transport ||
            v.host_is_ipv6 != u.host_is_ipv6 || strcmp(v.host, u.host) != 0)
            abort();
    } else if (rc != SLUICE_ERR_CONFIG) {
        abort();
    }

    /* The same URL inside a configuration: validate agrees with the parser. */
    sluice_config cfg;
    sluice_config_default(&cfg);
    const char *urls[1] = {url};
    sluice_ice_server server = {urls, 1, "user", "secret"};
    cfg.ice_servers = &server;
    cfg.ice_servers_count = 1;
    int vrc = sluice_config_validate(&cfg);
    if ((rc == SLUICE_OK) != (vrc == SLUICE_OK)) abort();

    free(url);
    return 0;
}
