// SPDX-License-Identifier: Apache-2.0
// kabar's operator events: kabar.webhook.disabled (by failures or a 410,
// saying why), kabar.webhook.enabled and kabar.delivery.exhausted, delivered
// to the webhooks subscribed to them like any event and signed the same
// way. Each is committed with the state change it reports, so it is never
// lost and never doubled: a webhook disabled while several of its attempts
// fail produces exactly one kabar.webhook.disabled delivery.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Webhook } from 'standardwebhooks';

import { startKabard } from './lib/kabard.mjs';
import { assertError } from './lib/common.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'operator-key-0123456789abcdefABCDEF';
const OPERATOR_EVENTS = ['kabar.webhook.disabled', 'kabar.webhook.enabled', 'kabar.delivery.exhausted'];

async function createHook(k, uri, events) {
  const r = await k.request('POST', '/v1/webhooks', { body: { uri, subscribed_events: events } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function publish(k, id) {
  const r = await k.request('POST', '/v1/events', {
    body: { type: 'batch.failed', data: { id, error_code: 'X', error_message: 'x' } } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function deliveries(k, webhookId) {
  const r = await k.request('GET', `/v1/webhooks/${webhookId}/deliveries`, { query: { page_size: '100' } });
  assert.equal(r.status, 200, r.text);
  return r.json.deliveries || [];
}

/** The operator webhook's received events of a type, verified. */
function received(rcv, ops, type) {
  return rcv.forPath('/ops').map((rec) => new Webhook(ops.new_signing_secret).verify(rec.body, rec.headers))
    .filter((e) => e.type === type);
}

describe('operator events: a webhook disabled and enabled again', () => {
  let k, rcv, ops;
  before(async () => {
    rcv = await startReceiver();
    // The first attempt starts the failure record, the retry ~2 s later
    // (more than KABAR_DISABLE_AFTER_S) disables the webhook.
    k = await startKabard({ apiKey: KEY, env: { KABAR_DISABLE_AFTER_S: '1', KABAR_RETRY_SCHEDULE: '0,2' } });
    ops = await createHook(k, rcv.url('/ops'), OPERATOR_EVENTS);
  });
  after(async () => { await k.stop(); await k.cleanup(); await rcv.close(); });

  it('operator events cannot be published by a producer', async () => {
    const r = await k.request('POST', '/v1/events', {
      body: { type: 'kabar.webhook.disabled', data: { webhook_id: 'wh_x' } } });
    assertError(r, 400, 'INVALID_ARGUMENT');
    assert.match(r.json.error.message, /operator event/);
  });

  it('failing past KABAR_DISABLE_AFTER_S: exactly one kabar.webhook.disabled, signed, saying why', async () => {
    rcv.always('/bad', { status: 500, body: 'down' });
    const bad = await createHook(k, rcv.url('/bad'), ['batch.failed']);
    for (let i = 0; i < 3; i++) await publish(k, `b${i}`);
    await waitFor(async () => (await k.request('GET', `/v1/webhooks/${bad.id}`)).json.state ===
                  'disabled_due_to_failed_deliveries', 20_000, 'the webhook to be disabled');
    // Every attempt made is recorded before we count (a disabled webhook
    // gets no further attempts).
    const ev = await waitFor(() => received(rcv, ops, 'kabar.webhook.disabled')
      .find((e) => e.data.webhook_id === bad.id), 10_000, 'the kabar.webhook.disabled delivery');
    assert.equal(ev.version, 'v1');
    assert.equal(ev.data.uri, rcv.url('/bad'));
    assert.equal(ev.data.reason, 'failing');
    assert.equal(ev.data.state, 'disabled_due_to_failed_deliveries');
    assert.equal(ev.data.last_status, 500);
    assert.equal(ev.data.last_error, 'endpoint answered HTTP 500');
    assert.ok(Date.parse(ev.data.failing_since) < Date.parse(ev.data.disable_time), JSON.stringify(ev));
    const log = (await deliveries(k, ops.id)).filter((d) => d.event_type === 'kabar.webhook.disabled');
    assert.equal(log.length, 1, JSON.stringify(log));
    await waitFor(async () => (await deliveries(k, ops.id)).every((d) => d.state === 'succeeded'),
                  10_000, 'the operator delivery to succeed');
    assert.equal(received(rcv, ops, 'kabar.webhook.disabled').length, 1);
  });

  it('enabled again by update: one kabar.webhook.enabled with the previous state', async () => {
    rcv.always('/bad', { status: 200 });
    const bad = (await k.request('GET', '/v1/webhooks', {})).json.webhooks.find((w) => w.uri.endsWith('/bad'));
    const r = await k.request('PATCH', `/v1/webhooks/${bad.id}`, { body: { state: 'enabled' } });
    assert.equal(r.status, 200, r.text);
    const ev = await waitFor(() => received(rcv, ops, 'kabar.webhook.enabled')
      .find((e) => e.data.webhook_id === bad.id), 10_000, 'kabar.webhook.enabled');
    assert.equal(ev.data.previous_state, 'disabled_due_to_failed_deliveries');
    // An update that leaves it enabled reports nothing more.
    const r2 = await k.request('PATCH', `/v1/webhooks/${bad.id}`, { body: { name: 'renamed' } });
    assert.equal(r2.status, 200, r2.text);
    const log = (await deliveries(k, ops.id)).filter((d) => d.event_type === 'kabar.webhook.enabled');
    assert.equal(log.length, 1);
  });

  it('a 410 disables at once, with reason gone', async () => {
    rcv.always('/gone', { status: 410 });
    const gone = await createHook(k, rcv.url('/gone'), ['batch.failed']);
    await publish(k, 'g1');
    const ev = await waitFor(() => received(rcv, ops, 'kabar.webhook.disabled')
      .find((e) => e.data.webhook_id === gone.id), 10_000, 'kabar.webhook.disabled for the 410');
    assert.equal(ev.data.reason, 'gone');
    assert.equal(ev.data.last_status, 410);
  });
});

describe('operator events: a delivery out of retries', () => {
  let k, rcv, ops;
  before(async () => {
    rcv = await startReceiver();
    // The retry would fall after the 1 s window: the first failure is final.
    k = await startKabard({ apiKey: KEY, env: { KABAR_RETRY_WINDOW_S: '1', KABAR_RETRY_SCHEDULE: '0,2' } });
    ops = await createHook(k, rcv.url('/ops'), ['kabar.delivery.exhausted']);
  });
  after(async () => { await k.stop(); await k.cleanup(); await rcv.close(); });

  it('kabar.delivery.exhausted names the delivery, the event and the last error', async () => {
    rcv.always('/bad', { status: 503 });
    const bad = await createHook(k, rcv.url('/bad'), ['batch.failed']);
    const pub = await publish(k, 'x1');
    const ev = await waitFor(() => received(rcv, ops, 'kabar.delivery.exhausted')[0], 10_000,
                             'kabar.delivery.exhausted');
    const [d] = await deliveries(k, bad.id);
    assert.equal(d.state, 'failed');
    assert.deepEqual(ev.data, {
      delivery_id: d.id, event_id: pub.id, event_type: 'batch.failed', uri: rcv.url('/bad'),
      attempts: 1, webhook_id: bad.id, last_status: 503, last_error: 'endpoint answered HTTP 503',
    });
    assert.equal(received(rcv, ops, 'kabar.delivery.exhausted').length, 1);
  });
});
