/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store.c - the SQLite store backend through the store.h interface.
 *
 * Each test gets a fresh database in its own mkdtemp directory under
 * $TMPDIR, so tests do not see each other's rows. Where a test needs to look
 * below the interface (the schema_version table, cascaded rows) it opens the
 * file with SQLite directly. Ids are literals of the right shape so that the
 * tests do not depend on the id generator.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/events.h"
#include "store/store.h"
#include "store/store_sessions.h"
#include "store_testdb.h"

#define NOW INT64_C(1700000000000000)
#define GRACE WEBHOOK_SECRET_GRACE_US

static void make_webhook_id(char *out, size_t cap, unsigned n)
{
    /* "wh_" and 26 characters, as ids_valid wants. */
    snprintf(out, cap, "wh_%026u", n);
}

static void make_webhook(struct webhook *wh, const char *project, unsigned n)
{
    memset(wh, 0, sizeof *wh);
    make_webhook_id(wh->id, sizeof wh->id, n);
    snprintf(wh->project, sizeof wh->project, "%s", project);
    snprintf(wh->name, sizeof wh->name, "hook %u", n);
    snprintf(wh->uri, sizeof wh->uri, "https://example.com/hooks/%u", n);
    wh->events = 0x5;
    wh->state = WEBHOOK_STATE_ENABLED;
    wh->create_time_us = NOW + n;
    wh->update_time_us = NOW + n;
}

/* A sealed-looking blob whose bytes (including zeros) depend on n. */
static void make_secret(struct store_secret *sec, unsigned n, int64_t create_time_us)
{
    memset(sec, 0, sizeof *sec);
    snprintf(sec->id, sizeof sec->id, "sec_%026u", n);
    sec->blob_len = SECRETBOX_OVERHEAD + 32 + n % 7;
    for (size_t i = 0; i < sec->blob_len; i++)
        sec->blob[i] = (uint8_t)(i * 31 + n);
    sec->blob[1] = 0;
    snprintf(sec->truncated, sizeof sec->truncated, "whsec_...%04u", n);
    sec->create_time_us = create_time_us;
    sec->expire_time_us = 0;
}

static void make_key(struct store_apikey *key, uint8_t seed, const char *project,
                     enum store_key_source source)
{
    memset(key, 0, sizeof *key);
    for (size_t i = 0; i < STORE_KEY_HASH_LEN; i++)
        key->hash[i] = (uint8_t)(seed + i);
    snprintf(key->project, sizeof key->project, "%s", project);
    key->source = source;
}

/* The first column of the first row of sql, run below the interface. */
static int64_t db_int(const struct testdb_fixture *f, const char *sql)
{
    return testdb_int(&f->db, sql);
}

static void db_exec(const struct testdb_fixture *f, const char *sql)
{
    testdb_exec(&f->db, sql);
}

static void reopen(struct testdb_fixture *f)
{
    char err[256] = "";

    store_close(f->st);
    f->st = NULL;
    if (store_open(f->db.url, &f->st, err, sizeof err) != STORE_OK)
        fail_msg("store_open: %s", err);
}

static int setup(void **state)
{
    return testdb_fixture_setup(state, "test_store");
}

static int teardown(void **state)
{
    return testdb_fixture_teardown(state);
}

static void test_migrations(void **state)
{
    struct testdb_fixture *f = *state;
    struct store *st = NULL;
    char err[256] = "";

    /* A fresh database gets every migration: 1, then 2 (an index of
     * messages by operation), 3 (deliveries by project), 4 (tenants and web
     * sessions), 5 (per-target queues). */
    assert_int_equal(db_int(f, "SELECT count(*) FROM schema_version"), 5);
    assert_int_equal(db_int(f, "SELECT max(version) FROM schema_version"), 5);
    assert_true(db_int(f, "SELECT min(apply_time) FROM schema_version") > 0);

    /* Re-opening applies nothing twice. */
    reopen(f);
    reopen(f);
    assert_int_equal(db_int(f, "SELECT count(*) FROM schema_version"), 5);

    if (testdb_is_pg()) {
        /* Every table of migration 1 exists, in this test's schema. */
        assert_int_equal(db_int(f, "SELECT count(*) FROM information_schema.tables"
                                   " WHERE table_schema = current_schema() AND table_name IN"
                                   " ('meta', 'projects', 'api_keys', 'webhooks',"
                                   " 'webhook_secrets', 'messages', 'deliveries', 'attempts',"
                                   " 'operations', 'signing_keys', 'schema_version')"),
                         11);
        goto newer;
    }
    /* Every table of migration 1 exists. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                               " ('meta', 'projects', 'api_keys', 'webhooks',"
                               " 'webhook_secrets', 'messages', 'deliveries', 'attempts',"
                               " 'operations', 'signing_keys', 'schema_version')"),
                     11);
    assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN"
                               " ('webhooks_project_id', 'webhook_secrets_webhook',"
                               " 'deliveries_target_due', 'deliveries_webhook_id',"
                               " 'operations_state_due', 'targets_next_due')"),
                     6);
    /* WAL is a property of the file. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
                     1);

newer:
    /* A database from a newer kabar is refused, with a message. */
    store_close(f->st);
    f->st = NULL;
    db_exec(f, "INSERT INTO schema_version (version, apply_time) VALUES (99, 1)");
    assert_int_equal(store_open(f->db.url, &st, err, sizeof err), STORE_ERROR);
    assert_null(st);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));

    db_exec(f, "DELETE FROM schema_version WHERE version = 99");
    reopen(f);
}

