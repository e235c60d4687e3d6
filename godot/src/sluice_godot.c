/*
 * Godot 3 (NET API 3.2) WebRTC plugin over the public sluice API. See sluice_godot.h.
 *
 * Semantics follow shared/design/GODOT_API.md: signals are emitted from the connection's
 * poll(), which also services its channels (Godot 3.2.3's WebRTCMultiplayer polls only
 * connections); candidates carry their real m-line index; unset ids and reliability values
 * read 65535; channels report CLOSING; set_local_description does real work.
 */
#define _POSIX_C_SOURCE 200809L
#include "sluice_godot.h"

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* ------------------------------------------------------------------------- */
/* Library state                                                             */
/* ------------------------------------------------------------------------- */

/*
 * GDNative's entry points and Godot's create_peer_connection(obj) carry no user pointer,
 * and Godot keeps pointers to the library and interface tables: so this adapter (not the
 * sluice library) has one static context, set once by godot_gdnative_init.
 */
typedef struct sg_ctx {
    const gdn_core_api *core;
    const gdn_ext_nativescript_1_1 *ns;
    const gdn_ext_net_3_2 *net;
    int binding_idx;          /* -1: no destruction hook (NativeScript 1.1 missing) */
    godot_method_bind *emit_signal;
    godot_class_constructor channel_ctor;
    bool loopback;            /* gather 127.0.0.1 only (tests, same-machine games) */
    char bind_address[64];    /* "" = all interfaces */
    int log_level;
    bool registered;
    atomic_int live_peers, live_channels; /* wrappers not yet freed (reported at exit) */
} sg_ctx;

static sg_ctx g_sg = {.binding_idx = -1, .log_level = SLUICE_LOG_WARN};

/* The wrapper being attached to a Godot object, handed to sg_binding_alloc. Per thread:
 * different peer connections may be created on different threads. */
static _Thread_local void *sg_pending_binding;

enum { SG_KIND_PEER = 0x5350, SG_KIND_CHANNEL = 0x5343 };

typedef struct sg_peer {
    int kind;                 /* SG_KIND_PEER: first, to tell bindings apart */
    godot_net_webrtc_peer_connection iface; /* Godot keeps a pointer to it */
    godot_object *owner;      /* NULL once Godot freed its object */
    sluice_peer *pc;
    size_t local_max_message; /* what we advertised (our receive limit) */
    int refs;                 /* the Godot object + each live channel wrapper + polls */
} sg_peer;

typedef struct sg_channel {
    int kind;                 /* SG_KIND_CHANNEL */
    godot_net_webrtc_data_channel iface;
    godot_object *owner;
    sg_peer *peer;            /* holds a reference: the sluice channel lives in its peer */
    sluice_channel *ch;
    int write_mode;           /* Godot WRITE_MODE_TEXT = 0, WRITE_MODE_BINARY = 1 */
    bool last_was_string;
    uint8_t *pkt;             /* the last packet handed to Godot (valid until the next get) */
    size_t pkt_cap;
} sg_channel;

enum { SG_WRITE_MODE_TEXT = 0, SG_WRITE_MODE_BINARY = 1 };

/* ------------------------------------------------------------------------- */
/* Godot helpers                                                             */
/* ------------------------------------------------------------------------- */

static void sg_vprint(int level, const char *where, const char *fmt, va_list ap) {
    if (level > g_sg.log_level || !g_sg.core) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (level <= SLUICE_LOG_ERROR) {
        g_sg.core->godot_print_error(msg, "sluice", where, 0);
    } else if (level == SLUICE_LOG_WARN) {
        g_sg.core->godot_print_warning(msg, "sluice", where, 0);
    } else {
        godot_string s = g_sg.core->godot_string_chars_to_utf8(msg);
        g_sg.core->godot_print(&s);
        g_sg.core->godot_string_destroy(&s);
    }
}

