/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_client.c - the kabar tool's HTTP JSON client for the kabard API.
 *
 * A blocking libcurl easy handle: the tool makes one request at a time, so
 * the multi interface the delivery engine uses would only add code. The
 * handle is reset before each request but kept, so that its connection
 * cache carries over between the pages of "webhooks list --all".
 *
 * The API key travels in the x-goog-api-key header, never in the URL (URLs
 * end up in proxy and server logs). The header list is wiped before it is
 * freed, since curl_slist_append() made copies of the key.
 */
#include "cli/cli_client.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "cli/cli_config.h"
#include "cli/cli_print.h"
#include "common/capbuf.h"

#define CLI_CLIENT_CONNECT_TIMEOUT 10L     /* seconds */
#define CLI_CLIENT_TIMEOUT 60L             /* seconds, whole request */
#define CLI_CLIENT_URL_MAX 8192

struct cli_client {
    CURL *curl;
    const char *server;
    size_t server_len;                  /* without trailing slashes */
    const char *api_key;
    char errbuf[CURL_ERROR_SIZE];
};

/* The response body as it arrives, capped at CLI_CLIENT_MAX_BODY. */
struct cli_client_buf {
    struct capbuf body;
    bool too_big;
};

const char *
cli_client_strerror(enum cli_client_rc rc)
{
    switch (rc) {
#define X(name, str) case CLI_CLIENT_##name: return str;
    CLI_CLIENT_ERRORS(X)
#undef X
    }
    return "unknown error";
}

struct cli_client *
cli_client_new(const char *server, const char *api_key)
{
    struct cli_client *c;

    assert(server != NULL && api_key != NULL);
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        return NULL;
    }
    c->server = server;
    c->server_len = strlen(server);
    while (c->server_len > 0 && server[c->server_len - 1] == '/')
        c->server_len--;
    c->api_key = api_key;
    return c;
}

void
cli_client_free(struct cli_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

const char *
cli_client_detail(const struct cli_client *c)
{
    return c->errbuf;
}

char *
cli_client_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s), i, j = 0;
    char *out;

    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    if ((out = malloc(len * 3 + 1)) == NULL)
        return NULL;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        /* RFC 3986 unreserved characters stay; everything else, "/" "?"
         * "#" "%" ":" included, is encoded. */
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
            ch == '_' || ch == '~') {
            out[j++] = (char)ch;
        } else {
            out[j++] = '%';
            out[j++] = hex[ch >> 4];
            out[j++] = hex[ch & 0x0f];
        }
    }
    out[j] = '\0';
    return out;
}

/* libcurl's write callback. Returning less than n makes libcurl stop the
 * transfer with CURLE_WRITE_ERROR, which is how the cap is enforced. */
static size_t
cli_client_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct cli_client_buf *buf = userdata;
    size_t n = size * nmemb;

    enum capbuf_rc rc = capbuf_add(&buf->body, ptr, n);

    if (rc == CAPBUF_TOO_BIG)
        buf->too_big = true;
    return rc == CAPBUF_OK ? n : 0;
}

