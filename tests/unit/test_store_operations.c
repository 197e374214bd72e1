/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_operations.c - long-running operations in the store
 * (store_operations.h): create/get/list/delete, compare-and-set
 * transitions that commit their event in the same transaction, leased
 * claims for external workers (kinds filter, lease expiry, heartbeat), and
 * the simulator's and the expiry sweep's queries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/events.h"
#include "store/store.h"
#include "store/store_operations.h"
#include "store_testdb.h"

#define NOW INT64_C(1700000000000000)
#define SEC INT64_C(1000000)

static int setup(void **state)
{
    return testdb_fixture_setup(state, "test_store_operations");
}

static int teardown(void **state)
{
    return testdb_fixture_teardown(state);
}

/* Create operation n ("batch_…n") of project and kind, created at NOW + n
 * seconds, due at due. */
static void create_op(struct testdb_fixture *f, const char *project, const char *kind, unsigned n,
                      int64_t due, char *id, size_t cap)
{
    struct store_operation op;

    memset(&op, 0, sizeof op);
    snprintf(op.id, sizeof op.id, "%s_%026u", strcmp(kind, "interaction") == 0 ? "int" :
             strcmp(kind, "video") == 0 ? "vid" : "batch", n);
    snprintf(op.project, sizeof op.project, "%s", project);
    snprintf(op.kind, sizeof op.kind, "%s", kind);
    snprintf(op.model, sizeof op.model, "models/m%u", n);
    op.state = STORE_OP_PENDING;
    op.request = (char *)"{\"requests\":[]}";
    op.webhook_config = NULL;
    if (n % 2) {
        op.webhook_config = webhook_config_new();
        assert_non_null(op.webhook_config);
        assert_int_equal(webhook_config_add_uri(op.webhook_config, "https://a.example/h"), 0);
        op.webhook_config->user_metadata = json_pack("{s:s}", "team", "a");
    }
    op.create_time_us = NOW + n * SEC;
    op.update_time_us = op.create_time_us;
    op.due_time_us = due;
    assert_int_equal(store_operation_create(f->st, &op), STORE_OK);
    webhook_config_free(op.webhook_config);
    snprintf(id, cap, "%s", op.id);
}

