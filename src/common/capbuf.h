/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capbuf.h - a growing byte buffer with a cap, for input whose size the
 * other side decides: a response or request body, stdin, a JWKS, the lines
 * of a result file.
 *
 * The cap is given once, at init, and enforced here only: an append that
 * would take the content past it fails, and the buffer lets go of what it
 * held, so that no caller can forget the check or keep a half-read input by
 * mistake. The content is always NUL-terminated (one byte beyond len, not
 * counted by the cap). Growth doubles, from 4 KiB, never allocating more
 * than the cap needs. The shape is that of libcurl's dynbuf.
 *
 * Not locked: one buffer, one thread at a time.
 */
#ifndef KABAR_CAPBUF_H
#define KABAR_CAPBUF_H

#include <stddef.h>

struct capbuf {
    char *data;         /* NULL until something is added */
    size_t len;         /* bytes of content */
    size_t alloc;       /* bytes allocated (content + NUL and room to grow) */
    size_t cap;         /* the most content allowed */
};

enum capbuf_rc {
    CAPBUF_OK = 0,
    CAPBUF_TOO_BIG,     /* the append would pass the cap */
    CAPBUF_NOMEM,
};

/* An empty buffer that holds at most cap bytes (cap < SIZE_MAX). Cannot
 * fail. */
void capbuf_init(struct capbuf *b, size_t cap);

/* Append n bytes of p. On failure the buffer is emptied and its memory
 * freed (it may be used again). */
enum capbuf_rc capbuf_add(struct capbuf *b, const void *p, size_t n);

/* Append the string s (without its NUL). */
enum capbuf_rc capbuf_adds(struct capbuf *b, const char *s);

/* The content, NUL-terminated: "" when empty, never NULL. Valid until the
 * next append, reset or free. */
const char *capbuf_str(const struct capbuf *b);

size_t capbuf_len(const struct capbuf *b);

/* Hand the content over: a malloc'd NUL-terminated string the caller frees
 * (an empty one when there is no content), its length in *len when len is
 * not NULL; the buffer is left empty. NULL when out of memory. */
char *capbuf_take(struct capbuf *b, size_t *len);

/* Empty the buffer, keeping its memory. */
void capbuf_reset(struct capbuf *b);

/* Free the memory; the buffer is empty and may be used again. */
void capbuf_free(struct capbuf *b);

#endif
