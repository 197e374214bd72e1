/*
 * api_json.c - JSON request parsing and response helpers (see api_json.h).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"

json_t *api_json_body(const struct api_request *req, struct api_response *resp, bool required)
{
    json_error_t jerr;
    json_t *obj;

    if (req->body == NULL || req->body_len == 0) {
        if (required) {
            api_error(resp, API_INVALID_ARGUMENT, "a JSON request body is required");
            return NULL;
        }
        return json_object();
    }
    obj = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "invalid JSON payload at line %d, column %d: %s",
                  jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(obj)) {
        api_error(resp, API_INVALID_ARGUMENT, "the request body must be a JSON object");
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static bool api_field_is(const struct api_field *f, const char *key)
{
    return strcmp(f->snake, key) == 0 || (f->camel && strcmp(f->camel, key) == 0);
}

bool api_json_check(json_t *obj, const struct api_field *fields,
                    const struct api_field *ignored, struct api_response *resp)
{
    const char *key;
    json_t *val;

    json_object_foreach(obj, key, val) {
        bool known = false;
        for (const struct api_field *f = fields; f->snake && !known; f++)
            known = api_field_is(f, key);
        for (const struct api_field *f = ignored; f && f->snake && !known; f++)
            known = api_field_is(f, key);
        if (!known) {
            api_error(resp, API_INVALID_ARGUMENT,
                      "invalid JSON payload: unknown name \"%.100s\": cannot find field", key);
            return false;
        }
    }
    for (const struct api_field *f = fields; f->snake; f++) {
        if (f->camel && json_object_get(obj, f->snake) && json_object_get(obj, f->camel)) {
            api_error(resp, API_INVALID_ARGUMENT, "field %s is given twice (as %s and %s)",
                      f->snake, f->snake, f->camel);
            return false;
        }
    }
    return true;
}

json_t *api_json_field(json_t *obj, const struct api_field *f)
{
    json_t *v = json_object_get(obj, f->snake);

    if (v == NULL && f->camel)
        v = json_object_get(obj, f->camel);
    return v;
}

const char *api_query_field(const struct api_request *req, const struct api_field *f)
{
    const char *v = api_query(req, f->snake);

    if (v == NULL && f->camel)
        v = api_query(req, f->camel);
    return v;
}

void api_reply(struct api_response *resp, json_t *obj)
{
    free(resp->body);
    resp->body = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    resp->status = resp->body ? 200 : 500;
    json_decref(obj);
}
