/*
 * The Godot 3 plugin (godot/src/sluice_godot.c) against a fake Godot: a minimal GDNative
 * core table (variants, strings, dictionaries, arrays, emit_signal), the NativeScript 1.1
 * instance-binding hook and the NET 3.2 WebRTC binding. Runs under ASan with leak
 * detection, which a real Godot run cannot give (Godot leaks at exit). The headless Godot
 * scenes in godot/tests/ test the same code inside the real engine.
 *
 * The two-peer tests use real loopback sockets through sluice_peer_poll(), as the plugin
 * does, in an event loop on the peers' sockets; they wait on state, never on time.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../godot/src/sluice_godot.c"

/* ------------------------------------------------------------------------- */
/* The fake engine                                                           */
/* ------------------------------------------------------------------------- */

/* Every fake allocation lives in an arena freed after each test: destroy calls are no-ops. */
typedef struct arena_block {
    struct arena_block *next;
    max_align_t data[];
} arena_block;
static arena_block *arena;

static void *arena_alloc(size_t n) {
    arena_block *b = calloc(1, sizeof *b + n + 1);
    assert_non_null(b);
    b->next = arena;
    arena = b;
    return b->data;
}

static void arena_clear(void) {
    while (arena) {
        arena_block *n = arena->next;
        free(arena);
        arena = n;
    }
}

typedef struct fvar {
    int type;
    union {
        int64_t i;
        bool b;
        double r;
        const char *s;
        void *obj;
        struct fcoll *coll; /* dictionary or array */
    } u;
} fvar;
_Static_assert(sizeof(fvar) <= sizeof(godot_variant), "fake variant fits");

typedef struct fcoll {
    int n;
    fvar keys[16];
    fvar vals[16];
} fcoll;

