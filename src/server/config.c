/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - flags and environment for kabard (see config.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "server/config.h"
#include "store/store_retention.h"

static void config_usage(FILE *f)
{
    fputs("usage: kabard [options]\n"
          "\n"
          "  --listen HOST:PORT         address to serve on (KABAR_LISTEN, default 127.0.0.1:8080)\n"
          "  --data-dir DIR             data directory (KABAR_DATA_DIR, default ./data)\n"
          "  --database URL             store: sqlite:PATH or postgres://... (KABAR_DATABASE_URL,\n"
          "                             default sqlite:DATA_DIR/kabar.db)\n"
          "  --public-url URL           URL clients reach kabard at (KABAR_PUBLIC_URL,\n"
          "                             default http://LISTEN)\n"
          "  --allow-private-targets    allow http:// and private/loopback webhook targets\n"
          "                             (KABAR_ALLOW_PRIVATE_TARGETS=1; local development only)\n"
          "  --threads N                HTTP worker threads (KABAR_THREADS, default 4)\n"
          "  --max-connections N        connections at once; past it a JSON 503\n"
          "                             (KABAR_MAX_CONNECTIONS, default 1000)\n"
          "  --max-connections-per-address N\n"
          "                             connections at once from one client address\n"
          "                             (KABAR_MAX_CONNECTIONS_PER_ADDRESS, default 250)\n"
          "  --request-timeout SECONDS  a connection must send a whole request (headers and\n"
          "                             body) within this of being ready for one, else it\n"
          "                             is closed; also the keep-alive idle time\n"
          "                             (KABAR_REQUEST_TIMEOUT, default 10; decimals allowed)\n"
          "  --log-level LEVEL          debug, info, warn, error (KABAR_LOG_LEVEL, default info)\n"
          "  --log-format FORMAT        logfmt or json: one JSON object per line, same fields\n"
          "                             (KABAR_LOG_FORMAT, default logfmt)\n"
          "  --role ROLE                all, api (HTTP API only) or worker (delivery only;\n"
          "                             HTTP for /healthz and /metrics) (KABAR_ROLE,\n"
          "                             default all)\n"
          "  -h, --help                 this text\n"
          "  --version                  print the version\n"
          "\n"
          "environment only:\n"
          "  KABAR_API_KEY              API key of the project \"default\"\n"
          "  KABAR_API_KEYS             project:key,project:key,... for several projects\n"
          "  KABAR_ADMIN_KEY            the operator's key, the only one for server-wide actions\n"
          "                             (rotating the signing key); unset: keys of the\n"
          "                             project \"default\" are the operator's\n"
          "  KABAR_MASTER_KEY           base64 of 32 bytes that encrypt secrets at rest\n"
          "                             (default: generated into DATA_DIR/master.key)\n"
          "  KABAR_RETRY_SCHEDULE       retry delays in seconds (default\n"
          "                             0,5,30,120,600,1800,3600,7200,14400,28800)\n"
          "  KABAR_RETRY_WINDOW_S       how long an event is retried (default 86400)\n"
          "  KABAR_DISABLE_AFTER_S      failing this long without a success disables a\n"
          "                             webhook (default 86400)\n"
          "  KABAR_CONNECT_TIMEOUT_MS   connect timeout of an attempt (default 5000)\n"
          "  KABAR_TIMEOUT_MS           whole-attempt timeout (default 15000)\n"
          "  KABAR_MAX_IN_FLIGHT        attempts at once (default 512)\n"
          "  KABAR_MAX_PER_ENDPOINT     attempts at once per target URI (default 64)\n"
          "  KABAR_JWT_AUDIENCES        project:audience,... - the aud of a project's dynamic\n"
          "                             webhook JWTs (default: the target URI)\n"
          "  KABAR_EXECUTOR             who runs operations: sim or external (default sim)\n"
          "  KABAR_SIM_DELAY_MS         how long a simulated operation runs (default 2000)\n"
          "  KABAR_BATCH_EXPIRY_S       a batch not finished by then expires (default 86400)\n"
          "  KABAR_RETENTION_DAYS       events, deliveries, attempts and finished operations\n"
          "                             older than this are pruned (default 30; 0: never)\n"
          "  KABAR_RETENTION_S          the same window in seconds (wins when set)\n"
          "  KABAR_PRUNE_INTERVAL_MS    between pruning passes (default 60000)\n"
          "  KABAR_PRUNE_BATCH          rows per pruning transaction (default 500, max 1000)\n"
          "  KABAR_PRUNE_PAUSE_MS       least pause between pruning batches (default 10;\n"
          "                             at least 4x the batch's own time)\n",
          f);
}

static bool config_truthy(const char *s)
{
    return s && (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0);
}

static int config_copy(char *dst, size_t cap, const char *src, const char *what,
                       char *err, size_t errlen)
{
    if (strlen(src) >= cap) {
        snprintf(err, errlen, "%s is too long", what);
        return -1;
    }
    strcpy(dst, src);
    return 0;
}

int config_parse_listen(const char *s, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
            goto bad;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
        goto bad;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", s, gai_strerror(rc));
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "listen address must be HOST:PORT, [IPv6]:PORT or :PORT, not \"%s\"", s);
    return -1;
}

