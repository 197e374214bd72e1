/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagetoken.h - opaque list page tokens.
 *
 * A token names the last id of the page just returned, so the next page is
 * "ids greater than this one" and stays stable while items are created or
 * deleted. The token is base64url("p1." + kind + "." + id); clients must
 * treat it as opaque, and anything that does not decode to the expected kind
 * and a valid id is rejected as INVALID_ARGUMENT.
 */
#ifndef KABAR_PAGETOKEN_H
#define KABAR_PAGETOKEN_H

#include <stddef.h>

#define PAGETOKEN_MAX 128

/* kind is the id prefix ("wh_"). Returns 0, or -1 if out is too small. */
int pagetoken_encode(const char *kind, const char *last_id, char *out, size_t cap);

/* Returns 0 and writes the id into out, or -1 when token is not a valid
 * token for kind. */
int pagetoken_decode(const char *kind, const char *token, char *out, size_t cap);

#endif
