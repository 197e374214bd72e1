/* SPDX-License-Identifier: Apache-2.0 */
/*
 * webhook.c - webhook states and the validation rules for webhook fields.
 *
 * URLs are parsed with libcurl's URL API, the same parser that will later
 * deliver to them, so that what we accept here is exactly what the delivery
 * engine will connect to. Whether the target host is public is decided at
 * delivery time, after name resolution; here only the shape of the URL is
 * checked.
 */
#include "core/webhook.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* The limits are plain integer literals, so messages can quote them. */
#define WEBHOOK_STR_(x) #x
#define WEBHOOK_STR(x) WEBHOOK_STR_(x)

static const char *const webhook_state_names[WEBHOOK_STATE_COUNT] = {
#define X(name, str) [WEBHOOK_STATE_##name] = str,
    WEBHOOK_STATE_MAP(X)
#undef X
};

const char *webhook_state_name(enum webhook_state state)
{
    if ((unsigned)state >= WEBHOOK_STATE_COUNT)
        return NULL;
    return webhook_state_names[state];
}

int webhook_state_lookup(const char *name)
{
    if (name == NULL)
        return -1;
    /* The names are ASCII, so strcasecmp's locale handling cannot matter. */
    for (int i = 0; i < WEBHOOK_STATE_COUNT; i++) {
        if (strcasecmp(webhook_state_names[i], name) == 0)
            return i;
    }
    return -1;
}

/* Write msg into err (if given) and return -1, for one-line failure exits. */
static int webhook_fail(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

/*
 * Length of the UTF-8 sequence at s (of at most n bytes), or 0 when it is
 * not well-formed: overlong forms, UTF-16 surrogates and code points past
 * U+10FFFF are all refused, per RFC 3629.
 */
static size_t webhook_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;     /* allowed range of byte 2 */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;                      /* overlong */
        else if (c == 0xed)
            hi = 0x9f;                      /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;                      /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;                      /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

int webhook_validate_name(const char *name, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len;

    if (name == NULL)
        return webhook_fail(err, errlen, "name is required");
    len = strlen(name);
    if (len > WEBHOOK_NAME_MAX)
        return webhook_fail(err, errlen,
                            "name must be at most " WEBHOOK_STR(WEBHOOK_NAME_MAX) " bytes");
    for (size_t i = 0; i < len;) {
        size_t n;

        if (s[i] < 0x20)
            return webhook_fail(err, errlen, "name must not contain control characters");
        n = webhook_utf8_len(s + i, len - i);
        if (n == 0)
            return webhook_fail(err, errlen, "name must be valid UTF-8");
        i += n;
    }
    return 0;
}

int webhook_validate_tenant(const char *tenant, char *err, size_t errlen)
{
    size_t len = tenant ? strlen(tenant) : 0;

    if (len == 0 || len > WEBHOOK_TENANT_MAX)
        return webhook_fail(err, errlen, "tenant must be 1 to "
                            WEBHOOK_STR(WEBHOOK_TENANT_MAX) " characters");
    for (size_t i = 0; i < len; i++) {
        char ch = tenant[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return webhook_fail(err, errlen,
                                "tenant may hold only letters, digits and . _ : -");
    }
    return 0;
}

/* True when part of h is present; with nonempty, only when it has text. */
static bool webhook_url_has(CURLU *h, CURLUPart part, bool nonempty)
{
    char *v = NULL;
    bool has = curl_url_get(h, part, &v, 0) == CURLUE_OK && v != NULL
               && (!nonempty || *v != '\0');

    curl_free(v);
    return has;
}

int webhook_validate_uri(const char *uri, bool allow_private, char *err, size_t errlen)
{
    /* The message names what this configuration accepts: with
     * --allow-private-targets, http:// is as good as https://. */
    const char *not_absolute = allow_private ? "uri must be an absolute http:// or https:// URL"
                                             : "uri must be an absolute https:// URL";
    CURLU *h = NULL;
    char *scheme = NULL;
    const char *msg = NULL;
    CURLUcode uc;

    if (uri == NULL || *uri == '\0')
        return webhook_fail(err, errlen, "uri is required");
    if (strlen(uri) > WEBHOOK_URI_MAX)
        return webhook_fail(err, errlen,
                            "uri must be at most " WEBHOOK_STR(WEBHOOK_URI_MAX) " bytes");

    h = curl_url();
    if (h == NULL)
        return webhook_fail(err, errlen, "out of memory");
    /* No CURLU_DEFAULT_SCHEME: a missing scheme is an error, not https.
     * CURLU_NON_SUPPORT_SCHEME lets "gopher://x" parse, so that it gets the
     * scheme message below rather than a generic one. */
    uc = curl_url_set(h, CURLUPART_URL, uri, CURLU_NON_SUPPORT_SCHEME);
    if (uc == CURLUE_NO_HOST) {
        msg = "uri must have a host";
        goto done;
    }
    if (uc != CURLUE_OK) {
        msg = not_absolute;
        goto done;
    }

    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || scheme == NULL) {
        msg = not_absolute;
        goto done;
    }
    /* curl lowercases the scheme, so "HTTPS://" is accepted like "https://". */
    if (strcmp(scheme, "https") != 0) {
        if (strcmp(scheme, "http") != 0)
            msg = not_absolute;
        else if (!allow_private)
            msg = "uri must use https (http is allowed only with --allow-private-targets)";
        if (msg != NULL)
            goto done;
    }
    /* curl, like browsers, repairs "https:/x" and "https:///x" into
     * "https://x/". We store the text as given, so it must already be in
     * the plain "scheme://host" form that it will be read back as. */
    if (strncasecmp(uri, scheme, strlen(scheme)) != 0
        || strncmp(uri + strlen(scheme), "://", 3) != 0) {
        msg = not_absolute;
        goto done;
    }
    if (uri[strlen(scheme) + 3] == '/' || !webhook_url_has(h, CURLUPART_HOST, true)) {
        msg = "uri must have a host";
        goto done;
    }
    /* Even an empty "user@" counts: credentials belong in headers. */
    if (webhook_url_has(h, CURLUPART_USER, false)
        || webhook_url_has(h, CURLUPART_PASSWORD, false)) {
        msg = "uri must not contain credentials";
        goto done;
    }
    /* A fragment is never sent to the server, so accepting one would only
     * mislead the user about what is called. Checked on the raw text too,
     * because curl drops an empty trailing '#'. */
    if (webhook_url_has(h, CURLUPART_FRAGMENT, false) || strchr(uri, '#') != NULL) {
        msg = "uri must not contain a fragment";
        goto done;
    }

done:
    curl_free(scheme);
    curl_url_cleanup(h);
    return msg != NULL ? webhook_fail(err, errlen, msg) : 0;
}