static int config_log_level(const char *s, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

static const char *const config_role_names[] = {
#define X(name, str) str,
    CONFIG_ROLE_MAP(X)
#undef X
};

const char *config_role_name(enum config_role role)
{
    return (size_t)role < sizeof config_role_names / sizeof config_role_names[0]
               ? config_role_names[role] : "unknown";
}

static int config_role(const char *s, enum config_role *out)
{
    for (size_t i = 0; i < sizeof config_role_names / sizeof config_role_names[0]; i++) {
        if (strcasecmp(s, config_role_names[i]) == 0) {
            *out = (enum config_role)i;
            return 0;
        }
    }
    return -1;
}

static const char *config_env(const char *name)
{
    const char *v = getenv(name);

    return v && v[0] ? v : NULL;
}

/* An integer environment variable in [min, max], or def when unset.
 * Returns 0, or -1 with a message in err. */
static int config_env_int(const char *name, long long def, long long min, long long max,
                          long long *out, char *err, size_t errlen)
{
    const char *v = config_env(name);
    char *end;
    long long n;

    *out = def;
    if (v == NULL)
        return 0;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max) {
        snprintf(err, errlen, "%s must be an integer from %lld to %lld", name, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

/* KABAR_JWT_AUDIENCES: "project:audience,project:audience". An audience
 * may contain ':' (it is often a URL) but not ','. Returns 0, or -1 with a
 * message in err. */
static int config_audiences(const char *spec, struct dispatch_config *dc, char *err,
                            size_t errlen)
{
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *colon = memchr(p, ':', len);
        struct dispatch_audience *a;
        size_t plen, alen;

        if (len == 0) {
            p++;
            continue;
        }
        if (colon == NULL || colon == p || colon + 1 == p + len) {
            snprintf(err, errlen, "KABAR_JWT_AUDIENCES entries must be project:audience");
            return -1;
        }
        plen = (size_t)(colon - p);
        alen = len - plen - 1;
        if (dc->naudiences == DISPATCH_AUDIENCES_MAX || plen >= sizeof(a->project) ||
            alen >= sizeof(a->aud)) {
            snprintf(err, errlen, "KABAR_JWT_AUDIENCES: at most %d entries, projects of at most "
                     "%d and audiences of at most %zu characters", DISPATCH_AUDIENCES_MAX,
                     WEBHOOK_PROJECT_MAX, sizeof(a->aud) - 1);
            return -1;
        }
        a = &dc->audiences[dc->naudiences++];
        memcpy(a->project, p, plen);
        a->project[plen] = '\0';
        memcpy(a->aud, colon + 1, alen);
        a->aud[alen] = '\0';
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int config_delivery(struct dispatch_config *dc, char *err, size_t errlen)
{
    const char *schedule = config_env("KABAR_RETRY_SCHEDULE");
    long long v;

    dispatch_config_default(dc);
    if (schedule && retry_policy_parse(schedule, &dc->retry, err, errlen) != 0)
        return -1;
    if (config_env("KABAR_JWT_AUDIENCES") &&
        config_audiences(config_env("KABAR_JWT_AUDIENCES"), dc, err, errlen) != 0)
        return -1;
    if (config_env_int("KABAR_RETRY_WINDOW_S", 86400, 1, 30LL * 86400, &v, err, errlen) != 0)
        return -1;
    dc->retry.window_us = v * 1000000;
    if (config_env_int("KABAR_DISABLE_AFTER_S", 86400, 1, 365LL * 86400, &v, err, errlen) != 0)
        return -1;
    dc->disable_after_us = v * 1000000;
    if (config_env_int("KABAR_CONNECT_TIMEOUT_MS", dc->connect_timeout_ms, 1, 600000, &v,
                       err, errlen) != 0)
        return -1;
    dc->connect_timeout_ms = (long)v;
    if (config_env_int("KABAR_TIMEOUT_MS", dc->timeout_ms, 1, 3600000, &v, err, errlen) != 0)
        return -1;
    dc->timeout_ms = (long)v;
    if (config_env_int("KABAR_MAX_IN_FLIGHT", (long long)dc->max_in_flight, 1, 65536, &v,
                       err, errlen) != 0)
        return -1;
    dc->max_in_flight = (size_t)v;
    if (config_env_int("KABAR_MAX_PER_ENDPOINT", (long long)dc->max_per_target, 1, 65536, &v,
                       err, errlen) != 0)
        return -1;
    dc->max_per_target = (size_t)v;
    return 0;
}

/* Retention: KABAR_RETENTION_DAYS (0 keeps everything), or, to the
 * second, KABAR_RETENTION_S (which wins; tests and short-lived setups), and
 * the pruning job's pace. Returns 0, or -1 with a message in err. */
static int config_retention(struct config *cfg, char *err, size_t errlen)
{
    struct retention_config *rc = &cfg->retention;
    long long v;

    memset(rc, 0, sizeof *rc);
    rc->data_dir = cfg->data_dir;
    if (config_env_int("KABAR_RETENTION_DAYS", RETENTION_DEFAULT_DAYS, 0, 36500, &v,
                       err, errlen) != 0)
        return -1;
    rc->window_us = v * 86400 * 1000000;
    if (config_env("KABAR_RETENTION_S")) {
        if (config_env_int("KABAR_RETENTION_S", 0, 0, 36500LL * 86400, &v, err, errlen) != 0)
            return -1;
        rc->window_us = v * 1000000;
    }
    if (config_env_int("KABAR_PRUNE_INTERVAL_MS", RETENTION_DEFAULT_INTERVAL_S * 1000, 10,
                       86400000, &v, err, errlen) != 0)
        return -1;
    rc->interval_us = v * 1000;
    if (config_env_int("KABAR_PRUNE_BATCH", RETENTION_DEFAULT_BATCH, 1, STORE_PRUNE_BATCH_MAX,
                       &v, err, errlen) != 0)
        return -1;
    rc->batch = (size_t)v;
    if (config_env_int("KABAR_PRUNE_PAUSE_MS", RETENTION_DEFAULT_PAUSE_MS, 0, 60000, &v,
                       err, errlen) != 0)
        return -1;
    rc->pause_us = v * 1000;
    return 0;
}

/* The operations engine's settings; data_dir and public_url point into
 * cfg. Returns 0, or -1 with a message in err. */
static int config_ops(struct config *cfg, char *err, size_t errlen)
{
    const char *executor = config_env("KABAR_EXECUTOR");
    long long v;

    cfg->ops.executor = ops_executor_lookup(executor ? executor : "sim");
    if (!cfg->ops.executor) {
        snprintf(err, errlen, "KABAR_EXECUTOR must be sim or external");
        return -1;
    }
    if (config_env_int("KABAR_SIM_DELAY_MS", OPS_DEFAULT_SIM_DELAY_MS, 0, 86400000LL, &v, err,
                       errlen) != 0)
        return -1;
    cfg->ops.sim_delay_us = v * 1000;
    if (config_env_int("KABAR_BATCH_EXPIRY_S", OPS_DEFAULT_BATCH_EXPIRY_S, 1, 365LL * 86400, &v,
                       err, errlen) != 0)
        return -1;
    cfg->ops.batch_expiry_us = v * 1000000;
    cfg->ops.data_dir = cfg->data_dir;
    cfg->ops.public_url = cfg->public_url;
    return 0;
}

/* The connection guard's limits (http.h). */
static int config_connections(struct config *cfg, const char *max_conns, const char *per_addr,
                              const char *timeout, char *err, size_t errlen)
{
    char *end;

    cfg->max_connections = 1000;
    cfg->max_per_address = 250;
    cfg->request_timeout_ms = 10000;
    if (max_conns) {
        long n = strtol(max_conns, &end, 10);
        if (*max_conns == '\0' || *end != '\0' || n < 1 || n > 100000) {
            snprintf(err, errlen, "--max-connections must be from 1 to 100000");
            return -1;
        }
        cfg->max_connections = (unsigned)n;
    }
    if (per_addr) {
        long n = strtol(per_addr, &end, 10);
        if (*per_addr == '\0' || *end != '\0' || n < 1 || n > 100000) {
            snprintf(err, errlen, "--max-connections-per-address must be from 1 to 100000");
            return -1;
        }
        cfg->max_per_address = (unsigned)n;
    }
    if (timeout) {
        double s = strtod(timeout, &end);
        if (*timeout == '\0' || *end != '\0' || !(s >= 0.1 && s <= 3600)) {
            snprintf(err, errlen, "--request-timeout must be from 0.1 to 3600 seconds");
            return -1;
        }
        cfg->request_timeout_ms = (unsigned)(s * 1000 + 0.5);
    }
    return 0;
}

enum config_result config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    enum { OPT_LISTEN = 256, OPT_DATA_DIR, OPT_DATABASE, OPT_PUBLIC_URL, OPT_ALLOW_PRIVATE,
           OPT_THREADS, OPT_LOG_LEVEL, OPT_VERSION, OPT_ROLE, OPT_LOG_FORMAT,
           OPT_MAX_CONNS, OPT_MAX_PER_ADDR, OPT_REQUEST_TIMEOUT };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"database", required_argument, NULL, OPT_DATABASE},
        {"public-url", required_argument, NULL, OPT_PUBLIC_URL},
        {"allow-private-targets", no_argument, NULL, OPT_ALLOW_PRIVATE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
        {"max-connections-per-address", required_argument, NULL, OPT_MAX_PER_ADDR},
        {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"role", required_argument, NULL, OPT_ROLE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *listen = config_env("KABAR_LISTEN");
    const char *data_dir = config_env("KABAR_DATA_DIR");
    const char *database = config_env("KABAR_DATABASE_URL");
    const char *public_url = config_env("KABAR_PUBLIC_URL");
    const char *threads = config_env("KABAR_THREADS");
    const char *max_conns = config_env("KABAR_MAX_CONNECTIONS");
    const char *max_per_addr = config_env("KABAR_MAX_CONNECTIONS_PER_ADDRESS");
    const char *request_timeout = config_env("KABAR_REQUEST_TIMEOUT");
    const char *level = config_env("KABAR_LOG_LEVEL");
    const char *format = config_env("KABAR_LOG_FORMAT");
    const char *role = config_env("KABAR_ROLE");
    int c;

    memset(cfg, 0, sizeof(*cfg));
    cfg->allow_private = config_truthy(getenv("KABAR_ALLOW_PRIVATE_TARGETS"));
    cfg->api_key = config_env("KABAR_API_KEY");
    cfg->api_keys = config_env("KABAR_API_KEYS");
    cfg->admin_key = config_env("KABAR_ADMIN_KEY");
    if (cfg->admin_key && strlen(cfg->admin_key) < 16) {
        snprintf(err, errlen, "KABAR_ADMIN_KEY must be at least 16 characters");
        return CONFIG_ERROR;
    }
    cfg->master_key = config_env("KABAR_MASTER_KEY");

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN: listen = optarg; break;
        case OPT_DATA_DIR: data_dir = optarg; break;
        case OPT_DATABASE: database = optarg; break;
        case OPT_PUBLIC_URL: public_url = optarg; break;
        case OPT_ALLOW_PRIVATE: cfg->allow_private = true; break;
        case OPT_THREADS: threads = optarg; break;
        case OPT_MAX_CONNS: max_conns = optarg; break;
        case OPT_MAX_PER_ADDR: max_per_addr = optarg; break;
        case OPT_REQUEST_TIMEOUT: request_timeout = optarg; break;
        case OPT_LOG_LEVEL: level = optarg; break;
        case OPT_LOG_FORMAT: format = optarg; break;
        case OPT_ROLE: role = optarg; break;
        case 'h':
            config_usage(stdout);
            return CONFIG_EXIT;
        case OPT_VERSION:
            printf("kabard %s\n", KABAR_VERSION);
            return CONFIG_EXIT;
        default:
            snprintf(err, errlen, "unknown option (see kabard --help)");
            return CONFIG_ERROR;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument \"%s\" (see kabard --help)", argv[optind]);
        return CONFIG_ERROR;
    }

    if (config_copy(cfg->listen, sizeof(cfg->listen), listen ? listen : "127.0.0.1:8080",
                    "--listen", err, errlen) != 0 ||
        config_parse_listen(cfg->listen, &cfg->addr, err, errlen) != 0 ||
        config_copy(cfg->data_dir, sizeof(cfg->data_dir), data_dir ? data_dir : "./data",
                    "--data-dir", err, errlen) != 0)
        return CONFIG_ERROR;

    if (database) {
        if (config_copy(cfg->database, sizeof(cfg->database), database, "--database",
                        err, errlen) != 0)
            return CONFIG_ERROR;
    } else {
        snprintf(cfg->database, sizeof(cfg->database), "sqlite:%s/kabar.db", cfg->data_dir);
    }

    if (public_url) {
        if (config_copy(cfg->public_url, sizeof(cfg->public_url), public_url, "--public-url",
                        err, errlen) != 0)
            return CONFIG_ERROR;
    } else {
        snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s", cfg->listen);
    }

    /* A request waiting for its commit holds no thread (http.c suspends its
     * connection), so a few threads serve every connection; more would only
     * add context switches. */
    cfg->threads = 4;
    if (threads) {
        char *end;
        long n = strtol(threads, &end, 10);
        if (*end != '\0' || n < 1 || n > 256) {
            snprintf(err, errlen, "--threads must be from 1 to 256");
            return CONFIG_ERROR;
        }
        cfg->threads = (unsigned)n;
    }
    if (config_connections(cfg, max_conns, max_per_addr, request_timeout, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_ops(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_delivery(&cfg->delivery, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_retention(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    cfg->delivery.allow_private = cfg->allow_private;
    {
        char host[64] = "localhost";
        gethostname(host, sizeof(host) - 1);
        char cwd[PATH_MAX] = "", path[2 * PATH_MAX];
        unsigned char digest[32];
        unsigned int dlen = sizeof(digest);

        /* A node is a host and a data directory: a process restarted on
         * the same data directory (whatever its port) is the same node and
         * takes back what its previous run leased. The directory is hashed
         * to keep lease owners short. */
        if (cfg->data_dir[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
            cwd[0] = '\0';
        snprintf(path, sizeof(path), "%s/%s", cwd, cfg->data_dir);
        EVP_Digest(path, strlen(path), digest, &dlen, EVP_sha256(), NULL);
        snprintf(cfg->delivery.node, sizeof(cfg->delivery.node),
                 "%.40s:%02x%02x%02x%02x%02x%02x", host, digest[0], digest[1], digest[2],
                 digest[3], digest[4], digest[5]);
        if (strncmp(cfg->database, "postgres", 8) == 0)
            snprintf(cfg->delivery.release_prefix, sizeof(cfg->delivery.release_prefix), "%s/",
                     cfg->delivery.node);
        snprintf(cfg->delivery.issuer, sizeof(cfg->delivery.issuer), "%s", cfg->public_url);
    }
    if (role && config_role(role, &cfg->role) != 0) {
        snprintf(err, errlen, "--role must be all, api or worker");
        return CONFIG_ERROR;
    }
    cfg->log_level = LOG_INFO;
    if (level && config_log_level(level, &cfg->log_level) != 0) {
        snprintf(err, errlen, "--log-level must be debug, info, warn or error");
        return CONFIG_ERROR;
    }
    cfg->log_format = LOG_FORMAT_LOGFMT;
    if (format && log_format_parse(format, &cfg->log_format) != 0) {
        snprintf(err, errlen, "--log-format must be logfmt or json");
        return CONFIG_ERROR;
    }
    return CONFIG_OK;
}
