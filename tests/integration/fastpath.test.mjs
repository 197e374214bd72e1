// SPDX-License-Identifier: Apache-2.0
// The fast path (docs/architecture.md, "The fast path"): a fresh event's
// delivery is leased to the process in the insert transaction and handed to
// its delivery thread in memory, without a claim; a kill -9 between that
// commit and the send loses nothing.
//
// kabard_fault (tests/fault/kabard_fault.c) says on stderr which deliveries
// came by the fast path (KABAR_DISPATCH_HOLD=log) and can hold them instead
// of sending them (=hold), which leaves the process exactly where a crash
// after the commit would: the row on disk, leased, never sent.
//
// A fresh event takes the claim's way instead when a claim happens to run
// at that moment (the writer reserves no slot meanwhile); the tests publish
// until one event has taken the fast path, which is the first almost always.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { KABARD, KABARD_FAULT, Kabard } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'fastpath-key-0123456789abcdefABCD';
const T = { timeout: 60_000 };
const TRIES = 20;

/** Publish one event; resolve with its message id. */
async function publish(k, n) {
  const r = await k.request('POST', '/v1/events', {
    body: { type: 'batch.succeeded', data: { id: `fast-${n}` } },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.deliveries, 1, r.text);
  return r.json.id;
}

function fastLine(k, msgId, held) {
  const m = k.stderr.match(new RegExp(`^fast path${held ? ' held' : ''}: (dlv_[0-9a-z]{26}) ${msgId}$`, 'm'));
  return m ? m[1] : null;
}

const receivedIds = (rcv) => rcv.requests.map((r) => r.headers['webhook-id']);

async function setup(t, hold) {
  const rcv = await startReceiver();
  const k = new Kabard({ apiKey: KEY, binary: KABARD_FAULT, env: { KABAR_DISPATCH_HOLD: hold } });
  t.after(async () => { await rcv.close(); await k.cleanup(); });
  await k.start();
  const cr = await k.request('POST', '/v1/webhooks', {
    body: { uri: rcv.url('/hook'), subscribed_events: ['batch.succeeded'] } });
  assert.equal(cr.status, 200, cr.text);
  return { rcv, k };
}

describe('fast path', () => {
  it('a fresh event is handed to the delivery thread in memory and delivered', T, async (t) => {
    const { rcv, k } = await setup(t, 'log');
    let dlv = null;
    let msgId;
    for (let i = 0; i < TRIES && !dlv; i++) {
      msgId = await publish(k, i);
      await rcv.waitFor(() => receivedIds(rcv).includes(msgId), 10_000, `event ${msgId}`);
      // The line is written before the send, so it is there once received.
      dlv = fastLine(k, msgId, false);
    }
    assert.ok(dlv, `no event of ${TRIES} took the fast path:\n${k.stderr.slice(-2000)}`);
    const m = await k.request('GET', '/metrics');
    const fast = Number(/^kabar_deliveries_fast_total (\d+)$/m.exec(m.text)?.[1]);
    assert.ok(fast >= 1, `counted in kabar_deliveries_fast_total: ${fast}`);
    // Recorded like any other delivery.
    await waitFor(async () => {
      const r = await k.request('GET', `/v1/deliveries/${dlv}`);
      return r.status === 200 && r.json.state === 'succeeded' ? r : null;
    }, 10_000, 'the delivery logged as succeeded');
  });

  it('kill -9 after the commit, before the send: delivered after the restart', T, async (t) => {
    const { rcv, k } = await setup(t, 'hold');
    let dlv = null;
    let msgId;
    for (let i = 0; i < TRIES && !dlv; i++) {
      msgId = await publish(k, i);
      // Either held (the fast path) or claimed and sent (a claim was running).
      await waitFor(() => fastLine(k, msgId, true) || receivedIds(rcv).includes(msgId),
        10_000, `event ${msgId} held or delivered`);
      dlv = fastLine(k, msgId, true);
    }
    assert.ok(dlv, `no event of ${TRIES} took the fast path:\n${k.stderr.slice(-2000)}`);
    // The row was written leased to this process, in the insert.
    const lease = k.sql(`SELECT state, attempts, lease_owner IS NOT NULL, lease_expire_time > 0 FROM deliveries WHERE id = '${dlv}'`);
    assert.match(lease, /^0\|0\|(1|t)\|(1|t)$/, `pending, no attempt, leased: ${lease}`);

    k.proc.kill('SIGKILL');
    assert.equal((await k.exited).signal, 'SIGKILL');
    k.proc = null;
    assert.ok(!receivedIds(rcv).includes(msgId), 'never sent before the kill');

    // The plain kabard on the same data directory (the same node) releases
    // the leases of its earlier life at start, and claims the row again.
    k.opts.binary = KABARD;
    await k.start();
    await rcv.waitFor(() => receivedIds(rcv).includes(msgId), 20_000, `event ${msgId} after the restart`);
    await waitFor(async () => {
      const r = await k.request('GET', `/v1/deliveries/${dlv}`);
      return r.status === 200 && r.json.state === 'succeeded' ? r : null;
    }, 10_000, 'the delivery logged as succeeded');
    assert.match(k.stderr, /released the deliveries of a previous run.*count=1/);
  });
});
