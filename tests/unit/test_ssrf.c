/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ssrf.c - address classification for the SSRF guard: a table of
 * addresses in every class, with the edges of each block (the last address
 * before it, its first and last, the first after it) and the IPv6 forms
 * that carry an IPv4 address. Every mismatch is printed before the test
 * fails, so one run shows them all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "deliver/ssrf.h"

struct ssrf_case {
    const char *addr;
    enum ssrf_class cls;
};

static const struct ssrf_case v4_cases[] = {
    /* unspecified, 0/8 */
    {"0.0.0.0", SSRF_UNSPECIFIED},
    {"0.255.255.255", SSRF_UNSPECIFIED},
    {"1.0.0.0", SSRF_PUBLIC},
    /* loopback, 127/8 */
    {"126.255.255.255", SSRF_PUBLIC},
    {"127.0.0.1", SSRF_LOOPBACK},
    {"127.255.255.254", SSRF_LOOPBACK},
    {"128.0.0.0", SSRF_PUBLIC},
    /* private */
    {"9.255.255.255", SSRF_PUBLIC},
    {"10.0.0.0", SSRF_PRIVATE},
    {"10.255.255.255", SSRF_PRIVATE},
    {"11.0.0.0", SSRF_PUBLIC},
    {"172.15.255.255", SSRF_PUBLIC},
    {"172.16.0.0", SSRF_PRIVATE},
    {"172.31.255.255", SSRF_PRIVATE},
    {"172.32.0.0", SSRF_PUBLIC},
    {"192.167.255.255", SSRF_PUBLIC},
    {"192.168.0.0", SSRF_PRIVATE},
    {"192.168.255.255", SSRF_PRIVATE},
    {"192.169.0.0", SSRF_PUBLIC},
    /* link-local and metadata */
    {"169.253.255.255", SSRF_PUBLIC},
    {"169.254.0.0", SSRF_LINK_LOCAL},
    {"169.254.169.253", SSRF_LINK_LOCAL},
    {"169.254.169.254", SSRF_METADATA},
    {"169.254.169.255", SSRF_LINK_LOCAL},
    {"169.254.255.255", SSRF_LINK_LOCAL},
    {"169.255.0.0", SSRF_PUBLIC},
    /* shared address space and Alibaba's metadata inside it */
    {"100.63.255.255", SSRF_PUBLIC},
    {"100.64.0.0", SSRF_CGNAT},
    {"100.100.100.199", SSRF_CGNAT},
    {"100.100.100.200", SSRF_METADATA},
    {"100.127.255.255", SSRF_CGNAT},
    {"100.128.0.0", SSRF_PUBLIC},
    /* multicast and 240/4 */
    {"223.255.255.255", SSRF_PUBLIC},
    {"224.0.0.0", SSRF_MULTICAST},
    {"239.255.255.250", SSRF_MULTICAST},
    {"240.0.0.0", SSRF_RESERVED},
    {"254.255.255.255", SSRF_RESERVED},
    {"255.255.255.255", SSRF_RESERVED},
    /* special-purpose blocks */
    {"191.255.255.255", SSRF_PUBLIC},
    {"192.0.0.0", SSRF_RESERVED},
    {"192.0.0.170", SSRF_RESERVED},
    {"192.0.1.0", SSRF_PUBLIC},
    {"192.0.2.1", SSRF_RESERVED},
    {"192.0.3.0", SSRF_PUBLIC},
    {"192.88.98.255", SSRF_PUBLIC},
    {"192.88.99.1", SSRF_RESERVED},
    {"198.17.255.255", SSRF_PUBLIC},
    {"198.18.0.0", SSRF_RESERVED},
    {"198.19.255.255", SSRF_RESERVED},
    {"198.20.0.0", SSRF_PUBLIC},
    {"198.51.100.7", SSRF_RESERVED},
    {"203.0.113.255", SSRF_RESERVED},
    {"203.0.114.0", SSRF_PUBLIC},
    /* public */
    {"8.8.8.8", SSRF_PUBLIC},
    {"1.1.1.1", SSRF_PUBLIC},
    {"93.184.216.34", SSRF_PUBLIC},
};