static char *fdup(const char *s) {
    size_t n = strlen(s);
    char *d = arena_alloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

#define AS_FVAR(v) ((fvar *)(void *)(v))
static const char *str_of(const godot_string *s) { const char *p; memcpy(&p, s, sizeof p); return p; }
static godot_string str_make(const char *text) { godot_string s; const char *p = fdup(text); memcpy(&s, &p, sizeof p); return s; }
static fcoll *coll_of(const void *d) { fcoll *c; memcpy(&c, d, sizeof c); return c; }

/* A fake Godot object: what the plugin binds and what Godot would free. */
typedef struct fobj {
    const char *cls;
    void *binding;
    const godot_net_webrtc_peer_connection *pc;
    const godot_net_webrtc_data_channel *ch;
    int refs;
} fobj;

static godot_instance_binding_functions binding_fns;
static bool binding_registered;
static const godot_net_webrtc_library *library;

/* Signals seen, in order. */
typedef struct fsignal {
    fobj *from;
    char name[40];
    char s1[16];
    char *s2;    /* sdp or candidate (arena) */
    int64_t idx;
    fobj *obj;   /* data_channel_received */
} fsignal;
static fsignal signals[256];
static int nsignals;
static bool keep_received = true; /* data_channel_received handler keeps the channel */
static fobj *received[8];
static int nreceived;

static void fake_free_object(fobj *o) {
    if (o->binding) binding_fns.free_instance_binding_data(binding_fns.data, o->binding);
    o->binding = NULL;
    free(o);
}

static godot_variant f_array_get(const godot_array *a, const godot_int i) {
    godot_variant v;
    memcpy(&v, &coll_of(a)->vals[i], sizeof(fvar));
    return v;
}
static godot_int f_array_size(const godot_array *a) { return coll_of(a)->n; }
static void f_noop_array(godot_array *a) { (void)a; }
static void f_noop_dict(godot_dictionary *d) { (void)d; }
static godot_array f_dictionary_keys(const godot_dictionary *d) {
    fcoll *src = coll_of(d), *c = arena_alloc(sizeof *c);
    c->n = src->n;
    for (int i = 0; i < c->n; i++) c->vals[i] = src->keys[i];
    godot_array a;
    memcpy(&a, &c, sizeof c);
    return a;
}
static godot_variant f_dictionary_get(const godot_dictionary *d, const godot_variant *key) {
    fcoll *c = coll_of(d);
    godot_variant out;
    memset(&out, 0, sizeof out);
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->keys[i].u.s, AS_FVAR(key)->u.s) == 0) memcpy(&out, &c->vals[i], sizeof(fvar));
    return out;
}
static godot_variant_type f_variant_get_type(const godot_variant *v) { return (godot_variant_type)AS_FVAR(v)->type; }
static void f_variant_new_nil(godot_variant *v) { memset(v, 0, sizeof *v); }
static void f_variant_new_bool(godot_variant *v, const godot_bool b) { *AS_FVAR(v) = (fvar){GODOT_VARIANT_TYPE_BOOL, {.b = b}}; }
static void f_variant_new_int(godot_variant *v, const int64_t i) { *AS_FVAR(v) = (fvar){GODOT_VARIANT_TYPE_INT, {.i = i}}; }
static void f_variant_new_string(godot_variant *v, const godot_string *s) {
    *AS_FVAR(v) = (fvar){GODOT_VARIANT_TYPE_STRING, {.s = fdup(str_of(s))}};
}
static void f_variant_new_object(godot_variant *v, const godot_object *o) {
    ((fobj *)o)->refs++; /* a Reference held by the variant */
    *AS_FVAR(v) = (fvar){GODOT_VARIANT_TYPE_OBJECT, {.obj = (void *)o}};
}
static godot_bool f_variant_as_bool(const godot_variant *v) {
    return AS_FVAR(v)->type == GODOT_VARIANT_TYPE_BOOL ? AS_FVAR(v)->u.b : AS_FVAR(v)->u.i != 0;
}
static int64_t f_variant_as_int(const godot_variant *v) {
    return AS_FVAR(v)->type == GODOT_VARIANT_TYPE_BOOL ? AS_FVAR(v)->u.b : AS_FVAR(v)->u.i;
}
static double f_variant_as_real(const godot_variant *v) { return AS_FVAR(v)->u.r; }
static godot_string f_variant_as_string(const godot_variant *v) {
    return str_make(AS_FVAR(v)->type == GODOT_VARIANT_TYPE_STRING ? AS_FVAR(v)->u.s : "");
}
static godot_dictionary f_variant_as_dictionary(const godot_variant *v) {
    godot_dictionary d;
    memcpy(&d, &AS_FVAR(v)->u.coll, sizeof(void *));
    return d;
}
static godot_array f_variant_as_array(const godot_variant *v) {
    godot_array a;
    memcpy(&a, &AS_FVAR(v)->u.coll, sizeof(void *));
    return a;
}
static void f_variant_destroy(godot_variant *v) {
    fvar *f = AS_FVAR(v);
    if (f->type == GODOT_VARIANT_TYPE_OBJECT && f->u.obj && --((fobj *)f->u.obj)->refs == 0)
        fake_free_object(f->u.obj); /* the last reference: Godot deletes the object */
    memset(v, 0, sizeof *v);
}
static godot_int f_char_string_length(const godot_char_string *cs) { return (godot_int)strlen(str_of((const godot_string *)cs)); }
static const char *f_char_string_get_data(const godot_char_string *cs) { return str_of((const godot_string *)cs); }
static void f_char_string_destroy(godot_char_string *cs) { (void)cs; }
static godot_char_string f_string_utf8(const godot_string *s) {
    godot_char_string cs;
    memcpy(&cs, s, sizeof cs);
    return cs;
}
static godot_string f_string_chars_to_utf8(const char *t) { return str_make(t); }
static godot_string f_string_chars_to_utf8_with_len(const char *t, godot_int n) {
    char *d = arena_alloc((size_t)n + 1);
    memcpy(d, t, (size_t)n);
    godot_string s;
    memcpy(&s, &d, sizeof d);
    return s;
}
static void f_string_destroy(godot_string *s) { (void)s; }
static godot_object *f_global_get_singleton(char *name) {
    static fobj project_settings = {"ProjectSettings", NULL, NULL, NULL, 1};
    return strcmp(name, "ProjectSettings") == 0 ? &project_settings : NULL;
}
static godot_method_bind *f_method_bind_get_method(const char *cls, const char *method) {
    static godot_method_bind emit, has, get;
    if (strcmp(cls, "Object") == 0 && strcmp(method, "emit_signal") == 0) return &emit;
    if (strcmp(method, "has_setting") == 0) return &has;
    if (strcmp(method, "get_setting") == 0) return &get;
    return NULL;
}
static godot_variant f_method_bind_call(godot_method_bind *mb, godot_object *obj, const godot_variant **args,
                                        const int n, godot_variant_call_error *err) {
    godot_variant ret;
    memset(&ret, 0, sizeof ret);
    err->error = 0;
    if (mb != f_method_bind_get_method("Object", "emit_signal")) {
        f_variant_new_bool(&ret, false); /* ProjectSettings.has_setting: nothing set */
        return ret;
    }
    assert_true(nsignals < 256);
    fsignal *s = &signals[nsignals++];
    memset(s, 0, sizeof *s);
    s->from = obj;
    snprintf(s->name, sizeof s->name, "%s", AS_FVAR(args[0])->u.s);
    if (n >= 2 && AS_FVAR(args[1])->type == GODOT_VARIANT_TYPE_STRING)
        snprintf(s->s1, sizeof s->s1, "%s", AS_FVAR(args[1])->u.s);
    if (n >= 3 && AS_FVAR(args[2])->type == GODOT_VARIANT_TYPE_STRING) s->s2 = fdup(AS_FVAR(args[2])->u.s);
    if (n >= 3 && AS_FVAR(args[2])->type == GODOT_VARIANT_TYPE_INT) s->idx = AS_FVAR(args[2])->u.i;
    if (n >= 4) s->s2 = fdup(AS_FVAR(args[3])->u.s);
    if (n == 2 && AS_FVAR(args[1])->type == GODOT_VARIANT_TYPE_OBJECT) {
        s->obj = AS_FVAR(args[1])->u.obj;
        if (keep_received && nreceived < 8) {
            s->obj->refs++;
            received[nreceived++] = s->obj;
        }
    }
    return ret;
}
static godot_object *f_channel_ctor(void) {
    fobj *o = calloc(1, sizeof *o);
    o->cls = "WebRTCDataChannelGDNative";
    return o;
}
static godot_class_constructor f_get_class_constructor(const char *cls) {
    return strcmp(cls, "WebRTCDataChannelGDNative") == 0 ? f_channel_ctor : NULL;
}
static void f_print_error(const char *d, const char *f, const char *file, int l) { (void)f; (void)file; (void)l; fprintf(stderr, "ERROR: %s\n", d); }
static void f_print_warning(const char *d, const char *f, const char *file, int l) { (void)f; (void)file; (void)l; fprintf(stderr, "WARNING: %s\n", d); }
static void f_print(const godot_string *s) { fprintf(stderr, "%s\n", str_of(s)); }

