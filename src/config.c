/* Configuration: defaults and validation, ICE server URLs (RFC 7064, RFC 7065), and
 * data-channel options with Godot's rules. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void sluice_config_default(sluice_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = SLUICE_CONFIG_VERSION;
    cfg->ice_policy = SLUICE_ICE_POLICY_ALL;
    cfg->ice_loopback = false;
    cfg->ice_ipv6 = true;
    cfg->max_message_size = 262144;
    cfg->max_send_buffer = 16u << 20;
    cfg->max_receive_buffer = 16u << 20;
    cfg->sctp_receive_window = 4u << 20;
    cfg->sctp_rto_initial_ms = 1000;
    cfg->sctp_rto_min_ms = 200;
    cfg->sctp_rto_max_ms = 10000;
    cfg->dtls_retransmit_initial_ms = 100;
    cfg->consent_disconnect_ms = 5000;
    cfg->consent_fail_ms = 30000;
    cfg->log_level = SLUICE_LOG_WARN;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 3986 reg-name / IPv4 characters we accept in a host (no percent-encoding). */
static bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

static int parse_port(const char *s, size_t n, uint16_t *out) {
    if (n == 0 || n > 5) return SLUICE_ERR_CONFIG;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return SLUICE_ERR_CONFIG;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535) return SLUICE_ERR_CONFIG;
    *out = (uint16_t)v;
    return SLUICE_OK;
}

int sluice_ice_url_parse(const char *url, sluice_ice_url *out) {
    if (!url || !out) return SLUICE_ERR_INVALID_ARGUMENT;
    sluice_ice_url u;
    memset(&u, 0, sizeof u);
    const char *p;
    if (sluice_strncasecmp(url, "stun:", 5) == 0) { u.scheme = SLUICE_ICE_SCHEME_STUN; p = url + 5; }
    else if (sluice_strncasecmp(url, "stuns:", 6) == 0) { u.scheme = SLUICE_ICE_SCHEME_STUNS; p = url + 6; }
    else if (sluice_strncasecmp(url, "turn:", 5) == 0) { u.scheme = SLUICE_ICE_SCHEME_TURN; p = url + 5; }
    else if (sluice_strncasecmp(url, "turns:", 6) == 0) { u.scheme = SLUICE_ICE_SCHEME_TURNS; p = url + 6; }
    else return SLUICE_ERR_CONFIG;
    bool secure = u.scheme == SLUICE_ICE_SCHEME_STUNS || u.scheme == SLUICE_ICE_SCHEME_TURNS;
    bool turn = u.scheme == SLUICE_ICE_SCHEME_TURN || u.scheme == SLUICE_ICE_SCHEME_TURNS;
    /* RFC 7064/7065 URIs have no authority part: "stun://host" is a common mistake. */
    if (p[0] == '/') return SLUICE_ERR_CONFIG;

    const char *query = strchr(p, '?');
    const char *hostend = query ? query : p + strlen(p);
    const char *portstr = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(hostend - p));
        if (!close || close == p + 1) return SLUICE_ERR_CONFIG;
        size_t hn = (size_t)(close - p - 1);
        if (hn >= sizeof u.host) return SLUICE_ERR_CONFIG;
        memcpy(u.host, p + 1, hn);
        u.host[hn] = '\0';
        sluice_addr tmp;
        if (sluice_addr_parse(&tmp, u.host, 0) != SLUICE_OK || tmp.family != 6) return SLUICE_ERR_CONFIG;
        u.host_is_ipv6 = true;
        if (close + 1 < hostend) {
            if (close[1] != ':') return SLUICE_ERR_CONFIG;
            portstr = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(hostend - p));
        const char *he = colon ? colon : hostend;
        size_t hn = (size_t)(he - p);
        if (hn == 0 || hn >= sizeof u.host) return SLUICE_ERR_CONFIG;
        for (size_t i = 0; i < hn; i++)
            if (!host_char(p[i])) return SLUICE_ERR_CONFIG;
        memcpy(u.host, p, hn);
        u.host[hn] = '\0';
        if (colon) portstr = colon + 1;
    }
    u.port = secure ? 5349 : 3478;
    if (portstr && parse_port(portstr, (size_t)(hostend - portstr), &u.port)) return SLUICE_ERR_CONFIG;

    u.transport = secure ? SLUICE_ICE_TRANSPORT_TCP : SLUICE_ICE_TRANSPORT_UDP;
    if (query) {
        /* Only turn:/turns: take a query, and only "transport=udp|tcp" (RFC 7065 §3.1). */
        if (!turn) return SLUICE_ERR_CONFIG;
        const char *q = query + 1;
        if (sluice_strncasecmp(q, "transport=", 10) != 0) return SLUICE_ERR_CONFIG;
        q += 10;
        if (sluice_strcasecmp(q, "udp") == 0) {
            if (secure) return SLUICE_ERR_CONFIG; /* TURN over DTLS is not supported */
            u.transport = SLUICE_ICE_TRANSPORT_UDP;
        } else if (sluice_strcasecmp(q, "tcp") == 0) {
            u.transport = SLUICE_ICE_TRANSPORT_TCP;
        } else {
            return SLUICE_ERR_CONFIG;
        }
    }
    *out = u;
    return SLUICE_OK;
}

