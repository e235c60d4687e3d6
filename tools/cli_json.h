/*
 * A tiny strict JSON reader and writer for the interop signaling protocol
 * (interop/README.md): one object per line. RFC 8259 grammar, with limits: depth 16,
 * strings must be valid UTF-8 after unescaping (\uXXXX surrogate pairs combined; lone
 * surrogates and NUL rejected), numbers parsed as double. Not part of the library.
 */
#ifndef SLUICE_CLI_JSON_H
#define SLUICE_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum cli_json_type {
    CLI_JSON_NULL,
    CLI_JSON_BOOL,
    CLI_JSON_NUMBER,
    CLI_JSON_STRING,
    CLI_JSON_ARRAY,
    CLI_JSON_OBJECT,
} cli_json_type;

typedef struct cli_json cli_json;
struct cli_json {
    cli_json_type type;
    bool boolean;
    double number;
    char *string;      /* STRING: NUL-terminated; also the key of an object member */
    size_t string_len;
    char *key;         /* set on members of an object */
    cli_json *child;   /* ARRAY / OBJECT: first element */
    cli_json *next;    /* next sibling */
};

/**
 * Parse exactly one JSON value from `text` (`len` bytes; surrounding whitespace
 * allowed, nothing else). Returns the tree (free with cli_json_free) or NULL with a
 * reason in `err` (may be NULL).
 */
cli_json *cli_json_parse(const char *text, size_t len, char *err, size_t errcap);
void cli_json_free(cli_json *v);

/** Member `key` of an object, or NULL. */
const cli_json *cli_json_get(const cli_json *obj, const char *key);
/** The string of member `key`, or NULL when absent or not a string. */
const char *cli_json_get_string(const cli_json *obj, const char *key);
/** The number of member `key`, or `dflt`. */
double cli_json_get_number(const cli_json *obj, const char *key, double dflt);
/** The boolean of member `key`, or `dflt`. */
bool cli_json_get_bool(const cli_json *obj, const char *key, bool dflt);

/** A growable output string for building JSON. On allocation failure `failed` is set. */
typedef struct cli_str {
    char *p;
    size_t len, cap;
    bool failed;
} cli_str;

void cli_str_free(cli_str *s);
void cli_str_append(cli_str *s, const char *text, size_t len);
void cli_str_puts(cli_str *s, const char *text);
void cli_str_printf(cli_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append `text` as a quoted JSON string (escapes ", \, control characters). */
void cli_str_json_string(cli_str *s, const char *text, size_t len);
/** Append the value `v` re-serialized (compact). */
void cli_str_json_value(cli_str *s, const cli_json *v);

#endif