static void test_create_get_list_delete(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_operation op, page[3];
    char a[64], b[64], c[64];
    size_t n = 0;
    bool more = false;

    create_op(f, "p1", "batch", 1, 0, a, sizeof a);
    create_op(f, "p1", "video", 2, 0, b, sizeof b);
    create_op(f, "p2", "batch", 3, 0, c, sizeof c);

    assert_int_equal(store_operation_get(f->st, "p1", a, &op), STORE_OK);
    assert_string_equal(op.kind, "batch");
    assert_string_equal(op.model, "models/m1");
    assert_int_equal(op.state, STORE_OP_PENDING);
    assert_string_equal(op.request, "{\"requests\":[]}");
    /* webhook_config is kept as text and comes back as the struct. */
    assert_non_null(op.webhook_config);
    assert_int_equal(op.webhook_config->nuris, 1);
    assert_string_equal(op.webhook_config->uris[0], "https://a.example/h");
    assert_string_equal(json_string_value(json_object_get(op.webhook_config->user_metadata,
                                                          "team")), "a");
    /* (operations 1 and 3 have one) */
    assert_int_equal(testdb_int(&f->db, "SELECT COUNT(*) FROM operations WHERE webhook_config = "
                                        "'{\"uris\":[\"https://a.example/h\"],"
                                        "\"user_metadata\":{\"team\":\"a\"}}'"), 2);
    assert_null(op.result);
    assert_int_equal(op.create_time_us, NOW + SEC);
    store_operation_clear(&op);
    /* project isolation */
    assert_int_equal(store_operation_get(f->st, "p2", a, &op), STORE_NOT_FOUND);
    assert_int_equal(store_operation_create(f->st, &(struct store_operation){
        .id = "batch_00000000000000000000000001", .project = "p1", .kind = "batch",
        .create_time_us = NOW}), STORE_CONFLICT);

    assert_int_equal(store_operation_list(f->st, "p1", NULL, -1, NULL, 1, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_true(more);
    assert_string_equal(page[0].id, a);
    store_operations_clear(page, n);
    assert_int_equal(store_operation_list(f->st, "p1", NULL, -1, a, 10, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(page[0].id, b);
    store_operations_clear(page, n);
    assert_int_equal(store_operation_list(f->st, "p1", "video", -1, NULL, 10, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    store_operations_clear(page, n);
    assert_int_equal(store_operation_list(f->st, "p1", NULL, STORE_OP_FAILED, NULL, 10, page,
                                          &n, &more), STORE_OK);
    assert_int_equal(n, 0);

    assert_int_equal(store_operation_delete(f->st, "p2", a), STORE_NOT_FOUND);
    assert_int_equal(store_operation_delete(f->st, "p1", a), STORE_OK);
    assert_int_equal(store_operation_delete(f->st, "p1", a), STORE_NOT_FOUND);
    assert_int_equal(store_operation_get(f->st, "p1", a, &op), STORE_NOT_FOUND);
}

/* A static webhook of project subscribed to batch events. */
static void create_webhook(struct testdb_fixture *f, const char *project)
{
    struct webhook wh;
    struct store_secret sec;

    memset(&wh, 0, sizeof wh);
    snprintf(wh.id, sizeof wh.id, "wh_%026u", 7u);
    snprintf(wh.project, sizeof wh.project, "%s", project);
    snprintf(wh.name, sizeof wh.name, "hook");
    snprintf(wh.uri, sizeof wh.uri, "https://example.com/hook");
    wh.events = EVENTS_ALL_MASK;
    wh.create_time_us = NOW;
    wh.update_time_us = NOW;
    memset(&sec, 0, sizeof sec);
    snprintf(sec.id, sizeof sec.id, "sec_%026u", 7u);
    sec.blob_len = SECRETBOX_OVERHEAD + 32;
    snprintf(sec.truncated, sizeof sec.truncated, "whsec_...0007");
    sec.create_time_us = NOW;
    assert_int_equal(store_webhook_create(f->st, &wh, &sec), STORE_OK);
}

static void event_msg(struct store_message *m, unsigned n, const char *project, const char *op_id,
                      const char *const *uris, size_t nuris)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "msg_%026u", n);
    snprintf(m->project, sizeof m->project, "%s", project);
    snprintf(m->type, sizeof m->type, "batch.succeeded");
    m->type_mask = UINT32_C(1) << EVENT_BATCH_SUCCEEDED;
    m->payload = (const uint8_t *)"{}";
    m->payload_len = 2;
    m->create_time_us = NOW;
    m->operation_id = op_id;
    m->uris = uris;
    m->nuris = nuris;
}

static void test_transition(void **state)
{
    struct testdb_fixture *f = *state;
    static const char *const uris[] = {"https://a.example/1", "https://b.example/2"};
    struct store_operation op;
    struct store_message m;
    struct store_op_delivery d[8];
    char a[64], b[64];
    size_t n = 0;

    create_webhook(f, "p1");
    create_op(f, "p1", "batch", 2, 0, a, sizeof a);
    create_op(f, "p1", "batch", 4, 0, b, sizeof b);

    /* static: fans out to the project's webhook, in the same transaction */
    event_msg(&m, 1, "p1", a, NULL, 0);
    struct store_op_transition t = {
        .project = "p1", .id = a, .from_state = STORE_OP_PENDING, .to_state = STORE_OP_SUCCEEDED,
        .result = "{\"file\":\"x\"}", .now_us = NOW + 10 * SEC,
    };
    assert_int_equal(store_operation_transition(f->st, &t, &m), STORE_OK);
    assert_int_equal(m.ndeliveries, 1);
    assert_int_equal(store_operation_get(f->st, "p1", a, &op), STORE_OK);
    assert_int_equal(op.state, STORE_OP_SUCCEEDED);
    assert_string_equal(op.result, "{\"file\":\"x\"}");
    assert_int_equal(op.update_time_us, NOW + 10 * SEC);
    store_operation_clear(&op);
    assert_int_equal(store_operation_deliveries(f->st, "p1", a, d, 8, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].webhook_id, "wh_00000000000000000000000007");
    assert_string_equal(d[0].type, "batch.succeeded");
    assert_int_equal(d[0].state, STORE_DELIVERY_PENDING);

    /* the same transition again: the state moved on; nothing is written */
    event_msg(&m, 2, "p1", a, NULL, 0);
    assert_int_equal(store_operation_transition(f->st, &t, &m), STORE_CONFLICT);
    assert_int_equal(testdb_int(&f->db, "SELECT count(*) FROM messages"), 1);
    t.id = "batch_99999999999999999999999999";
    assert_int_equal(store_operation_transition(f->st, &t, &m), STORE_NOT_FOUND);
    t.project = "p2";
    t.id = b;
    assert_int_equal(store_operation_transition(f->st, &t, &m), STORE_NOT_FOUND);

    /* dynamic: one delivery per uri, no webhook; result kept when NULL */
    event_msg(&m, 3, "p1", b, uris, 2);
    t.project = "p1";
    t.result = NULL;
    t.to_state = STORE_OP_CANCELLED;
    assert_int_equal(store_operation_transition(f->st, &t, &m), STORE_OK);
    assert_int_equal(m.ndeliveries, 2);
    assert_int_equal(store_operation_deliveries(f->st, "p1", b, d, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].webhook_id, "");
    assert_true(strcmp(d[0].target_uri, uris[0]) == 0 || strcmp(d[1].target_uri, uris[0]) == 0);
    assert_int_equal(store_operation_get(f->st, "p1", b, &op), STORE_OK);
    assert_null(op.result);
    assert_int_equal(op.state, STORE_OP_CANCELLED);
    store_operation_clear(&op);

    /* without an event */
    create_op(f, "p1", "video", 6, 0, a, sizeof a);
    t.id = a;
    t.to_state = STORE_OP_FAILED;
    assert_int_equal(store_operation_transition(f->st, &t, NULL), STORE_OK);
    assert_int_equal(testdb_int(&f->db, "SELECT count(*) FROM messages"), 2);
}

static void test_claim_lease_heartbeat(void **state)
{
    struct testdb_fixture *f = *state;
    static const char *const batches[] = {"batch"};
    static const char *const videos_and_interactions[] = {"video", "interaction"};
    struct store_operation op;
    char a[64], b[64];

    create_op(f, "p1", "batch", 1, 0, a, sizeof a);
    create_op(f, "p1", "video", 2, 0, b, sizeof b);

    /* project and kinds filter */
    assert_int_equal(store_operation_claim(f->st, "p2", NULL, 0, "w", NOW, NOW + SEC, &op),
                     STORE_NOT_FOUND);
    assert_int_equal(store_operation_claim(f->st, "p1", videos_and_interactions, 2, "w1", NOW,
                                           NOW + 30 * SEC, &op), STORE_OK);
    assert_string_equal(op.id, b);
    assert_int_equal(op.state, STORE_OP_RUNNING);
    assert_string_equal(op.lease_owner, "w1");
    assert_int_equal(op.lease_expire_time_us, NOW + 30 * SEC);
    store_operation_clear(&op);
    assert_int_equal(store_operation_claim(f->st, "p1", videos_and_interactions, 2, "w2", NOW,
                                           NOW + SEC, &op), STORE_NOT_FOUND);
    assert_int_equal(store_operation_claim(f->st, "p1", batches, 1, "w2", NOW, NOW + SEC, &op),
                     STORE_OK);
    assert_string_equal(op.id, a);
    store_operation_clear(&op);

    /* heartbeat: only the holder, only while running */
    assert_int_equal(store_operation_heartbeat(f->st, "p1", b, "w2", NOW + 60 * SEC, NOW),
                     STORE_CONFLICT);
    assert_int_equal(store_operation_heartbeat(f->st, "p1", b, "w1", NOW + 60 * SEC, NOW),
                     STORE_OK);
    assert_int_equal(store_operation_heartbeat(f->st, "p2", b, "w1", NOW + 60 * SEC, NOW),
                     STORE_NOT_FOUND);
    /* not expired at +59 s, expired (claimable again) at +60 s */
    assert_int_equal(store_operation_claim(f->st, "p1", videos_and_interactions, 2, "w3",
                                           NOW + 59 * SEC, NOW + 90 * SEC, &op),
                     STORE_NOT_FOUND);
    assert_int_equal(store_operation_claim(f->st, "p1", videos_and_interactions, 2, "w3",
                                           NOW + 60 * SEC, NOW + 90 * SEC, &op), STORE_OK);
    assert_string_equal(op.id, b);
    assert_string_equal(op.lease_owner, "w3");
    store_operation_clear(&op);

    /* the old holder's report is refused; the new one's goes through */
    struct store_op_transition t = {
        .project = "p1", .id = b, .from_state = STORE_OP_RUNNING, .owner = "w1",
        .to_state = STORE_OP_SUCCEEDED, .now_us = NOW + 61 * SEC,
    };
    assert_int_equal(store_operation_transition(f->st, &t, NULL), STORE_CONFLICT);
    t.owner = "w3";
    assert_int_equal(store_operation_transition(f->st, &t, NULL), STORE_OK);
    assert_int_equal(store_operation_get(f->st, "p1", b, &op), STORE_OK);
    assert_string_equal(op.lease_owner, "");
    assert_int_equal(op.lease_expire_time_us, 0);
    store_operation_clear(&op);
    assert_int_equal(store_operation_heartbeat(f->st, "p1", b, "w3", NOW + 90 * SEC, NOW),
                     STORE_CONFLICT);
}

static void test_due_and_stale(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_operation ops[4];
    char a[64], b[64], c[64];
    size_t n = 0;

    create_op(f, "p1", "batch", 1, NOW + 5 * SEC, a, sizeof a);
    create_op(f, "p2", "video", 2, NOW + 3 * SEC, b, sizeof b);
    create_op(f, "p1", "batch", 3, 0, c, sizeof c);     /* never due */

    assert_int_equal(store_operation_due(f->st, NOW + 2 * SEC, 4, ops, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_operation_due(f->st, NOW + 10 * SEC, 4, ops, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ops[0].id, b);      /* earliest due first, any project */
    assert_string_equal(ops[1].id, a);
    store_operations_clear(ops, n);
    assert_int_equal(store_operation_due(f->st, NOW + 10 * SEC, 1, ops, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_operations_clear(ops, n);

    /* batches created at or before the cut, not final */
    assert_int_equal(store_operation_stale(f->st, "batch", NOW + 3 * SEC, 4, ops, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ops[0].id, a);
    assert_string_equal(ops[1].id, c);
    store_operations_clear(ops, n);
    struct store_op_transition t = {
        .project = "p1", .id = a, .from_state = STORE_OP_PENDING, .to_state = STORE_OP_EXPIRED,
        .now_us = NOW,
    };
    assert_int_equal(store_operation_transition(f->st, &t, NULL), STORE_OK);
    assert_int_equal(store_operation_stale(f->st, "batch", NOW + 3 * SEC, 4, ops, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ops[0].id, c);
    store_operations_clear(ops, n);
    /* a finished operation is no longer due */
    assert_int_equal(store_operation_due(f->st, NOW + 10 * SEC, 4, ops, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ops[0].id, b);
    store_operations_clear(ops, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_lease_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due_and_stale, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