static int f_register_binding(godot_instance_binding_functions f) {
    binding_fns = f;
    binding_registered = true;
    return 0;
}
static void f_unregister_binding(int idx) { (void)idx; }
static void *f_get_binding(int idx, godot_object *obj) {
    fobj *o = obj;
    assert_int_equal(idx, 0);
    if (!o->binding) o->binding = binding_fns.alloc_instance_binding_data(binding_fns.data, NULL, obj);
    return o->binding;
}
static godot_error f_set_library(const godot_net_webrtc_library *lib) {
    library = lib;
    return GODOT_OK;
}
static void f_bind_pc(godot_object *obj, const godot_net_webrtc_peer_connection *i) { ((fobj *)obj)->pc = i; }
static void f_bind_ch(godot_object *obj, const godot_net_webrtc_data_channel *i) { ((fobj *)obj)->ch = i; }

static gdn_core_api core;
static gdn_ext_nativescript_1_1 ns11;
static gdn_ext_nativescript_1_0 ns10;
static gdn_ext_net_3_2 net32;
static gdn_ext_net_3_1 net31;
static const gdn_api_head *extensions[2];

/* Loads the plugin into the fake engine; `with_ns` false = a Godot without NativeScript 1.1. */
static void load_plugin(bool with_ns) {
    memset(&g_sg, 0, sizeof g_sg);
    g_sg.binding_idx = -1;
    g_sg.log_level = SLUICE_LOG_WARN;
    memset(&core, 0, sizeof core);
    core.godot_array_get = f_array_get;
    core.godot_array_size = f_array_size;
    core.godot_array_destroy = f_noop_array;
    core.godot_dictionary_destroy = f_noop_dict;
    core.godot_dictionary_keys = f_dictionary_keys;
    core.godot_dictionary_get = f_dictionary_get;
    core.godot_variant_get_type = f_variant_get_type;
    core.godot_variant_new_nil = f_variant_new_nil;
    core.godot_variant_new_bool = f_variant_new_bool;
    core.godot_variant_new_int = f_variant_new_int;
    core.godot_variant_new_string = f_variant_new_string;
    core.godot_variant_new_object = f_variant_new_object;
    core.godot_variant_as_bool = f_variant_as_bool;
    core.godot_variant_as_int = f_variant_as_int;
    core.godot_variant_as_real = f_variant_as_real;
    core.godot_variant_as_string = f_variant_as_string;
    core.godot_variant_as_dictionary = f_variant_as_dictionary;
    core.godot_variant_as_array = f_variant_as_array;
    core.godot_variant_destroy = f_variant_destroy;
    core.godot_char_string_length = f_char_string_length;
    core.godot_char_string_get_data = f_char_string_get_data;
    core.godot_char_string_destroy = f_char_string_destroy;
    core.godot_string_utf8 = f_string_utf8;
    core.godot_string_chars_to_utf8 = f_string_chars_to_utf8;
    core.godot_string_chars_to_utf8_with_len = f_string_chars_to_utf8_with_len;
    core.godot_string_destroy = f_string_destroy;
    core.godot_global_get_singleton = f_global_get_singleton;
    core.godot_method_bind_get_method = f_method_bind_get_method;
    core.godot_method_bind_call = f_method_bind_call;
    core.godot_get_class_constructor = f_get_class_constructor;
    core.godot_print_error = f_print_error;
    core.godot_print_warning = f_print_warning;
    core.godot_print = f_print;
    ns11 = (gdn_ext_nativescript_1_1){.type = GDN_API_EXT_NATIVESCRIPT, .version = {1, 1}};
    ns11.godot_nativescript_register_instance_binding_data_functions = f_register_binding;
    ns11.godot_nativescript_unregister_instance_binding_data_functions = f_unregister_binding;
    ns11.godot_nativescript_get_instance_binding_data = f_get_binding;
    ns10 = (gdn_ext_nativescript_1_0){.type = GDN_API_EXT_NATIVESCRIPT, .version = {1, 0},
                                      .next = with_ns ? (const gdn_api_head *)&ns11 : NULL};
    net32 = (gdn_ext_net_3_2){.type = GDN_API_EXT_NET, .version = {3, 2}};
    net32.godot_net_set_webrtc_library = f_set_library;
    net32.godot_net_bind_webrtc_peer_connection = f_bind_pc;
    net32.godot_net_bind_webrtc_data_channel = f_bind_ch;
    net31 = (gdn_ext_net_3_1){.type = GDN_API_EXT_NET, .version = {3, 1}, .next = (const gdn_api_head *)&net32};
    extensions[0] = (const gdn_api_head *)&ns10;
    extensions[1] = (const gdn_api_head *)&net31;
    core.num_extensions = 2;
    core.extensions = extensions;
    godot_gdnative_init_options opts;
    memset(&opts, 0, sizeof opts);
    opts.api_struct = &core;
    library = NULL;
    binding_registered = false;
    nsignals = 0;
    nreceived = 0;
    keep_received = true;
    setenv("SLUICE_GODOT_LOOPBACK", "1", 1);
    godot_gdnative_init(&opts);
    godot_gdnative_singleton();
}