int sluice_config_validate(const sluice_config *cfg) {
    if (!cfg) return SLUICE_ERR_INVALID_ARGUMENT;
    if (cfg->version != SLUICE_CONFIG_VERSION) return SLUICE_ERR_CONFIG;
    if (cfg->ice_servers_count && !cfg->ice_servers) return SLUICE_ERR_CONFIG;
    if (cfg->ice_servers_count > SLUICE_MAX_ICE_SERVERS) return SLUICE_ERR_CONFIG;
    for (size_t i = 0; i < cfg->ice_servers_count; i++) {
        const sluice_ice_server *s = &cfg->ice_servers[i];
        if (s->urls_count == 0 || !s->urls || s->urls_count > SLUICE_MAX_ICE_URLS) return SLUICE_ERR_CONFIG;
        for (size_t j = 0; j < s->urls_count; j++) {
            sluice_ice_url u;
            if (sluice_ice_url_parse(s->urls[j], &u) != SLUICE_OK) return SLUICE_ERR_CONFIG;
            if ((u.scheme == SLUICE_ICE_SCHEME_TURN || u.scheme == SLUICE_ICE_SCHEME_TURNS) &&
                (!s->username || !s->credential || !s->username[0]))
                return SLUICE_ERR_CONFIG;
        }
        if ((s->username && strlen(s->username) > 512) || (s->credential && strlen(s->credential) > 512))
            return SLUICE_ERR_CONFIG;
    }
    if ((unsigned)cfg->ice_policy > SLUICE_ICE_POLICY_RELAY) return SLUICE_ERR_CONFIG;
    if (cfg->port_min > cfg->port_max) return SLUICE_ERR_CONFIG;
    if (cfg->port_min == 0 && cfg->port_max != 0) return SLUICE_ERR_CONFIG;
    if (cfg->bind_address) {
        sluice_addr a;
        if (sluice_addr_parse(&a, cfg->bind_address, 0) != SLUICE_OK) return SLUICE_ERR_CONFIG;
    }
    if (!cfg->certificate_pem != !cfg->private_key_pem) return SLUICE_ERR_CONFIG;
    if (cfg->max_message_size == 0 || cfg->max_send_buffer == 0 || cfg->max_receive_buffer == 0)
        return SLUICE_ERR_CONFIG;
    /* A received message must fit the receive buffer, or a reliable channel would stall. */
    if (cfg->max_receive_buffer < cfg->max_message_size) return SLUICE_ERR_CONFIG;
    if (cfg->sctp_receive_window < 1500) return SLUICE_ERR_CONFIG;
    if (cfg->sctp_rto_min_ms == 0 || cfg->sctp_rto_min_ms > cfg->sctp_rto_initial_ms ||
        cfg->sctp_rto_initial_ms > cfg->sctp_rto_max_ms)
        return SLUICE_ERR_CONFIG;
    if (cfg->dtls_retransmit_initial_ms == 0 || cfg->dtls_retransmit_initial_ms > 60000) return SLUICE_ERR_CONFIG;
    if (cfg->consent_disconnect_ms == 0 || cfg->consent_disconnect_ms > cfg->consent_fail_ms)
        return SLUICE_ERR_CONFIG;
    if ((unsigned)cfg->log_level > SLUICE_LOG_TRACE) return SLUICE_ERR_CONFIG;
    bool any_alloc = cfg->allocator.malloc || cfg->allocator.realloc || cfg->allocator.free;
    bool all_alloc = cfg->allocator.malloc && cfg->allocator.realloc && cfg->allocator.free;
    if (any_alloc && !all_alloc) return SLUICE_ERR_CONFIG;
    return SLUICE_OK;
}

