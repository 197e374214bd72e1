/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_stdwh.c - libFuzzer target for libkabar's header and Standard
 * Webhooks signature parsing.
 *
 * The input is a raw HTTP request: headers, an empty line, the body. The
 * three webhook-* headers are found with kabar_header_find_raw() and the
 * request verified with a fixed secret, the clock set to the timestamp
 * given (when it is a number), so that the signature list parser is reached
 * for any input. Seeds are in fuzz/corpus/fuzz_stdwh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kabar/kabar.h"

static int64_t fuzz_clock(void *arg)
{
    return *(const int64_t *)arg;
}

/* The entry point libFuzzer calls; declared here, as libFuzzer has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *raw = (const char *)data, *body = NULL;
    char id[300], ts[40], sig[9000];
    size_t i, head = size;
    int64_t now = 0;
    kabar_verifier *v = NULL;
    kabar_event *e = NULL;

    for (i = 0; i + 1 < size; i++) {
        if (raw[i] == '\n' && (raw[i + 1] == '\n' ||
                               (raw[i + 1] == '\r' && i + 2 < size && raw[i + 2] == '\n'))) {
            head = i + 1;
            body = raw[i + 1] == '\n' ? raw + i + 2 : raw + i + 3;
            break;
        }
    }
    if (kabar_header_find_raw(raw, head, "webhook-id", id, sizeof(id)) != KABAR_OK)
        id[0] = '\0';
    if (kabar_header_find_raw(raw, head, "webhook-timestamp", ts, sizeof(ts)) != KABAR_OK)
        ts[0] = '\0';
    if (kabar_header_find_raw(raw, head, "webhook-signature", sig, sizeof(sig)) != KABAR_OK)
        sig[0] = '\0';
    for (i = 0; ts[i] >= '0' && ts[i] <= '9' && i < 18; i++)
        now = now * 10 + (ts[i] - '0');

    if (kabar_verifier_new_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &v) != KABAR_OK)
        abort();
    kabar_verifier_set_clock(v, fuzz_clock, &now);
    if (kabar_verify(v, id, ts, sig, body, body != NULL ? size - (size_t)(body - raw) : 0, &e) ==
        KABAR_OK)
        (void)kabar_event_type(e);
    kabar_event_free(e);
    kabar_verifier_free(v);
    return 0;
}
