/* SPDX-License-Identifier: Apache-2.0 */
/*
 * masterkey.c - load or create the master key and check it (masterkey.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/secretbox.h"
#include "server/masterkey.h"
#include "store/store.h"

#define MASTERKEY_CHECK_META "master_key_check"
#define MASTERKEY_CHECK_AAD "kabar master key check"
#define MASTERKEY_CHECK_TEXT "kabar"

/* Decode base64 text (surrounding whitespace allowed) into a 32-byte key. */
static int masterkey_decode(const char *text, uint8_t key[SECRETBOX_KEY_LEN])
{
    char buf[128];
    size_t len = strlen(text);
    int n;

    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
        len--;
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    n = b64_decode(buf, len, key, SECRETBOX_KEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return n == SECRETBOX_KEY_LEN ? 0 : -1;
}

static int masterkey_read_file(const char *path, uint8_t key[SECRETBOX_KEY_LEN],
                               char *err, size_t errlen)
{
    char text[128];
    ssize_t n;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;

    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
        log_warn("master key file is readable by others", "path=\"%s\" mode=%o",
                 path, (unsigned)(sb.st_mode & 0777));
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n > 0) {
        text[n] = '\0';
        rc = masterkey_decode(text, key);
    }
    if (rc != 0)
        snprintf(err, errlen, "%s does not hold a base64 32-byte key", path);
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

/* Create path with a new key: write a temporary file, fsync, rename. */
static int masterkey_create_file(const char *path, uint8_t key[SECRETBOX_KEY_LEN],
                                 char *err, size_t errlen)
{
    char tmp[4096];
    char text[B64_ENCODED_SIZE(SECRETBOX_KEY_LEN) + 1];
    int fd, n, rc = -1;

    if (RAND_bytes(key, SECRETBOX_KEY_LEN) != 1) {
        snprintf(err, errlen, "the system random source failed");
        return -1;
    }
    n = b64_encode(key, SECRETBOX_KEY_LEN, text, sizeof(text) - 1);
    if (n < 0 || (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "data directory path is too long");
        goto wipe;
    }
    text[n++] = '\n';
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto wipe;
    }
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto wipe;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto wipe;
    }
    log_info("generated master key", "path=\"%s\"", path);
    rc = 0;
wipe:
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

/* Compare the key with the store's check value, or record one. */
static int masterkey_check(struct secretbox *box, struct store *st, char *err, size_t errlen)
{
    char val[STORE_META_MAX];
    uint8_t blob[64], pt[16];
    enum store_rc rc = store_meta_get(st, MASTERKEY_CHECK_META, val, sizeof(val));
    int n;

    if (rc == STORE_NOT_FOUND) {
        n = secretbox_seal(box, MASTERKEY_CHECK_AAD, (const uint8_t *)MASTERKEY_CHECK_TEXT,
                           strlen(MASTERKEY_CHECK_TEXT), blob, sizeof(blob));
        if (n < 0 || b64_encode(blob, (size_t)n, val, sizeof(val)) < 0 ||
            store_meta_put(st, MASTERKEY_CHECK_META, val) != STORE_OK) {
            snprintf(err, errlen, "cannot record the master key check value");
            return -1;
        }
        return 0;
    }
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot read the master key check value: %s", store_strerror(rc));
        return -1;
    }
    n = b64_decode(val, strlen(val), blob, sizeof(blob));
    if (n < 0 || secretbox_open(box, MASTERKEY_CHECK_AAD, blob, (size_t)n, pt, sizeof(pt)) < 0) {
        snprintf(err, errlen, "the master key is not the one this database was created with "
                              "(check KABAR_MASTER_KEY or DATA_DIR/master.key)");
        return -1;
    }
    return 0;
}

struct secretbox *masterkey_load(const char *env_key, const char *data_dir, struct store *st,
                                 char *err, size_t errlen)
{
    uint8_t key[SECRETBOX_KEY_LEN];
    char path[4096];
    struct secretbox *box = NULL;

    if (env_key) {
        if (masterkey_decode(env_key, key) != 0) {
            snprintf(err, errlen, "KABAR_MASTER_KEY must be the base64 of 32 bytes");
            goto out;
        }
    } else {
        if ((size_t)snprintf(path, sizeof(path), "%s/master.key", data_dir) >= sizeof(path)) {
            snprintf(err, errlen, "data directory path is too long");
            goto out;
        }
        if (access(path, F_OK) == 0) {
            if (masterkey_read_file(path, key, err, errlen) != 0)
                goto out;
        } else if (masterkey_create_file(path, key, err, errlen) != 0) {
            goto out;
        }
    }
    box = secretbox_new(key);
    if (box == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (masterkey_check(box, st, err, errlen) != 0) {
        secretbox_free(box);
        box = NULL;
    }
out:
    OPENSSL_cleanse(key, sizeof(key));
    return box;
}
