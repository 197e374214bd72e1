/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_openapi.c - GET /openapi.json: the OpenAPI 3.1 description of every
 * route, kept as src/api/openapi.json and compiled in (cmake/embed.cmake).
 * Needs no key: it describes the API, it holds no data. The test suite
 * validates the document, holds it to the route table, and checks the
 * integration tests' real responses against it.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_error.h"

extern const char api_openapi_doc[];
extern const size_t api_openapi_doc_len;

void api_openapi_get(const struct api_ctx *ctx, struct api_request *req,
                     struct api_response *resp)
{
    char *body = malloc(api_openapi_doc_len + 1);

    if (body == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return;
    }
    memcpy(body, api_openapi_doc, api_openapi_doc_len + 1);
    resp->status = 200;
    resp->body = body;
    resp->body_len = api_openapi_doc_len;
    resp->cache_control = "public, max-age=300";
}
