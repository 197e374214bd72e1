/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_ui.h - the web UI: its files (compiled in by cmake/embed_ui.cmake)
 * and its brand (title, accent colour, logo; set by the operator).
 */
#ifndef KABAR_API_UI_H
#define KABAR_API_UI_H

#include <stddef.h>
#include <stdint.h>

#define API_UI_TITLE_MAX 128
#define API_UI_LOGO_MAX (256 * 1024)

struct api_ui_asset {
    const char *name;
    const char *type;               /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/* The generated table (api_ui_assets.c in the build tree). */
extern const struct api_ui_asset api_ui_assets[];
extern const size_t api_ui_assets_count;
extern const char api_ui_assets_hash[];

struct api_ui_brand {
    char title[API_UI_TITLE_MAX + 1];
    char accent[8];                 /* "#rrggbb" */
    uint8_t *logo;                  /* NULL: kabar's own mark */
    size_t logo_len;
    const char *logo_type;
};

/* Fill b from KABAR_UI_TITLE, KABAR_UI_ACCENT (#rrggbb) and KABAR_UI_LOGO (a
 * path to an SVG, PNG or JPEG file of at most API_UI_LOGO_MAX bytes), or the
 * defaults. Returns 0, or -1 with a message in err. */
int api_ui_brand_load(struct api_ui_brand *b, char *err, size_t errlen);
void api_ui_brand_free(struct api_ui_brand *b);

#endif
