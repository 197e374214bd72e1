/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_jwt.c - libFuzzer target for libkabar's JWT and JWKS parsers.
 *
 * The first byte picks what the rest of the input is:
 *   0: a JWKS document (kabar_jwks_new_json);
 *   1: a token, verified against a fixed JWKS (header, base64url, JSON and
 *      signature parsing; the alg allowlist; kid lookup);
 *   2: a JWKS against which a fixed valid token is verified (key import,
 *      RSA verification, then every claim check).
 * Seeds are in fuzz/corpus/fuzz_jwt. Build: see fuzz/CMakeLists.txt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kabar/kabar.h"

/* A key and a token made with the jose npm package (RS256, kid = RFC 7638
 * thumbprint), with the claims kabard sends. */
static const char fixed_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"w4t_sRfqlVTfQnnYX8sYFFNi6Lr8k723fxo5muxTGSd_fxJu903L"
    "p4LAR1RSs0bnyN7mVH7_ox7q368XHycpH0Q4N8whuC6y4bIL8JPAWH8wXFTwlp0xgMmW8ov17VRgmCyW2U_H5RWK"
    "fz0EYh9EUvEG6y7mFX95QucyHWQh7N2B2BqXyLoSNkFIar1SpVxUCqSwM1qVJW4MRW0i4K9X2CIRYvhJ0wkbGSeR"
    "hDvhqBBU0p7wN_ahGlyZxAyuIZHylmyrGJx-qHr6BxJmWbaldLbKmxmNVrY7oEJsXqbwZPv3vb53kqF5v1EbSlTx"
    "0fMMaFINpQWLhX0IE8W3M0rmdQ\",\"e\":\"AQAB\",\"kid\":\"1xpcAaH9vgZ93LgIl1SGnbf3J_Z4GJsZ5p"
    "sScrNiBHI\",\"use\":\"sig\",\"alg\":\"RS256\"}]}";
static const char fixed_token[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjF4cGNBYUg5dmdaOTNMZ0lsMVNHbmJmM0pfWjRHSnNa"
    "NXBzU2NyTmlCSEkifQ.eyJ3ZWJob29rX2lkIjoibXNnXzEiLCJib2R5X3NoYTI1NiI6Il9VLWV4MFN2ejc1R3RlR"
    "0Y2WFZ1Q2hraVU2QjlYVEQ2d255NXJYVXQ1VTQiLCJ0eXBlIjoiYmF0Y2guc3VjY2VlZGVkIiwiZGF0YSI6eyJpZ"
    "CI6ImJhdGNoXzEifSwiaXNzIjoiaHR0cHM6Ly9rYWJhci5leGFtcGxlLmNvbSIsImF1ZCI6Imh0dHBzOi8vci5le"
    "GFtcGxlLmNvbS9oIiwic3ViIjoib3AiLCJpYXQiOjE3NjkwODMyMDAsImV4cCI6MTc2OTA4MzUwMCwianRpIjoia"
    "jEifQ.C7gG3f6UnqD_8hfkaufLJ5SQp7SYs6AX2mRevAaEqga52QCgufZz2ZzxTD3P2lnbDY2kQP727NFZi6Xylx"
    "VSxHFxeC2MKsie1l3r2s_m-3o2E9PigP82jskacwnJIPqqoz56OoesjD5NFNFKy1iVFGRPV7hP9oWFxJJLPdo1FF"
    "ZhLoHqW9CNe8D3DxtRe4jVEeqhRo-LuSEsBEWrLs0BcgZzg6WGZ_gkLhMk-_gRNmmoyeFGjzRtbaovk2vHRp5Tl6"
    "tuPLdNH11U9o0W1LGMeMmcGISwtP-_FGE4lIzxZm-9Jvp5m9HlghUEd7meEzEStJPxzsLEZZ3rEtNUjQA2Ew";
static const char fixed_body[] =
    "{\"type\":\"batch.succeeded\",\"version\":\"v1\",\"data\":{\"id\":\"batch_1\"}}";

static int64_t fuzz_clock(void *arg)
{
    (void)arg;
    return 1769083200;
}

/* Verify token against jwks_text with the fixed headers and body. */
static void fuzz_verify(const char *jwks_text, size_t jwks_len, const char *token)
{
    kabar_jwks *jwks = NULL;
    kabar_verifier *v = NULL;
    kabar_event *e = NULL;

    if (kabar_jwks_new_json(jwks_text, jwks_len, &jwks) != KABAR_OK)
        return;
    if (kabar_verifier_new_jwks(jwks, &v) != KABAR_OK) {
        kabar_jwks_free(jwks);
        return;
    }
    kabar_verifier_set_clock(v, fuzz_clock, NULL);
    kabar_verifier_set_audience(v, "https://r.example.com/h");
    if (kabar_verify(v, "msg_1", "1769083200", token, fixed_body, strlen(fixed_body), &e) ==
        KABAR_OK) {
        (void)kabar_event_json(e);
        (void)kabar_event_type(e);
    }
    kabar_event_free(e);
    kabar_verifier_free(v);
}

/* The entry point libFuzzer calls; declared here, as libFuzzer has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kabar_jwks *jwks = NULL;
    char *text;

    if (size < 1)
        return 0;
    /* The library takes NUL-terminated header values: give it one. */
    text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0:
        if (kabar_jwks_new_json(text, size - 1, &jwks) == KABAR_OK)
            kabar_jwks_free(jwks);
        break;
    case 1:
        fuzz_verify(fixed_jwks, strlen(fixed_jwks), text);
        break;
    default:
        fuzz_verify(text, size - 1, fixed_token);
        break;
    }
    free(text);
    return 0;
}
