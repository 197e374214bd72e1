/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_transport.c - the thin wrappers that handlers call: each calls the
 * entry of the request's transport table (api_transport.h). They hold no
 * logic of their own, so that every transport behaves the same to the API.
 */
#include <assert.h>

#include "api/api_transport.h"

const char *api_query(const struct api_request *req, const char *name)
{
    assert(req->transport != NULL);
    return req->transport->query(req, name);
}

const char *api_header(const struct api_request *req, const char *name)
{
    assert(req->transport != NULL);
    return req->transport->header(req, name);
}

const char *api_cookie(const struct api_request *req, const char *name)
{
    assert(req->transport != NULL);
    return req->transport->cookie(req, name);
}

void api_client_addr(const struct api_request *req, char *out, size_t cap)
{
    assert(req->transport != NULL);
    req->transport->client_addr(req, out, cap);
}

void api_defer(struct api_request *req, api_finish_fn finish, void *arg)
{
    assert(req->transport != NULL);
    req->transport->defer(req, finish, arg);
}

void api_resume(struct api_request *req)
{
    assert(req->transport != NULL);
    req->transport->resume(req);
}
