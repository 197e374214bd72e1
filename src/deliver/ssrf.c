/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ssrf.c - classify the address a delivery is about to connect to.
 *
 * Each family has a table of prefixes, searched in order with the first
 * match winning, so a specific entry (a metadata address) is listed before
 * the block that contains it (link-local, CGNAT, ULA). IPv6 forms that
 * carry an IPv4 address - mapped, compatible, NAT64, 6to4 - are classified
 * as that IPv4 address: otherwise ::ffff:127.0.0.1 or 2002:7f00:1:: would
 * reach the loopback interface past a check that only looked at IPv6.
 */
#include "deliver/ssrf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

struct ssrf_prefix {
    uint8_t addr[16];
    unsigned bits;
    enum ssrf_class cls;
};

static const struct ssrf_prefix ssrf_v4[] = {
    {{0, 0, 0, 0}, 8, SSRF_UNSPECIFIED},
    {{127, 0, 0, 0}, 8, SSRF_LOOPBACK},
    {{10, 0, 0, 0}, 8, SSRF_PRIVATE},
    {{172, 16, 0, 0}, 12, SSRF_PRIVATE},
    {{192, 168, 0, 0}, 16, SSRF_PRIVATE},
    {{169, 254, 169, 254}, 32, SSRF_METADATA},      /* AWS, GCP, Azure, OCI, ... */
    {{169, 254, 0, 0}, 16, SSRF_LINK_LOCAL},
    {{100, 100, 100, 200}, 32, SSRF_METADATA},      /* Alibaba Cloud */
    {{100, 64, 0, 0}, 10, SSRF_CGNAT},
    {{224, 0, 0, 0}, 4, SSRF_MULTICAST},
    {{240, 0, 0, 0}, 4, SSRF_RESERVED},             /* and 255.255.255.255 */
    {{192, 0, 0, 0}, 24, SSRF_RESERVED},            /* IETF protocol assignments */
    {{192, 0, 2, 0}, 24, SSRF_RESERVED},            /* TEST-NET-1 */
    {{198, 18, 0, 0}, 15, SSRF_RESERVED},           /* benchmarking */
    {{198, 51, 100, 0}, 24, SSRF_RESERVED},         /* TEST-NET-2 */
    {{203, 0, 113, 0}, 24, SSRF_RESERVED},          /* TEST-NET-3 */
    {{192, 88, 99, 0}, 24, SSRF_RESERVED},          /* 6to4 relay anycast */
};

/* Only prefixes that carry no IPv4 address; those are handled first. */
static const struct ssrf_prefix ssrf_v6[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54}, 128, SSRF_METADATA}, /* AWS */
    {{0xfc}, 7, SSRF_PRIVATE},                      /* unique local */
    {{0xfe, 0x80}, 10, SSRF_LINK_LOCAL},
    {{0xfe, 0xc0}, 10, SSRF_PRIVATE},               /* site-local (deprecated) */
    {{0xff}, 8, SSRF_MULTICAST},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, SSRF_RESERVED},  /* documentation */
    {{0x3f, 0xff}, 20, SSRF_RESERVED},              /* documentation (RFC 9637) */
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, SSRF_RESERVED}, /* benchmarking */
    {{0x01, 0x00}, 64, SSRF_RESERVED},              /* discard-only */
    /* Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on
     * the operator's prefix length, so it cannot be checked; refuse it. */
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, SSRF_RESERVED},
};

/* Whether the first bits of addr equal those of prefix. */
static bool ssrf_match(const uint8_t *addr, const uint8_t *prefix, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(addr, prefix, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((addr[whole] ^ prefix[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static enum ssrf_class ssrf_lookup(const uint8_t *addr, const struct ssrf_prefix *table,
                                   size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ssrf_match(addr, table[i].addr, table[i].bits))
            return table[i].cls;
    return SSRF_PUBLIC;
}

static enum ssrf_class ssrf_classify_v4(const uint8_t *a)
{
    return ssrf_lookup(a, ssrf_v4, sizeof(ssrf_v4) / sizeof(ssrf_v4[0]));
}

static enum ssrf_class ssrf_classify_v6(const uint8_t *a)
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};

    if (memcmp(a, zero, 15) == 0 && a[15] <= 1)
        return a[15] == 0 ? SSRF_UNSPECIFIED : SSRF_LOOPBACK;
    /* ::a.b.c.d (compatible), ::ffff:a.b.c.d (mapped), 64:ff9b::a.b.c.d. */
    if (memcmp(a, zero, 12) == 0 || memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return ssrf_classify_v4(a + 12);
    /* 2002:AABB:CCDD::/48 is 6to4 for AA.BB.CC.DD. */
    if (a[0] == 0x20 && a[1] == 0x02)
        return ssrf_classify_v4(a + 2);
    return ssrf_lookup(a, ssrf_v6, sizeof(ssrf_v6) / sizeof(ssrf_v6[0]));
}

enum ssrf_class ssrf_classify(const struct sockaddr *sa)
{
    if (sa == NULL)
        return SSRF_RESERVED;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uint8_t a[4];

        memcpy(a, &in->sin_addr, sizeof(a));
        return ssrf_classify_v4(a);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uint8_t a[16];

        memcpy(a, &in6->sin6_addr, sizeof(a));
        return ssrf_classify_v6(a);
    }
    return SSRF_RESERVED;
}

const char *ssrf_class_name(enum ssrf_class c)
{
    static const char *const names[] = {
#define X(name, str) [SSRF_##name] = str,
        SSRF_CLASS_MAP(X)
#undef X
    };

    if ((unsigned)c >= sizeof(names) / sizeof(names[0]) || names[c] == NULL)
        return "unknown";
    return names[c];
}