static void test_open_plain_path(void **state)
{
    struct testdb_fixture *f = *state;
    struct store *st = NULL;
    char err[256] = "";
    char val[STORE_META_MAX];

    if (testdb_is_pg())
        skip();                         /* a file path means SQLite */
    assert_int_equal(store_meta_put(f->st, "k", "v"), STORE_OK);
    store_close(f->st);
    f->st = NULL;
    /* Without the "sqlite:" prefix: the same file. */
    assert_int_equal(store_open(f->db.path, &st, err, sizeof err), STORE_OK);
    assert_int_equal(store_meta_get(st, "k", val, sizeof val), STORE_OK);
    assert_string_equal(val, "v");
    store_close(st);

    assert_int_equal(store_open("sqlite:", &st, err, sizeof err), STORE_ERROR);
    assert_null(st);
    reopen(f);
}

static void test_meta(void **state)
{
    struct testdb_fixture *f = *state;
    char val[STORE_META_MAX];
    char big[STORE_META_MAX + 1];
    char small[4];

    assert_int_equal(store_meta_get(f->st, "master_key_check", val, sizeof val), STORE_NOT_FOUND);
    assert_int_equal(store_meta_put(f->st, "master_key_check", "abc"), STORE_OK);
    assert_int_equal(store_meta_get(f->st, "master_key_check", val, sizeof val), STORE_OK);
    assert_string_equal(val, "abc");
    assert_int_equal(store_meta_put(f->st, "master_key_check", "defg"), STORE_OK);
    assert_int_equal(store_meta_get(f->st, "master_key_check", val, sizeof val), STORE_OK);
    assert_string_equal(val, "defg");
    assert_int_equal(store_meta_get(f->st, "other", val, sizeof val), STORE_NOT_FOUND);

    /* A value that does not fit the caller's buffer is an error, not a
     * silent truncation. */
    assert_int_equal(store_meta_get(f->st, "master_key_check", small, sizeof small), STORE_ERROR);

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(store_meta_put(f->st, "big", big), STORE_ERROR);
    big[STORE_META_MAX - 1] = '\0';
    assert_int_equal(store_meta_put(f->st, "big", big), STORE_OK);
    assert_int_equal(store_meta_get(f->st, "big", val, sizeof val), STORE_OK);
    assert_int_equal(strlen(val), STORE_META_MAX - 1);
}

