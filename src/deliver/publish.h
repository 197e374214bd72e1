/* SPDX-License-Identifier: Apache-2.0 */
/*
 * publish.h - committing events, many per transaction (group commit).
 *
 * An API thread hands its event to publish_submit() and waits. One writer
 * thread takes every event queued meanwhile and commits them in a single
 * store transaction - one fsync for the batch - then wakes the submitters
 * and tells the dispatcher there is work. An event is acknowledged only
 * after its transaction committed: a crash after that cannot lose it.
 */
#ifndef KABAR_PUBLISH_H
#define KABAR_PUBLISH_H

#include "store/store.h"

#define PUBLISH_BATCH_MAX 512
#define PUBLISH_IDEMPOTENCY_US (INT64_C(24) * 3600 * 1000000)

struct publish;

/* Called on the writer thread after each commit that created deliveries. */
typedef void (*publish_notify_fn)(void *arg);

/* Start the writer thread. Returns NULL when it cannot be started. */
struct publish *publish_start(struct store *st, publish_notify_fn notify, void *arg);

struct dispatch;

/* Hand the new deliveries of every later batch to d by the fast path
 * (dispatch.h), which must outlive p. */
void publish_fast(struct publish *p, struct dispatch *d);

/* Commit msg (see struct store_message) and wait until it is on disk.
 * Returns the transaction's result; msg->rc, msg->id (the earlier id on an
 * idempotent repeat), msg->duplicate and msg->ndeliveries are filled in.
 * Returns STORE_UNAVAILABLE after publish_stop() has begun. */
enum store_rc publish_submit(struct publish *p, struct store_message *msg);

/* Called on the writer thread once msg's transaction has ended. */
typedef void (*publish_done_fn)(struct store_message *msg, enum store_rc rc, void *arg);

/* Queue msg for commit and return at once; done(msg, rc, arg) is called on
 * the writer thread when the transaction has ended, msg's outputs filled in
 * as by publish_submit (rc is the transaction's result). msg and what it
 * points to must stay valid until then; done must be quick (it runs on the
 * writer, between commits). Returns STORE_OK, or STORE_UNAVAILABLE after
 * publish_stop() has begun (done is then not called) or when out of memory. */
enum store_rc publish_submit_async(struct publish *p, struct store_message *msg,
                                   publish_done_fn done, void *arg);

/* Commit what is queued, stop the thread and free p. */
void publish_stop(struct publish *p);

#endif
