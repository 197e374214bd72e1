/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_retry_after.c - libFuzzer target for retry_after_parse(), which
 * reads the Retry-After header of a receiver's 429 or 503.
 *
 * The input is the header value; the clock is fixed. An accepted value
 * must give a delay that is not negative and not beyond 2^31 seconds (the
 * parser's bound; retry_next caps it further), and a short run of digits
 * exactly that many seconds. Seeds are in fuzz/corpus/fuzz_retry_after.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/retry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 2026-01-22T12:00:00Z */
    static const int64_t now_us = INT64_C(1769083200) * 1000000;
    static const int64_t max_us = INT64_C(2147483648) * 1000000;
    char *value = malloc(size + 1);
    int64_t delay = -1, secs = 0;
    size_t i;

    if (value == NULL)
        abort();
    memcpy(value, data, size);
    value[size] = '\0';
    for (i = 0; i < size && i < 10 && value[i] >= '0' && value[i] <= '9'; i++)
        secs = secs * 10 + (value[i] - '0');
    if (retry_after_parse(value, now_us, &delay) == 0) {
        if (delay < 0 || delay > max_us)
            abort();
        if (size > 0 && size <= 9 && i == size && delay != secs * 1000000)
            abort();
    } else if (size > 0 && size <= 9 && i == size) {
        abort();
    }
    free(value);
    return 0;
}
