// SPDX-License-Identifier: Apache-2.0
// Retention: the background job prunes events (with their deliveries and
// attempts) older than the window, counts them in /metrics, and leaves
// newer ones and pending ones alone. The exact rule is tested at the store
// (tests/unit/test_store_retention.c); this checks the job as kabard runs
// it. KABAR_RETENTION_S and KABAR_PRUNE_INTERVAL_MS shrink the window and
// the pace so that the conditions below come about in a second or two.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertError } from './lib/common.mjs';
import { startKabard } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'retention-key-0123456789abcdefABCDEF';

function pruned(text, table) {
  const m = text.match(new RegExp(`^kabar_pruned_rows_total\\{table="${table}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

describe('retention', () => {
  let k, rcv, wh;
  before(async () => {
    rcv = await startReceiver();
    k = await startKabard({ apiKey: KEY, env: {
      KABAR_RETENTION_S: '1', KABAR_PRUNE_INTERVAL_MS: '100', KABAR_RETRY_SCHEDULE: '0,3600' } });
    const r = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/ok'), subscribed_events: ['batch.succeeded'] } });
    assert.equal(r.status, 200, r.text);
    wh = r.json;
  });
  after(async () => { await k.stop(); await k.cleanup(); await rcv.close(); });

  it('/metrics counts pruned rows per table, from 0', async () => {
    const m = (await k.request('GET', '/metrics', { key: null })).text;
    for (const t of ['messages', 'deliveries', 'attempts', 'operations']) {
      assert.ok(Number.isInteger(pruned(m, t)), `${t} in:\n${m}`);
    }
  });

  it('a delivered event older than the window goes, with its delivery and attempt', async () => {
    const e = await k.request('POST', '/v1/events', {
      body: { type: 'batch.succeeded', data: { id: 'old', output_file_uri: 'x' } } });
    assert.equal(e.status, 200, e.text);
    await rcv.waitForCount('/ok', 1, 10_000);
    const log = await waitFor(async () => {
      const r = await k.request('GET', `/v1/webhooks/${wh.id}/deliveries`);
      return r.json.deliveries?.find((d) => d.message_id === e.json.id && d.state === 'succeeded');
    }, 10_000, 'the delivery to succeed');
    await waitFor(async () => (await k.request('GET', `/v1/deliveries/${log.id}`)).status === 404,
                  15_000, 'the delivery to be pruned');
    assertError(await k.request('GET', `/v1/deliveries/${log.id}`), 404, 'NOT_FOUND');
    const m = (await k.request('GET', '/metrics', { key: null })).text;
    assert.ok(pruned(m, 'messages') >= 1, m);
    assert.ok(pruned(m, 'deliveries') >= 1, m);
    assert.ok(pruned(m, 'attempts') >= 1, m);
    assert.match(k.stderr, /msg=pruned messages=\d+ deliveries=\d+ attempts=\d+/);
  });

  it('a pending delivery is kept however old it is', async () => {
    // /bad fails and its retry is an hour away: its delivery stays pending.
    rcv.always('/bad', { status: 500 });
    const bad = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/bad'), subscribed_events: ['batch.failed'] } });
    const e1 = await k.request('POST', '/v1/events', {
      body: { type: 'batch.failed', data: { id: 'f1', error_code: 'X', error_message: 'x' } } });
    assert.equal(e1.json.deliveries, 1);
    const pending = await waitFor(async () => (await k.request('GET',
      `/v1/webhooks/${bad.json.id}/deliveries`)).json.deliveries?.find((d) => d.attempt_count === 1),
      10_000, 'the first attempt');
    assert.equal(pending.state, 'pending');
    // An event published after it, delivered, then pruned: the pruning has
    // passed everything older, the pending delivery included, and kept it.
    const e2 = await k.request('POST', '/v1/events', {
      body: { type: 'batch.succeeded', data: { id: 'later', output_file_uri: 'x' } } });
    const d2 = await waitFor(async () => (await k.request('GET', `/v1/webhooks/${wh.id}/deliveries`))
      .json.deliveries?.find((d) => d.message_id === e2.json.id && d.state === 'succeeded'),
      10_000, 'the later delivery');
    await waitFor(async () => (await k.request('GET', `/v1/deliveries/${d2.id}`)).status === 404,
                  15_000, 'the later delivery to be pruned');
    const kept = await k.request('GET', `/v1/deliveries/${pending.id}`);
    assert.equal(kept.status, 200, kept.text);
    assert.equal(kept.json.state, 'pending');
  });
});

describe('KABAR_RETENTION_DAYS=0 keeps everything', () => {
  it('starts no retention job', async () => {
    const k = await startKabard({ apiKey: KEY, env: { KABAR_RETENTION_DAYS: '0' } });
    try {
      assert.doesNotMatch(k.stderr, /retention started/);
    } finally { await k.stop(); await k.cleanup(); }
  });

  it('starts it by default, with a 30-day window', async () => {
    const k = await startKabard({ apiKey: KEY });
    try {
      assert.match(k.stderr, /msg="retention started" window_s=2592000 /);
    } finally { await k.stop(); await k.cleanup(); }
  });

  it('refuses a bad KABAR_RETENTION_DAYS at start', async () => {
    await assert.rejects(startKabard({ apiKey: KEY, env: { KABAR_RETENTION_DAYS: 'soon' } }),
                         /KABAR_RETENTION_DAYS/);
  });
});
