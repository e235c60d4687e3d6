/* Fuzz sluice-cli's strict JSON reader (interop signaling lines): never crash or leak,
 * and whatever it accepts re-serializes to text that parses to the same serialization. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/cli_json.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_json *v = cli_json_parse((const char *)data, size, NULL, 0);
    if (!v) {
        return 0;
    }
    cli_str a = {0}, b = {0};
    cli_str_json_value(&a, v);
    if (!a.failed) {
        cli_json *w = cli_json_parse(a.p, a.len, NULL, 0);
        if (!w) {
            abort(); /* our own output must parse */
        }
        cli_str_json_value(&b, w);
        if (!b.failed && (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)) {
            abort();
        }
        cli_json_free(w);
    }
    cli_str_free(&a);
    cli_str_free(&b);
    cli_json_free(v);
    return 0;
}
