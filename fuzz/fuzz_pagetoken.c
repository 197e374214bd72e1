/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pagetoken.c - libFuzzer target for pagetoken_decode(), which reads
 * the page_token query parameter of every list route.
 *
 * The input's first byte picks the id kind, the rest is the token. A token
 * that decodes must name a valid id that encodes back to a token decoding
 * to the same id. Seeds are in fuzz/corpus/fuzz_pagetoken.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pagetoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = {"wh_", "dlv_", "op_", "msg_"};
    char *token, id[PAGETOKEN_MAX], again[PAGETOKEN_MAX], enc[PAGETOKEN_MAX];
    const char *kind;

    if (size == 0)
        return 0;
    kind = kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))];
    token = malloc(size);
    if (token == NULL)
        abort();
    memcpy(token, data + 1, size - 1);
    token[size - 1] = '\0';
    if (pagetoken_decode(kind, token, id, sizeof(id)) == 0) {
        if (pagetoken_encode(kind, id, enc, sizeof(enc)) != 0 ||
            pagetoken_decode(kind, enc, again, sizeof(again)) != 0 || strcmp(id, again) != 0)
            abort();
    }
    free(token);
    return 0;
}
