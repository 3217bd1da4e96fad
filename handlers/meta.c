/*
 * meta.c — /healthz, /openapi.yaml and /random-name.
 */
#include "common.h"
#include "handlers.h"

#include <stdlib.h>

extern const char openapi_yaml[];
extern const size_t openapi_yaml_len;

enum MHD_Result meta_healthz(http_req *h)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    return http_bytes(h, 200, "application/json; charset=utf-8", ok, sizeof ok - 1, NULL);
}

enum MHD_Result meta_openapi(http_req *h)
{
    return http_bytes(h, 200, "application/yaml", openapi_yaml, openapi_yaml_len, NULL);
}

enum MHD_Result meta_random_name(http_req *h)
{
    const char *prefix = http_query(h, "prefix");
    if (prefix && !valid_name(prefix))
        return http_problem(h, 400, "invalid_arg", "prefix: must be 1 to 200 letters, digits, '_', '-' or '.'", NULL);
    char *name = pm_random_name(prefix ? prefix : "peer");
    if (!name) return MHD_NO;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    free(name);
    return http_json(h, 200, o);
}
