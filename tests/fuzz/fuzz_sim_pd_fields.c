/* libFuzzer target: tests/sim/pd_fields on arbitrary bodies that cJSON
 * accepts, for 1 to 4 prompts (the first byte). A success must give hosts
 * of name and address characters only (they are quoted unescaped in error
 * messages), ports in 1..65535, and rooms that agree with cJSON's double
 * where that double is exact; a failure a message; and a second parse the
 * same answer (the raw-text scanner keeps no state). */
#include "common/err.h"
#include "pd_fields.h"

#include <stdint.h>
#include <string.h>

static int parse(const cJSON *root, const char *body, size_t len, size_t n,
                 struct sr_sim_pd_fields *f, char *msg)
{
    memset(f, 0, 4 * sizeof(*f));
    msg[0] = '\0';
    return sr_sim_pd_fields_parse(root, body, len, n, n > 1, f, msg, 200);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = (size_t)(data[0] % 4) + 1;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return 0;
    }
    struct sr_sim_pd_fields a[4], b[4];
    char ma[200], mb[200];
    int ra = parse(root, body, len, n, a, ma);
    int rb = parse(root, body, len, n, b, mb);
    if (ra != rb || (ra != 0 && ra != SR_ERR_INVALID) || (ra != 0 && ma[0] == '\0'))
        __builtin_trap();
    if (ra == 0) {
        const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(root, "bootstrap_room");
        for (size_t i = 0; i < n; i++) {
            if (memcmp(&a[i], &b[i], sizeof(a[i])) != 0 || a[i].port < 1 || a[i].port > 65535)
                __builtin_trap();
            size_t hl = strnlen(a[i].host, sizeof(a[i].host));
            if (hl == 0 || hl == sizeof(a[i].host))
                __builtin_trap();
            for (size_t k = 0; k < hl; k++)
                if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%",
                           a[i].host[k]) == NULL)
                    __builtin_trap();
            const cJSON *r = n > 1 ? cJSON_GetArrayItem(rooms, (int)i) : rooms;
            if (r->valuedouble < 9007199254740992.0 && (double)a[i].room != r->valuedouble)
                __builtin_trap(); /* below 2^53 the double is exact */
        }
    }
    cJSON_Delete(root);
    return 0;
}
