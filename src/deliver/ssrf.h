/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ssrf.h - which addresses a delivery may connect to.
 *
 * By default kabard delivers only to public unicast addresses. The check
 * runs on the address libcurl is about to connect to (its open-socket
 * callback), after resolution, so a name that resolves to a private address
 * - at creation time or, by DNS rebinding, later - never gets a connection.
 */
#ifndef KABAR_SSRF_H
#define KABAR_SSRF_H

#include <sys/socket.h>

#define SSRF_CLASS_MAP(X)                                       \
    X(PUBLIC, "public")                                         \
    X(UNSPECIFIED, "unspecified")     /* 0.0.0.0/8, :: */       \
    X(LOOPBACK, "loopback")           /* 127/8, ::1 */          \
    X(PRIVATE, "private")             /* 10/8, 172.16/12, 192.168/16, fc00::/7 */ \
    X(LINK_LOCAL, "link-local")       /* 169.254/16, fe80::/10 */ \
    X(CGNAT, "shared address space")  /* 100.64/10 */           \
    X(MULTICAST, "multicast")         /* 224/4, ff00::/8 */     \
    X(METADATA, "cloud metadata")     /* 169.254.169.254, fd00:ec2::254, 100.100.100.200 */ \
    X(RESERVED, "reserved")           /* 240/4, 255.255.255.255, 192.0.0/24, benchmarking, docs, 6to4 relays, 64:ff9b::/96 NAT64 of the above, ... */

enum ssrf_class {
#define X(name, str) SSRF_##name,
    SSRF_CLASS_MAP(X)
#undef X
};

/* Classify an AF_INET or AF_INET6 address. IPv4-mapped (::ffff:a.b.c.d)
 * and IPv4-compatible (::a.b.c.d) IPv6 addresses are classified as the IPv4
 * address they carry; other families are RESERVED. */
enum ssrf_class ssrf_classify(const struct sockaddr *sa);

const char *ssrf_class_name(enum ssrf_class c);

#endif
