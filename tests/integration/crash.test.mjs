// SPDX-License-Identifier: Apache-2.0
// Durability (docs/delivery.md "Durability"): at least once across SIGKILL.
// Every event the API acknowledged must reach the receiver after a restart on
// the same data directory; duplicates are allowed (counted, not failed on).
//
// Deliveries leased by the killed process are claimed again only when their
// lease runs out (the attempt timeout plus a minute), so each scenario takes
// a bit over a minute; the two scenarios run concurrently.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Kabard } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'crash-key-0123456789abcdefABCDEF';
const EVENTS = 3000;
const CONCURRENCY = 32;
const ENV = {
  KABAR_RETRY_SCHEDULE: '0,1,1,1,1',
  KABAR_TIMEOUT_MS: '2000',          // lease = timeout + 60 s
};
/** Bound of one scenario, restart and lease expiry included. */
const SCENARIO_MS = 150_000;
/** After the restart: the leases of the killed process run out after at most
 *  timeout + 60 s; then the re-claimed deliveries are sent. */
const REDELIVERY_MS = 110_000;

/** Publish EVENTS events, CONCURRENCY at a time. Returns {acked: [id], errors}.
 *  stopWhen() is checked before each request; once true, no more are sent. */
async function publishMany(k, tag, { stopWhen = () => false, onAck = () => {} } = {}) {
  const acked = [];
  let errors = 0;
  let next = 0;
  async function worker() {
    while (next < EVENTS && !stopWhen()) {
      const i = next++;
      try {
        const r = await k.request('POST', '/v1/events', {
          body: { type: 'batch.succeeded', data: { id: `${tag}-${i}`, n: i } },
        });
        if (r.status === 200) {
          assert.equal(r.json.deliveries, 1, `publish answer: ${r.text}`);
          acked.push(r.json.id);
          onAck(acked.length);
        } else {
          errors++;
        }
      } catch {
        errors++; // the connection died with the process: not acknowledged
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { acked, errors };
}

/** Distinct webhook-ids the receiver answered 2xx (a request cut off by the
 *  kill does not count: it may never have been processed) and how many times. */
function seenCounts(rcv) {
  const counts = new Map();
  for (const r of rcv.requests) {
    if (r.answerTime === undefined || r.response.status >= 300) continue;
    const id = r.headers['webhook-id'];
    counts.set(id, (counts.get(id) || 0) + 1);
  }
  return counts;
}

async function kill9(k) {
  const proc = k.proc;
  proc.kill('SIGKILL');
  const exit = await k.exited;
  k.proc = null;
  assert.equal(exit.signal, 'SIGKILL');
}

/** Restart on the same data dir; wait until every acked id has arrived. */
async function restartAndCheck(t, k, rcv, whId, acked, what) {
  await k.start();
  const want = new Set(acked);
  const t0 = Date.now();
  try {
    await waitFor(() => {
      const seen = seenCounts(rcv);
      for (const id of want) if (!seen.has(id)) return false;
      return true;
    }, REDELIVERY_MS, `every acknowledged event to arrive (${what})`, 200);
  } catch (e) {
    const seen = seenCounts(rcv);
    const missing = [...want].filter((id) => !seen.has(id));
    e.message += `: ${missing.length} of ${want.size} acknowledged events never arrived, e.g. ${missing.slice(0, 5)}`;
    throw e;
  }
  const seen = seenCounts(rcv);
  let dups = 0;
  let extra = 0;
  for (const [id, n] of seen) {
    if (n > 1) dups += n - 1;
    if (!want.has(id)) extra++;
  }
  t.diagnostic(`${what}: ${want.size} acknowledged events all arrived ` +
    `(${Date.now() - t0} ms after the restart); ${dups} duplicate requests; ` +
    `${extra} unacknowledged events arrived too`);
  // Every request is a well-formed delivery of one of our events.
  for (const r of rcv.requests) {
    assert.match(r.headers['webhook-id'] || '', /^msg_[0-9a-z]{26}$/);
    assert.equal(r.json?.type, 'batch.succeeded');
  }
  // kabard's own log agrees: every acknowledged event's delivery succeeded.
  await waitFor(async () => {
    const done = new Set();
    let token;
    for (let i = 0; i < 100; i++) {
      const query = { state: 'succeeded', page_size: '1000' };
      if (token) query.page_token = token;
      const r = await k.request('GET', `/v1/webhooks/${whId}/deliveries`, { query });
      assert.equal(r.status, 200, r.text);
      for (const d of r.json.deliveries) done.add(d.message_id);
      token = r.json.next_page_token;
      if (!token) break;
    }
    return acked.every((id) => done.has(id));
    // A delivery answered but not yet recorded at the kill is logged only
    // after its lease runs out and it is sent again.
  }, REDELIVERY_MS, 'every acknowledged delivery to be logged as succeeded', 500);
  await k.stop();
}

describe('durability across SIGKILL', { concurrency: 2 }, () => {
  it('kill -9 while delivering: every acknowledged event arrives after the restart', { timeout: SCENARIO_MS }, async (t) => {
    const rcv = await startReceiver();
    // Slow answers keep deliveries in flight while we publish and kill.
    rcv.always('/hook', { delayMs: 100 });
    const k = new Kabard({ apiKey: KEY, env: { ...ENV, KABAR_MAX_PER_ENDPOINT: '16' } });
    t.after(async () => { await rcv.close(); await k.cleanup(); });
    await k.start();
    const cr = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/hook'), subscribed_events: ['batch.succeeded'] } });
    assert.equal(cr.status, 200, cr.text);

    const t0 = Date.now();
    const { acked, errors } = await publishMany(k, 'deliver');
    t.diagnostic(`published ${acked.length} events in ${Date.now() - t0} ms (${errors} errors)`);
    assert.equal(errors, 0, 'every publish answered 200 while kabard ran');
    assert.equal(acked.length, EVENTS);
    assert.equal(new Set(acked).size, EVENTS, 'distinct ids');

    await rcv.waitFor(() => seenCounts(rcv).size >= 50, 30_000, 'some deliveries before the kill');
    await kill9(k);
    const atKill = seenCounts(rcv).size;
    const cutOff = rcv.requests.filter((r) => r.answerTime === undefined).length;
    t.diagnostic(`killed with ${atKill} of ${EVENTS} events answered by the receiver, ${cutOff} requests cut off`);
    assert.ok(atKill > 0 && atKill < EVENTS, `killed in the middle of delivering (${atKill} seen)`);

    rcv.always('/hook', null); // fast from now on
    await restartAndCheck(t, k, rcv, cr.json.id, acked, 'kill while delivering');
  });

  it('kill -9 while publishing: every event acknowledged before the kill arrives after the restart', { timeout: SCENARIO_MS }, async (t) => {
    const rcv = await startReceiver();
    const k = new Kabard({ apiKey: KEY, env: ENV });
    t.after(async () => { await rcv.close(); await k.cleanup(); });
    await k.start();
    const cr = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/hook'), subscribed_events: ['batch.succeeded'] } });
    assert.equal(cr.status, 200, cr.text);

    let killed = false;
    let killing;
    const t0 = Date.now();
    const { acked, errors } = await publishMany(k, 'publish', {
      stopWhen: () => killed,
      onAck: (n) => {
        if (n === Math.floor(EVENTS / 3) && !killing) {
          killing = kill9(k).then(() => { killed = true; });
        }
      },
    });
    await killing;
    t.diagnostic(`killed after ${acked.length} acknowledged events, ${Date.now() - t0} ms; ` +
      `${errors} requests failed with the process`);
    assert.ok(killing, 'the kill happened');
    assert.ok(acked.length >= EVENTS / 3 && acked.length < EVENTS, `acked ${acked.length}`);
    assert.equal(new Set(acked).size, acked.length, 'distinct ids');

    await restartAndCheck(t, k, rcv, cr.json.id, acked, 'kill while publishing');
  });
});
