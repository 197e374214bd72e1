/* SPDX-License-Identifier: Apache-2.0 */
/*
 * apikeys.h - API keys at start-up.
 *
 * Keys from the configuration (KABAR_API_KEY for project "default",
 * KABAR_API_KEYS "project:key,...") replace the configured keys of the
 * previous run. When none is configured and no key was ever generated,
 * kabard makes one for project "default", prints it once on stdout and
 * writes it to DATA_DIR/api-key (0600) for the kabar CLI. Generated keys stay
 * valid until the database is removed.
 */
#ifndef KABAR_APIKEYS_H
#define KABAR_APIKEYS_H

#include <stddef.h>

struct store;

#define APIKEYS_DEFAULT_PROJECT "default"

/* Returns 0, or -1 with a message in err (bad configuration, store error). */
int apikeys_provision(struct store *st, const char *api_key, const char *api_keys,
                      const char *data_dir, char *err, size_t errlen);

/* Parse "project:key,project:key" into at most cap entries of out (hashes
 * only). Returns the count, or -1 with a message in err. */
struct store_apikey;
int apikeys_parse(const char *spec, struct store_apikey *out, size_t cap, char *err, size_t errlen);

#endif
