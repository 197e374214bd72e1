/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_json.c - JSON request parsing and response helpers (see api_json.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "common/timeutil.h"
#include "core/pagetoken.h"

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

void api_reply_page(struct api_response *resp, const char *key, json_t *items,
                    const char *token_key, const char *kind, const char *last_id)
{
    json_t *out = json_object();
    char next[PAGETOKEN_MAX];

    json_object_set_new(out, key, items);
    if (kind != NULL && last_id != NULL &&
        pagetoken_encode(kind, last_id, next, sizeof(next)) == 0)
        json_object_set_new(out, token_key, json_string(next));
    api_reply(resp, out);
}

const struct api_field API_F_PAGE_TOKEN = {"page_token", "pageToken"};
static const struct api_field API_F_PAGE_SIZE = {"page_size", "pageSize"};

long api_page_size(const struct api_request *req, struct api_response *resp, long def, long max)
{
    const char *s = api_query_field(req, &API_F_PAGE_SIZE);
    char *end;
    long n;

    if (s == NULL || s[0] == '\0')
        return def;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || n < 0 || n > max || s[0] < '0' || s[0] > '9') {
        api_error(resp, API_INVALID_ARGUMENT, "page_size must be an integer from 0 to %ld", max);
        return -1;
    }
    return n == 0 ? def : n;
}

int api_page_token(const char *token, const char *kind, char *out, size_t cap,
                   struct api_response *resp)
{
    if (token && token[0] && pagetoken_decode(kind, token, out, cap) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "page_token is not valid");
        return -1;
    }
    return 0;
}

void *api_page_alloc(long limit, size_t size, struct api_response *resp)
{
    void *page = calloc((size_t)limit, size);

    if (page == NULL)
        api_error(resp, API_UNAVAILABLE, "out of memory");
    return page;
}

json_t *api_json_time(int64_t us)
{
    char buf[TIMEUTIL_RFC3339_MAX];

    if (timeutil_format(us, 1, buf, sizeof(buf)) != 0)
        return json_null();
    return json_string(buf);
}

bool api_json_no_body(const struct api_request *req, struct api_response *resp)
{
    static const struct api_field none[] = {{NULL, NULL}};
    json_t *body = api_json_body(req, resp, false);
    bool ok;

    if (body == NULL)
        return false;
    ok = api_json_check(body, none, none, resp);
    json_decref(body);
    return ok;
}
