/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capbuf.c - a growing byte buffer with a cap (see capbuf.h).
 */
#include "common/capbuf.h"

#include <stdlib.h>
#include <string.h>

#define CAPBUF_FIRST_ALLOC 4096

void capbuf_init(struct capbuf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

enum capbuf_rc capbuf_add(struct capbuf *b, const void *p, size_t n)
{
    size_t need, a;
    char *grown;

    /* The one check of the cap: b->len never exceeds b->cap, so the
     * subtraction cannot wrap. */
    if (n > b->cap - b->len) {
        capbuf_free(b);
        return CAPBUF_TOO_BIG;
    }
    need = b->len + n + 1;
    if (need > b->alloc) {
        a = b->alloc ? b->alloc : CAPBUF_FIRST_ALLOC;
        while (a < need && a <= b->cap / 2)
            a *= 2;
        /* need <= cap + 1 (checked above): the cap's worth is enough. */
        if (a < need || a > b->cap + 1)
            a = b->cap + 1;
        grown = realloc(b->data, a);
        if (grown == NULL) {
            capbuf_free(b);
            return CAPBUF_NOMEM;
        }
        b->data = grown;
        b->alloc = a;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CAPBUF_OK;
}

enum capbuf_rc capbuf_adds(struct capbuf *b, const char *s)
{
    return capbuf_add(b, s, strlen(s));
}

const char *capbuf_str(const struct capbuf *b)
{
    return b->data != NULL ? b->data : "";
}

size_t capbuf_len(const struct capbuf *b)
{
    return b->len;
}

char *capbuf_take(struct capbuf *b, size_t *len)
{
    char *out = b->data != NULL ? b->data : calloc(1, 1);

    if (out != NULL && len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return out;
}

void capbuf_reset(struct capbuf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void capbuf_free(struct capbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}
