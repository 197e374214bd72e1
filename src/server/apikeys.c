/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apikeys.c - API keys from the configuration, or one generated on first
 * start (see apikeys.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/auth_key.h"
#include "common/log.h"
#include "server/apikeys.h"
#include "store/store.h"

#define APIKEYS_MAX 256

static int apikeys_valid_project(const char *p, size_t len)
{
    if (len == 0 || len > WEBHOOK_PROJECT_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static void apikeys_set(struct store_apikey *k, const char *project, size_t plen,
                        const char *key, size_t klen)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->project, project, plen);
    k->project[plen] = '\0';
    auth_key_hash(key, klen, k->hash);
    k->source = STORE_KEY_CONFIG;
    if (klen < 16)
        log_warn("short API key", "project=%s length=%zu hint=\"use 16 or more random characters\"",
                 k->project, klen);
}

int apikeys_parse(const char *spec, struct store_apikey *out, size_t cap, char *err, size_t errlen)
{
    size_t n = 0;

    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        size_t plen, klen;

        if (len == 0) {
            p++;
            continue;
        }
        if (colon == NULL) {
            snprintf(err, errlen, "KABAR_API_KEYS entries must be project:key");
            return -1;
        }
        plen = (size_t)(colon - p);
        klen = len - plen - 1;
        if (!apikeys_valid_project(p, plen)) {
            snprintf(err, errlen, "KABAR_API_KEYS: project names are 1-%d characters of "
                                  "letters, digits, '-', '_' and '.'", WEBHOOK_PROJECT_MAX);
            return -1;
        }
        if (klen == 0) {
            snprintf(err, errlen, "KABAR_API_KEYS: empty key for project %.*s", (int)plen, p);
            return -1;
        }
        if (n == cap) {
            snprintf(err, errlen, "KABAR_API_KEYS: more than %zu keys", cap);
            return -1;
        }
        apikeys_set(&out[n++], p, plen, colon + 1, klen);
        p += len;
        if (*p == ',')
            p++;
    }
    return (int)n;
}

/* Write key to DATA_DIR/api-key with mode 0600 (temporary file + rename). */
static int apikeys_write_file(const char *data_dir, const char *key, char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    size_t len = strlen(key);
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/api-key", data_dir) >= sizeof(path)) {
        snprintf(err, errlen, "data directory path is too long");
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write(fd, key, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0 ||
        close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int apikeys_generate(struct store *st, const char *data_dir, char *err, size_t errlen)
{
    char key[AUTH_KEY_MAX];
    struct store_apikey rec;
    enum store_rc rc;
    int ret = -1;

    if (auth_key_generate(key, sizeof(key)) != 0) {
        snprintf(err, errlen, "cannot generate an API key");
        return -1;
    }
    memset(&rec, 0, sizeof(rec));
    strcpy(rec.project, APIKEYS_DEFAULT_PROJECT);
    auth_key_hash(key, strlen(key), rec.hash);
    rec.source = STORE_KEY_GENERATED;
    /* The file first: a key in the store that nobody can read is useless. */
    if (apikeys_write_file(data_dir, key, err, errlen) != 0)
        goto out;
    rc = store_apikey_insert(st, &rec);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot store the API key: %s", store_strerror(rc));
        goto out;
    }
    /* Printed once, on stdout, for the person who just started kabard;
     * never logged. */
    printf("kabard: created an API key for project \"%s\" (also in %s/api-key):\n\n    %s\n\n",
           APIKEYS_DEFAULT_PROJECT, data_dir, key);
    fflush(stdout);
    ret = 0;
out:
    OPENSSL_cleanse(key, sizeof(key));
    return ret;
}

int apikeys_provision(struct store *st, const char *api_key, const char *api_keys,
                      const char *data_dir, char *err, size_t errlen)
{
    struct store_apikey *keys = calloc(APIKEYS_MAX, sizeof(*keys));
    size_t n = 0, generated = 0;
    enum store_rc rc;
    int ret = -1;

    if (keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (api_key) {
        apikeys_set(&keys[n++], APIKEYS_DEFAULT_PROJECT, strlen(APIKEYS_DEFAULT_PROJECT),
                    api_key, strlen(api_key));
    }
    if (api_keys) {
        int m = apikeys_parse(api_keys, keys + n, APIKEYS_MAX - n, err, errlen);
        if (m < 0)
            goto out;
        n += (size_t)m;
    }
    rc = store_apikeys_sync_config(st, keys, n);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot store API keys: %s", store_strerror(rc));
        goto out;
    }
    if (n == 0) {
        rc = store_apikey_count(st, STORE_KEY_GENERATED, &generated);
        if (rc != STORE_OK) {
            snprintf(err, errlen, "cannot read API keys: %s", store_strerror(rc));
            goto out;
        }
        if (generated == 0 && apikeys_generate(st, data_dir, err, errlen) != 0)
            goto out;
    }
    log_info("api keys ready", "configured=%zu", n);
    ret = 0;
out:
    OPENSSL_cleanse(keys, APIKEYS_MAX * sizeof(*keys));
    free(keys);
    return ret;
}