static void test_apikeys(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_apikey gen, cfg[3], unknown;
    char project[WEBHOOK_PROJECT_MAX + 1];
    size_t n;

    make_key(&gen, 1, "p1", STORE_KEY_GENERATED);
    make_key(&cfg[0], 100, "p2", STORE_KEY_CONFIG);
    make_key(&cfg[1], 150, "p3", STORE_KEY_CONFIG);
    make_key(&cfg[2], 200, "p4", STORE_KEY_CONFIG);
    make_key(&unknown, 250, "px", STORE_KEY_GENERATED);

    assert_int_equal(store_apikey_count(f->st, STORE_KEY_GENERATED, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_apikey_insert(f->st, &gen), STORE_OK);
    assert_int_equal(store_apikey_insert(f->st, &gen), STORE_CONFLICT);
    assert_int_equal(store_apikey_lookup(f->st, gen.hash, project, sizeof project), STORE_OK);
    assert_string_equal(project, "p1");
    assert_int_equal(store_apikey_lookup(f->st, unknown.hash, project, sizeof project),
                     STORE_NOT_FOUND);
    assert_int_equal(store_apikey_count(f->st, STORE_KEY_GENERATED, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_apikey_count(f->st, STORE_KEY_CONFIG, &n), STORE_OK);
    assert_int_equal(n, 0);

    assert_int_equal(store_apikeys_sync_config(f->st, cfg, 2), STORE_OK);
    assert_int_equal(store_apikey_count(f->st, STORE_KEY_CONFIG, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_apikey_lookup(f->st, cfg[1].hash, project, sizeof project), STORE_OK);
    assert_string_equal(project, "p3");

    /* A new configuration replaces the configured keys only. */
    assert_int_equal(store_apikeys_sync_config(f->st, &cfg[2], 1), STORE_OK);
    assert_int_equal(store_apikey_count(f->st, STORE_KEY_CONFIG, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_apikey_lookup(f->st, cfg[0].hash, project, sizeof project),
                     STORE_NOT_FOUND);
    assert_int_equal(store_apikey_lookup(f->st, cfg[2].hash, project, sizeof project), STORE_OK);
    assert_string_equal(project, "p4");
    assert_int_equal(store_apikey_lookup(f->st, gen.hash, project, sizeof project), STORE_OK);
    assert_string_equal(project, "p1");
    assert_int_equal(store_apikey_count(f->st, STORE_KEY_GENERATED, &n), STORE_OK);
    assert_int_equal(n, 1);

    /* An empty configuration removes every configured key. */
    assert_int_equal(store_apikeys_sync_config(f->st, NULL, 0), STORE_OK);
    assert_int_equal(store_apikey_count(f->st, STORE_KEY_CONFIG, &n), STORE_OK);
    assert_int_equal(n, 0);

    /* Every project that had a key has its row. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM projects WHERE id IN ('p1','p2','p3','p4')"),
                     4);
}

static void test_webhook_crud(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, got, other;
    struct store_secret sec, sec2;
    struct store_secret live[WEBHOOK_SECRETS_MAX];
    size_t n;

    make_webhook(&wh, "p1", 1);
    make_secret(&sec, 1, NOW);
    assert_int_equal(store_webhook_create(f->st, &wh, &sec), STORE_OK);

    /* The same id again, even with another secret or project, conflicts. */
    make_secret(&sec2, 2, NOW);
    assert_int_equal(store_webhook_create(f->st, &wh, &sec2), STORE_CONFLICT);
    make_webhook(&other, "p2", 1);
    assert_int_equal(store_webhook_create(f->st, &other, &sec2), STORE_CONFLICT);
    /* A failed create leaves nothing behind. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM webhook_secrets"), 1);

    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW, &got), STORE_OK);
    assert_string_equal(got.id, wh.id);
    assert_string_equal(got.project, "p1");
    assert_string_equal(got.name, wh.name);
    assert_string_equal(got.uri, wh.uri);
    assert_int_equal(got.events, wh.events);
    assert_int_equal(got.state, WEBHOOK_STATE_ENABLED);
    assert_int_equal(got.create_time_us, wh.create_time_us);
    assert_int_equal(got.update_time_us, wh.update_time_us);
    assert_int_equal(got.nsecrets, 1);
    assert_string_equal(got.secrets[0].id, sec.id);
    assert_string_equal(got.secrets[0].truncated, sec.truncated);
    assert_int_equal(got.secrets[0].expire_time_us, 0);

    /* Other projects and unknown ids see nothing. */
    assert_int_equal(store_webhook_get(f->st, "p2", wh.id, NOW, &got), STORE_NOT_FOUND);
    assert_int_equal(store_webhook_get(f->st, "p1", "wh_00000000000000000000000999", NOW, &got),
                     STORE_NOT_FOUND);

    /* Update. */
    wh.events = EVENTS_JOB_MASK;
    wh.state = WEBHOOK_STATE_DISABLED;
    snprintf(wh.name, sizeof wh.name, "renamed");
    snprintf(wh.uri, sizeof wh.uri, "https://example.org/new");
    wh.update_time_us = NOW + 1000;
    assert_int_equal(store_webhook_update(f->st, &wh), STORE_OK);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW, &got), STORE_OK);
    assert_string_equal(got.name, "renamed");
    assert_string_equal(got.uri, "https://example.org/new");
    assert_int_equal(got.events, EVENTS_JOB_MASK);
    assert_int_equal(got.state, WEBHOOK_STATE_DISABLED);
    assert_int_equal(got.update_time_us, NOW + 1000);
    assert_int_equal(got.create_time_us, wh.create_time_us);
    assert_int_equal(got.nsecrets, 1);

    /* An update that changes nothing still finds the webhook. */
    assert_int_equal(store_webhook_update(f->st, &wh), STORE_OK);

    other = wh;
    snprintf(other.project, sizeof other.project, "p2");
    snprintf(other.name, sizeof other.name, "stolen");
    assert_int_equal(store_webhook_update(f->st, &other), STORE_NOT_FOUND);
    other = wh;
    make_webhook_id(other.id, sizeof other.id, 999);
    assert_int_equal(store_webhook_update(f->st, &other), STORE_NOT_FOUND);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW, &got), STORE_OK);
    assert_string_equal(got.name, "renamed");

    /* Delete: only from its own project, once, and its secrets go too. */
    assert_int_equal(store_webhook_delete(f->st, "p2", wh.id), STORE_NOT_FOUND);
    assert_int_equal(store_webhook_delete(f->st, "p1", wh.id), STORE_OK);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW, &got), STORE_NOT_FOUND);
    assert_int_equal(store_webhook_delete(f->st, "p1", wh.id), STORE_NOT_FOUND);
    assert_int_equal(store_secrets_live(f->st, wh.id, NOW, live, WEBHOOK_SECRETS_MAX, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM webhook_secrets"), 0);

    /* The id is free again. */
    assert_int_equal(store_webhook_create(f->st, &wh, &sec), STORE_OK);
}

/* Deleting a webhook deletes its deliveries and their attempts (in the same
 * transaction), and no one else's; setting a webhook's state to enabled
 * clears its failure record. */
static void test_webhook_delete_update_deliveries(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, other, got;
    struct store_secret sec;
    struct store_message m;
    struct store_attempt a;
    struct store_job jobs[4];
    static const uint8_t payload[] = "{\"type\":\"batch.succeeded\"}";
    size_t n;

    make_webhook(&wh, "p1", 1);
    make_secret(&sec, 1, NOW);
    assert_int_equal(store_webhook_create(f->st, &wh, &sec), STORE_OK);
    make_webhook(&other, "p1", 2);
    make_secret(&sec, 2, NOW);
    assert_int_equal(store_webhook_create(f->st, &other, &sec), STORE_OK);

    /* One event to both (events 0x5 has bit 0), one attempt each. */
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "msg_%026u", 1);
    snprintf(m.project, sizeof m.project, "p1");
    snprintf(m.type, sizeof m.type, "batch.succeeded");
    m.type_mask = 1;
    m.payload = payload;
    m.payload_len = sizeof payload - 1;
    m.create_time_us = NOW;
    assert_int_equal(store_messages_insert(f->st, &m, 1, 0), STORE_OK);
    assert_int_equal(m.rc, STORE_OK);
    assert_int_equal(m.ndeliveries, 2);
    assert_int_equal(store_deliveries_claim(f->st, "o", NOW, NOW + 1000000, 4, 4, NULL, NULL, 0,
                                            jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        memset(&a, 0, sizeof a);
        snprintf(a.id, sizeof a.id, "att_%026zu", i + 1);
        snprintf(a.delivery_id, sizeof a.delivery_id, "%s", jobs[i].id);
        snprintf(a.webhook_id, sizeof a.webhook_id, "%s", jobs[i].webhook_id);
        a.outcome = STORE_OUTCOME_RETRY;
        a.time_us = NOW;
        a.next_due_us = NOW + 1000000;
        assert_int_equal(store_attempts_record(f->st, &a, 1, NOW, GRACE), STORE_OK);
        free(jobs[i].payload);
    }
    assert_int_equal(db_int(f, "SELECT count(*) FROM attempts"), 2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM webhooks"
                               " WHERE failing_since = 1700000000000000"),
                     2);

    /* Disabling keeps the failure record; enabling again clears it, so the
     * webhook gets a fresh window. */
    assert_int_equal(store_webhook_get(f->st, "p1", other.id, NOW, &got), STORE_OK);
    got.state = WEBHOOK_STATE_DISABLED;
    assert_int_equal(store_webhook_update(f->st, &got), STORE_OK);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks"
                               " WHERE id = 'wh_00000000000000000000000002'"),
                     NOW);
    got.state = WEBHOOK_STATE_ENABLED;
    assert_int_equal(store_webhook_update(f->st, &got), STORE_OK);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks"
                               " WHERE id = 'wh_00000000000000000000000002'"),
                     0);

    /* A failed delete (wrong project) deletes nothing. */
    assert_int_equal(store_webhook_delete(f->st, "p2", wh.id), STORE_NOT_FOUND);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 2);

    assert_int_equal(store_webhook_delete(f->st, "p1", wh.id), STORE_OK);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"
                               " WHERE webhook_id = 'wh_00000000000000000000000001'"),
                     0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"
                               " WHERE webhook_id = 'wh_00000000000000000000000002'"),
                     1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM attempts"), 1);
    /* The message stays: the other webhook's delivery still needs it.
     * (Enabling a webhook again above also recorded a
     * kabar.webhook.enabled message, which nothing here subscribes to.) */
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"
                               " WHERE type NOT LIKE 'kabar.%'"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"
                               " WHERE type = 'kabar.webhook.enabled'"), 1);
}