void sluice_channel_options_default(sluice_channel_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->ordered = true;
    o->id = SLUICE_UNSET;
    o->max_retransmits = SLUICE_UNSET;
    o->max_packet_life_time = SLUICE_UNSET;
    o->priority = 256;
}

int sluice_channel_options_set_int(sluice_channel_options *o, const char *key, int64_t value) {
    if (!o || !key) return SLUICE_ERR_INVALID_ARGUMENT;
    if (strcmp(key, "negotiated") == 0 || strcmp(key, "ordered") == 0) {
        if (value != 0 && value != 1) return SLUICE_ERR_CONFIG;
        if (key[0] == 'n') o->negotiated = value != 0;
        else o->ordered = value != 0;
        return SLUICE_OK;
    }
    if (strcmp(key, "id") == 0) {
        if (value < 0 || value > 65534) return SLUICE_ERR_CONFIG;
        o->has_id = true;
        o->id = (uint16_t)value;
        return SLUICE_OK;
    }
    if (strcmp(key, "maxRetransmits") == 0) {
        if (value < 0 || value > 65535) return SLUICE_ERR_CONFIG;
        o->has_max_retransmits = true;
        o->max_retransmits = (uint16_t)value;
        return SLUICE_OK;
    }
    /* Godot 3.2's WebRTCMultiplayer spells it maxPacketLifetime; the W3C name has a capital T. */
    if (strcmp(key, "maxPacketLifeTime") == 0 || strcmp(key, "maxPacketLifetime") == 0) {
        if (value < 0 || value > 65535) return SLUICE_ERR_CONFIG;
        o->has_max_packet_life_time = true;
        o->max_packet_life_time = (uint16_t)value;
        return SLUICE_OK;
    }
    if (strcmp(key, "priority") == 0) {
        if (value < 0 || value > 65535) return SLUICE_ERR_CONFIG;
        o->priority = (uint16_t)value;
        return SLUICE_OK;
    }
    return SLUICE_ERR_CONFIG;
}

int sluice_channel_options_validate(const sluice_channel_options *o, const char *label) {
    if (!o) return SLUICE_ERR_INVALID_ARGUMENT;
    if (o->negotiated && !o->has_id) return SLUICE_ERR_CONFIG;
    if (o->has_id && o->id > 65534) return SLUICE_ERR_CONFIG;
    if (o->has_max_retransmits && o->has_max_packet_life_time) return SLUICE_ERR_CONFIG;
    if (o->protocol && strlen(o->protocol) > 65535) return SLUICE_ERR_CONFIG;
    if (label && strlen(label) > 65535) return SLUICE_ERR_CONFIG;
    return SLUICE_OK;
}
