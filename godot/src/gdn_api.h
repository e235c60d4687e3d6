/*
 * The slice of Godot 3.2's GDNative C ABI that the sluice plugin uses, written from the
 * documented API (Godot 3.2.3, modules/gdnative/include/{gdnative,net,nativescript}).
 * Opaque Godot values keep Godot's sizes exactly (they are placement-constructed by
 * Godot inside our storage): String, CharString, Array, Dictionary = one pointer,
 * Variant = 16 + 8 bytes. Linux x86-64 / arm64 only (GDCALLINGCONV is the platform's
 * default calling convention there).
 */
#ifndef SLUICE_GDN_API_H
#define SLUICE_GDN_API_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    GODOT_OK = 0,
    GODOT_FAILED = 1,
    GODOT_ERR_UNAVAILABLE = 2,
    GODOT_ERR_UNCONFIGURED = 3,
    GODOT_ERR_OUT_OF_MEMORY = 6,
    GODOT_ERR_CANT_CREATE = 20,
    GODOT_ERR_ALREADY_IN_USE = 22,
    GODOT_ERR_TIMEOUT = 24,
    GODOT_ERR_CONNECTION_ERROR = 27,
    GODOT_ERR_INVALID_DATA = 30,
    GODOT_ERR_INVALID_PARAMETER = 31,
    GODOT_ERR_ALREADY_EXISTS = 32,
    GODOT_ERR_DOES_NOT_EXIST = 33,
    GODOT_ERR_BUSY = 44,
    GODOT_ERR_BUG = 47,
} godot_error;

typedef bool godot_bool;
typedef int godot_int;
typedef void godot_object;

typedef struct { uint8_t _opaque[sizeof(void *)]; } godot_string;
typedef struct { uint8_t _opaque[sizeof(void *)]; } godot_char_string;
typedef struct { uint8_t _opaque[sizeof(void *)]; } godot_array;
typedef struct { uint8_t _opaque[sizeof(void *)]; } godot_dictionary;
typedef struct { uint8_t _opaque[16 + sizeof(int64_t)]; } godot_variant;
typedef struct { uint8_t _opaque[1]; } godot_method_bind;

typedef enum godot_variant_type {
    GODOT_VARIANT_TYPE_NIL = 0,
    GODOT_VARIANT_TYPE_BOOL = 1,
    GODOT_VARIANT_TYPE_INT = 2,
    GODOT_VARIANT_TYPE_REAL = 3,
    GODOT_VARIANT_TYPE_STRING = 4,
    GODOT_VARIANT_TYPE_OBJECT = 17,
    GODOT_VARIANT_TYPE_DICTIONARY = 18,
    GODOT_VARIANT_TYPE_ARRAY = 19,
    GODOT_VARIANT_TYPE_POOL_STRING_ARRAY = 23,
} godot_variant_type;

typedef struct godot_variant_call_error {
    int error; /* 0 = ok */
    int argument;
    godot_variant_type expected;
} godot_variant_call_error;

typedef godot_object *(*godot_class_constructor)(void);
typedef void (*gdn_unused_fn)(void);

typedef struct gdn_api_version {
    unsigned int major;
    unsigned int minor;
} gdn_api_version;

/* Every API table starts with its type, version and the next (newer) version. */
typedef struct gdn_api_head gdn_api_head;
struct gdn_api_head {
    unsigned int type;
    gdn_api_version version;
    const gdn_api_head *next;
};
#define GDN_API_HEAD \
    unsigned int type; \
    gdn_api_version version; \
    const gdn_api_head *next;

/* NativeScript 1.1 instance binding: Godot calls free_instance_binding_data when the
 * object dies; this is the only destruction hook a plain C library gets. */
typedef struct {
    void *(*alloc_instance_binding_data)(void *data, const void *type_tag, godot_object *obj);
    void (*free_instance_binding_data)(void *data, void *binding);
    void (*refcount_incremented_instance_binding)(void *binding, godot_object *obj);
    bool (*refcount_decremented_instance_binding)(void *binding, godot_object *obj);
    void *data;
    void (*free_func)(void *data);
} godot_instance_binding_functions;

/* NET 3.2: WebRTC (modules/gdnative/include/net/godot_webrtc.h). */
typedef struct {
    gdn_api_version version;
    void (*unregistered)(void);
    godot_error (*create_peer_connection)(godot_object *obj);
    void *next;
} godot_net_webrtc_library;

typedef struct {
    gdn_api_version version;
    godot_object *data; /* passed back as the first argument */
    godot_int (*get_connection_state)(const void *);
    godot_error (*initialize)(void *, const godot_dictionary *);
    godot_object *(*create_data_channel)(void *, const char *label, const godot_dictionary *);
    godot_error (*create_offer)(void *);
    godot_error (*create_answer)(void *); /* unused by Godot 3.2 */
    godot_error (*set_remote_description)(void *, const char *type, const char *sdp);
    godot_error (*set_local_description)(void *, const char *type, const char *sdp);
    godot_error (*add_ice_candidate)(void *, const char *mid, int index, const char *name);
    godot_error (*poll)(void *);
    void (*close)(void *);
    void *next;
} godot_net_webrtc_peer_connection;

typedef struct {
    gdn_api_version version;
    godot_object *data;
    godot_error (*get_packet)(void *, const uint8_t **buf, int *len);
    godot_error (*put_packet)(void *, const uint8_t *buf, int len);
    godot_int (*get_available_packet_count)(const void *);
    godot_int (*get_max_packet_size)(const void *);
    void (*set_write_mode)(void *, godot_int);
    godot_int (*get_write_mode)(const void *);
    bool (*was_string_packet)(const void *);
    godot_int (*get_ready_state)(const void *);
    const char *(*get_label)(const void *);
    bool (*is_ordered)(const void *);
    int (*get_id)(const void *);
    int (*get_max_packet_life_time)(const void *);
    int (*get_max_retransmits)(const void *);
    const char *(*get_protocol)(const void *);
    bool (*is_negotiated)(const void *);
    godot_error (*poll)(void *);
    void (*close)(void *);
    void *next;
} godot_net_webrtc_data_channel;

#include "gdn_api_tables.h"

typedef struct {
    godot_bool in_editor;
    uint64_t core_api_hash;
    uint64_t editor_api_hash;
    uint64_t no_api_hash;
    void (*report_version_mismatch)(const godot_object *lib, const char *what,
                                    gdn_api_version want, gdn_api_version have);
    void (*report_loading_error)(const godot_object *lib, const char *what);
    godot_object *gd_native_library;
    const gdn_core_api *api_struct;
    const godot_string *active_library_path;
} godot_gdnative_init_options;

typedef struct {
    godot_bool in_editor;
} godot_gdnative_terminate_options;

#endif
