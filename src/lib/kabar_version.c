/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_version.c - the library's version, for programs that check at run
 * time which libkabar they were linked against.
 */
#include "kabar/kabar.h"

const char *kabar_version(void)
{
    return KABAR_VERSION_STRING;
}
