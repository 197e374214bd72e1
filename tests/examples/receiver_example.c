/* SPDX-License-Identifier: Apache-2.0 */
/*
 * receiver_example.c - a complete program that receives one kabar webhook.
 *
 * It reads one raw HTTP request (request line, headers, empty line, body)
 * from stdin, verifies it with libkabar, and prints the event. Use it with
 * the secret of a static webhook, or with the JWKS URL of a kabard for
 * dynamic webhooks:
 *
 *   receiver_example whsec_...                       < request.http
 *   receiver_example --jwks https://kabar.example.com/.well-known/jwks.json \
 *                    --audience https://me.example.com/hook < request.http
 *
 * Exit status: 0 verified, 1 not verified (the reason on stderr), 2 usage.
 * Build:  cc receiver_example.c $(pkg-config --cflags --libs kabar)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kabar/kabar.h>

#define MAX_REQUEST (1 << 20)

/* Where the body starts: after the first empty line. */
static const char *find_body(const char *req, size_t len, size_t *head_len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (req[i] == '\n' && req[i + 1] == '\n') {
            *head_len = i + 1;
            return req + i + 2;
        }
        if (i + 3 < len && memcmp(req + i, "\r\n\r\n", 4) == 0) {
            *head_len = i + 2;
            return req + i + 4;
        }
    }
    return NULL;
}

/* Make the verifier the command line asks for; NULL after printing why. */
static kabar_verifier *make_verifier(int argc, char **argv)
{
    kabar_verifier *v = NULL;
    kabar_jwks *jwks = NULL;
    kabar_err err;

    if (argc == 2) {
        err = kabar_verifier_new_secret(argv[1], &v);
    } else if ((argc == 3 || argc == 5) && strcmp(argv[1], "--jwks") == 0) {
        err = kabar_jwks_new_url(argv[2], &jwks);
        if (err == KABAR_OK && (err = kabar_verifier_new_jwks(jwks, &v)) != KABAR_OK)
            kabar_jwks_free(jwks);
        /* Always check the audience in production: the URL kabard posts to. */
        if (err == KABAR_OK && argc == 5 && strcmp(argv[3], "--audience") == 0)
            err = kabar_verifier_set_audience(v, argv[4]);
    } else {
        fprintf(stderr, "usage: receiver_example SECRET | --jwks URL [--audience A]\n");
        return NULL;
    }
    if (err != KABAR_OK) {
        fprintf(stderr, "receiver_example: %s\n", kabar_strerror(err));
        kabar_verifier_free(v);
        return NULL;
    }
    return v;
}

int main(int argc, char **argv)
{
    char *req = malloc(MAX_REQUEST);
    char id[256], ts[32], *sig = malloc(MAX_REQUEST);
    const char *body;
    size_t len, head_len = 0;
    kabar_verifier *v;
    kabar_dedup *seen = NULL;
    kabar_event *event = NULL;
    kabar_err err;
    int status = 1;

    if (req == NULL || sig == NULL)
        return 1;
    if ((v = make_verifier(argc, argv)) == NULL) {
        free(req);
        free(sig);
        return 2;
    }
    len = fread(req, 1, MAX_REQUEST, stdin);
    body = find_body(req, len, &head_len);
    if (body == NULL) {
        fprintf(stderr, "receiver_example: no empty line after the headers\n");
        goto out;
    }

    /* A missing header is left empty here, and kabar_verify() reports it. */
    if (kabar_header_find_raw(req, head_len, "webhook-id", id, sizeof(id)) != KABAR_OK)
        id[0] = '\0';
    if (kabar_header_find_raw(req, head_len, "webhook-timestamp", ts, sizeof(ts)) != KABAR_OK)
        ts[0] = '\0';
    if (kabar_header_find_raw(req, head_len, "webhook-signature", sig, MAX_REQUEST) != KABAR_OK)
        sig[0] = '\0';

    /* Verify against the body exactly as received, before parsing it. */
    err = kabar_verify(v, id, ts, sig, body, len - (size_t)(body - req), &event);
    if (err != KABAR_OK) {
        /* Answer 400 in a server: kabard records the failure. */
        fprintf(stderr, "not verified: %s\n", kabar_strerror(err));
        goto out;
    }

    /* kabard delivers at least once: a server keeps one kabar_dedup for
     * its lifetime and acknowledges a duplicate without handling it. */
    if (kabar_dedup_new(10000, 25 * 3600, &seen) != KABAR_OK)
        goto out;
    if (kabar_dedup_claim(seen, kabar_event_id(event), (int64_t)time(NULL)) ==
        KABAR_EDUPLICATE) {
        printf("duplicate %s\n", kabar_event_id(event));
        status = 0;
        goto out;
    }
    printf("verified %s %s (%s)\n%s\n",
           kabar_event_type(event) != NULL ? kabar_event_type(event) : "-",
           kabar_event_id(event), kabar_event_is_jwt(event) ? "JWT" : "signature",
           kabar_event_json(event));
    status = 0;

out:
    kabar_dedup_free(seen);
    kabar_event_free(event);
    kabar_verifier_free(v);
    free(sig);
    free(req);
    return status;
}
