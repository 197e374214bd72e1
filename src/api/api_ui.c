/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_ui.c - serving the web UI:
 *
 *   GET /, /portal              the page (index.html; revalidated each time)
 *   GET /assets/HASH/NAME       its scripts and styles, cached for a year:
 *                               HASH changes whenever any of them does
 *   GET /ui/config              the brand: {"title", "accent", "logo"}
 *   GET /ui/logo                the operator's logo, when one is set
 *
 * The page holds no inline script or style, so the Content-Security-Policy
 * every answer carries (http.c) can forbid both.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ui.h"

#define API_UI_DEFAULT_TITLE "kabar"
#define API_UI_DEFAULT_ACCENT "#2f6fde"

static const struct api_ui_asset *api_ui_find(const char *name)
{
    for (size_t i = 0; i < api_ui_assets_count; i++)
        if (strcmp(api_ui_assets[i].name, name) == 0)
            return &api_ui_assets[i];
    return NULL;
}

/* Answer with a copy of asset a. */
static void api_ui_send(struct api_response *resp, const struct api_ui_asset *a,
                        const char *cache)
{
    resp->body = malloc(a->len + 1);
    if (resp->body == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return;
    }
    memcpy(resp->body, a->data, a->len);
    resp->body[a->len] = '\0';
    resp->body_len = a->len;
    resp->status = 200;
    resp->content_type = a->type;
    resp->cache_control = cache;
}

void api_ui_index(const struct api_ctx *ctx, struct api_request *req,
                  struct api_response *resp)
{
    const struct api_ui_asset *a = api_ui_find("index.html");

    if (a == NULL) {
        api_error(resp, API_NOT_FOUND, "this kabard was built without its web UI");
        return;
    }
    api_ui_send(resp, a, "no-cache");
}

void api_ui_asset(const struct api_ctx *ctx, struct api_request *req,
                  struct api_response *resp)
{
    const struct api_ui_asset *a = NULL;

    if (req->nparams == 2 && strcmp(req->params[0], api_ui_assets_hash) == 0 &&
        strcmp(req->params[1], "index.html") != 0)
        a = api_ui_find(req->params[1]);
    if (a == NULL) {
        /* An old page asking for the assets of a previous build. */
        api_error(resp, API_NOT_FOUND, "no such asset; reload the page");
        return;
    }
    api_ui_send(resp, a, "public, max-age=31536000, immutable");
}

void api_ui_config(const struct api_ctx *ctx, struct api_request *req,
                   struct api_response *resp)
{
    const struct api_ui_brand *b = ctx->brand;

    api_reply(resp, json_pack("{s:s, s:s, s:b}", "title", b ? b->title : API_UI_DEFAULT_TITLE,
                              "accent", b ? b->accent : API_UI_DEFAULT_ACCENT,
                              "logo", b && b->logo != NULL));
    resp->cache_control = "no-cache";
}

void api_ui_logo(const struct api_ctx *ctx, struct api_request *req,
                 struct api_response *resp)
{
    const struct api_ui_brand *b = ctx->brand;
    struct api_ui_asset a;

    if (b == NULL || b->logo == NULL) {
        api_error(resp, API_NOT_FOUND, "no logo is configured");
        return;
    }
    a = (struct api_ui_asset){"logo", b->logo_type, b->logo, b->logo_len};
    api_ui_send(resp, &a, "no-cache");
}

static int api_ui_fail(char *err, size_t errlen, const char *msg, const char *what)
{
    snprintf(err, errlen, "%s: %s", msg, what);
    return -1;
}

int api_ui_brand_load(struct api_ui_brand *b, char *err, size_t errlen)
{
    const char *title = getenv("KABAR_UI_TITLE");
    const char *accent = getenv("KABAR_UI_ACCENT");
    const char *logo = getenv("KABAR_UI_LOGO");
    const char *ext;
    FILE *f;
    long len;

    memset(b, 0, sizeof *b);
    if (title && title[0]) {
        json_t *utf8 = json_string(title);     /* NULL unless valid UTF-8 */
        bool ok = utf8 != NULL && strlen(title) <= API_UI_TITLE_MAX;

        json_decref(utf8);
        if (!ok)
            return api_ui_fail(err, errlen, "KABAR_UI_TITLE must be at most 128 bytes of UTF-8",
                               "");
        strcpy(b->title, title);
    } else {
        strcpy(b->title, API_UI_DEFAULT_TITLE);
    }
    strcpy(b->accent, API_UI_DEFAULT_ACCENT);
    if (accent && accent[0]) {
        if (strlen(accent) != 7 || accent[0] != '#' || strspn(accent + 1, "0123456789abcdefABCDEF") != 6)
            return api_ui_fail(err, errlen, "KABAR_UI_ACCENT must be a colour #rrggbb", accent);
        strcpy(b->accent, accent);
    }
    if (logo == NULL || logo[0] == '\0')
        return 0;
    ext = strrchr(logo, '.');
    if (ext && strcasecmp(ext, ".svg") == 0)
        b->logo_type = "image/svg+xml";
    else if (ext && strcasecmp(ext, ".png") == 0)
        b->logo_type = "image/png";
    else if (ext && (strcasecmp(ext, ".jpg") == 0 || strcasecmp(ext, ".jpeg") == 0))
        b->logo_type = "image/jpeg";
    else
        return api_ui_fail(err, errlen, "KABAR_UI_LOGO must be an .svg, .png or .jpg file", logo);
    f = fopen(logo, "rb");
    if (f == NULL)
        return api_ui_fail(err, errlen, "cannot open KABAR_UI_LOGO", strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || len > API_UI_LOGO_MAX ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return api_ui_fail(err, errlen, "KABAR_UI_LOGO must be a file of 1 byte to 256 KiB",
                           logo);
    }
    b->logo = malloc((size_t)len);
    if (b->logo == NULL || fread(b->logo, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        api_ui_brand_free(b);
        return api_ui_fail(err, errlen, "cannot read KABAR_UI_LOGO", logo);
    }
    fclose(f);
    b->logo_len = (size_t)len;
    return 0;
}

void api_ui_brand_free(struct api_ui_brand *b)
{
    free(b->logo);
    b->logo = NULL;
    b->logo_len = 0;
}
