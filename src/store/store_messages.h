/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_messages.h - what other concepts of the store use of
 * store_messages.c: inserting an event inside their own transaction (an
 * operation's state change, an operator event, and its message commit
 * together).
 */
#ifndef KABAR_STORE_MESSAGES_H
#define KABAR_STORE_MESSAGES_H

#include "store/store_driver.h"

/* Insert m and its deliveries inside c's open write transaction and fill in
 * m's outputs. The return value is for the transaction; a result of m's own
 * (its ping target not found, its id taken) is in m->rc, and then nothing
 * of m has been written: every check comes before the first write. */
enum store_rc store_message_insert_in(struct store_conn *c, struct store_message *m,
                                      int64_t idem_since_us);

#endif