static int teardown(void **state) {
    (void)state;
    godot_gdnative_terminate(&(godot_gdnative_terminate_options){false});
    arena_clear();
    return 0;
}

/* WebRTCPeerConnection.new() */
static fobj *new_pc(void) {
    fobj *o = calloc(1, sizeof *o);
    o->cls = "WebRTCPeerConnectionGDNative";
    o->refs = 1;
    assert_int_equal(library->create_peer_connection(o), GODOT_OK);
    assert_non_null(o->pc);
    return o;
}

/* Godot dropping its last reference. */
static void drop(fobj *o) {
    if (o && --o->refs == 0) fake_free_object(o);
}

/* A fake dictionary from key/value pairs: "i" int, "b" bool, "s" string. */
static godot_dictionary dict(int n, ...) {
    fcoll *c = arena_alloc(sizeof *c);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        c->keys[i] = (fvar){GODOT_VARIANT_TYPE_STRING, {.s = fdup(va_arg(ap, const char *))}};
        const char *kind = va_arg(ap, const char *);
        if (kind[0] == 'i') c->vals[i] = (fvar){GODOT_VARIANT_TYPE_INT, {.i = va_arg(ap, int)}};
        else if (kind[0] == 'b') c->vals[i] = (fvar){GODOT_VARIANT_TYPE_BOOL, {.b = va_arg(ap, int) != 0}};
        else c->vals[i] = (fvar){GODOT_VARIANT_TYPE_STRING, {.s = fdup(va_arg(ap, const char *))}};
    }
    va_end(ap);
    c->n = n;
    godot_dictionary d;
    memcpy(&d, &c, sizeof c);
    return d;
}

