/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - kabard's configuration: command-line flags over environment
 * variables over defaults. The README's configuration table documents each
 * entry of config_usage().
 */
#ifndef KABAR_CONFIG_H
#define KABAR_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/log.h"
#include "deliver/dispatch.h"
#include "server/retention.h"
#include "ops/ops_engine.h"

#define CONFIG_URL_MAX 1024

/* What this process does (--role): with several processes on one
 * PostgreSQL database, the HTTP API and delivery scale separately. */
#define CONFIG_ROLE_MAP(X)                                                  \
    X(ALL, "all")           /* the API and delivery (the default) */        \
    X(API, "api")           /* the API; no delivery thread */               \
    X(WORKER, "worker")     /* delivery; HTTP only for /healthz, /metrics */

enum config_role {
#define X(name, str) CONFIG_ROLE_##name,
    CONFIG_ROLE_MAP(X)
#undef X
};

const char *config_role_name(enum config_role role);

struct config {
    char listen[256];                   /* host:port as given */
    struct sockaddr_storage addr;       /* resolved from listen */
    char data_dir[PATH_MAX];
    char public_url[CONFIG_URL_MAX];
    char database[PATH_MAX + 16];       /* store URL */
    bool allow_private;
    unsigned threads;
    unsigned max_connections;           /* --max-connections */
    unsigned max_per_address;           /* --max-connections-per-address */
    unsigned request_timeout_ms;        /* --request-timeout, in ms */
    enum log_level log_level;
    enum log_format log_format;
    const char *api_key;                /* KABAR_API_KEY, from the environment */
    const char *api_keys;               /* KABAR_API_KEYS */
    const char *admin_key;              /* KABAR_ADMIN_KEY */
    const char *master_key;             /* KABAR_MASTER_KEY */
    struct dispatch_config delivery;    /* KABAR_RETRY_SCHEDULE, KABAR_TIMEOUT_MS, ... */
    struct ops_config ops;              /* KABAR_EXECUTOR, KABAR_SIM_DELAY_MS, ... */
    struct retention_config retention;  /* KABAR_RETENTION_DAYS, KABAR_PRUNE_* */
    enum config_role role;              /* --role, KABAR_ROLE */
};

enum config_result { CONFIG_OK, CONFIG_EXIT, CONFIG_ERROR };

/* Fill cfg from argv and the environment. CONFIG_EXIT: --help or --version
 * was answered. CONFIG_ERROR: err says what is wrong. */
enum config_result config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Parse "host:port", "[v6]:port" or ":port" into addr. Returns 0 or -1. */
int config_parse_listen(const char *s, struct sockaddr_storage *addr, char *err, size_t errlen);

#endif
