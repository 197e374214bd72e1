// SPDX-License-Identifier: Apache-2.0
// GET /v1/deliveries: the project-wide delivery log with its filters
// (webhook, event_type, state, status_class, since, until) and paging,
// against a real kabard delivering to a real receiver.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startKabard } from './lib/kabard.mjs';
import { MISSING_ID, assertError } from './lib/common.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY_A = 'alpha-key-0123456789abcdefABCDEF';
const KEY_B = 'beta-key-0123456789abcdefABCDEFG';
const T = { timeout: 60_000 };

async function setup(t) {
  const rcv = await startReceiver();
  const k = await startKabard({
    apiKeys: `alpha:${KEY_A},beta:${KEY_B}`,
    // One attempt, then the delivery is failed: its state settles at once.
    env: { KABAR_RETRY_SCHEDULE: '0,60', KABAR_RETRY_WINDOW_S: '1' },
  });
  t.after(async () => { await rcv.close(); await k.cleanup(); });
  return { k, rcv };
}

async function hook(k, uri, events) {
  const r = await k.request('POST', '/v1/webhooks', {
    key: KEY_A, body: { uri, subscribed_events: events },
  });
  assert.equal(r.status, 200, r.text);
  return r.json.id;
}

async function publish(k, body) {
  const r = await k.request('POST', '/v1/events', { key: KEY_A, body });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function search(k, query = {}, key = KEY_A) {
  const r = await k.request('GET', '/v1/deliveries', { key, query });
  assert.equal(r.status, 200, `search ${JSON.stringify(query)}: ${r.status} ${r.text}`);
  assert.ok(Array.isArray(r.json.deliveries), r.text);
  return r.json;
}

const ids = (page) => page.deliveries.map((d) => d.id).sort();

describe('GET /v1/deliveries', () => {
  it('filters by webhook, dynamic target, event type, state, status class and time; pages', T, async (t) => {
    const { k, rcv } = await setup(t);
    rcv.always('/ok', { status: 200 });
    rcv.always('/bad', { status: 503 });
    const ok = await hook(k, rcv.url('/ok'), ['batch.succeeded', 'batch.failed']);
    const bad = await hook(k, rcv.url('/bad'), ['batch.succeeded']);
    // Port 1 on loopback refuses connections: an attempt without a response.
    const dead = await hook(k, 'http://127.0.0.1:1/none', ['batch.succeeded']);

    const before = new Date(Date.now() - 1000).toISOString();
    await publish(k, { type: 'batch.succeeded', data: { id: 'b1' } });        // ok, bad, dead
    await publish(k, { type: 'batch.failed', data: { id: 'b2', error_code: 'X', error_message: 'y' } }); // ok
    await publish(k, { type: 'batch.succeeded', data: { id: 'b3' },
                       webhook_config: { uris: [rcv.url('/dyn')] } });        // dynamic

    // Every delivery reaches its final state (one attempt each).
    const all = await waitFor(async () => {
      const p = await search(k);
      return p.deliveries.length === 5 && p.deliveries.every((d) => d.state !== 'pending') ? p : null;
    }, 20_000, 'five settled deliveries');
    const sorted = [...all.deliveries].sort((a, b) => (a.id < b.id ? 1 : -1));
    assert.deepEqual(all.deliveries.map((d) => d.id), sorted.map((d) => d.id), 'newest first');
    assert.equal(all.next_page_token, undefined);

    const byHook = (h) => all.deliveries.filter((d) => d.webhook_id === h).map((d) => d.id).sort();
    assert.deepEqual(ids(await search(k, { webhook: ok })), byHook(ok));
    assert.equal(byHook(ok).length, 2);
    const dyn = await search(k, { webhook: 'dynamic' });
    assert.equal(dyn.deliveries.length, 1);
    assert.equal(dyn.deliveries[0].webhook_id, undefined);
    assert.equal(dyn.deliveries[0].uri, rcv.url('/dyn'));

    const failedType = await search(k, { event_type: 'batch.failed' });
    assert.deepEqual(failedType.deliveries.map((d) => d.webhook_id), [ok]);

    const succeeded = await search(k, { state: 'succeeded' });
    assert.equal(succeeded.deliveries.length, 3);
    assert.ok(succeeded.deliveries.every((d) => d.last_response_status === 200));
    const failed = await search(k, { state: 'failed' });
    assert.deepEqual(failed.deliveries.map((d) => d.webhook_id).sort(), [bad, dead].sort());

    assert.deepEqual((await search(k, { status_class: '5xx' })).deliveries.map((d) => d.webhook_id), [bad]);
    assert.equal((await search(k, { status_class: '5xx' })).deliveries[0].last_response_status, 503);
    assert.deepEqual((await search(k, { status_class: 'none' })).deliveries.map((d) => d.webhook_id), [dead]);
    assert.equal((await search(k, { status_class: '2xx' })).deliveries.length, 3);
    assert.equal((await search(k, { status_class: '4xx' })).deliveries.length, 0);
    assert.deepEqual(ids(await search(k, { webhook: ok, status_class: '2XX', event_type: 'batch.succeeded' })),
      all.deliveries.filter((d) => d.webhook_id === ok && d.event_type === 'batch.succeeded').map((d) => d.id));

    // Time range: since is inclusive, until exclusive.
    const after = new Date(Date.now() + 1000).toISOString();
    assert.equal((await search(k, { since: before })).deliveries.length, 5);
    assert.equal((await search(k, { since: after })).deliveries.length, 0);
    assert.equal((await search(k, { until: before })).deliveries.length, 0);
    const newest = all.deliveries[0];
    const upToNewest = await search(k, { until: newest.create_time });
    assert.ok(!upToNewest.deliveries.some((d) => d.id === newest.id), 'until is exclusive');
    assert.ok((await search(k, { since: newest.create_time })).deliveries.some((d) => d.id === newest.id),
      'since is inclusive');

    // Paging: one at a time walks the same list.
    const walked = [];
    let token;
    for (let i = 0; i < 10; i++) {
      const p = await search(k, { page_size: '2', ...(token ? { page_token: token } : {}) });
      walked.push(...p.deliveries.map((d) => d.id));
      token = p.next_page_token;
      if (!token) break;
    }
    assert.deepEqual(walked, all.deliveries.map((d) => d.id));

    // Another project sees none of them, by search or by filter.
    assert.equal((await search(k, {}, KEY_B)).deliveries.length, 0);
    assert.equal((await search(k, { webhook: ok }, KEY_B)).deliveries.length, 0);
  });

  it('refuses bad filters with 400 and a clear message', T, async (t) => {
    const { k } = await setup(t);
    const bad = [
      [{ webhook: 'nope' }, /webhook/],
      [{ event_type: 'batch.nope' }, /event_type/],
      [{ state: 'done' }, /state/],
      [{ status_class: '6xx' }, /status_class/],
      [{ status_class: '200' }, /status_class/],
      [{ since: 'yesterday' }, /since/],
      [{ until: '2026-13-01T00:00:00Z' }, /until/],
      [{ since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' }, /before/],
      [{ page_size: '-1' }, /page_size/],
      [{ page_token: 'garbage' }, /page_token/],
    ];
    for (const [query, re] of bad) {
      const r = await k.request('GET', '/v1/deliveries', { key: KEY_A, query });
      assertError(r, 400, 'INVALID_ARGUMENT');
      assert.match(r.json.error.message, re, JSON.stringify(query));
    }
    // A well-formed id that does not exist simply matches nothing (the log
    // outlives deleted webhooks).
    assert.equal((await search(k, { webhook: MISSING_ID })).deliveries.length, 0);
    const r = await k.request('GET', '/v1/deliveries', { key: null });
    assertError(r, 401, 'UNAUTHENTICATED');
  });
});