static fobj *channel(fobj *pc, const char *label, godot_dictionary d) {
    fobj *o = pc->pc->create_data_channel(pc->pc->data, label, &d);
    if (o) o->refs = 1; /* the Ref<> Godot wraps it in */
    return o;
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                     */
/* ------------------------------------------------------------------------- */

static void test_godot_plugin_registers_as_webrtc_library(void **state) {
    (void)state;
    load_plugin(true);
    assert_non_null(library);
    assert_true(binding_registered);
    assert_int_equal(library->version.major, 3);
    assert_int_equal(library->version.minor, 2);
    fobj *pc = new_pc();
    assert_int_equal(pc->pc->get_connection_state(pc->pc->data), SLUICE_CONNECTION_NEW);
    drop(pc);
    assert_int_equal(atomic_load(&g_sg.live_peers), 0);
}

static void test_godot_plugin_reads_channel_options_in_both_spellings(void **state) {
    (void)state;
    load_plugin(true);
    fobj *pc = new_pc();
    fobj *a = channel(pc, "a", dict(3, "negotiated", "b", 1, "id", "i", 4, "maxPacketLifetime", "i", 250));
    fobj *b = channel(pc, "b", dict(2, "maxPacketLifeTime", "i", 99, "ordered", "b", 0));
    fobj *c = channel(pc, "c", dict(3, "maxRetransmits", "i", 3, "protocol", "s", "p1", "futureKey", "i", 1));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(a->ch->get_max_packet_life_time(a->ch->data), 250);
    assert_int_equal(a->ch->get_id(a->ch->data), 4);
    assert_true(a->ch->is_negotiated(a->ch->data));
    assert_int_equal(a->ch->get_max_retransmits(a->ch->data), 65535);
    assert_int_equal(b->ch->get_max_packet_life_time(b->ch->data), 99);
    assert_false(b->ch->is_ordered(b->ch->data));
    assert_int_equal(b->ch->get_id(b->ch->data), 65535);
    assert_int_equal(c->ch->get_max_retransmits(c->ch->data), 3);
    assert_string_equal(c->ch->get_protocol(c->ch->data), "p1");
    assert_string_equal(c->ch->get_label(c->ch->data), "c");
    assert_int_equal(c->ch->get_ready_state(c->ch->data), SLUICE_CHANNEL_CONNECTING);
    assert_int_equal(c->ch->get_write_mode(c->ch->data), 1);
    /* Invalid: negotiated without id, both limits, id out of range, a string id. */
    assert_null(channel(pc, "x", dict(1, "negotiated", "b", 1)));
    assert_null(channel(pc, "x", dict(2, "maxRetransmits", "i", 1, "maxPacketLifeTime", "i", 1)));
    assert_null(channel(pc, "x", dict(2, "negotiated", "b", 1, "id", "i", 65535)));
    assert_null(channel(pc, "x", dict(1, "id", "s", "1")));
    assert_null(channel(pc, "x", dict(1, "protocol", "i", 1)));
    drop(a);
    drop(pc); /* b and c outlive their connection */
    assert_int_equal(b->ch->get_ready_state(b->ch->data), SLUICE_CHANNEL_CLOSED);
    assert_string_equal(b->ch->get_label(b->ch->data), "b");
    assert_int_not_equal(b->ch->put_packet(b->ch->data, (const uint8_t *)"x", 1), GODOT_OK);
    drop(b);
    assert_int_equal(atomic_load(&g_sg.live_peers), 1);
    drop(c);
    assert_int_equal(atomic_load(&g_sg.live_peers), 0);
    assert_int_equal(atomic_load(&g_sg.live_channels), 0);
}

static void test_godot_plugin_rejects_bad_config_and_stays_usable(void **state) {
    (void)state;
    load_plugin(true);
    fobj *pc = new_pc();
    fcoll *servers = arena_alloc(sizeof *servers);
    servers->n = 1;
    godot_dictionary entry = dict(1, "urls", "s", "stun:nowhere:99999");
    servers->vals[0] = (fvar){GODOT_VARIANT_TYPE_DICTIONARY, {.coll = coll_of(&entry)}};
    godot_dictionary cfg = dict(0);
    coll_of(&cfg)->keys[0] = (fvar){GODOT_VARIANT_TYPE_STRING, {.s = "iceServers"}};
    coll_of(&cfg)->vals[0] = (fvar){GODOT_VARIANT_TYPE_ARRAY, {.coll = servers}};
    coll_of(&cfg)->n = 1;
    assert_int_equal(pc->pc->initialize(pc->pc->data, &cfg), GODOT_ERR_INVALID_PARAMETER);
    entry = dict(1, "urls", "s", "turn:127.0.0.1");
    servers->vals[0].u.coll = coll_of(&entry);
    assert_int_equal(pc->pc->initialize(pc->pc->data, &cfg), GODOT_ERR_INVALID_PARAMETER);
    entry = dict(3, "urls", "s", "turn:127.0.0.1", "username", "s", "u", "credential", "s", "p");
    servers->vals[0].u.coll = coll_of(&entry);
    assert_int_equal(pc->pc->initialize(pc->pc->data, &cfg), GODOT_OK);
    godot_dictionary policy = dict(1, "iceTransportPolicy", "s", "sometimes");
    assert_int_equal(pc->pc->initialize(pc->pc->data, &policy), GODOT_ERR_INVALID_PARAMETER);
    assert_int_equal(pc->pc->create_offer(pc->pc->data), GODOT_ERR_UNCONFIGURED); /* no channel */
    assert_int_equal(pc->pc->set_remote_description(pc->pc->data, "offer", "garbage"), GODOT_ERR_INVALID_DATA);
    assert_int_equal(pc->pc->add_ice_candidate(pc->pc->data, "0", 0, "candidate:x"), GODOT_ERR_INVALID_DATA);
    assert_int_equal(pc->pc->get_connection_state(pc->pc->data), SLUICE_CONNECTION_NEW);
    drop(pc);
}

/* Delivers one poll's signals of `from` to `to`, as a game's handlers would. */
static void relay(int *cursor, fobj *p1, fobj *p2) {
    for (; *cursor < nsignals; (*cursor)++) {
        fsignal *s = &signals[*cursor];
        fobj *other = s->from == p1 ? p2 : p1;
        if (strcmp(s->name, "session_description_created") == 0) {
            assert_int_equal(s->from->pc->set_local_description(s->from->pc->data, s->s1, s->s2), GODOT_OK);
            assert_int_equal(other->pc->set_remote_description(other->pc->data, s->s1, s->s2), GODOT_OK);
        } else if (strcmp(s->name, "ice_candidate_created") == 0) {
            assert_int_equal(s->idx, 0);
            other->pc->add_ice_candidate(other->pc->data, s->s1, (int)s->idx, s->s2);
        }
    }
}

/* An event loop over both peers' sockets (sluice_peer_fds / sluice_peer_timeout_ms): it
 * waits for packets or the next sluice timer, and gives up after 2000 rounds. */
static bool pump_until(fobj *p1, fobj *p2, int *cursor, bool (*cond)(void *), void *arg) {
    for (int i = 0; i < 2000; i++) {
        if (cond(arg)) return true;
        struct pollfd pfd[16];
        int n = 0, timeout = 50;
        fobj *peers[2] = {p1, p2};
        for (int k = 0; k < 2; k++) {
            const sluice_peer *pc = ((sg_peer *)peers[k]->pc->data)->pc;
            int fds[8];
            int got = sluice_peer_fds(pc, fds, 8);
            for (int j = 0; j < got && j < 8 && n < 16; j++) pfd[n++] = (struct pollfd){fds[j], POLLIN, 0};
            int t = sluice_peer_timeout_ms(pc);
            if (t >= 0 && t < timeout) timeout = t;
        }
        poll(pfd, (nfds_t)n, timeout);
        p1->pc->poll(p1->pc->data);
        p2->pc->poll(p2->pc->data);
        relay(cursor, p1, p2);
    }
    return cond(arg);
}

static bool is_open(void *arg) {
    fobj *c = arg;
    return c->ch->get_ready_state(c->ch->data) == SLUICE_CHANNEL_OPEN && nreceived >= 1;
}
static bool has_packets(void *arg) {
    fobj *c = arg;
    return c->ch->get_available_packet_count(c->ch->data) >= 2;
}
static bool is_closed(void *arg) {
    fobj *c = arg;
    return c->ch->get_ready_state(c->ch->data) == SLUICE_CHANNEL_CLOSED;
}

static void test_godot_plugin_two_peers_exchange_and_free_cleanly(void **state) {
    (void)state;
    load_plugin(true);
    fobj *p1 = new_pc(), *p2 = new_pc();
    fobj *a = channel(p1, "chat", dict(0));
    assert_int_equal(p1->pc->create_offer(p1->pc->data), GODOT_OK);
    int cursor = 0;
    assert_true(pump_until(p1, p2, &cursor, is_open, a));
    fobj *r = received[0];
    assert_string_equal(r->ch->get_label(r->ch->data), "chat");
    assert_int_equal(r->ch->get_id(r->ch->data), a->ch->get_id(a->ch->data));

    a->ch->set_write_mode(a->ch->data, 0); /* text */
    assert_int_equal(a->ch->put_packet(a->ch->data, (const uint8_t *)"hi", 2), GODOT_OK);
    a->ch->set_write_mode(a->ch->data, 1);
    assert_int_equal(a->ch->put_packet(a->ch->data, (const uint8_t *)"\0\1", 2), GODOT_OK);
    assert_true(pump_until(p1, p2, &cursor, has_packets, r));
    const uint8_t *buf;
    int len;
    assert_int_equal(r->ch->get_packet(r->ch->data, &buf, &len), GODOT_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "hi", 2);
    assert_true(r->ch->was_string_packet(r->ch->data));
    assert_int_equal(r->ch->get_packet(r->ch->data, &buf, &len), GODOT_OK);
    assert_memory_equal(buf, "\0\1", 2);
    assert_false(r->ch->was_string_packet(r->ch->data));
    assert_int_equal(r->ch->get_packet(r->ch->data, &buf, &len), GODOT_ERR_UNAVAILABLE);
    assert_int_equal(r->ch->get_max_packet_size(r->ch->data), 262144);

    a->ch->close(a->ch->data);
    assert_true(pump_until(p1, p2, &cursor, is_closed, r));
    assert_int_equal(p1->pc->get_connection_state(p1->pc->data), SLUICE_CONNECTION_CONNECTED);
    /* Free in an awkward order: a connection first, its channels later. */
    drop(p2);
    drop(a);
    p1->pc->close(p1->pc->data);
    drop(p1);
    drop(r);
    assert_int_equal(atomic_load(&g_sg.live_peers), 0);
    assert_int_equal(atomic_load(&g_sg.live_channels), 0);
}

static bool received_one(void *arg) {
    (void)arg;
    for (int i = 0; i < nsignals; i++)
        if (strcmp(signals[i].name, "data_channel_received") == 0) return true;
    return false;
}

static void test_godot_plugin_frees_a_received_channel_nobody_keeps(void **state) {
    (void)state;
    load_plugin(true);
    keep_received = false;
    fobj *p1 = new_pc(), *p2 = new_pc();
    fobj *a = channel(p1, "dropped", dict(0));
    assert_int_equal(p1->pc->create_offer(p1->pc->data), GODOT_OK);
    int cursor = 0;
    assert_true(pump_until(p1, p2, &cursor, received_one, NULL));
    assert_int_equal(atomic_load(&g_sg.live_channels), 1); /* only ours */
    assert_true(pump_until(p1, p2, &cursor, is_closed, a)); /* the remote reset its side */
    drop(a);
    drop(p1);
    drop(p2);
    assert_int_equal(atomic_load(&g_sg.live_peers), 0);
}

static void test_godot_plugin_without_nativescript_keeps_memory_rather_than_dangling(void **state) {
    (void)state;
    load_plugin(false);
    assert_non_null(library);
    assert_false(binding_registered);
    fobj *pc = new_pc();
    fobj *a = channel(pc, "a", dict(0));
    assert_non_null(a);
    assert_null(pc->binding);
    /* Nothing tells the plugin these died: free the wrappers the way Godot cannot. */
    sg_channel *c = a->ch->data;
    sg_peer *p = pc->pc->data;
    free(a);
    free(pc);
    sg_channel_destroy(c);
    sg_binding_free(NULL, p);
    assert_int_equal(atomic_load(&g_sg.live_peers), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_godot_plugin_registers_as_webrtc_library, teardown),
        cmocka_unit_test_teardown(test_godot_plugin_reads_channel_options_in_both_spellings, teardown),
        cmocka_unit_test_teardown(test_godot_plugin_rejects_bad_config_and_stays_usable, teardown),
        cmocka_unit_test_teardown(test_godot_plugin_two_peers_exchange_and_free_cleanly, teardown),
        cmocka_unit_test_teardown(test_godot_plugin_frees_a_received_channel_nobody_keeps, teardown),
        cmocka_unit_test_teardown(test_godot_plugin_without_nativescript_keeps_memory_rather_than_dangling, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
