/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ssrf.c - libFuzzer target for ssrf_classify(), the check on every
 * address a delivery connects to.
 *
 * The input's first byte chooses the family (IPv4, IPv6, another), the
 * next 4 or 16 bytes are the address. Every class must have a name, and an
 * IPv6 address that carries an IPv4 one (mapped, compatible, NAT64, 6to4)
 * must be classified as that IPv4 address. Seeds are in fuzz/corpus/fuzz_ssrf.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "deliver/ssrf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum ssrf_class classify_v4(const uint8_t *a)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    memcpy(&sin.sin_addr, a, 4);
    return ssrf_classify((const struct sockaddr *)&sin);
}

/* What an IPv6 address that carries an IPv4 one must be classified as, or
 * the class it got when it carries none. */
static enum ssrf_class expect_v6(const uint8_t *a)
{
    static const uint8_t zero[12];
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    struct sockaddr_in6 sin6;

    /* ::a.b.c.d, except :: and ::1 themselves; ::ffff:a.b.c.d; 64:ff9b::/96. */
    if ((memcmp(a, zero, 12) == 0 && (a[12] | a[13] | a[14] | (a[15] & 0xfe)) != 0) ||
        memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return classify_v4(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02)       /* 6to4 */
        return classify_v4(a + 2);
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    memcpy(&sin6.sin6_addr, a, 16);
    return ssrf_classify((const struct sockaddr *)&sin6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in6 sin6;
    struct sockaddr_storage other;
    enum ssrf_class c;

    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        if (size < 5)
            return 0;
        c = classify_v4(data + 1);
        break;
    case 1:
        if (size < 17)
            return 0;
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        memcpy(&sin6.sin6_addr, data + 1, 16);
        c = ssrf_classify((const struct sockaddr *)&sin6);
        if (c != expect_v6(data + 1))
            abort();
        break;
    default:
        memset(&other, 0, sizeof(other));
        other.ss_family = AF_UNIX;
        c = ssrf_classify((const struct sockaddr *)&other);
        if (c != SSRF_RESERVED)
            abort();
        break;
    }
    if (ssrf_class_name(c) == NULL)
        abort();
    return 0;
}