static void test_webhook_list(void **state)
{
    struct testdb_fixture *f = *state;
    static const unsigned order[] = { 5, 2, 7, 1, 6, 3, 4 };
    struct webhook wh, page[7];
    struct store_secret sec;
    size_t n;
    bool more;

    /* Created out of id order: the list is in id order regardless. */
    for (size_t i = 0; i < 7; i++) {
        make_webhook(&wh, "p1", order[i]);
        make_secret(&sec, order[i], NOW);
        assert_int_equal(store_webhook_create(f->st, &wh, &sec), STORE_OK);
    }
    for (unsigned i = 100; i < 102; i++) {
        make_webhook(&wh, "p2", i);
        if (i == 100)
            strcpy(wh.tenant, "acme");
        make_secret(&sec, i, NOW);
        assert_int_equal(store_webhook_create(f->st, &wh, &sec), STORE_OK);
    }

    assert_int_equal(store_webhook_list(f->st, "p1", NULL, NULL, 3, NOW, page, &n, &more), STORE_OK);
    assert_int_equal(n, 3);
    assert_true(more);
    for (unsigned i = 0; i < 3; i++) {
        make_webhook_id(wh.id, sizeof wh.id, i + 1);
        assert_string_equal(page[i].id, wh.id);
        assert_string_equal(page[i].project, "p1");
        assert_int_equal(page[i].nsecrets, 1);
    }

    assert_int_equal(store_webhook_list(f->st, "p1", NULL, page[2].id, 3, NOW, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 3);
    assert_true(more);
    make_webhook_id(wh.id, sizeof wh.id, 4);
    assert_string_equal(page[0].id, wh.id);
    make_webhook_id(wh.id, sizeof wh.id, 6);
    assert_string_equal(page[2].id, wh.id);

    assert_int_equal(store_webhook_list(f->st, "p1", NULL, page[2].id, 3, NOW, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_false(more);
    make_webhook_id(wh.id, sizeof wh.id, 7);
    assert_string_equal(page[0].id, wh.id);
    assert_string_equal(page[0].secrets[0].truncated, "whsec_...0007");

    /* Past the end. */
    assert_int_equal(store_webhook_list(f->st, "p1", NULL, page[0].id, 3, NOW, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_false(more);

    /* A page exactly as long as the list has no next page. */
    assert_int_equal(store_webhook_list(f->st, "p1", NULL, "", 7, NOW, page, &n, &more), STORE_OK);
    assert_int_equal(n, 7);
    assert_false(more);

    /* Projects do not see each other's webhooks. */
    assert_int_equal(store_webhook_list(f->st, "p2", NULL, NULL, 7, NOW, page, &n, &more), STORE_OK);
    assert_int_equal(n, 2);
    assert_false(more);
    assert_string_equal(page[0].project, "p2");
    assert_int_equal(store_webhook_list(f->st, "p3", NULL, NULL, 7, NOW, page, &n, &more), STORE_OK);
    assert_int_equal(n, 0);
    assert_false(more);

    /* A tenant sees its own webhooks only, and the label round-trips. */
    assert_int_equal(store_webhook_list(f->st, "p2", "acme", NULL, 7, NOW, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(page[0].tenant, "acme");
    assert_int_equal(store_webhook_get(f->st, "p2", page[0].id, NOW, &wh), STORE_OK);
    assert_string_equal(wh.tenant, "acme");
    assert_int_equal(store_webhook_list(f->st, "p1", "acme", NULL, 7, NOW, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 0);
}

/* Create webhook 1 in p1 with secret 1 made at NOW. */
static void create_one(struct testdb_fixture *f, struct webhook *wh)
{
    struct store_secret sec;

    make_webhook(wh, "p1", 1);
    make_secret(&sec, 1, NOW);
    assert_int_equal(store_webhook_create(f->st, wh, &sec), STORE_OK);
}

static void test_secret_rotate_immediate(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, got;
    struct store_secret sec;
    const int64_t now = NOW + 10;

    create_one(f, &wh);
    make_secret(&sec, 2, now);
    assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &sec, now, WEBHOOK_SECRETS_MAX, now),
                     STORE_OK);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, now, &got), STORE_OK);
    assert_int_equal(got.nsecrets, 1);
    assert_string_equal(got.secrets[0].id, sec.id);
    assert_int_equal(got.secrets[0].expire_time_us, 0);
    assert_int_equal(got.update_time_us, now);
    /* The old secret is kept, expired at the rotation. */
    assert_int_equal(db_int(f, "SELECT expire_time FROM webhook_secrets"
                               " WHERE id = 'sec_00000000000000000000000001'"),
                     now);
}

static void test_secret_rotate_grace(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, got;
    struct store_secret sec;
    const int64_t now = NOW + 10;

    create_one(f, &wh);
    make_secret(&sec, 2, now);
    assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &sec, now + GRACE,
                                         WEBHOOK_SECRETS_MAX, now),
                     STORE_OK);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, now, &got), STORE_OK);
    assert_int_equal(got.nsecrets, 2);
    assert_string_equal(got.secrets[0].id, "sec_00000000000000000000000002");
    assert_int_equal(got.secrets[0].expire_time_us, 0);
    assert_string_equal(got.secrets[1].id, "sec_00000000000000000000000001");
    assert_int_equal(got.secrets[1].expire_time_us, now + GRACE);

    /* Once the grace period is over only the new one is live. */
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, now + GRACE, &got), STORE_OK);
    assert_int_equal(got.nsecrets, 1);
    assert_string_equal(got.secrets[0].id, "sec_00000000000000000000000002");

    /* A second rotation with a later grace does not lengthen the first
     * secret's life. */
    make_secret(&sec, 3, now + 5);
    assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &sec, now + 5 + GRACE,
                                         WEBHOOK_SECRETS_MAX, now + 5),
                     STORE_OK);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, now + 5, &got), STORE_OK);
    assert_int_equal(got.nsecrets, 3);
    assert_int_equal(got.secrets[1].expire_time_us, now + 5 + GRACE);
    assert_int_equal(got.secrets[2].expire_time_us, now + GRACE);
}