static void sg_print(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sg_print(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sg_vprint(level, "godot plugin", fmt, ap);
    va_end(ap);
}

static void sg_print_from(int level, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sg_print_from(int level, const char *where, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sg_vprint(level, where, fmt, ap);
    va_end(ap);
}

static void sg_log(void *user, sluice_log_level level, const char *module, const char *msg) {
    (void)user;
    sg_print_from((int)level, module, "%s", msg);
}

/* A Godot string variant's text as a malloc'd UTF-8 copy (NULL on failure). */
static char *sg_variant_to_utf8(const godot_variant *v) {
    const gdn_core_api *c = g_sg.core;
    godot_string s = c->godot_variant_as_string(v);
    godot_char_string cs = c->godot_string_utf8(&s);
    const char *data = c->godot_char_string_get_data(&cs);
    godot_int len = c->godot_char_string_length(&cs);
    char *out = NULL;
    if (len >= 0) {
        out = malloc((size_t)len + 1);
        if (out) {
            if (len) memcpy(out, data, (size_t)len);
            out[len] = '\0';
        }
    }
    c->godot_char_string_destroy(&cs);
    c->godot_string_destroy(&s);
    return out;
}

static void sg_variant_from_utf8(godot_variant *v, const char *text) {
    godot_string s = g_sg.core->godot_string_chars_to_utf8(text ? text : "");
    g_sg.core->godot_variant_new_string(v, &s);
    g_sg.core->godot_string_destroy(&s);
}

/* obj.emit_signal(name, args...). */
static void sg_emit(godot_object *obj, const char *name, godot_variant *args, int n) {
    const godot_variant *argv[4];
    godot_variant vname;
    if (!g_sg.emit_signal || n > 3) return;
    sg_variant_from_utf8(&vname, name);
    argv[0] = &vname;
    for (int i = 0; i < n; i++) argv[i + 1] = &args[i];
    godot_variant_call_error err;
    memset(&err, 0, sizeof err);
    godot_variant ret = g_sg.core->godot_method_bind_call(g_sg.emit_signal, obj, argv, n + 1, &err);
    g_sg.core->godot_variant_destroy(&ret);
    g_sg.core->godot_variant_destroy(&vname);
    if (err.error) sg_print(SLUICE_LOG_ERROR, "emit_signal(%s) failed: call error %d", name, err.error);
}

/* Tie `wrapper` to `obj` so that Godot tells us when obj dies (see sg_binding_free). */
static bool sg_attach(godot_object *obj, void *wrapper) {
    if (g_sg.binding_idx < 0 || !g_sg.ns) return false;
    sg_pending_binding = wrapper;
    void *got = g_sg.ns->godot_nativescript_get_instance_binding_data(g_sg.binding_idx, obj);
    sg_pending_binding = NULL;
    return got == wrapper;
}

static godot_error sg_error(int err) {
    switch (err) {
    case SLUICE_OK: return GODOT_OK;
    case SLUICE_ERR_NOMEM: return GODOT_ERR_OUT_OF_MEMORY;
    case SLUICE_ERR_INVALID_STATE:
    case SLUICE_ERR_CLOSED: return GODOT_ERR_UNCONFIGURED;
    case SLUICE_ERR_BUFFER_FULL: return GODOT_ERR_BUSY;
    case SLUICE_ERR_AGAIN: return GODOT_ERR_UNAVAILABLE;
    case SLUICE_ERR_ID_IN_USE: return GODOT_ERR_ALREADY_IN_USE;
    case SLUICE_ERR_NOT_FOUND: return GODOT_ERR_DOES_NOT_EXIST;
    case SLUICE_ERR_TIMEOUT: return GODOT_ERR_TIMEOUT;
    case SLUICE_ERR_IO:
    case SLUICE_ERR_CRYPTO: return GODOT_ERR_CANT_CREATE;
    case SLUICE_ERR_MALFORMED:
    case SLUICE_ERR_SDP:
    case SLUICE_ERR_CANDIDATE: return GODOT_ERR_INVALID_DATA;
    case SLUICE_ERR_INVALID_ARGUMENT:
    case SLUICE_ERR_CONFIG:
    case SLUICE_ERR_TOO_LARGE:
    case SLUICE_ERR_UNSUPPORTED: return GODOT_ERR_INVALID_PARAMETER;
    default: return GODOT_FAILED;
    }
}

/* Report a failed call the way Godot users see errors: in the output, with the reason. */
static godot_error sg_fail(const char *what, int err) {
    sg_print(SLUICE_LOG_ERROR, "%s: %s", what, sluice_strerror(err));
    return sg_error(err);
}

/* ------------------------------------------------------------------------- */
/* Reference counting of the peer wrapper                                    */
/* ------------------------------------------------------------------------- */

static void sg_peer_unref(sg_peer *p) {
    if (--p->refs > 0) return;
    sg_print(SLUICE_LOG_DEBUG, "peer connection %p freed", (void *)p);
    g_sg.live_peers--;
    sluice_peer_free(p->pc);
    free(p);
}

static void sg_channel_destroy(sg_channel *c) {
    sg_print(SLUICE_LOG_DEBUG, "channel %p freed", (void *)c);
    g_sg.live_channels--;
    if (c->ch) sluice_channel_release(c->ch);
    sg_peer *p = c->peer;
    free(c->pkt);
    free(c);
    sg_peer_unref(p);
}

/* ------------------------------------------------------------------------- */
/* Configuration                                                             */
/* ------------------------------------------------------------------------- */

static void sg_config_base(sluice_config *cfg) {
    sluice_config_default(cfg);
    cfg->ice_loopback = g_sg.loopback;
    if (g_sg.bind_address[0]) cfg->bind_address = g_sg.bind_address;
    cfg->log_fn = sg_log;
    cfg->log_level = (sluice_log_level)g_sg.log_level;
}

/* Strings borrowed by a sluice_config while it is applied. */
enum { SG_MAX_SERVERS = 16, SG_MAX_URLS = 64 };
typedef struct sg_cfg_strings {
    sluice_ice_server servers[SG_MAX_SERVERS];
    char *urls[SG_MAX_URLS];
    size_t nurls;
    char *creds[2 * SG_MAX_SERVERS];
    size_t ncreds;
} sg_cfg_strings;

static void sg_cfg_strings_clear(sg_cfg_strings *s) {
    for (size_t i = 0; i < s->nurls; i++) free(s->urls[i]);
    for (size_t i = 0; i < s->ncreds; i++) free(s->creds[i]);
}

static bool sg_dict_get(const godot_dictionary *d, const char *key, godot_variant *out) {
    godot_variant k;
    sg_variant_from_utf8(&k, key);
    *out = g_sg.core->godot_dictionary_get(d, &k);
    g_sg.core->godot_variant_destroy(&k);
    if (g_sg.core->godot_variant_get_type(out) == GODOT_VARIANT_TYPE_NIL) {
        g_sg.core->godot_variant_destroy(out);
        return false;
    }
    return true;
}

static char *sg_dict_string(const godot_dictionary *d, const char *key) {
    godot_variant v;
    if (!sg_dict_get(d, key, &v)) return NULL;
    char *s = g_sg.core->godot_variant_get_type(&v) == GODOT_VARIANT_TYPE_STRING
                  ? sg_variant_to_utf8(&v) : NULL;
    g_sg.core->godot_variant_destroy(&v);
    return s;
}

static int sg_add_url(sg_cfg_strings *s, const godot_variant *v) {
    if (g_sg.core->godot_variant_get_type(v) != GODOT_VARIANT_TYPE_STRING) return SLUICE_ERR_CONFIG;
    if (s->nurls >= SG_MAX_URLS) return SLUICE_ERR_CONFIG;
    char *u = sg_variant_to_utf8(v);
    if (!u) return SLUICE_ERR_NOMEM;
    s->urls[s->nurls++] = u;
    return SLUICE_OK;
}

/* One {urls, username?, credential?} entry of Godot's iceServers. */
static int sg_parse_server(sg_cfg_strings *s, sluice_ice_server *srv, const godot_dictionary *d) {
    const gdn_core_api *c = g_sg.core;
    godot_variant urls;
    if (!sg_dict_get(d, "urls", &urls)) {
        sg_print(SLUICE_LOG_ERROR, "initialize: an iceServers entry has no urls");
        return SLUICE_ERR_CONFIG;
    }
    size_t first = s->nurls;
    int rc = SLUICE_OK;
    godot_variant_type t = c->godot_variant_get_type(&urls);
    if (t == GODOT_VARIANT_TYPE_STRING) {
        rc = sg_add_url(s, &urls);
    } else if (t == GODOT_VARIANT_TYPE_ARRAY || t == GODOT_VARIANT_TYPE_POOL_STRING_ARRAY) {
        godot_array a = c->godot_variant_as_array(&urls);
        godot_int n = c->godot_array_size(&a);
        for (godot_int i = 0; i < n && rc == SLUICE_OK; i++) {
            godot_variant e = c->godot_array_get(&a, i);
            rc = sg_add_url(s, &e);
            c->godot_variant_destroy(&e);
        }
        c->godot_array_destroy(&a);
    } else {
        rc = SLUICE_ERR_CONFIG;
    }
    if (rc == SLUICE_ERR_CONFIG)
        sg_print(SLUICE_LOG_ERROR, "initialize: urls must be a string or an array of strings (at most %d)",
                 SG_MAX_URLS);
    c->godot_variant_destroy(&urls);
    if (rc != SLUICE_OK) return rc;
    srv->urls = (const char *const *)&s->urls[first];
    srv->urls_count = s->nurls - first;
    char *user = sg_dict_string(d, "username");
    char *cred = sg_dict_string(d, "credential");
    if (user) s->creds[s->ncreds++] = user;
    if (cred) s->creds[s->ncreds++] = cred;
    srv->username = user;
    srv->credential = cred;
    /* Name the offending entry: the caller only gets an error code back. */
    for (size_t i = 0; i < srv->urls_count; i++) {
        sluice_ice_url u;
        if (sluice_ice_url_parse(srv->urls[i], &u) != SLUICE_OK) {
            sg_print(SLUICE_LOG_ERROR, "initialize: bad ICE server URL '%s'", srv->urls[i]);
            return SLUICE_ERR_CONFIG;
        }
        if ((u.scheme == SLUICE_ICE_SCHEME_TURN || u.scheme == SLUICE_ICE_SCHEME_TURNS) &&
            (!user || !cred)) {
            sg_print(SLUICE_LOG_ERROR, "initialize: '%s' needs username and credential", srv->urls[i]);
            return SLUICE_ERR_CONFIG;
        }
    }
    return SLUICE_OK;
}

/* Godot's initialize() dictionary: iceServers, iceTransportPolicy; unknown keys ignored (W3C). */
static int sg_parse_config(sluice_config *cfg, sg_cfg_strings *s, const godot_dictionary *d) {
    const gdn_core_api *c = g_sg.core;
    sg_config_base(cfg);
    if (!d) return SLUICE_OK;
    godot_variant servers;
    if (sg_dict_get(d, "iceServers", &servers)) {
        int rc = SLUICE_OK;
        if (c->godot_variant_get_type(&servers) != GODOT_VARIANT_TYPE_ARRAY) {
            sg_print(SLUICE_LOG_ERROR, "initialize: iceServers must be an array");
            rc = SLUICE_ERR_CONFIG;
        } else {
            godot_array a = c->godot_variant_as_array(&servers);
            godot_int n = c->godot_array_size(&a);
            if (n > SG_MAX_SERVERS) {
                sg_print(SLUICE_LOG_ERROR, "initialize: at most %d iceServers", SG_MAX_SERVERS);
                rc = SLUICE_ERR_CONFIG;
            }
            for (godot_int i = 0; i < n && rc == SLUICE_OK; i++) {
                godot_variant e = c->godot_array_get(&a, i);
                if (c->godot_variant_get_type(&e) != GODOT_VARIANT_TYPE_DICTIONARY) {
                    sg_print(SLUICE_LOG_ERROR, "initialize: iceServers entries must be dictionaries");
                    rc = SLUICE_ERR_CONFIG;
                } else {
                    godot_dictionary sd = c->godot_variant_as_dictionary(&e);
                    rc = sg_parse_server(s, &s->servers[i], &sd);
                    c->godot_dictionary_destroy(&sd);
                }
                c->godot_variant_destroy(&e);
            }
            c->godot_array_destroy(&a);
            if (rc == SLUICE_OK) {
                cfg->ice_servers = s->servers;
                cfg->ice_servers_count = (size_t)n;
            }
        }
        c->godot_variant_destroy(&servers);
        if (rc != SLUICE_OK) return rc;
    }
    char *policy = sg_dict_string(d, "iceTransportPolicy");
    if (policy) {
        int rc = SLUICE_OK;
        if (strcmp(policy, "relay") == 0) cfg->ice_policy = SLUICE_ICE_POLICY_RELAY;
        else if (strcmp(policy, "all") != 0) rc = SLUICE_ERR_CONFIG;
        if (rc != SLUICE_OK) sg_print(SLUICE_LOG_ERROR, "initialize: iceTransportPolicy must be \"all\" or \"relay\"");
        free(policy);
        if (rc != SLUICE_OK) return rc;
    }
    return sluice_config_validate(cfg);
}

static const char *const sg_channel_keys[] = {
    "negotiated", "ordered", "id", "maxRetransmits", "maxPacketLifeTime",
    "maxPacketLifetime", "priority",
};

/* Godot's create_data_channel() options; both spellings of maxPacketLifeTime. */
static int sg_parse_channel_options(sluice_channel_options *o, char **protocol,
                                    const godot_dictionary *d) {
    const gdn_core_api *c = g_sg.core;
    sluice_channel_options_default(o);
    *protocol = NULL;
    if (!d) return SLUICE_OK;
    godot_array keys = c->godot_dictionary_keys(d);
    godot_int n = c->godot_array_size(&keys);
    int rc = SLUICE_OK;
    for (godot_int i = 0; i < n && rc == SLUICE_OK; i++) {
        godot_variant k = c->godot_array_get(&keys, i);
        char *key = sg_variant_to_utf8(&k);
        godot_variant v = c->godot_dictionary_get(d, &k);
        godot_variant_type t = c->godot_variant_get_type(&v);
        if (!key) {
            rc = SLUICE_ERR_NOMEM;
        } else if (strcmp(key, "protocol") == 0) {
            free(*protocol);
            *protocol = t == GODOT_VARIANT_TYPE_STRING ? sg_variant_to_utf8(&v) : NULL;
            if (!*protocol) rc = SLUICE_ERR_CONFIG;
        } else {
            bool known = false;
            for (size_t j = 0; j < sizeof sg_channel_keys / sizeof sg_channel_keys[0]; j++)
                known = known || strcmp(key, sg_channel_keys[j]) == 0;
            if (!known) {
                sg_print(SLUICE_LOG_WARN, "create_data_channel: unknown option '%s' ignored", key);
            } else if (t == GODOT_VARIANT_TYPE_BOOL || t == GODOT_VARIANT_TYPE_INT ||
                       t == GODOT_VARIANT_TYPE_REAL) {
                int64_t value = t == GODOT_VARIANT_TYPE_REAL ? (int64_t)c->godot_variant_as_real(&v)
                                                             : c->godot_variant_as_int(&v);
                rc = sluice_channel_options_set_int(o, key, value);
                if (rc != SLUICE_OK)
                    sg_print(SLUICE_LOG_ERROR, "create_data_channel: bad value for '%s'", key);
            } else {
                sg_print(SLUICE_LOG_ERROR, "create_data_channel: '%s' must be a number", key);
                rc = SLUICE_ERR_CONFIG;
            }
        }
        free(key);
        c->godot_variant_destroy(&v);
        c->godot_variant_destroy(&k);
    }
    c->godot_array_destroy(&keys);
    if (rc != SLUICE_OK) {
        free(*protocol);
        *protocol = NULL;
    } else {
        o->protocol = *protocol;
    }
    return rc;
}

/* ------------------------------------------------------------------------- */
/* WebRTCDataChannel                                                         */
/* ------------------------------------------------------------------------- */

static godot_error sg_ch_get_packet(void *self, const uint8_t **buf, int *len) {
    sg_channel *c = self;
    int64_t size = sluice_channel_next_size(c->ch);
    if (size < 0) return GODOT_ERR_UNAVAILABLE;
    if (size > INT_MAX) return GODOT_ERR_OUT_OF_MEMORY;
    size_t need = size ? (size_t)size : 1;
    if (need > c->pkt_cap) {
        uint8_t *nb = realloc(c->pkt, need);
        if (!nb) return GODOT_ERR_OUT_OF_MEMORY;
        c->pkt = nb;
        c->pkt_cap = need;
    }
    bool is_text = false;
    int64_t got = sluice_channel_recv(c->ch, c->pkt, c->pkt_cap, &is_text);
    if (got < 0) return sg_error((int)got);
    c->last_was_string = is_text;
    *buf = c->pkt;
    *len = (int)got;
    return GODOT_OK;
}

static godot_error sg_ch_put_packet(void *self, const uint8_t *buf, int len) {
    sg_channel *c = self;
    if (len < 0) return GODOT_ERR_INVALID_PARAMETER;
    int rc = sluice_channel_send(c->ch, buf, (size_t)len, c->write_mode == SG_WRITE_MODE_TEXT);
    if (rc == SLUICE_ERR_TOO_LARGE || rc == SLUICE_ERR_BUFFER_FULL)
        return sg_fail("put_packet", rc);
    return sg_error(rc);
}

static godot_int sg_ch_available(const void *self) {
    const sg_channel *c = self;
    size_t n = sluice_channel_available(c->ch);
    return n > INT_MAX ? INT_MAX : (godot_int)n;
}

static godot_int sg_ch_max_packet_size(const void *self) {
    const sg_channel *c = self;
    uint64_t remote = sluice_peer_remote_max_message_size(c->peer->pc);
    uint64_t m = c->peer->local_max_message;
    if (remote && remote < m) m = remote;
    return m > INT_MAX ? INT_MAX : (godot_int)m;
}

static void sg_ch_set_write_mode(void *self, godot_int mode) {
    sg_channel *c = self;
    if (mode == SG_WRITE_MODE_TEXT || mode == SG_WRITE_MODE_BINARY) c->write_mode = mode;
}

static godot_int sg_ch_get_write_mode(const void *self) { return ((const sg_channel *)self)->write_mode; }
static bool sg_ch_was_string(const void *self) { return ((const sg_channel *)self)->last_was_string; }
static godot_int sg_ch_ready_state(const void *self) {
    return (godot_int)sluice_channel_ready_state(((const sg_channel *)self)->ch);
}
static const char *sg_ch_label(const void *self) { return sluice_channel_label(((const sg_channel *)self)->ch); }
static bool sg_ch_ordered(const void *self) { return sluice_channel_ordered(((const sg_channel *)self)->ch); }
static int sg_ch_id(const void *self) { return sluice_channel_id(((const sg_channel *)self)->ch); }
static int sg_ch_life(const void *self) {
    return sluice_channel_max_packet_life_time(((const sg_channel *)self)->ch);
}
static int sg_ch_rexmit(const void *self) { return sluice_channel_max_retransmits(((const sg_channel *)self)->ch); }
static const char *sg_ch_protocol(const void *self) {
    return sluice_channel_protocol(((const sg_channel *)self)->ch);
}
static bool sg_ch_negotiated(const void *self) {
    return sluice_channel_negotiated(((const sg_channel *)self)->ch);
}

/* The connection's poll() services its channels (Godot 3.2.3 never polls them). */
static godot_error sg_ch_poll(void *self) {
    (void)self;
    return GODOT_OK;
}

static void sg_ch_close(void *self) { sluice_channel_close(((sg_channel *)self)->ch); }

/* A Godot WebRTCDataChannelGDNative object bound to `ch`, or NULL (ch released then). */
static godot_object *sg_channel_object(sg_peer *p, sluice_channel *ch) {
    /* Looked up on first use: the webrtc module registers its classes after the GDNative
     * singletons have run. */
    if (!g_sg.channel_ctor)
        g_sg.channel_ctor = g_sg.core->godot_get_class_constructor("WebRTCDataChannelGDNative");
    sg_channel *c = g_sg.channel_ctor ? calloc(1, sizeof *c) : NULL;
    godot_object *obj = c ? g_sg.channel_ctor() : NULL;
    if (!obj) {
        free(c);
        sluice_channel_release(ch);
        sg_print(SLUICE_LOG_ERROR, "cannot create a WebRTCDataChannelGDNative object");
        return NULL;
    }
    g_sg.live_channels++;
    c->kind = SG_KIND_CHANNEL;
    c->owner = obj;
    c->peer = p;
    c->ch = ch;
    c->write_mode = SG_WRITE_MODE_BINARY; /* Godot's default */
    p->refs++;
    godot_net_webrtc_data_channel *i = &c->iface;
    i->version = (gdn_api_version){3, 2};
    i->data = c;
    i->get_packet = sg_ch_get_packet;
    i->put_packet = sg_ch_put_packet;
    i->get_available_packet_count = sg_ch_available;
    i->get_max_packet_size = sg_ch_max_packet_size;
    i->set_write_mode = sg_ch_set_write_mode;
    i->get_write_mode = sg_ch_get_write_mode;
    i->was_string_packet = sg_ch_was_string;
    i->get_ready_state = sg_ch_ready_state;
    i->get_label = sg_ch_label;
    i->is_ordered = sg_ch_ordered;
    i->get_id = sg_ch_id;
    i->get_max_packet_life_time = sg_ch_life;
    i->get_max_retransmits = sg_ch_rexmit;
    i->get_protocol = sg_ch_protocol;
    i->is_negotiated = sg_ch_negotiated;
    i->poll = sg_ch_poll;
    i->close = sg_ch_close;
    sluice_channel_set_user(ch, c);
    g_sg.net->godot_net_bind_webrtc_data_channel(obj, i);
    /* Without the destruction hook the wrapper is never freed: a leak, never a dangling pointer. */
    if (!sg_attach(obj, c)) sg_print(SLUICE_LOG_WARN, "no destruction hook: channel memory is kept");
    return obj;
}

/* ------------------------------------------------------------------------- */
/* WebRTCPeerConnection                                                      */
/* ------------------------------------------------------------------------- */

static godot_int sg_pc_state(const void *self) {
    const sg_peer *p = self;
    return (godot_int)sluice_peer_connection_state(p->pc);
}

static godot_error sg_pc_initialize(void *self, const godot_dictionary *d) {
    sg_peer *p = self;
    sluice_config cfg;
    sg_cfg_strings s;
    memset(&s, 0, sizeof s);
    int rc = sg_parse_config(&cfg, &s, d);
    if (rc == SLUICE_OK) rc = sluice_peer_initialize(p->pc, &cfg);
    if (rc == SLUICE_OK) p->local_max_message = cfg.max_message_size;
    sg_cfg_strings_clear(&s);
    return rc == SLUICE_OK ? GODOT_OK : sg_fail("initialize", rc);
}

static godot_object *sg_pc_create_channel(void *self, const char *label, const godot_dictionary *d) {
    sg_peer *p = self;
    sluice_channel_options o;
    char *protocol = NULL;
    int rc = sg_parse_channel_options(&o, &protocol, d);
    sluice_channel *ch = NULL;
    if (rc == SLUICE_OK) rc = sluice_peer_create_channel(p->pc, label, &o, &ch);
    free(protocol);
    if (rc != SLUICE_OK) {
        sg_fail("create_data_channel", rc);
        return NULL;
    }
    return sg_channel_object(p, ch);
}

static godot_error sg_pc_create_offer(void *self) {
    int rc = sluice_peer_create_offer(((sg_peer *)self)->pc);
    return rc == SLUICE_OK ? GODOT_OK : sg_fail("create_offer", rc);
}

/* Godot 3.2 never calls it: the answer is made by set_remote_description("offer"). */
static godot_error sg_pc_create_answer(void *self) {
    (void)self;
    return GODOT_ERR_UNAVAILABLE;
}

static godot_error sg_pc_set_remote(void *self, const char *type, const char *sdp) {
    int rc = sluice_peer_set_remote_description(((sg_peer *)self)->pc, type, sdp);
    return rc == SLUICE_OK ? GODOT_OK : sg_fail("set_remote_description", rc);
}

static godot_error sg_pc_set_local(void *self, const char *type, const char *sdp) {
    int rc = sluice_peer_set_local_description(((sg_peer *)self)->pc, type, sdp);
    return rc == SLUICE_OK ? GODOT_OK : sg_fail("set_local_description", rc);
}

static godot_error sg_pc_add_candidate(void *self, const char *mid, int index, const char *name) {
    int rc = sluice_peer_add_ice_candidate(((sg_peer *)self)->pc, mid, index, name);
    return rc == SLUICE_OK ? GODOT_OK : sg_fail("add_ice_candidate", rc);
}

static void sg_dispatch(sg_peer *p, const sluice_event *ev) {
    const gdn_core_api *c = g_sg.core;
    godot_variant args[3];
    switch (ev->type) {
    case SLUICE_EVENT_SESSION_DESCRIPTION:
        sg_variant_from_utf8(&args[0], ev->sdp_type);
        sg_variant_from_utf8(&args[1], ev->sdp);
        sg_emit(p->owner, "session_description_created", args, 2);
        c->godot_variant_destroy(&args[0]);
        c->godot_variant_destroy(&args[1]);
        break;
    case SLUICE_EVENT_ICE_CANDIDATE:
        /* The end-of-candidates marker has no Godot counterpart: not emitted. */
        if (!ev->candidate || !ev->candidate[0]) break;
        sg_variant_from_utf8(&args[0], ev->mid);
        c->godot_variant_new_int(&args[1], ev->mline_index);
        sg_variant_from_utf8(&args[2], ev->candidate);
        sg_emit(p->owner, "ice_candidate_created", args, 3);
        for (int i = 0; i < 3; i++) c->godot_variant_destroy(&args[i]);
        break;
    case SLUICE_EVENT_DATA_CHANNEL: {
        godot_object *obj = sg_channel_object(p, ev->channel);
        if (!obj) break;
        /* The variant holds the first reference; if no handler keeps the channel, it is
         * freed when the variant dies, and with it the sluice channel. */
        c->godot_variant_new_object(&args[0], obj);
        sg_emit(p->owner, "data_channel_received", args, 1);
        c->godot_variant_destroy(&args[0]);
        break;
    }
    case SLUICE_EVENT_CONNECTION_STATE:
        if (ev->state == SLUICE_CONNECTION_FAILED)
            sg_print(SLUICE_LOG_WARN, "connection failed: %s", ev->reason ? ev->reason : "");
        break;
    case SLUICE_EVENT_ERROR:
        sg_print(SLUICE_LOG_WARN, "%s: %s", sluice_strerror(ev->error), ev->reason ? ev->reason : "");
        break;
    default:
        break; /* Godot 3.2 has no signal for the others; states are read by getters */
    }
}

static godot_error sg_pc_poll(void *self) {
    sg_peer *p = self;
    p->refs++; /* a handler may drop the last reference to the Godot object */
    int rc = sluice_peer_poll(p->pc);
    sluice_event ev;
    while (p->owner && sluice_peer_poll_event(p->pc, &ev) == 1) sg_dispatch(p, &ev);
    sg_peer_unref(p);
    return rc == SLUICE_OK ? GODOT_OK : sg_error(rc);
}

static void sg_pc_close(void *self) { sluice_peer_close(((sg_peer *)self)->pc); }

static godot_error sg_create_peer_connection(godot_object *obj) {
    sg_peer *p = calloc(1, sizeof *p);
    if (!p) return GODOT_ERR_OUT_OF_MEMORY;
    sluice_config cfg;
    sg_config_base(&cfg);
    int rc = sluice_peer_new(&p->pc, &cfg, NULL, p);
    if (rc != SLUICE_OK) {
        free(p);
        return sg_fail("WebRTCPeerConnection.new", rc);
    }
    g_sg.live_peers++;
    p->kind = SG_KIND_PEER;
    p->owner = obj;
    p->local_max_message = cfg.max_message_size;
    p->refs = 1;
    godot_net_webrtc_peer_connection *i = &p->iface;
    i->version = (gdn_api_version){3, 2};
    i->data = p;
    i->get_connection_state = sg_pc_state;
    i->initialize = sg_pc_initialize;
    i->create_data_channel = sg_pc_create_channel;
    i->create_offer = sg_pc_create_offer;
    i->create_answer = sg_pc_create_answer;
    i->set_remote_description = sg_pc_set_remote;
    i->set_local_description = sg_pc_set_local;
    i->add_ice_candidate = sg_pc_add_candidate;
    i->poll = sg_pc_poll;
    i->close = sg_pc_close;
    g_sg.net->godot_net_bind_webrtc_peer_connection(obj, i);
    if (!sg_attach(obj, p)) sg_print(SLUICE_LOG_WARN, "no destruction hook: peer memory is kept");
    return GODOT_OK;
}

/* ------------------------------------------------------------------------- */
/* Destruction hook (NativeScript 1.1 instance binding)                      */
/* ------------------------------------------------------------------------- */

static void *sg_binding_alloc(void *data, const void *type_tag, godot_object *obj) {
    (void)data;
    (void)type_tag;
    (void)obj;
    return sg_pending_binding; /* NULL for objects we did not ask about */
}

/* Godot is deleting the object the binding belongs to. */
static void sg_binding_free(void *data, void *binding) {
    (void)data;
    if (!binding) return;
    if (*(int *)binding == SG_KIND_PEER) {
        sg_peer *p = binding;
        p->owner = NULL;
        sluice_peer_close(p->pc); /* channels still held by Godot now read CLOSED */
        sg_peer_unref(p);
    } else if (*(int *)binding == SG_KIND_CHANNEL) {
        sg_channel_destroy(binding);
    }
}

/* ------------------------------------------------------------------------- */
/* GDNative entry points                                                     */
/* ------------------------------------------------------------------------- */

static void sg_unregistered(void) {}

static const godot_net_webrtc_library sg_library = {
    .version = {3, 2},
    .unregistered = sg_unregistered,
    .create_peer_connection = sg_create_peer_connection,
    .next = NULL,
};

/* The newest version in an API table's chain that is at least major.minor (same major). */
static const gdn_api_head *sg_find_api(const gdn_api_head *h, unsigned major, unsigned minor) {
    for (; h; h = h->next)
        if (h->version.major == major && h->version.minor >= minor) return h;
    return NULL;
}

void godot_gdnative_init(godot_gdnative_init_options *options) {
    g_sg.core = options->api_struct;
    for (unsigned i = 0; i < g_sg.core->num_extensions; i++) {
        const gdn_api_head *e = g_sg.core->extensions[i];
        if (e->type == GDN_API_EXT_NATIVESCRIPT)
            g_sg.ns = (const gdn_ext_nativescript_1_1 *)sg_find_api(e, 1, 1);
        else if (e->type == GDN_API_EXT_NET)
            g_sg.net = (const gdn_ext_net_3_2 *)sg_find_api(e, 3, 2);
    }
}

void godot_gdnative_terminate(godot_gdnative_terminate_options *options) {
    (void)options;
    /* Godot frees nothing after its script languages have finished: what is left here was
     * still referenced at exit (Godot reports those objects as leaked too). */
    sg_print(g_sg.live_peers || g_sg.live_channels ? SLUICE_LOG_WARN : SLUICE_LOG_DEBUG, "%d peer connection(s) and %d channel(s) still alive at exit",
                 g_sg.live_peers, g_sg.live_channels);
    /* Godot must not keep a pointer into a library it is about to unload. */
    if (g_sg.registered && g_sg.net) g_sg.net->godot_net_set_webrtc_library(NULL);
    g_sg.registered = false;
}

/* Read a project setting (NULL variant type when absent). */
static bool sg_project_setting(const char *name, godot_variant *out) {
    godot_object *ps = g_sg.core->godot_global_get_singleton((char *)"ProjectSettings");
    godot_method_bind *has = g_sg.core->godot_method_bind_get_method("ProjectSettings", "has_setting");
    godot_method_bind *get = g_sg.core->godot_method_bind_get_method("ProjectSettings", "get_setting");
    if (!ps || !has || !get) return false;
    godot_variant vname;
    sg_variant_from_utf8(&vname, name);
    const godot_variant *argv[1] = {&vname};
    godot_variant_call_error err;
    memset(&err, 0, sizeof err);
    *out = g_sg.core->godot_method_bind_call(has, ps, argv, 1, &err);
    bool present = !err.error && g_sg.core->godot_variant_as_bool(out);
    g_sg.core->godot_variant_destroy(out);
    if (present) *out = g_sg.core->godot_method_bind_call(get, ps, argv, 1, &err);
    g_sg.core->godot_variant_destroy(&vname);
    if (!present) return false;
    if (err.error || g_sg.core->godot_variant_get_type(out) == GODOT_VARIANT_TYPE_NIL) {
        g_sg.core->godot_variant_destroy(out);
        return false;
    }
    return true;
}

/* Loopback-only gathering: env SLUICE_GODOT_LOOPBACK=1 or project setting
 * network/sluice/loopback; SLUICE_GODOT_BIND / network/sluice/bind_address pick one IP. */
static void sg_read_settings(void) {
    godot_variant v;
    if (sg_project_setting("network/sluice/loopback", &v)) {
        g_sg.loopback = g_sg.core->godot_variant_as_bool(&v);
        g_sg.core->godot_variant_destroy(&v);
    }
    if (sg_project_setting("network/sluice/bind_address", &v)) {
        char *s = sg_variant_to_utf8(&v);
        if (s) snprintf(g_sg.bind_address, sizeof g_sg.bind_address, "%s", s);
        free(s);
        g_sg.core->godot_variant_destroy(&v);
    }
    if (sg_project_setting("network/sluice/log_level", &v)) {
        g_sg.log_level = (int)g_sg.core->godot_variant_as_int(&v);
        g_sg.core->godot_variant_destroy(&v);
    }
    const char *env = getenv("SLUICE_GODOT_LOOPBACK");
    if (env && *env) g_sg.loopback = strcmp(env, "0") != 0;
    env = getenv("SLUICE_GODOT_BIND");
    if (env) snprintf(g_sg.bind_address, sizeof g_sg.bind_address, "%s", env);
    env = getenv("SLUICE_GODOT_LOG");
    if (env && *env) g_sg.log_level = atoi(env);
    if (g_sg.loopback && !g_sg.bind_address[0]) snprintf(g_sg.bind_address, sizeof g_sg.bind_address, "127.0.0.1");
}

void godot_gdnative_singleton(void) {
    if (!g_sg.core) return;
    if (!g_sg.net) {
        sg_print(SLUICE_LOG_ERROR, "this Godot has no GDNative NET 3.2 API (WebRTC): sluice not registered");
        return;
    }
    if (g_sg.ns && g_sg.binding_idx < 0) {
        godot_instance_binding_functions f;
        memset(&f, 0, sizeof f);
        f.alloc_instance_binding_data = sg_binding_alloc;
        f.free_instance_binding_data = sg_binding_free;
        g_sg.binding_idx = g_sg.ns->godot_nativescript_register_instance_binding_data_functions(f);
    }
    g_sg.emit_signal = g_sg.core->godot_method_bind_get_method("Object", "emit_signal");
    sg_read_settings();
    if (g_sg.net->godot_net_set_webrtc_library(&sg_library) == GODOT_OK) g_sg.registered = true;
    sg_print(SLUICE_LOG_INFO, "sluice %s registered as the WebRTC implementation%s", sluice_version(),
             g_sg.loopback ? " (loopback)" : "");
}
