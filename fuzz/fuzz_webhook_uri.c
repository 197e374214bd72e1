/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_webhook_uri.c - libFuzzer target for webhook_validate_uri(), which
 * checks every target URL a client gives (webhooks, webhook_config.uris).
 *
 * The input's first byte chooses --allow-private-targets, the rest is the
 * URL. A refusal must come with a message; an accepted URL must be one
 * libcurl parses as http(s) with a host. Seeds are in
 * fuzz/corpus/fuzz_webhook_uri.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *uri, err[WEBHOOK_ERR_MAX];
    bool allow_private;

    if (size == 0)
        return 0;
    allow_private = data[0] & 1;
    uri = malloc(size);
    if (uri == NULL)
        abort();
    memcpy(uri, data + 1, size - 1);
    uri[size - 1] = '\0';
    err[0] = '\0';
    if (webhook_validate_uri(uri, allow_private, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort();
    } else {
        CURLU *h = curl_url();
        char *host = NULL;
        if (h == NULL)
            abort();
        if (curl_url_set(h, CURLUPART_URL, uri, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
            curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL ||
            host[0] == '\0')
            abort();
        curl_free(host);
        curl_url_cleanup(h);
    }
    free(uri);
    return 0;
}
