/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sign_cost.c - what one dynamic-webhook token costs: keyring_sign()
 * (claims, SHA-256 of the body, an RS256 signature through jose) next to a
 * bare RSA-2048 PKCS#1 v1.5 SHA-256 signature with OpenSSL, the floor, in
 * the same run. Prints both per call and their ratio.
 *
 *   cmake --build build --target bench_sign_cost
 *   build/bench_sign_cost [CALLS]          (1000 by default)
 *
 * The keyring runs on a throwaway SQLite database in a temporary directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/secretbox.h"
#include "sign/keyring.h"
#include "store/store.h"

static const char BODY[] =
    "{\"type\":\"batch.succeeded\",\"version\":\"v1\",\"timestamp\":\"2026-01-22T12:00:00Z\","
    "\"data\":{\"id\":\"batches/123\",\"n\":[1,2.5,null,true]},"
    "\"user_metadata\":{\"team\":\"a\"}}";

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Microseconds per bare RSA-2048 signature of BODY's SHA-256. */
static double openssl_cost(int n)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    unsigned char sig[512];
    double t0 = 0;

    if (key == NULL)
        return -1;
    for (int i = 0; i < n + 10; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t len = sizeof sig;

        if (i == 10)
            t0 = now_s();
        if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &len, (const unsigned char *)BODY, strlen(BODY)) != 1) {
            EVP_MD_CTX_free(ctx);
            EVP_PKEY_free(key);
            return -1;
        }
        EVP_MD_CTX_free(ctx);
    }
    t0 = (now_s() - t0) * 1e6 / n;
    EVP_PKEY_free(key);
    return t0;
}

/* Microseconds per keyring_sign. */
static double keyring_cost(struct keyring *kr, int n)
{
    double t0 = 0;

    for (int i = 0; i < n + 10; i++) {
        char *jws = NULL;

        if (i == 10)
            t0 = now_s();
        if (keyring_sign(kr, "https://kabar.example", "https://r.example/hook", "operations/1",
                         1769083200, "msg_1", (const uint8_t *)BODY, strlen(BODY), &jws) != 0)
            return -1;
        free(jws);
    }
    return (now_s() - t0) * 1e6 / n;
}

int main(int argc, char **argv)
{
    static const uint8_t key[SECRETBOX_KEY_LEN] = {1, 2, 3};
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    char dir[] = "/tmp/kabar-bench-XXXXXX", url[64], path[64], err[256] = "";
    struct store *st = NULL;
    struct secretbox *box = NULL;
    struct keyring *kr = NULL;
    double ks, os;
    int rc = 1;

    if (n <= 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "usage: bench_sign_cost [CALLS]\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/kabar.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    box = secretbox_new(key);
    if (box == NULL || store_open(url, &st, err, sizeof err) != STORE_OK ||
        (kr = keyring_open(st, box, err, sizeof err)) == NULL) {
        fprintf(stderr, "bench_sign_cost: %s\n", err[0] ? err : "cannot start");
        goto out;
    }
    ks = keyring_cost(kr, n);
    os = openssl_cost(n);
    if (ks < 0 || os < 0) {
        fprintf(stderr, "bench_sign_cost: signing failed\n");
        goto out;
    }
    printf("keyring_sign:           %8.1f us per call (%d calls)\n", ks, n);
    printf("RSA-2048 sign (OpenSSL): %7.1f us per call\n", os);
    printf("ratio:                  %8.2f\n", ks / os);
    rc = 0;
out:
    if (kr)
        keyring_close(kr);
    if (st)
        store_close(st);
    secretbox_free(box);
    for (int i = 0; i < 3; i++) {
        static const char *const files[] = {"kabar.db", "kabar.db-wal", "kabar.db-shm"};
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}
