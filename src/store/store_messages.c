/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_messages.c - events in (store.h): a message and its deliveries,
 * one per subscribed webhook or dynamic target URI, written in the event
 * writer's group commit; the Idempotency-Key window; the targets those
 * deliveries queue on; and the fast path, which leases a fresh delivery to
 * this process in its insert when the delivery thread has a slot for it.
 * Other concepts insert an event inside their own transaction through
 * store_message_insert_in (store_messages.h), so that a change and its
 * event commit together.
 *
 * Lock order on PostgreSQL as in store_deliver.c: the targets of one
 * transaction in one statement in id order (TARGETS_UPSERT).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "store/store_driver.h"
#include "store/store_messages.h"

/* ---- messages and deliveries ---------------------------------------------- */

/* The fast path (store.h): lease delivery id of m to uri to this process
 * when fast has room and its reserve callback gives a slot, appending the
 * job. Returns whether it did. */
static bool delivery_fast(struct store_fast *fast, const struct store_message *m,
                          const char *id, const char *webhook_id, const char *uri)
{
    struct store_job *job;
    uint8_t *payload;

    if (!fast || fast->n == fast->cap || strlen(uri) > WEBHOOK_URI_MAX ||
        !fast->reserve(fast->arg, uri))
        return false;
    payload = malloc(m->payload_len ? m->payload_len : 1);
    if (!payload) {
        fast->unreserve(fast->arg, uri);
        return false;           /* the claim takes it instead */
    }
    job = &fast->jobs[fast->n++];
    memset(job, 0, sizeof *job);
    snprintf(job->id, sizeof job->id, "%s", id);
    snprintf(job->message_id, sizeof job->message_id, "%s", m->id);
    snprintf(job->project, sizeof job->project, "%s", m->project);
    snprintf(job->webhook_id, sizeof job->webhook_id, "%s", webhook_id ? webhook_id : "");
    snprintf(job->target_uri, sizeof job->target_uri, "%s", uri);
    snprintf(job->operation_id, sizeof job->operation_id, "%s",
             m->operation_id ? m->operation_id : "");
    job->message_time_us = m->create_time_us;
    memcpy(payload, m->payload, m->payload_len);
    job->payload = payload;
    job->payload_len = m->payload_len;
    return true;
}

/* Append one delivery {id, webhook_id, uri, target} of m to arr, and its
 * target, due when m was created, to targets (see TARGETS_UPSERT). One
 * taken by the fast path is leased (owner, until) and makes its target due
 * only when the lease would run out: nothing is to be claimed before. */
static enum store_rc delivery_add(json_t *arr, json_t *targets, const struct store_message *m,
                                  const char *webhook_id, const char *uri, bool ping,
                                  struct store_fast *fast)
{
    char id[IDS_MAX], target[STORE_TARGET_ID_MAX];
    int64_t due = m->create_time_us;
    json_t *o;

    if (ids_new("dlv_", id, sizeof id) != 0) {
        log_error("cannot make a delivery id", NULL);
        return STORE_ERROR;
    }
    /* A ping reaches its webhook in any state (how an operator checks a
     * repaired endpoint before enabling it), so it has a target of its own,
     * not tied to the webhook's state: "ping <webhook id>", to the uri the
     * webhook had when pinged. The delivery still names the webhook (its
     * log, its secret). */
    if (ping)
        snprintf(target, sizeof target, "ping %s", webhook_id);
    else
        store_target_id(m->project, webhook_id, uri, target);
    o = json_pack("{s:s, s:s?, s:s, s:s}", "id", id, "webhook_id", webhook_id, "uri", uri,
                  "target", target);
    if (o && delivery_fast(fast, m, id, webhook_id, uri)) {
        due = fast->lease_until_us;
        if (json_object_set_new(o, "owner", json_string(fast->owner)) != 0 ||
            json_object_set_new(o, "until", json_integer(fast->lease_until_us)) != 0) {
            json_decref(o);
            return store_oom("delivery_add");
        }
    }
    if (!o || json_array_append_new(arr, o) != 0)
        return store_oom("delivery_add");
    o = json_pack("{s:s, s:s, s:s?, s:s, s:I}", "target", target, "project", m->project,
                  "webhook_id", ping ? NULL : webhook_id, "uri", uri, "due", (json_int_t)due);
    if (!o || json_array_append_new(targets, o) != 0)
        return store_oom("delivery_add");
    return STORE_OK;
}

/* Make the targets of a transaction's new deliveries due by then, in one
 * statement (the lock order of TARGETS_UPSERT). */
