/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_timeutil.c - libFuzzer target for timeutil_parse(), which reads
 * every RFC 3339 timestamp of the API (filters, deadlines).
 *
 * The input is the text. A timestamp that parses must format again (when in
 * the range formatting accepts) to text that parses to the same instant.
 * Seeds are in fuzz/corpus/fuzz_timeutil.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), out[TIMEUTIL_RFC3339_MAX];
    int64_t us, again;

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    if (timeutil_parse(s, &us) == 0 && timeutil_format(us, 1, out, sizeof(out)) == 0 &&
        (timeutil_parse(out, &again) != 0 || again != us))
        abort();
    free(s);
    return 0;
}
