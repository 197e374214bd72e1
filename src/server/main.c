/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - kabard: read the configuration, bind the listening socket, open
 * the store, load the keys, serve HTTP until SIGTERM or SIGINT, then shut
 * down in reverse order.
 *
 * The socket is bound first: a start that cannot listen (the port is taken)
 * must fail before it creates anything - the data directory, the database,
 * the master key, an API key and its one-time banner, a signing key - so
 * that the next start, the one that works, is the first start.
 *
 * Signals are blocked before any thread starts and taken with sigwait() on
 * the main thread, so no handler ever runs inside a worker.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/api.h"
#include "api/api_ui.h"
#include "api/http.h"
#include "common/log.h"
#include "common/secretbox.h"
#include "deliver/dispatch.h"
#include "deliver/publish.h"
#include "server/apikeys.h"
#include "server/config.h"
#include "server/masterkey.h"
#include "server/retention.h"
#include "sign/keyring.h"
#include "store/store.h"

static int main_make_data_dir(const char *dir, char *err, size_t errlen)
{
    struct stat sb;

    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen, "%s is not a directory", dir);
            return -1;
        }
        return 0;
    }
    if (mkdir(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void main_wake_dispatch(void *arg)
{
    dispatch_wake(arg);
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct api_ctx ctx;
    struct api_ui_brand brand;
    struct store *st = NULL;
    struct secretbox *box = NULL;
    struct http_server *srv = NULL;
    struct dispatch *disp = NULL;
    struct keyring *kr = NULL;
    struct publish *pub = NULL;
    struct ops_engine *ops = NULL;
    struct retention *ret = NULL;
    char err[512];
    sigset_t sigs;
    int sig = 0, rc = 1, fd = -1;

    /* Everything kabard creates (the database and its -wal and -shm, the
     * keys, operation files) is the owner's alone, whatever the data
     * directory's mode. */
    umask(077);
    switch (config_load(&cfg, argc, argv, err, sizeof(err))) {
    case CONFIG_EXIT:
        return 0;
    case CONFIG_ERROR:
        fprintf(stderr, "kabard: %s\n", err);
        return 2;
    case CONFIG_OK:
        break;
    }
    log_set_level(cfg.log_level);
    log_set_format(cfg.log_format);
    memset(&ctx, 0, sizeof(ctx));
    if (api_ui_brand_load(&brand, err, sizeof(err)) != 0) {
        fprintf(stderr, "kabard: %s\n", err);
        return 2;
    }

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    if ((fd = http_listen((const struct sockaddr *)&cfg.addr, err, sizeof(err))) < 0)
        goto fail;
    if (main_make_data_dir(cfg.data_dir, err, sizeof(err)) != 0)
        goto fail;
    if (store_open(cfg.database, &st, err, sizeof(err)) != STORE_OK)
        goto fail;
    box = masterkey_load(cfg.master_key, cfg.data_dir, st, err, sizeof(err));
    if (box == NULL)
        goto fail_store;
    if (apikeys_provision(st, cfg.api_key, cfg.api_keys, cfg.data_dir, err, sizeof(err)) != 0)
        goto fail_box;
    kr = keyring_open(st, box, err, sizeof(err));
    if (kr == NULL)
        goto fail_box;

    /* --role api delivers nothing: the worker processes on the same
     * database do, woken by the store (store_listen). */
    if (cfg.role != CONFIG_ROLE_API) {
        cfg.delivery.keyring = kr;
        disp = dispatch_start(st, box, &cfg.delivery, err, sizeof(err));
        if (disp == NULL)
            goto fail_box;
        if (store_listen(st, main_wake_dispatch, disp) != STORE_OK) {
            snprintf(err, sizeof(err), "cannot start listening for other processes' work");
            goto fail_dispatch;
        }
    }
    pub = publish_start(st, disp ? main_wake_dispatch : NULL, disp);
    if (pub == NULL) {
        snprintf(err, sizeof(err), "cannot start the event writer");
        goto fail_dispatch;
    }
    if (disp)
        publish_fast(pub, disp);
    ops = ops_engine_start(st, disp, &cfg.ops, err, sizeof(err));
    if (ops == NULL)
        goto fail_publish;
    /* Pruning runs where deliveries run (an api-only process leaves it to
     * the workers); with PostgreSQL several workers prune side by side. */
    if (cfg.role != CONFIG_ROLE_API) {
        ret = retention_start(st, &cfg.retention, err, sizeof(err));
        if (ret == NULL && err[0] != '\0')
            goto fail_ops;
    }

    ctx.store = st;
    ctx.box = box;
    ctx.allow_private = cfg.allow_private;
    ctx.publish = pub;
    ctx.dispatch = disp;
    ctx.keyring = kr;
    ctx.ops = ops;
    ctx.health_only = cfg.role == CONFIG_ROLE_WORKER;
    ctx.public_url = cfg.public_url;
    ctx.brand = &brand;
    ctx.admin_key = cfg.admin_key;
    srv = http_start(&ctx, fd, cfg.threads,
                     &(struct http_limits){.max_connections = cfg.max_connections,
                                           .max_per_address = cfg.max_per_address,
                                           .request_timeout_ms = cfg.request_timeout_ms},
                     err, sizeof(err));
    fd = -1;                            /* the server's now */
    if (srv == NULL)
        goto fail_ops;
    log_info("kabard started", "version=%s listen=%s public_url=%s data_dir=\"%s\" "
             "allow_private_targets=%d threads=%u max_connections=%u "
             "max_connections_per_address=%u request_timeout_ms=%u role=%s store=%s",
             KABAR_VERSION, cfg.listen, cfg.public_url, cfg.data_dir, cfg.allow_private,
             cfg.threads, cfg.max_connections, cfg.max_per_address, cfg.request_timeout_ms,
             config_role_name(cfg.role), store_backend_name(st));

    while (sigwait(&sigs, &sig) != 0)
        ;
    log_info("shutting down", "signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* Reverse order: no new requests, then commit what they queued, then
     * let the deliveries in flight finish and record them. */
    http_stop(srv);
    rc = 0;
fail_ops:
    retention_stop(ret);                /* NULL when not started */
    ops_engine_stop(ops);               /* its transitions wake the dispatcher */
fail_publish:
    publish_stop(pub);
fail_dispatch:
    store_listen(st, NULL, NULL);       /* no wake-up may reach disp once freed */
    dispatch_stop(disp);
fail_box:
    keyring_close(kr);                  /* NULL when not opened */
    secretbox_free(box);
fail_store:
    store_close(st);
fail:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        fprintf(stderr, "kabard: %s\n", err);
    curl_global_cleanup();
    api_ui_brand_free(&brand);
    if (rc == 0)
        log_info("stopped", NULL);
    return rc;
}