static enum store_rc targets_upsert(struct store_conn *c, json_t *targets)
{
    char *text;
    enum store_rc ret;

    if (json_array_size(targets) == 0)
        return STORE_OK;
    text = json_dumps(targets, JSON_COMPACT);
    if (!text)
        return store_oom("targets_upsert");
    ret = store_run(c, STORE_SQL_TARGETS_UPSERT, STORE_ARGS(STORE_TEXT(text)));
    free(text);
    return ret;
}

/* Look up m's idempotency key. Sets *found and, when the earlier message is
 * within the window, marks m a duplicate of it. */
static enum store_rc idem_find(struct store_conn *c, struct store_message *m,
                               int64_t idem_since_us, bool *found)
{
    enum store_rc ret;

    *found = false;
    ret = store_run(c, STORE_SQL_MESSAGE_IDEM_FIND,
                    STORE_ARGS(STORE_TEXT(m->project), STORE_TEXT(m->idempotency_key)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_NOT_FOUND)
        return STORE_OK;
    if (ret != STORE_OK)
        return ret;
    *found = true;
    if (store_col_int(c, 1) >= idem_since_us) {
        if (store_col_text(c, 0, m->id, sizeof m->id) == 0)
            m->duplicate = true;
        else
            m->rc = store_row_error("message_insert", "message id");
    }
    return STORE_OK;
}

/* Fill arr with one delivery per enabled webhook of m's project subscribed
 * to its type. */
static enum store_rc deliveries_fan_out(struct store_conn *c, struct store_message *m,
                                        json_t *arr, json_t *targets, struct store_fast *fast)
{
    char webhook_id[IDS_MAX], uri[WEBHOOK_URI_MAX + 1];
    enum store_rc ret;

    if (m->type_mask == 0)
        return STORE_OK;
    ret = store_run(c, STORE_SQL_WEBHOOK_SUBSCRIBED,
                    STORE_ARGS(STORE_TEXT(m->project), STORE_INT(m->type_mask)));
    while (ret == STORE_OK && (ret = store_next(c)) == STORE_OK) {
        if (store_col_text(c, 0, webhook_id, sizeof webhook_id) != 0 ||
            store_col_text(c, 1, uri, sizeof uri) != 0)
            return store_row_error("deliveries_fan_out", "webhook");
        ret = delivery_add(arr, targets, m, webhook_id, uri, false, fast);
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

/* A ping's target: its webhook's uri, looked up before anything is
 * written. m->rc NOT_FOUND when it does not exist. */
static enum store_rc ping_target(struct store_conn *c, struct store_message *m, char *target,
                                 size_t cap)
{
    enum store_rc ret = store_run(c, STORE_SQL_WEBHOOK_TARGET,
                                  STORE_ARGS(STORE_TEXT(m->project), STORE_TEXT(m->webhook_id)));

    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_NOT_FOUND) {
        m->rc = STORE_NOT_FOUND;
        return STORE_OK;
    }
    if (ret == STORE_OK && store_col_text(c, 0, target, cap) != 0)
        m->rc = store_row_error("message_insert", "uri");
    return ret;
}

/* Insert m's deliveries (their JSON in arr) in one statement. */
static enum store_rc deliveries_insert(struct store_conn *c, struct store_message *m,
                                       json_t *arr)
{
    char *text;
    enum store_rc ret;

    if (json_array_size(arr) == 0)
        return STORE_OK;
    text = json_dumps(arr, JSON_COMPACT);
    if (!text)
        return store_oom("deliveries_insert");
    ret = store_run_changes(c, STORE_SQL_DELIVERY_INSERT,
                            STORE_ARGS(STORE_TEXT(text), STORE_TEXT(m->id), STORE_TEXT(m->project),
                                       STORE_INT(m->create_time_us)),
                            &m->ndeliveries);
    free(text);
    return ret;
}

/* store_message_insert_in, adding the targets of m's deliveries to
 * targets for the caller to upsert once for the whole transaction. */
static enum store_rc message_insert(struct store_conn *c, struct store_message *m,
                                    int64_t idem_since_us, json_t *targets,
                                    struct store_fast *fast)
{
    char target[WEBHOOK_URI_MAX + 1];
    json_t *arr;
    bool found = false;
    size_t changed = 0;
    enum store_rc ret = STORE_OK;

    m->rc = STORE_OK;
    m->duplicate = false;
    m->ndeliveries = 0;

    /* Earlier messages of this batch are rows of this transaction, so a key
     * used twice in one batch is found here too. */
    if (m->idempotency_key) {
        ret = idem_find(c, m, idem_since_us, &found);
        if (ret != STORE_OK || m->duplicate || m->rc != STORE_OK)
            return ret;
    }
    if (m->nuris == 0 && m->webhook_id) {
        ret = ping_target(c, m, target, sizeof target);
        if (ret != STORE_OK || m->rc != STORE_OK)
            return ret;
    }
    /* Used, but before the window: the key is free again. The old message
     * keeps its row, without the key. */
    if (found)
        ret = store_run(c, STORE_SQL_MESSAGE_IDEM_RELEASE,
                        STORE_ARGS(STORE_TEXT(m->project), STORE_TEXT(m->idempotency_key)));
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_MESSAGE_INSERT,
                                STORE_ARGS(STORE_TEXT(m->id), STORE_TEXT(m->project),
                                           STORE_TEXT(m->type),
                                           STORE_BLOB(m->payload, m->payload_len),
                                           STORE_INT(m->create_time_us),
                                           STORE_TEXT(m->operation_id),
                                           STORE_TEXT(m->idempotency_key)),
                                &changed);
    if (ret != STORE_OK)
        return ret;
    if (changed == 0) {
        /* Another process committed the same key since the lookup above
         * (the insert waited for it): a duplicate. Otherwise the id is
         * taken. */
        if (m->idempotency_key) {
            ret = idem_find(c, m, idem_since_us, &found);
            if (ret != STORE_OK || m->duplicate || m->rc != STORE_OK)
                return ret;
        }
        m->rc = STORE_CONFLICT;
        return STORE_OK;
    }

    arr = json_array();
    if (!arr)
        return store_oom("message_insert");
    if (m->nuris > 0) {
        for (size_t i = 0; i < m->nuris && ret == STORE_OK; i++)
            ret = delivery_add(arr, targets, m, NULL, m->uris[i], false, fast);
    } else if (m->webhook_id) {
        ret = delivery_add(arr, targets, m, m->webhook_id, target, true, fast);
    } else {
        ret = deliveries_fan_out(c, m, arr, targets, fast);
    }
    if (ret == STORE_OK)
        ret = deliveries_insert(c, m, arr);
    json_decref(arr);
    return ret;
}

enum store_rc store_message_insert_in(struct store_conn *c, struct store_message *m,
                                      int64_t idem_since_us)
{
    json_t *targets = json_array();
    enum store_rc ret;

    if (!targets)
        return store_oom("message_insert");
    ret = message_insert(c, m, idem_since_us, targets, NULL);
    if (ret == STORE_OK)
        ret = targets_upsert(c, targets);
    json_decref(targets);
    return ret;
}

enum store_rc store_messages_insert(struct store *st, struct store_message *msgs, size_t n,
                                    int64_t idem_since_us)
{
    return store_messages_insert_fast(st, msgs, n, idem_since_us, NULL);
}

enum store_rc store_messages_insert_fast(struct store *st, struct store_message *msgs,
                                         size_t n, int64_t idem_since_us,
                                         struct store_fast *fast)
{
    struct store_conn *c = NULL;
    json_t *targets = json_array();
    size_t created = 0;
    enum store_rc ret;

    if (!targets)
        return store_oom("messages_insert");
    ret = store_conn_get(st, &c);
    /* One transaction, so one fsync, for the whole batch. A message's own
     * failure (msgs[i].rc) comes before any of its rows is written, so it
     * needs no savepoint. */
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        ret = message_insert(c, &msgs[i], idem_since_us, targets, fast);
        if (ret == STORE_OK && msgs[i].rc != STORE_OK) {
            msgs[i].duplicate = false;
            msgs[i].ndeliveries = 0;
        }
        if (ret == STORE_OK)
            created += msgs[i].ndeliveries;
    }
    if (ret == STORE_OK)
        ret = targets_upsert(c, targets);
    /* What the fast path leased is this process's alone: other processes
     * are woken for the rest only. */
    if (ret == STORE_OK && created > (fast ? fast->n : 0))
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);                       /* rolls the whole batch back on failure */
    json_decref(targets);
    if (ret == STORE_OK)
        return STORE_OK;
    /* Nothing was committed: every message shares the failure. */
    for (size_t i = 0; i < n; i++) {
        msgs[i].rc = ret;
        msgs[i].duplicate = false;
        msgs[i].ndeliveries = 0;
    }
    return ret;
}

