/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_error.c - kabar_strerror() and kabar_err_name(), generated from
 * the one KABAR_ERRNO_MAP in kabar.h so that a new code cannot be added
 * without its sentence.
 */
#include "kabar/kabar.h"

const char *kabar_strerror(kabar_err err)
{
    switch (err) {
#define KABAR_ERR_STR_(code, value, msg) case KABAR_##code: return msg;
    KABAR_ERRNO_MAP(KABAR_ERR_STR_)
#undef KABAR_ERR_STR_
    default:
        return "unknown error";
    }
}

const char *kabar_err_name(kabar_err err)
{
    switch (err) {
#define KABAR_ERR_NAME_(code, value, msg) case KABAR_##code: return "KABAR_" #code;
    KABAR_ERRNO_MAP(KABAR_ERR_NAME_)
#undef KABAR_ERR_NAME_
    default:
        return "KABAR_EUNKNOWN";
    }
}
