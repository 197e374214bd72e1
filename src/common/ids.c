/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ids.c - time-ordered resource identifiers.
 *
 * The 128-bit body (48-bit big-endian milliseconds, then 80 random bits) is
 * written as 26 Crockford base32 digits, most significant first. 26 digits
 * hold 130 bits, so the two top bits are zero and the first digit is at most
 * '7'. Because the alphabet is in ASCII order, comparing two ids with
 * strcmp compares their creation times. Within one process ids are also
 * strictly increasing inside a millisecond (ULID's monotonic mode): an id
 * made in the same millisecond as the previous one - or after the clock
 * stepped back - is the previous one plus one, so lists in id order are in
 * creation order, not shuffled by the random bits.
 */
#include "common/ids.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char ids_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

#define IDS_RAW_LEN 16          /* 6 bytes of time + 10 random bytes */

static uint64_t ids_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Write the 26 digits of raw (a 128-bit big-endian number) into out. */
static void ids_encode(const uint8_t raw[IDS_RAW_LEN], char *out)
{
    /* Digit i (from the right) holds bits 5i .. 5i+4 of the number. */
    for (int i = 0; i < IDS_BODY_LEN; i++) {
        unsigned v = 0;
        for (int b = 0; b < 5; b++) {
            int bit = i * 5 + b;            /* bit index from the LSB */
            if (bit >= IDS_RAW_LEN * 8)
                break;
            int byte = IDS_RAW_LEN - 1 - bit / 8;
            v |= (unsigned)((raw[byte] >> (bit % 8)) & 1) << b;
        }
        out[IDS_BODY_LEN - 1 - i] = ids_alphabet[v];
    }
}

static struct {
    pthread_mutex_t lock;
    uint8_t last[IDS_RAW_LEN];      /* the previous id's 128 bits */
    uint64_t last_ms;
} ids_state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Fill raw with the next id's bits at ms. Returns 0, or -1 if the random
 * source failed. */
static int ids_next(uint64_t ms, uint8_t raw[IDS_RAW_LEN])
{
    int rc = 0;

    pthread_mutex_lock(&ids_state.lock);
    if (ms <= ids_state.last_ms) {
        /* The previous id plus one; a carry out of the random bits moves
         * into the time bits, which keeps the order all the same. */
        int i = IDS_RAW_LEN - 1;
        memcpy(raw, ids_state.last, IDS_RAW_LEN);
        while (i >= 0 && ++raw[i] == 0)
            i--;
    } else {
        for (int i = 0; i < 6; i++)
            raw[i] = (uint8_t)(ms >> (8 * (5 - i)));
        if (RAND_bytes(raw + 6, IDS_RAW_LEN - 6) != 1)
            rc = -1;
        else
            ids_state.last_ms = ms;
    }
    if (rc == 0)
        memcpy(ids_state.last, raw, IDS_RAW_LEN);
    pthread_mutex_unlock(&ids_state.lock);
    return rc;
}

int ids_new(const char *prefix, char *out, size_t cap)
{
    uint8_t raw[IDS_RAW_LEN];
    uint64_t ms = ids_now_ms();
    size_t plen;

    if (prefix == NULL || out == NULL)
        return -1;
    plen = strlen(prefix);
    if (cap < plen + IDS_BODY_LEN + 1)
        return -1;

    if (ids_next(ms, raw) != 0)
        return -1;

    memcpy(out, prefix, plen);
    ids_encode(raw, out + plen);
    out[plen + IDS_BODY_LEN] = '\0';
    /* Not secret, but random bits are not worth leaving on the stack. */
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

int ids_floor(const char *prefix, int64_t ms, char *out, size_t cap)
{
    uint8_t raw[IDS_RAW_LEN] = {0};
    size_t plen = strlen(prefix);

    if (cap < plen + IDS_BODY_LEN + 1)
        return -1;
    if (ms < 0)
        ms = 0;
    for (int i = 0; i < 6; i++)
        raw[i] = (uint8_t)((uint64_t)ms >> (8 * (5 - i)));
    memcpy(out, prefix, plen);
    ids_encode(raw, out + plen);
    out[plen + IDS_BODY_LEN] = '\0';
    return 0;
}

bool ids_valid(const char *prefix, const char *id)
{
    size_t plen;

    if (prefix == NULL || id == NULL)
        return false;
    plen = strlen(prefix);
    if (strncmp(id, prefix, plen) != 0)
        return false;
    id += plen;
    for (size_t i = 0; i < IDS_BODY_LEN; i++) {
        /* strchr would also match the terminating NUL, so test it first. */
        if (id[i] == '\0' || strchr(ids_alphabet, id[i]) == NULL)
            return false;
    }
    return id[IDS_BODY_LEN] == '\0';
}
