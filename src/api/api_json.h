/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_json.h - request bodies in, response bodies out.
 *
 * Input rules shared by every handler: the body is a JSON object without
 * duplicate keys; each field may be spelled snake_case or camelCase (not
 * both); unknown fields are an error; output-only fields are ignored.
 */
#ifndef KABAR_API_JSON_H
#define KABAR_API_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"

/* A field's two spellings; camel may be NULL when they are the same. */
struct api_field {
    const char *snake;
    const char *camel;
};

/* Parse req's body. An empty body is an error when required, else an
 * empty object. Returns a new reference, or NULL after filling resp. */
json_t *api_json_body(const struct api_request *req, struct api_response *resp, bool required);

/* Check that every member of obj is one of fields[] or ignored[] (each
 * terminated by a {NULL, NULL} entry) and that no field is given in both
 * spellings. Returns true, or false after filling resp. */
bool api_json_check(json_t *obj, const struct api_field *fields,
                    const struct api_field *ignored, struct api_response *resp);

/* A body that carries nothing, for actions that take no fields: none, or
 * {}. Returns true, or false after filling resp with a 400. */
bool api_json_no_body(const struct api_request *req, struct api_response *resp);

/* The value of f in obj under either spelling (borrowed), or NULL. */
json_t *api_json_field(json_t *obj, const struct api_field *f);

/* A query parameter under either spelling, or NULL. */
const char *api_query_field(const struct api_request *req, const struct api_field *f);

/* page_size from the query (either spelling): absent or 0 means def.
 * Returns the size, or -1 after filling resp when it is not an integer in
 * [0, max]. */
long api_page_size(const struct api_request *req, struct api_response *resp, long def, long max);

/* The id a page_token of kind (pagetoken_decode) names into out; out is
 * left as it is when token is NULL or empty. Returns 0, or -1 after filling
 * resp. */
int api_page_token(const char *token, const char *kind, char *out, size_t cap,
                   struct api_response *resp);
/* A page of limit zeroed items of size bytes (the caller frees it), or NULL
 * after filling resp. */
void *api_page_alloc(long limit, size_t size, struct api_response *resp);

extern const struct api_field API_F_PAGE_TOKEN;

/* An RFC 3339 timestamp with microseconds, or null if out of range. */
json_t *api_json_time(int64_t us);

/* Answer 200 with obj (the reference is stolen). */
void api_reply(struct api_response *resp, json_t *obj);

/*
 * Answer 200 with one page of a list: {key: items, token_key: token}, items
 * stolen. The token (core/pagetoken.h) names last_id with the id prefix
 * kind; pass last_id = NULL when no page follows, and kind = NULL when no
 * token can be made, and the page goes without one. token_key is
 * "next_page_token" except where a route's wire format says otherwise.
 */
void api_reply_page(struct api_response *resp, const char *key, json_t *items,
                    const char *token_key, const char *kind, const char *last_id);

#endif
