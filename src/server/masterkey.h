/* SPDX-License-Identifier: Apache-2.0 */
/*
 * masterkey.h - the key that encrypts secrets at rest.
 *
 * From KABAR_MASTER_KEY (base64 of 32 bytes) when set, else from
 * DATA_DIR/master.key, which is generated (mode 0600, written to a temporary
 * file and renamed into place) on first start. The store keeps a check value
 * sealed under the key, so starting with the wrong key fails loudly instead
 * of failing every delivery later.
 */
#ifndef KABAR_MASTERKEY_H
#define KABAR_MASTERKEY_H

#include <stddef.h>

struct secretbox;
struct store;

/* Returns the box, or NULL with a message in err. */
struct secretbox *masterkey_load(const char *env_key, const char *data_dir, struct store *st,
                                 char *err, size_t errlen);

#endif