/* Wipe and free a header list that holds the API key. */
static void
cli_client_free_headers(struct curl_slist *headers)
{
    struct curl_slist *h;

    for (h = headers; h != NULL; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(headers);
}

/* Build the header list. Returns NULL when out of memory. */
static struct curl_slist *
cli_client_headers(const struct cli_client *c, bool has_body,
                   const char *extra)
{
    struct curl_slist *headers = NULL, *next;
    char line[sizeof("x-goog-api-key: ") + CLI_API_KEY_MAX];
    int n;

    n = snprintf(line, sizeof(line), "x-goog-api-key: %s", c->api_key);
    if (n < 0 || (size_t)n >= sizeof(line))
        goto fail;
    next = curl_slist_append(headers, line);
    OPENSSL_cleanse(line, sizeof(line));
    if (next == NULL)
        goto fail;
    headers = next;
    if ((next = curl_slist_append(headers, "Accept: application/json")) == NULL)
        goto fail;
    headers = next;
    if (has_body) {
        if ((next = curl_slist_append(headers,
                                      "Content-Type: application/json")) == NULL)
            goto fail;
        headers = next;
        /* Bodies are small; a 100-continue round trip would only add a
         * delay before each create or update. */
        if ((next = curl_slist_append(headers, "Expect:")) == NULL)
            goto fail;
        headers = next;
    }
    if (extra != NULL) {
        if ((next = curl_slist_append(headers, extra)) == NULL)
            goto fail;
        headers = next;
    }
    return headers;

fail:
    OPENSSL_cleanse(line, sizeof(line));
    cli_client_free_headers(headers);
    return NULL;
}

/* Set the options of one request on the (freshly reset) handle. */
static CURLcode
cli_client_setup(struct cli_client *c, const char *method, const char *url,
                 const char *body, struct curl_slist *headers,
                 struct cli_client_buf *buf)
{
    CURLcode rc = CURLE_OK;
    CURL *h = c->curl;

#define SET(opt, val) \
    do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
    SET(CURLOPT_URL, url);
    /* The server URL is the user's, but nothing but HTTP(S) makes sense. */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    /* Never follow redirects: libcurl would resend x-goog-api-key to
     * whatever host the Location names. */
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, CLI_CLIENT_CONNECT_TIMEOUT);
    SET(CURLOPT_TIMEOUT, CLI_CLIENT_TIMEOUT);
    SET(CURLOPT_USERAGENT, "kabar/" KABAR_VERSION);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_CLIENT_MAX_BODY);
    SET(CURLOPT_WRITEFUNCTION, cli_client_write);
    SET(CURLOPT_WRITEDATA, buf);
    if (body != NULL) {
        SET(CURLOPT_POSTFIELDS, body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    /* Without a body a request has no Content-Length, which HTTP/1.1
     * reads as an empty body whatever the method. */
    if (strcmp(method, "GET") == 0)
        SET(CURLOPT_HTTPGET, 1L);
    else
        SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
    return rc;
}

enum cli_client_rc
cli_client_request(struct cli_client *c, const char *method, const char *path,
                   const json_t *body, struct cli_response *resp)
{
    return cli_client_request_header(c, method, path, body, NULL, resp);
}

enum cli_client_rc
cli_client_request_header(struct cli_client *c, const char *method,
                          const char *path, const json_t *body,
                          const char *header, struct cli_response *resp)
{
    struct cli_client_buf buf = {.too_big = false};
    struct curl_slist *headers = NULL;
    enum cli_client_rc rc = CLI_CLIENT_NOMEM;
    char *body_text = NULL;
    char url[CLI_CLIENT_URL_MAX];
    CURLcode cc;
    int n;

    assert(c != NULL && method != NULL && path != NULL && path[0] == '/');
    capbuf_init(&buf.body, CLI_CLIENT_MAX_BODY);
    memset(resp, 0, sizeof(*resp));
    c->errbuf[0] = '\0';
    curl_easy_reset(c->curl);

    n = snprintf(url, sizeof(url), "%.*s%s", (int)c->server_len, c->server,
                 path);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        snprintf(c->errbuf, sizeof(c->errbuf), "URL longer than %d bytes",
                 CLI_CLIENT_URL_MAX - 1);
        rc = CLI_CLIENT_TRANSPORT;
        goto out;
    }
    if (body != NULL &&
        (body_text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    if ((headers = cli_client_headers(c, body_text != NULL, header)) == NULL)
        goto out;
    if (cli_client_setup(c, method, url, body_text, headers, &buf) != CURLE_OK)
        goto out;

    cc = curl_easy_perform(c->curl);
    if (buf.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = CLI_CLIENT_TOOBIG;
        goto out;
    }
    if (cc != CURLE_OK) {
        if (c->errbuf[0] == '\0')
            snprintf(c->errbuf, sizeof(c->errbuf), "%s",
                     curl_easy_strerror(cc));
        rc = cc == CURLE_WRITE_ERROR || cc == CURLE_OUT_OF_MEMORY
                 ? CLI_CLIENT_NOMEM : CLI_CLIENT_TRANSPORT;
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->empty = capbuf_len(&buf.body) == 0;
    if (!resp->empty)
        resp->json = json_loadb(capbuf_str(&buf.body), capbuf_len(&buf.body), 0, NULL);
    rc = CLI_CLIENT_OK;

out:
    /* The handle keeps a pointer to the header list; drop it before the
     * list goes away so nothing can reach freed memory. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    cli_client_free_headers(headers);
    free(body_text);
    capbuf_free(&buf.body);
    return rc;
}

/* Decide the server URL and the API key (cli_config.h) and make
 * ctx->client. Returns 0, or an exit code after printing why. */
static int
cli_connect(struct cli_ctx *ctx)
{
    int rc;

    if (ctx->client != NULL)
        return 0;
    if ((rc = cli_config_server(ctx)) != 0)
        return rc;
    if ((rc = cli_config_api_key(ctx)) != 0)
        return rc;
    /* libcurl's global state is made in main(); this only adds a handle. */
    ctx->client = cli_client_new(ctx->server, ctx->api_key);
    if (ctx->client == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* Print the "kabar: STATUS: message" line of a non-2xx answer. The status
 * and message come from Google's error object when there is one; a proxy
 * or another program answering at the address sends none. */
static void
cli_call_print_error(const struct cli_response *resp)
{
    json_t *err = json_object_get(resp->json, "error");
    const char *status = json_string_value(json_object_get(err, "status"));
    const char *message = json_string_value(json_object_get(err, "message"));

    fputs("kabar: ", stderr);
    if (status != NULL && status[0] != '\0')
        cli_print_safe(status, stderr);
    else
        fprintf(stderr, "%ld", resp->status);
    fputs(": ", stderr);
    if (message != NULL && message[0] != '\0')
        cli_print_safe(message, stderr);
    else
        fprintf(stderr, "server answered HTTP %ld", resp->status);
    fputc('\n', stderr);
}

int
cli_call(struct cli_ctx *ctx, const char *method, const char *path,
         const json_t *body, json_t **out)
{
    return cli_call_header(ctx, method, path, body, NULL, out);
}

int
cli_call_header(struct cli_ctx *ctx, const char *method, const char *path,
                const json_t *body, const char *header, json_t **out)
{
    struct cli_response resp;
    enum cli_client_rc rc;
    int rc_exit;

    assert(out != NULL);
    *out = NULL;
    /* The server and the key are only looked for now, so that a usage
     * error in a command is reported as such even without a key. */
    if (ctx->client == NULL && (rc_exit = cli_connect(ctx)) != 0)
        return rc_exit;
    rc = cli_client_request_header(ctx->client, method, path, body, header,
                                   &resp);
    switch (rc) {
    case CLI_CLIENT_OK:
        break;
    case CLI_CLIENT_TRANSPORT:
        fprintf(stderr, "kabar: cannot reach %s: %s\n", ctx->server,
                cli_client_detail(ctx->client));
        fprintf(stderr, "Is kabard running there? Start it with 'make run' in the source "
                "tree, or 'kabard --listen HOST:PORT'; point kabar at another server with "
                "--server URL or KABAR_SERVER.\n");
        return CLI_EXIT_FAIL;
    case CLI_CLIENT_TOOBIG:
        fprintf(stderr, "kabar: response from %s is larger than %u MiB\n",
                ctx->server, CLI_CLIENT_MAX_BODY / (1024 * 1024));
        return CLI_EXIT_FAIL;
    case CLI_CLIENT_NOMEM:
        fprintf(stderr, "kabar: %s\n", cli_client_strerror(rc));
        return CLI_EXIT_FAIL;
    }

    if (resp.status < 200 || resp.status > 299) {
        if (ctx->json && resp.json != NULL)
            cli_print_json(resp.json);
        cli_call_print_error(&resp);
        json_decref(resp.json);
        return CLI_EXIT_FAIL;
    }
    if (resp.empty) {
        /* A 204 or an empty 200 means "nothing to say", as {} does. */
        *out = json_object();
        if (*out == NULL) {
            fprintf(stderr, "kabar: out of memory\n");
            return CLI_EXIT_FAIL;
        }
        return CLI_EXIT_OK;
    }
    if (!json_is_object(resp.json)) {
        fprintf(stderr, "kabar: %s answered HTTP %ld with a body that is not "
                "a JSON object\n", ctx->server, resp.status);
        json_decref(resp.json);
        return CLI_EXIT_FAIL;
    }
    *out = resp.json;
    return CLI_EXIT_OK;
}