static void test_secret_rotate_max_live(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, got;
    struct store_secret sec;
    char id[IDS_MAX];

    create_one(f, &wh);
    for (unsigned k = 1; k <= 6; k++) {
        int64_t t = NOW + k;

        make_secret(&sec, k + 1, t);
        assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &sec, t + GRACE,
                                             WEBHOOK_SECRETS_MAX, t),
                         STORE_OK);
    }
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW + 6, &got), STORE_OK);
    assert_int_equal(got.nsecrets, WEBHOOK_SECRETS_MAX);
    /* Newest first: secrets 7 down to 3; 1 and 2 were pushed out. */
    for (unsigned i = 0; i < WEBHOOK_SECRETS_MAX; i++) {
        snprintf(id, sizeof id, "sec_%026u", 7 - i);
        assert_string_equal(got.secrets[i].id, id);
        if (i == 0)
            assert_int_equal(got.secrets[i].expire_time_us, 0);
        else
            assert_int_equal(got.secrets[i].expire_time_us, NOW + (7 - i) + GRACE);
    }
    assert_int_equal(db_int(f, "SELECT count(*) FROM webhook_secrets"), 7);
    assert_int_equal(db_int(f, "SELECT expire_time FROM webhook_secrets"
                               " WHERE id = 'sec_00000000000000000000000001'"),
                     NOW + 5);
    assert_int_equal(db_int(f, "SELECT expire_time FROM webhook_secrets"
                               " WHERE id = 'sec_00000000000000000000000002'"),
                     NOW + 6);
}