static const struct ssrf_case v6_cases[] = {
    {"::", SSRF_UNSPECIFIED},
    {"::1", SSRF_LOOPBACK},
    /* IPv4-mapped */
    {"::ffff:127.0.0.1", SSRF_LOOPBACK},
    {"::ffff:10.0.0.1", SSRF_PRIVATE},
    {"::ffff:169.254.169.254", SSRF_METADATA},
    {"::ffff:0.0.0.0", SSRF_UNSPECIFIED},
    {"::ffff:8.8.8.8", SSRF_PUBLIC},
    /* IPv4-compatible */
    {"::127.0.0.1", SSRF_LOOPBACK},
    {"::192.168.1.1", SSRF_PRIVATE},
    {"::0.0.0.2", SSRF_UNSPECIFIED},
    {"::8.8.8.8", SSRF_PUBLIC},
    /* NAT64 well-known prefix, and the local-use one that cannot be read */
    {"64:ff9b::7f00:1", SSRF_LOOPBACK},
    {"64:ff9b::a9fe:a9fe", SSRF_METADATA},
    {"64:ff9b::c0a8:101", SSRF_PRIVATE},
    {"64:ff9b::808:808", SSRF_PUBLIC},
    {"64:ff9b:1::a00:1", SSRF_RESERVED},
    /* 6to4 */
    {"2002:7f00:1::", SSRF_LOOPBACK},
    {"2002:a9fe:a9fe::1", SSRF_METADATA},
    {"2002:a00:1::", SSRF_PRIVATE},
    {"2002:808:808::1", SSRF_PUBLIC},
    /* unique local, AWS metadata inside it, site-local */
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", SSRF_PUBLIC},
    {"fc00::", SSRF_PRIVATE},
    {"fd12::1", SSRF_PRIVATE},
    {"fd00:ec2::254", SSRF_METADATA},
    {"fd00:ec2::253", SSRF_PRIVATE},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", SSRF_PRIVATE},
    {"fec0::1", SSRF_PRIVATE},
    {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", SSRF_PRIVATE},
    /* link-local */
    {"fe80::1", SSRF_LINK_LOCAL},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", SSRF_LINK_LOCAL},
    /* multicast */
    {"ff02::1", SSRF_MULTICAST},
    {"ff0e::101", SSRF_MULTICAST},
    /* documentation, benchmarking, discard */
    {"2001:db8::1", SSRF_RESERVED},
    {"2001:db9::1", SSRF_PUBLIC},
    {"3fff:fff::1", SSRF_RESERVED},
    {"3fff:1000::1", SSRF_PUBLIC},
    {"2001:2::1", SSRF_RESERVED},
    {"100::1", SSRF_RESERVED},
    {"100:0:0:1::1", SSRF_PUBLIC},
    /* public */
    {"2606:4700::1111", SSRF_PUBLIC},
    {"2001:4860:4860::8888", SSRF_PUBLIC},
    {"::2:0:0:1", SSRF_PUBLIC},
};

/* Build a sockaddr for text and classify it. */
static enum ssrf_class classify_text(int family, const char *text)
{
    struct sockaddr_storage ss;
    int rc;

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET)
        rc = inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
    else
        rc = inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    if (rc != 1)
        fail_msg("inet_pton could not read %s", text);
    return ssrf_classify((const struct sockaddr *)&ss);
}

static void run_table(int family, const struct ssrf_case *cases, size_t n)
{
    size_t bad = 0;

    for (size_t i = 0; i < n; i++) {
        enum ssrf_class got = classify_text(family, cases[i].addr);

        if (got != cases[i].cls) {
            print_error("%s: expected %s, got %s\n", cases[i].addr,
                        ssrf_class_name(cases[i].cls), ssrf_class_name(got));
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_ipv4_table(void **state)
{
    (void)state;
    run_table(AF_INET, v4_cases, sizeof(v4_cases) / sizeof(v4_cases[0]));
}

static void test_ipv6_table(void **state)
{
    (void)state;
    run_table(AF_INET6, v6_cases, sizeof(v6_cases) / sizeof(v6_cases[0]));
}

/* The brief asks for a wide table; keep it from shrinking unnoticed. */
static void test_table_size(void **state)
{
    (void)state;
    assert_true(sizeof(v4_cases) / sizeof(v4_cases[0]) + sizeof(v6_cases) / sizeof(v6_cases[0]) >=
                60);
}

/* Every class appears in the table. */
static void test_every_class_covered(void **state)
{
    int seen[SSRF_RESERVED + 1] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(v4_cases) / sizeof(v4_cases[0]); i++)
        seen[v4_cases[i].cls] = 1;
    for (size_t i = 0; i < sizeof(v6_cases) / sizeof(v6_cases[0]); i++)
        seen[v6_cases[i].cls] = 1;
    for (int c = 0; c <= SSRF_RESERVED; c++)
        assert_true(seen[c]);
}

static void test_other_families_reserved(void **state)
{
    struct sockaddr_un un;
    struct sockaddr_storage ss;

    (void)state;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/tmp/kabar.sock");
    assert_int_equal(ssrf_classify((const struct sockaddr *)&un), SSRF_RESERVED);
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNSPEC;
    assert_int_equal(ssrf_classify((const struct sockaddr *)&ss), SSRF_RESERVED);
    assert_int_equal(ssrf_classify(NULL), SSRF_RESERVED);
}

/* The port and the IPv6 scope do not matter, only the address. */
static void test_port_and_scope_ignored(void **state)
{
    struct sockaddr_in6 in6;
    struct sockaddr_in in;

    (void)state;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    in6.sin6_scope_id = 2;
    assert_int_equal(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
    assert_int_equal(ssrf_classify((const struct sockaddr *)&in6), SSRF_LINK_LOCAL);
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons(80);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &in.sin_addr), 1);
    assert_int_equal(ssrf_classify((const struct sockaddr *)&in), SSRF_LOOPBACK);
}

static void test_class_names(void **state)
{
    (void)state;
    assert_string_equal(ssrf_class_name(SSRF_PUBLIC), "public");
    assert_string_equal(ssrf_class_name(SSRF_LOOPBACK), "loopback");
    assert_string_equal(ssrf_class_name(SSRF_CGNAT), "shared address space");
    assert_string_equal(ssrf_class_name(SSRF_METADATA), "cloud metadata");
    assert_string_equal(ssrf_class_name(SSRF_RESERVED), "reserved");
    assert_string_equal(ssrf_class_name((enum ssrf_class)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_table),
        cmocka_unit_test(test_ipv6_table),
        cmocka_unit_test(test_table_size),
        cmocka_unit_test(test_every_class_covered),
        cmocka_unit_test(test_other_families_reserved),
        cmocka_unit_test(test_port_and_scope_ignored),
        cmocka_unit_test(test_class_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
