/*
 * common.c — JSON and query helpers for the handlers.
 */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