static void test_secret_rotate_not_found(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct store_secret sec, live[WEBHOOK_SECRETS_MAX];
    size_t n;

    create_one(f, &wh);
    make_secret(&sec, 2, NOW + 1);
    assert_int_equal(store_secret_rotate(f->st, "p2", wh.id, &sec, NOW + 1, 5, NOW + 1),
                     STORE_NOT_FOUND);
    assert_int_equal(store_secret_rotate(f->st, "p1", "wh_00000000000000000000000999", &sec,
                                         NOW + 1, 5, NOW + 1),
                     STORE_NOT_FOUND);
    /* Nothing changed. */
    assert_int_equal(store_secrets_live(f->st, wh.id, NOW + 1, live, WEBHOOK_SECRETS_MAX, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(live[0].expire_time_us, 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM webhook_secrets"), 1);
}

static void test_secrets_live(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct store_secret want[3], live[WEBHOOK_SECRETS_MAX];
    size_t n;

    create_one(f, &wh);
    make_secret(&want[0], 1, NOW);
    make_secret(&want[1], 2, NOW + 1);
    make_secret(&want[2], 3, NOW + 2);
    assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &want[1], NOW + 1 + GRACE, 5,
                                         NOW + 1),
                     STORE_OK);
    assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &want[2], NOW + 2 + GRACE, 5,
                                         NOW + 2),
                     STORE_OK);

    assert_int_equal(store_secrets_live(f->st, wh.id, NOW + 2, live, WEBHOOK_SECRETS_MAX, &n),
                     STORE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        const struct store_secret *w = &want[2 - i];

        assert_string_equal(live[i].id, w->id);
        assert_string_equal(live[i].truncated, w->truncated);
        assert_int_equal(live[i].blob_len, w->blob_len);
        assert_memory_equal(live[i].blob, w->blob, w->blob_len);
        assert_int_equal(live[i].create_time_us, w->create_time_us);
    }
    assert_int_equal(live[0].expire_time_us, 0);
    assert_int_equal(live[1].expire_time_us, NOW + 2 + GRACE);
    assert_int_equal(live[2].expire_time_us, NOW + 1 + GRACE);

    /* cap bounds the answer, newest first. */
    assert_int_equal(store_secrets_live(f->st, wh.id, NOW + 2, live, 2, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(live[1].id, want[1].id);

    /* After the first grace period only two are left. */
    assert_int_equal(store_secrets_live(f->st, wh.id, NOW + 1 + GRACE, live,
                                        WEBHOOK_SECRETS_MAX, &n),
                     STORE_OK);
    assert_int_equal(n, 2);

    assert_int_equal(store_secrets_live(f->st, "wh_00000000000000000000000999", NOW, live,
                                        WEBHOOK_SECRETS_MAX, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
}

static void make_session(struct store_session *s, uint8_t seed, enum store_session_kind kind,
                         const char *tenant, int64_t expire_us)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < STORE_SESSION_HASH_LEN; i++)
        s->hash[i] = (uint8_t)(seed + i);
    s->kind = kind;
    snprintf(s->project, sizeof s->project, "p1");
    snprintf(s->tenant, sizeof s->tenant, "%s", tenant);
    s->events = 0x5;
    s->create_time_us = NOW;
    s->expire_time_us = expire_us;
}

/* Sessions and portal links end at their expire_time to the microsecond,
 * whatever "now" the caller passes: the same clock decides for a link and
 * for the session it opens. A link opens one session only. */
static void test_sessions_expire(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_session link, link2, op, got;
    uint8_t session_hash[STORE_SESSION_HASH_LEN];
    const int64_t end = NOW + 60 * INT64_C(1000000);

    make_session(&link, 10, STORE_SESSION_LINK, "acme", end);
    make_session(&link2, 80, STORE_SESSION_LINK, "acme", end);
    make_session(&op, 150, STORE_SESSION_ACTIVE, "", end);
    memset(session_hash, 0xab, sizeof session_hash);
    assert_int_equal(store_session_insert(f->st, &link, NOW), STORE_OK);
    assert_int_equal(store_session_insert(f->st, &link2, NOW), STORE_OK);
    assert_int_equal(store_session_insert(f->st, &op, NOW), STORE_OK);
    assert_int_equal(store_session_insert(f->st, &op, NOW), STORE_CONFLICT);

    /* A link is no session. */
    assert_int_equal(store_session_lookup(f->st, link.hash, NOW, &got), STORE_NOT_FOUND);

    /* An expired link opens nothing; one a microsecond short of its end
     * opens a session once. */
    assert_int_equal(store_session_exchange(f->st, link2.hash, session_hash, end),
                     STORE_NOT_FOUND);
    assert_int_equal(store_session_exchange(f->st, link.hash, session_hash, end - 1), STORE_OK);
    assert_int_equal(store_session_exchange(f->st, link.hash, session_hash, end - 1),
                     STORE_NOT_FOUND);

    /* The session keeps the link's tenant, events and end. */
    assert_int_equal(store_session_lookup(f->st, session_hash, end - 1, &got), STORE_OK);
    assert_int_equal(got.kind, STORE_SESSION_ACTIVE);
    assert_string_equal(got.project, "p1");
    assert_string_equal(got.tenant, "acme");
    assert_int_equal(got.events, 0x5);
    assert_int_equal(got.expire_time_us, end);
    assert_int_equal(store_session_lookup(f->st, session_hash, end, &got), STORE_NOT_FOUND);
    assert_int_equal(store_session_lookup(f->st, op.hash, end - 1, &got), STORE_OK);
    assert_string_equal(got.tenant, "");
    assert_int_equal(store_session_lookup(f->st, op.hash, end, &got), STORE_NOT_FOUND);

    /* A row written after the end purges the expired ones. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM ui_sessions"), 3);
    make_session(&link, 220, STORE_SESSION_LINK, "", end + 60 * INT64_C(1000000));
    assert_int_equal(store_session_insert(f->st, &link, end), STORE_OK);
    assert_int_equal(db_int(f, "SELECT count(*) FROM ui_sessions"), 1);

    /* Sign-out removes a row once. */
    assert_int_equal(store_session_remove(f->st, link.hash), STORE_OK);
    assert_int_equal(store_session_remove(f->st, link.hash), STORE_NOT_FOUND);
}

static void test_persistence(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, got;
    struct store_secret sec, live[WEBHOOK_SECRETS_MAX];
    struct store_apikey key;
    char val[STORE_META_MAX];
    char project[WEBHOOK_PROJECT_MAX + 1];
    size_t n;

    create_one(f, &wh);
    make_secret(&sec, 2, NOW + 1);
    assert_int_equal(store_secret_rotate(f->st, "p1", wh.id, &sec, NOW + 1 + GRACE, 5, NOW + 1),
                     STORE_OK);
    make_key(&key, 7, "p1", STORE_KEY_GENERATED);
    assert_int_equal(store_apikey_insert(f->st, &key), STORE_OK);
    assert_int_equal(store_meta_put(f->st, "k", "v"), STORE_OK);

    reopen(f);

    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW + 1, &got), STORE_OK);
    assert_string_equal(got.name, wh.name);
    assert_int_equal(got.nsecrets, 2);
    assert_int_equal(store_secrets_live(f->st, wh.id, NOW + 1, live, WEBHOOK_SECRETS_MAX, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(live[0].blob, sec.blob, sec.blob_len);
    assert_int_equal(store_apikey_lookup(f->st, key.hash, project, sizeof project), STORE_OK);
    assert_string_equal(project, "p1");
    assert_int_equal(store_meta_get(f->st, "k", val, sizeof val), STORE_OK);
    assert_string_equal(val, "v");
}

/* A writer elsewhere holding the lock past the busy timeout makes writes
 * UNAVAILABLE; WAL lets reads go on meanwhile. Takes the busy timeout (5 s). */
static void test_busy_unavailable(void **state)
{
    struct testdb_fixture *f = *state;
    sqlite3 *db = NULL;
    char val[STORE_META_MAX];

    if (testdb_is_pg())
        skip();                         /* PostgreSQL: test_pg_reconnect */
    assert_int_equal(store_meta_put(f->st, "k", "v"), STORE_OK);
    assert_int_equal(sqlite3_open_v2(f->db.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    assert_int_equal(store_meta_put(f->st, "k", "w"), STORE_UNAVAILABLE);
    assert_int_equal(store_meta_get(f->st, "k", val, sizeof val), STORE_OK);
    assert_string_equal(val, "v");

    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    /* The connection that timed out is usable again. */
    assert_int_equal(store_meta_put(f->st, "k", "w"), STORE_OK);
    assert_int_equal(store_meta_get(f->st, "k", val, sizeof val), STORE_OK);
    assert_string_equal(val, "w");
}

/* PostgreSQL: the server ends the store's connections (as a restart or an
 * administrator does); the next ops reconnect instead of failing, and a
 * server that cannot be reached makes open fail with UNAVAILABLE. */
static void test_pg_reconnect(void **state)
{
    struct testdb_fixture *f = *state;
    struct store *st = NULL;
    char val[STORE_META_MAX], sql[256], err[256] = "";

    if (!testdb_is_pg())
        skip();
    assert_int_equal(store_meta_put(f->st, "k", "v"), STORE_OK);
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
             " WHERE application_name = '%s' AND pid <> pg_backend_pid()", f->db.schema);
    assert_true(db_int(f, sql) >= 1);
    usleep(100 * 1000);                 /* the goodbye reaches the idle socket */
    assert_int_equal(store_meta_get(f->st, "k", val, sizeof val), STORE_OK);
    assert_string_equal(val, "v");
    assert_int_equal(store_meta_put(f->st, "k", "w"), STORE_OK);

    assert_int_equal(store_open("postgres://postgres@127.0.0.1:1/kabar?connect_timeout=2",
                                &st, err, sizeof err), STORE_UNAVAILABLE);
    assert_null(st);
    assert_non_null(strstr(err, "connect"));
}

/* Many threads on one handle: more than the pool holds, all writing. */
#define THREADS 12
#define THREAD_OPS 10

struct worker {
    struct store *st;
    unsigned n;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct webhook wh, got;
    struct store_secret sec;
    char key[32], val[STORE_META_MAX];

    make_webhook(&wh, "p1", 1000 + w->n);
    make_secret(&sec, 1000 + w->n, NOW);
    if (store_webhook_create(w->st, &wh, &sec) != STORE_OK)
        w->failures++;
    for (unsigned i = 0; i < THREAD_OPS; i++) {
        snprintf(key, sizeof key, "t%u", w->n);
        snprintf(val, sizeof val, "%u", i);
        if (store_meta_put(w->st, key, val) != STORE_OK ||
            store_meta_get(w->st, key, val, sizeof val) != STORE_OK ||
            store_webhook_get(w->st, "p1", wh.id, NOW, &got) != STORE_OK ||
            got.nsecrets != 1)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct testdb_fixture *f = *state;
    pthread_t th[THREADS];
    struct worker w[THREADS];
    struct webhook page[THREADS];
    size_t n;
    bool more;

    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ .st = f->st, .n = i };
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(store_webhook_list(f->st, "p1", NULL, NULL, THREADS, NOW, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, THREADS);
    assert_false(more);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_plain_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apikeys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_delete_update_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_rotate_immediate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_rotate_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_rotate_max_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_rotate_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
