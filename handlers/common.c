/*
 * common.c — JSON and query helpers for the handlers.
 */
#include "common.h"

#include "term_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

bool json_int(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j) || !j->valuestring || strpbrk(j->valuestring, ".eE")) return false;
    errno = 0;
    char *end;
    long long v = strtoll(j->valuestring, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool json_find_nul(const cJSON *j, const char *path, char *out, size_t outlen)
{
    if (cJSON_IsString(j) && json_has_nul(j)) { snprintf(out, outlen, "%s", path); return true; }
    size_t i = 0;
    for (const cJSON *e = j->child; e; e = e->next, i++) {
        char here[256];
        if (cJSON_IsObject(j)) snprintf(here, sizeof here, "%s%s%s", path, *path ? "." : "", e->string);
        else snprintf(here, sizeof here, "%s[%zu]", path, i);
        if (json_find_nul(e, here, out, outlen)) return true;
    }
    return false;
}

void json_move_members(cJSON *dst, cJSON *src)
{
    while (src && src->child) {
        cJSON *item = cJSON_DetachItemViaPointer(src, src->child);
        char *key = item->string;
        item->string = NULL;
        cJSON_AddItemToObject(dst, key, item);
        free(key);
    }
    cJSON_Delete(src);
}

bool query_uint(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return false;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return false;
    *out = v;
    return true;
}

bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 200) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) return false;
    return true;
}

char *resolve_program(const char *prog)
{
    if (strchr(prog, '/')) return realpath(prog, NULL);
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    char candidate[PATH_MAX];
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len && len + strlen(prog) + 2 < sizeof candidate) {
            memcpy(candidate, p, len);
            candidate[len] = '/';
            strcpy(candidate + len + 1, prog);
            if (access(candidate, X_OK) == 0) return realpath(candidate, NULL);
        }
        p += len + (colon ? 1 : 0);
        if (!colon) break;
    }
    return NULL;
}
