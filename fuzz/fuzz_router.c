/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_router.c - libFuzzer target for the route table's matcher
 * (api_router_match), which reads the method and path of every request.
 *
 * The input is "METHOD\nPATH". A found route must have a handler and at
 * most API_MAX_PARAMS captures, each a non-empty path segment without '/'
 * or ':'; a path found under other methods only must list them in Allow.
 * Seeds are in fuzz/corpus/fuzz_router.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *path, *scratch;
    struct api_request req;
    struct api_route_match m;
    enum api_route_result r;

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    path = strchr(text, '\n');
    if (path == NULL) {
        free(text);
        return 0;
    }
    *path++ = '\0';
    scratch = malloc(strlen(path) + 1);
    if (scratch == NULL)
        abort();
    memset(&req, 0, sizeof(req));
    req.method = text;
    req.path = path;
    r = api_router_match(text, path, &req, scratch, &m);
    switch (r) {
    case API_ROUTE_FOUND:
        if (m.handler == NULL || req.nparams > API_MAX_PARAMS)
            abort();
        for (size_t i = 0; i < req.nparams; i++)
            if (req.params[i] == NULL || req.params[i][0] == '\0' ||
                strpbrk(req.params[i], "/:") != NULL)
                abort();
        break;
    case API_ROUTE_NO_METHOD:
        if (m.allow == NULL || m.allow[0] == '\0')
            abort();
        break;
    case API_ROUTE_NO_PATH:
        break;
    default:
        abort();
    }
    free(scratch);
    free(text);
    return 0;
}
