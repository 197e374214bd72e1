/* SPDX-License-Identifier: Apache-2.0 */
/*
 * webhook.h - the Webhook resource and the rules for its fields.
 *
 * This is the in-memory form shared by the API, the store and (later) the
 * delivery engine. Validation lives here so that every entry point (API,
 * configuration, tests) applies the same rules and the same messages.
 */
#ifndef KABAR_WEBHOOK_H
#define KABAR_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "core/whsec.h"

#define WEBHOOK_NAME_MAX 256        /* bytes of UTF-8 */
#define WEBHOOK_URI_MAX 2048
#define WEBHOOK_PROJECT_MAX 64
#define WEBHOOK_TENANT_MAX 64       /* the customer a webhook belongs to (portal) */
#define WEBHOOK_SECRETS_MAX 5       /* live secrets per webhook */
#define WEBHOOK_ERR_MAX 256
#define WEBHOOK_SECRET_GRACE_US (INT64_C(24) * 3600 * 1000000)

#define WEBHOOK_STATE_MAP(X)                                               \
    X(ENABLED, "enabled")                                                  \
    X(DISABLED, "disabled")                                                \
    X(DISABLED_DUE_TO_FAILED_DELIVERIES, "disabled_due_to_failed_deliveries")

enum webhook_state {
#define X(name, str) WEBHOOK_STATE_##name,
    WEBHOOK_STATE_MAP(X)
#undef X
    WEBHOOK_STATE_COUNT
};

/* One signing secret as the API shows it: never the secret itself. */
struct webhook_secret_info {
    char id[IDS_MAX];
    char truncated[WHSEC_TRUNCATED_MAX];
    int64_t expire_time_us;         /* 0: does not expire */
};

struct webhook {
    char id[IDS_MAX];
    char project[WEBHOOK_PROJECT_MAX + 1];
    char name[WEBHOOK_NAME_MAX + 1];
    char uri[WEBHOOK_URI_MAX + 1];
    char tenant[WEBHOOK_TENANT_MAX + 1];    /* "" when none (a kabar extension) */
    uint32_t events;                /* mask of enum event_type bits */
    enum webhook_state state;
    int64_t create_time_us;
    int64_t update_time_us;
    size_t nsecrets;                /* live secrets, newest first */
    struct webhook_secret_info secrets[WEBHOOK_SECRETS_MAX];
};

const char *webhook_state_name(enum webhook_state state);

/* The state of a wire name, accepting upper case too. Returns -1 if none. */
int webhook_state_lookup(const char *name);

/* Validation. Each returns 0, or -1 with a user-facing message in err. */
int webhook_validate_name(const char *name, char *err, size_t errlen);
/* A tenant label: 1 to WEBHOOK_TENANT_MAX of [A-Za-z0-9._:-]. */
int webhook_validate_tenant(const char *tenant, char *err, size_t errlen);
int webhook_validate_uri(const char *uri, bool allow_private, char *err, size_t errlen);

#endif
