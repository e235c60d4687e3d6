/* libFuzzer target for ICE server URL parsing (RFC 7064 / RFC 7065) and the config
 * validation that uses it: any text parses or fails with CONFIG; an accepted URL,
 * written back in canonical form, parses to the same value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const k_schemes[] = {"stun", "stuns", "turn", "turns"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    /* Exact-size copy with the terminator: ASan flags any read past it. */
    char *url = malloc(size + 1);
    if (!url) return 0;
    memcpy(url, data, size);
    url[size] = '\0';

    sluice_ice_url u;
    memset(&u, 0xa5, sizeof u);
    int rc = sluice_ice_url_parse(url, &u);
    if (rc != SLUICE_OK && rc != SLUICE_ERR_CONFIG) abort();

    /* The same URL through the config validator (TURN needs credentials). */
    sluice_config cfg;
    sluice_config_default(&cfg);
    const char *urls[1] = {url};
    uint8_t flags = size ? data[0] : 0;
    sluice_ice_server server = {urls, 1, (flags & 1) ? "user" : NULL, (flags & 2) ? "pass" : NULL};
    cfg.ice_servers = &server;
    cfg.ice_servers_count = 1;
    int vrc = sluice_config_validate(&cfg);
    if (vrc != SLUICE_OK && vrc != SLUICE_ERR_CONFIG) abort();
    if (rc != SLUICE_OK && vrc == SLUICE_OK) abort(); /* a bad URL never passes validation */

    if (rc == SLUICE_OK) {
        if ((unsigned)u.scheme > SLUICE_ICE_SCHEME_TURNS) abort();
        if ((unsigned)u.transport > SLUICE_ICE_TRANSPORT_TCP) abort();
        if (!memchr(u.host, 0, sizeof u.host) || !u.host[0] || u.port == 0) abort();
        bool turn = u.scheme == SLUICE_ICE_SCHEME_TURN || u.scheme == SLUICE_ICE_SCHEME_TURNS;
        char canon[400];
        int n = snprintf(canon, sizeof canon, "%s:%s%s%s:%u%s%s", k_schemes[u.scheme],
                         u.host_is_ipv6 ? "[" : "", u.host, u.host_is_ipv6 ? "]" : "", (unsigned)u.port,
                         turn ? "?transport=" : "",
                         turn ? (u.transport == SLUICE_ICE_TRANSPORT_TCP ? "tcp" : "udp") : "");
        if (n < 0 || (size_t)n >= sizeof canon) abort();
        sluice_ice_url v;
        if (sluice_ice_url_parse(canon, &v) != SLUICE_OK) abort();
        if (v.scheme != u.scheme || strcmp(v.host, u.host) != 0 || v.host_is_ipv6 != u.host_is_ipv6 ||
            v.port != u.port || v.transport != u.transport)
            abort();
    }
    free(url);
    return 0;
}
