// SPDX-License-Identifier: Apache-2.0
// Integration tests of event publishing and webhook delivery against
// docs/delivery.md: a real kabard delivers to a real HTTP receiver
// (lib/receiver.mjs) on 127.0.0.1 (--allow-private-targets), with a retry
// schedule of seconds instead of minutes.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { describe, it } from 'node:test';

import { GoogleGenAI } from '@google/genai';
import { Webhook } from 'standardwebhooks';

import { Kabard, startKabard, tempDir } from './lib/kabard.mjs';
import { MISSING_ID, SECRET_RE, TIME_RE, assertError, sleep } from './lib/common.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'delivery-key-0123456789abcdefABC';
const KEY_A = 'alpha-key-0123456789abcdefABCDEF';
const KEY_B = 'beta-key-0123456789abcdefABCDEFG';
const TWO_PROJECTS = `alpha:${KEY_A},beta:${KEY_B}`;
/** Seconds instead of minutes: attempts at 0, ~1, ~2, ~3, ~4 s (+-20%). */
const FAST = { KABAR_RETRY_SCHEDULE: '0,1,1,1,1' };
const T = { timeout: 60_000 };

const MSG_RE = /^msg_[0-9a-z]{26}$/;
const DLV_RE = /^dlv_[0-9a-z]{26}$/;
const ATT_RE = /^att_[0-9a-z]{26}$/;
/** RFC 3339 UTC, with or without a fraction (the envelope's timestamp). */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const DELIVERY_KEYS = ['attempt_count', 'create_time', 'event_type', 'id', 'message_id', 'state',
  'uri', 'webhook_id'];
const OPTIONAL_DELIVERY_KEYS = ['attempts', 'last_attempt_time', 'last_response_status', 'next_attempt_time',
  'payload'];

// ---------------------------------------------------------------- helpers

/** A receiver and a kabard (FAST schedule + env), both cleaned up after t. */
async function setup(t, { env = {}, ...opts } = {}) {
  const rcv = await startReceiver();
  let k;
  try {
    k = await startKabard({ apiKey: opts.apiKeys ? undefined : KEY, ...opts, env: { ...FAST, ...env } });
  } catch (e) {
    await rcv.close();
    throw e;
  }
  t.after(async () => {
    // The receiver first: it drops hanging connections, so a kabard that is
    // still running does not wait for them.
    await rcv.close();
    await k.cleanup();
  });
  return { k, rcv };
}

/** Create a webhook to uri; returns the answer (with new_signing_secret). */
async function createHook(k, uri, events = ['batch.succeeded'], extra = {}, key) {
  const r = await k.request('POST', '/v1/webhooks', {
    body: { uri, subscribed_events: events, ...extra },
    ...(key ? { key } : {}),
  });
  assert.equal(r.status, 200, `create webhook: ${r.status} ${r.text}`);
  assert.match(r.json.new_signing_secret, SECRET_RE);
  return r.json;
}

/** POST /v1/events; returns the raw answer. */
function publishRaw(k, body, { headers = {}, key } = {}) {
  return k.request('POST', '/v1/events', { body, headers, ...(key ? { key } : {}) });
}

/** Publish and assert the 200 answer's shape; returns it. */
async function publish(k, type, data, { deliveries, headers, key, duplicate = false } = {}) {
  const r = await publishRaw(k, { type, data }, { headers, key });
  assert.equal(r.status, 200, `publish ${type}: ${r.status} ${r.text}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['deliveries', 'duplicate', 'id', 'type'],
    `publish answer: ${r.text}`);
  assert.match(r.json.id, MSG_RE);
  assert.equal(r.json.type, type);
  assert.equal(r.json.duplicate, duplicate, `duplicate: ${r.text}`);
  assert.equal(typeof r.json.deliveries, 'number');
  if (deliveries !== undefined) assert.equal(r.json.deliveries, deliveries, `deliveries: ${r.text}`);
  return r.json;
}

async function getHook(k, id, key) {
  const r = await k.request('GET', `/v1/webhooks/${id}`, key ? { key } : {});
  assert.equal(r.status, 200, `get webhook: ${r.status} ${r.text}`);
  return r.json;
}

async function setState(k, id, state, key) {
  const r = await k.request('PATCH', `/v1/webhooks/${id}`, {
    body: { state }, query: { update_mask: 'state' }, ...(key ? { key } : {}),
  });
  assert.equal(r.status, 200, `update state ${state}: ${r.status} ${r.text}`);
  assert.equal(r.json.state, state);
  return r.json;
}

/** Every delivery of a webhook (all pages), newest first. */
async function listDeliveries(k, whId, { state, pageSize, key } = {}) {
  const out = [];
  let token;
  for (let i = 0; i < 100; i++) {
    const query = {};
    if (state) query.state = state;
    if (pageSize) query.page_size = String(pageSize);
    if (token) query.page_token = token;
    const r = await k.request('GET', `/v1/webhooks/${whId}/deliveries`, { query, ...(key ? { key } : {}) });
    assert.equal(r.status, 200, `list deliveries: ${r.status} ${r.text}`);
    assert.ok(Array.isArray(r.json.deliveries), `deliveries array: ${r.text}`);
    out.push(...r.json.deliveries);
    token = r.json.next_page_token;
    if (!token) return out;
  }
  throw new Error('delivery list never ended');
}

async function getDelivery(k, id, key) {
  const r = await k.request('GET', `/v1/deliveries/${id}`, key ? { key } : {});
  assert.equal(r.status, 200, `get delivery ${id}: ${r.status} ${r.text}`);
  return r.json;
}

/** The delivery of message msgId to webhook whId (found in the log). */
async function findDelivery(k, whId, msgId, key) {
  const all = await listDeliveries(k, whId, { key });
  const mine = all.filter((d) => d.message_id === msgId);
  assert.equal(mine.length, 1, `one delivery of ${msgId} to ${whId}: ${JSON.stringify(all)}`);
  return mine[0];
}

/** Poll GET /v1/deliveries/{id} of (whId, msgId) until pred(delivery). */
async function waitDelivery(k, whId, msgId, pred, timeoutMs = 15_000, what = 'delivery state', key) {
  let last;
  const { id } = await findDelivery(k, whId, msgId, key);
  try {
    return await waitFor(async () => {
      last = await getDelivery(k, id, key);
      return pred(last) ? last : null;
    }, timeoutMs, what, 100);
  } catch (e) {
    e.message += `; last: ${JSON.stringify(last)}`;
    throw e;
  }
}

/** Assert the delivery resource's shape (docs/delivery.md "A delivery"). */
function assertDelivery(d, { withAttempts = false } = {}) {
  const keys = Object.keys(d);
  for (const key of DELIVERY_KEYS) assert.ok(keys.includes(key), `delivery has ${key}: ${JSON.stringify(d)}`);
  for (const key of keys) {
    assert.ok(DELIVERY_KEYS.includes(key) || OPTIONAL_DELIVERY_KEYS.includes(key),
      `unexpected delivery member ${key}: ${JSON.stringify(d)}`);
  }
  assert.match(d.id, DLV_RE);
  assert.match(d.message_id, MSG_RE);
  assert.ok(['pending', 'succeeded', 'failed'].includes(d.state), `state ${d.state}`);
  assert.match(d.create_time, TIME_RE);
  if (d.last_attempt_time !== undefined) assert.match(d.last_attempt_time, TIME_RE);
  if (d.next_attempt_time !== undefined) assert.match(d.next_attempt_time, TIME_RE);
  if (d.state === 'pending') assert.ok(d.next_attempt_time, `a pending delivery has next_attempt_time: ${JSON.stringify(d)}`);
  if (d.attempt_count > 0) assert.ok(d.last_attempt_time, `an attempted delivery has last_attempt_time: ${JSON.stringify(d)}`);
  if (withAttempts) {
    assert.ok(Array.isArray(d.attempts), `attempts: ${JSON.stringify(d)}`);
    assert.equal(d.attempts.length, d.attempt_count, `attempts listed = attempt_count: ${JSON.stringify(d)}`);
    let prev = '';
    for (const a of d.attempts) {
      assert.match(a.id, ATT_RE);
      assert.match(a.time, TIME_RE);
      assert.ok(a.time >= prev, `attempts oldest first: ${JSON.stringify(d.attempts)}`);
      prev = a.time;
      assert.equal(typeof a.latency_ms, 'number');
      assert.ok(a.latency_ms >= 0, `latency_ms ${a.latency_ms}`);
      assert.ok(a.response_status !== undefined || a.error !== undefined,
        `an attempt has a response_status or an error: ${JSON.stringify(a)}`);
      for (const key of Object.keys(a)) {
        assert.ok(['id', 'time', 'latency_ms', 'response_status', 'response_excerpt', 'request_headers',
          'response_excerpt_base64', 'error'].includes(key), `unexpected attempt member ${key}`);
      }
    }
    if (d.attempts.length) assert.equal(d.last_attempt_time, d.attempts.at(-1).time);
    assert.equal(d.last_response_status, d.attempts.length ? d.attempts.at(-1).response_status : undefined,
      'last_response_status is the newest attempt\'s');
  }
}

/** The signatures of a request: ['v1,...', ...]. */
function signatures(rec) {
  const h = rec.headers['webhook-signature'];
  assert.ok(h, 'webhook-signature header present');
  return h.split(' ');
}

/** Standard Webhooks v1 signature computed here, independently. */
function sign(secret, id, ts, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
}

/** Verify with the standardwebhooks library; returns the parsed payload. */
function verify(secret, rec, signatureHeader) {
  const headers = { ...rec.headers };
  if (signatureHeader !== undefined) headers['webhook-signature'] = signatureHeader;
  return new Webhook(secret).verify(rec.body, headers);
}

function assertVerifyFails(secret, rec, signatureHeader, what) {
  assert.throws(() => verify(secret, rec, signatureHeader), /signature/i, what);
}

/** Assert the standard headers of a delivery request. */
function assertDeliveryRequest(rec, msgId) {
  assert.equal(rec.method, 'POST');
  assert.equal(rec.headers['content-type'], 'application/json');
  assert.match(rec.headers['user-agent'] || '', /^kabar\/\d+\.\d+\.\d+/, `user-agent ${rec.headers['user-agent']}`);
  assert.equal(rec.headers['webhook-id'], msgId);
  const ts = rec.headers['webhook-timestamp'];
  assert.match(ts, /^\d+$/, `webhook-timestamp ${ts}`);
  assert.ok(Math.abs(Number(ts) - rec.time / 1000) <= 5,
    `webhook-timestamp ${ts} within 5 s of the arrival ${rec.time / 1000}`);
  for (const s of signatures(rec)) assert.match(s, /^v1,[A-Za-z0-9+/]{43}=$/, `signature ${s}`);
}

/** Parse the Prometheus text format into {"name{labels}": value}. */
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out[m[1]] = Number(m[3]);
  }
  return out;
}

async function metrics(k) {
  const r = await k.request('GET', '/metrics', { key: null });
  assert.equal(r.status, 200, `metrics: ${r.status} ${r.text}`);
  assert.match(r.headers.get('content-type') || '', /^text\/plain/);
  return parseMetrics(r.text);
}

const ids = (reqs) => reqs.map((r) => r.headers['webhook-id']);

// ---------------------------------------------------------------- publish

describe('publishing', () => {
  it('delivers one signed POST with the envelope, verifiable with standardwebhooks', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/hook'), ['batch.succeeded']);
    const data = {
      id: 'batch_123456', output_file_uri: 'https://files.example.com/out.jsonl',
      count: 42, nested: { list: [1, 'two', true, null], empty: {} },
    };
    const before = Date.now();
    const ev = await publish(k, 'batch.succeeded', data, { deliveries: 1 });
    const [rec] = await rcv.waitForCount('/hook', 1, 10_000);
    assertDeliveryRequest(rec, ev.id);
    assert.equal(signatures(rec).length, 1, 'one live secret, one signature');

    // The envelope: exactly type, version, timestamp, data (in this order), compact.
    const body = JSON.parse(rec.text);
    assert.deepEqual(Object.keys(body), ['type', 'version', 'timestamp', 'data'], `envelope: ${rec.text}`);
    assert.equal(body.type, 'batch.succeeded');
    assert.equal(body.version, 'v1');
    assert.match(body.timestamp, RFC3339_RE);
    const ts = Date.parse(body.timestamp);
    assert.ok(ts >= before - 2000 && ts <= Date.now() + 1000, `envelope timestamp ${body.timestamp} is now`);
    assert.deepEqual(body.data, data);
    assert.equal(rec.text, JSON.stringify(body), 'the body is compact JSON');

    // standardwebhooks accepts it, and the signature is the one computed here.
    assert.deepEqual(verify(wh.new_signing_secret, rec), body);
    assert.equal(rec.headers['webhook-signature'],
      sign(wh.new_signing_secret, ev.id, rec.headers['webhook-timestamp'], rec.body));
    // A wrong secret, a changed body, or a changed id does not verify.
    const other = 'whsec_' + crypto.randomBytes(32).toString('base64');
    assertVerifyFails(other, rec, undefined, 'another secret');
    assert.throws(() => new Webhook(wh.new_signing_secret).verify(rec.text.replace('42', '43'), rec.headers));
    assert.throws(() => new Webhook(wh.new_signing_secret).verify(rec.body, { ...rec.headers, 'webhook-id': 'msg_x' }));

    // Exactly one request, and the log agrees: succeeded after one attempt.
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded');
    assertDelivery(d, { withAttempts: true });
    assert.equal(d.webhook_id, wh.id);
    assert.equal(d.uri, rcv.url('/hook'));
    assert.equal(d.event_type, 'batch.succeeded');
    assert.equal(d.attempt_count, 1);
    assert.equal(d.attempts[0].response_status, 200);
    assert.equal(d.attempts[0].response_excerpt, 'ok');
    await sleep(1500);
    assert.equal(rcv.forPath('/hook').length, 1, 'exactly one request');
    await k.stop();
  });

  it('the /v1beta/ prefix publishes too', T, async (t) => {
    const { k, rcv } = await setup(t);
    await createHook(k, rcv.url('/beta'), ['video.generated']);
    const r = await k.request('POST', '/v1beta/events', {
      body: { type: 'video.generated', data: { id: 'video_1', file_name: 'v.mp4' } },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.deliveries, 1);
    const [rec] = await rcv.waitForCount('/beta', 1, 10_000);
    assert.equal(rec.headers['webhook-id'], r.json.id);
    assert.deepEqual(JSON.parse(rec.text).data, { id: 'video_1', file_name: 'v.mp4' });
    await k.stop();
  });

  it('rejects invalid events with 400 and delivers nothing; an unsubscribed type is accepted with 0 deliveries', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/v'), ['batch.succeeded']);
    const bad = [
      ['unknown type', { type: 'batch.nope', data: { id: 'b1' } }],
      ['webhook.ping is not in the catalog', { type: 'webhook.ping', data: { id: 'b1' } }],
      ['missing type', { data: { id: 'b1' } }],
      ['type not a string', { type: 7, data: { id: 'b1' } }],
      ['missing data', { type: 'batch.succeeded' }],
      ['data without id', { type: 'batch.succeeded', data: { output_file_uri: 'x' } }],
      ['data.id empty', { type: 'batch.succeeded', data: { id: '' } }],
      ['data.id not a string', { type: 'batch.succeeded', data: { id: 12 } }],
      ['data a string', { type: 'batch.succeeded', data: 'b1' }],
      ['data an array', { type: 'batch.succeeded', data: [{ id: 'b1' }] }],
      ['data null', { type: 'batch.succeeded', data: null }],
      ['body an array', [{ type: 'batch.succeeded', data: { id: 'b1' } }]],
      ['malformed JSON', '{"type": "batch.succeeded", "data": {"id": "b1"}'],
      ['empty body', ''],
    ];
    for (const [what, body] of bad) {
      const r = await publishRaw(k, body);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assertError(r, 400, 'INVALID_ARGUMENT');
    }
    // Without a key: 401, nothing created.
    const unauth = await k.request('POST', '/v1/events', { key: null, body: { type: 'batch.succeeded', data: { id: 'b1' } } });
    assertError(unauth, 401, 'UNAUTHENTICATED');

    // Nobody subscribes to batch.failed: accepted, no delivery.
    const none = await publish(k, 'batch.failed', { id: 'b2', error_code: 'X', error_message: 'y' }, { deliveries: 0 });
    // A valid event after all that: the only one delivered.
    const ok = await publish(k, 'batch.succeeded', { id: 'b3' }, { deliveries: 1 });
    assert.notEqual(none.id, ok.id);
    await rcv.waitForCount('/v', 1, 10_000);
    await sleep(1500);
    assert.deepEqual(ids(rcv.requests), [ok.id], 'only the valid, subscribed event was delivered');
    const log = await listDeliveries(k, wh.id);
    assert.deepEqual(log.map((d) => d.message_id), [ok.id], 'one delivery in the log');
    await k.stop();
  });

  it('only enabled webhooks of the project that subscribe to the type receive it', T, async (t) => {
    const { k, rcv } = await setup(t, { apiKeys: TWO_PROJECTS });
    const a1 = await createHook(k, rcv.url('/a1'), ['batch.succeeded'], {}, KEY_A);
    const a2 = await createHook(k, rcv.url('/a2'), ['batch.failed', 'interaction.completed'], {}, KEY_A);
    const a3 = await createHook(k, rcv.url('/a3'), ['batch.succeeded', 'batch.failed'], { state: 'disabled' }, KEY_A);
    assert.equal(a3.state, 'disabled');
    const a4 = await createHook(k, rcv.url('/a4'), ['batch.succeeded'], {}, KEY_A);
    await setState(k, a4.id, 'disabled', KEY_A);
    const b = await createHook(k, rcv.url('/b'), ['batch.succeeded', 'batch.failed'], {}, KEY_B);

    const e1 = await publish(k, 'batch.succeeded', { id: 'b1' }, { key: KEY_A, deliveries: 1 });
    const e2 = await publish(k, 'batch.failed', { id: 'b2' }, { key: KEY_A, deliveries: 1 });
    const e3 = await publish(k, 'interaction.completed', { id: 'i3' }, { key: KEY_A, deliveries: 1 });
    await publish(k, 'video.generated', { id: 'v4' }, { key: KEY_A, deliveries: 0 });
    const e5 = await publish(k, 'batch.failed', { id: 'b5' }, { key: KEY_B, deliveries: 1 });

    await rcv.waitFor(() => rcv.forPath('/a1').length >= 1 && rcv.forPath('/a2').length >= 2
      && rcv.forPath('/b').length >= 1, 10_000, 'the expected deliveries');
    await sleep(1500);
    assert.deepEqual(ids(rcv.forPath('/a1')), [e1.id]);
    assert.deepEqual(ids(rcv.forPath('/a2')).sort(), [e2.id, e3.id].sort());
    assert.deepEqual(ids(rcv.forPath('/a3')), [], 'a webhook created disabled gets nothing');
    assert.deepEqual(ids(rcv.forPath('/a4')), [], 'a webhook updated to disabled gets nothing');
    assert.deepEqual(ids(rcv.forPath('/b')), [e5.id], 'the other project gets only its own event');
    assert.equal(rcv.requests.length, 4);
    assert.deepEqual(await listDeliveries(k, a3.id, { key: KEY_A }), []);
    // Another project's webhook is not found through this project's key.
    const r = await k.request('GET', `/v1/webhooks/${b.id}/deliveries`, { key: KEY_A });
    assertError(r, 404, 'NOT_FOUND');
    assert.equal(a1.state, 'enabled');
    await k.stop();
  });

  it('Idempotency-Key: a repeated key answers the first id with duplicate true and delivers once', T, async (t) => {
    const { k, rcv } = await setup(t, { apiKeys: TWO_PROJECTS });
    const wh = await createHook(k, rcv.url('/i'), ['batch.succeeded', 'batch.failed'], {}, KEY_A);
    const hb = await createHook(k, rcv.url('/ib'), ['batch.succeeded'], {}, KEY_B);
    const headers = { 'Idempotency-Key': 'order-42-succeeded' };
    const first = await publish(k, 'batch.succeeded', { id: 'b1' }, { key: KEY_A, headers, deliveries: 1 });
    const second = await publish(k, 'batch.succeeded', { id: 'b1' }, { key: KEY_A, headers, duplicate: true });
    assert.equal(second.id, first.id, 'the same id');
    // Even with another body, the key wins.
    const third = await publish(k, 'batch.failed', { id: 'b9' }, { key: KEY_A, headers, duplicate: true });
    assert.equal(third.id, first.id);
    // Another key is another event; the same key in another project too.
    const other = await publish(k, 'batch.succeeded', { id: 'b1' }, {
      key: KEY_A, headers: { 'Idempotency-Key': 'order-43' }, deliveries: 1 });
    assert.notEqual(other.id, first.id);
    const otherProject = await publish(k, 'batch.succeeded', { id: 'b1' }, { key: KEY_B, headers, deliveries: 1 });
    assert.notEqual(otherProject.id, first.id);

    await rcv.waitFor(() => rcv.forPath('/i').length >= 2 && rcv.forPath('/ib').length >= 1, 10_000, 'deliveries');
    await sleep(1500);
    assert.deepEqual(ids(rcv.forPath('/i')).sort(), [first.id, other.id].sort(), 'the duplicate is not delivered');
    assert.deepEqual(ids(rcv.forPath('/ib')), [otherProject.id]);
    assert.equal((await listDeliveries(k, wh.id, { key: KEY_A })).length, 2);
    assert.equal((await listDeliveries(k, hb.id, { key: KEY_B })).length, 1);
    await k.stop();
  });
});

// ---------------------------------------------------------------- signing

describe('signing secrets', () => {
  it('during a rotation grace both secrets sign; after an immediate revocation only the new one', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/rot'), ['batch.succeeded']);
    const s1 = wh.new_signing_secret;

    const rot = await k.request('POST', `/v1/webhooks/${wh.id}:rotateSigningSecret`, { body: {} });
    assert.equal(rot.status, 200, rot.text);
    const s2 = rot.json.secret;
    assert.match(s2, SECRET_RE);
    assert.notEqual(s2, s1);

    const e1 = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const [r1] = await rcv.waitForCount('/rot', 1, 10_000);
    assertDeliveryRequest(r1, e1.id);
    const sigs = signatures(r1);
    assert.equal(sigs.length, 2, `two signatures during the grace: ${r1.headers['webhook-signature']}`);
    const ts1 = r1.headers['webhook-timestamp'];
    // Newest first: the new secret's signature, then the old one's.
    assert.equal(sigs[0], sign(s2, e1.id, ts1, r1.body), 'first signature: the new secret');
    assert.equal(sigs[1], sign(s1, e1.id, ts1, r1.body), 'second signature: the old secret');
    // Each signature on its own verifies with its own secret, and only with it.
    verify(s2, r1, sigs[0]);
    verify(s1, r1, sigs[1]);
    assertVerifyFails(s1, r1, sigs[0], 'old secret, new signature');
    assertVerifyFails(s2, r1, sigs[1], 'new secret, old signature');
    // The whole header verifies with either secret.
    verify(s1, r1);
    verify(s2, r1);

    const rot2 = await k.request('POST', `/v1/webhooks/${wh.id}:rotateSigningSecret`, {
      body: { revocation_behavior: 'REVOKE_PREVIOUS_SECRETS_IMMEDIATELY' } });
    assert.equal(rot2.status, 200, rot2.text);
    const s3 = rot2.json.secret;
    assert.match(s3, SECRET_RE);

    const e2 = await publish(k, 'batch.succeeded', { id: 'b2' }, { deliveries: 1 });
    const reqs = await rcv.waitForCount('/rot', 2, 10_000);
    const r2 = reqs[1];
    assertDeliveryRequest(r2, e2.id);
    assert.equal(signatures(r2).length, 1, `one signature after an immediate revocation: ${r2.headers['webhook-signature']}`);
    assert.equal(signatures(r2)[0], sign(s3, e2.id, r2.headers['webhook-timestamp'], r2.body));
    verify(s3, r2);
    assertVerifyFails(s2, r2, undefined, 'the revoked secret s2');
    assertVerifyFails(s1, r2, undefined, 'the revoked secret s1');
    await k.stop();
  });
});

// ---------------------------------------------------------------- outcomes

describe('outcomes and retries', () => {
  it('500, 500, 200: three attempts, same webhook-id, re-signed each time, logged', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/r'), ['batch.succeeded']);
    rcv.script('/r', [{ status: 500, body: 'oops-1' }, { status: 500, body: 'oops-2' }, { status: 200, body: 'fine' }]);
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const reqs = await rcv.waitForCount('/r', 3, 20_000);
    assert.equal(reqs.length, 3);
    const tss = reqs.map((r) => Number(r.headers['webhook-timestamp']));
    for (const [i, r] of reqs.entries()) {
      assertDeliveryRequest(r, ev.id);
      verify(wh.new_signing_secret, r);
      assert.equal(r.headers['webhook-signature'],
        sign(wh.new_signing_secret, ev.id, r.headers['webhook-timestamp'], r.body), `attempt ${i + 1} signature`);
      assert.ok(r.body.equals(reqs[0].body), 'the same body bytes on every attempt');
    }
    assert.ok(tss[1] >= tss[0] && tss[2] >= tss[1], `webhook-timestamp never decreases: ${tss}`);
    assert.ok(tss[2] > tss[0], `webhook-timestamp increases across retries: ${tss}`);
    assert.notEqual(reqs[2].headers['webhook-signature'], reqs[0].headers['webhook-signature']);
    // The schedule: ~1 s (+-20%) between attempts.
    for (let i = 1; i < 3; i++) {
      const gap = reqs[i].time - reqs[i - 1].time;
      assert.ok(gap >= 700 && gap <= 4000, `gap before attempt ${i + 1}: ${gap} ms (schedule 1 s +-20%)`);
    }

    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded' && x.attempt_count === 3);
    assertDelivery(d, { withAttempts: true });
    assert.equal(d.message_id, ev.id);
    assert.equal(d.webhook_id, wh.id);
    assert.equal(d.attempt_count, 3);
    assert.equal(d.attempts[0].response_status, 500);
    assert.equal(d.attempts[0].response_excerpt, 'oops-1');
    assert.equal(d.attempts[1].response_status, 500);
    assert.equal(d.attempts[1].response_excerpt, 'oops-2');
    assert.equal(d.attempts[2].response_status, 200);
    assert.equal(d.attempts[2].response_excerpt, 'fine');
    for (const a of d.attempts) assert.equal(a.error, undefined, `no error on an answered attempt: ${JSON.stringify(a)}`);
    await sleep(1500);
    assert.equal(rcv.forPath('/r').length, 3, 'no attempt after the success');
    await k.stop();
  });

  it('a non-UTF-8 response body is logged as response_excerpt_base64, at most 1 KiB', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/bin'), ['batch.succeeded']);
    const bin = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
    const big = 'x'.repeat(5000);
    rcv.script('/bin', [{ status: 500, body: bin }, { status: 200, body: big }]);
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded');
    assertDelivery(d, { withAttempts: true });
    assert.equal(d.attempts[0].response_excerpt, undefined);
    assert.deepEqual(Buffer.from(d.attempts[0].response_excerpt_base64, 'base64'), bin);
    assert.equal(d.attempts[1].response_excerpt, 'x'.repeat(1024), 'the first KiB');
    await k.stop();
  });

  it('redirects are not followed: a 3xx is a failure', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/redir'), ['batch.succeeded']);
    rcv.script('/redir', [{ status: 307, headers: { location: rcv.url('/target') } }, { status: 200 }]);
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded');
    assert.deepEqual(d.attempts.map((a) => a.response_status), [307, 200]);
    assert.equal(rcv.forPath('/target').length, 0, 'the redirect was not followed');
    await k.stop();
  });

  it('410 Gone: one attempt, delivery failed, webhook disabled_due_to_failed_deliveries; enabling brings it back', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/gone'), ['batch.succeeded']);
    rcv.script('/gone', { status: 410, body: 'gone' });
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    await rcv.waitForCount('/gone', 1, 10_000);
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state !== 'pending');
    assertDelivery(d, { withAttempts: true });
    assert.equal(d.state, 'failed');
    assert.equal(d.attempt_count, 1);
    assert.equal(d.attempts[0].response_status, 410);
    await waitFor(async () => (await getHook(k, wh.id)).state === 'disabled_due_to_failed_deliveries',
      5000, 'the webhook disabled');
    await sleep(2500); // the schedule would have retried twice by now
    assert.equal(rcv.forPath('/gone').length, 1, 'no retry after 410');

    // Disabled: nothing new is created for it.
    await publish(k, 'batch.succeeded', { id: 'b2' }, { deliveries: 0 });
    // A user may not set the kabard-only state.
    const bad = await k.request('PATCH', `/v1/webhooks/${wh.id}`, { body: { state: 'disabled_due_to_failed_deliveries' } });
    assertError(bad, 400, 'INVALID_ARGUMENT');

    await setState(k, wh.id, 'enabled');
    assert.equal((await getHook(k, wh.id)).state, 'enabled');
    const e3 = await publish(k, 'batch.succeeded', { id: 'b3' }, { deliveries: 1 });
    const reqs = await rcv.waitForCount('/gone', 2, 10_000);
    assert.equal(reqs[1].headers['webhook-id'], e3.id);
    await waitDelivery(k, wh.id, e3.id, (x) => x.state === 'succeeded');
    await sleep(1000);
    assert.deepEqual(ids(rcv.forPath('/gone')), [ev.id, e3.id], 'the failed delivery stays failed');
    await k.stop();
  });

  it('429 with Retry-After: 2 delays the next attempt by ~2 s (the schedule says 1 s)', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/slow-down'), ['batch.succeeded']);
    rcv.script('/slow-down', [{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }]);
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const reqs = await rcv.waitForCount('/slow-down', 2, 15_000);
    const gap = reqs[1].time - reqs[0].time;
    assert.ok(gap >= 1900, `next attempt ${gap} ms after the 429, not before ~2 s`);
    assert.ok(gap <= 5000, `next attempt ${gap} ms after the 429, not much later than 2 s`);
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded');
    assert.deepEqual(d.attempts.map((a) => a.response_status), [429, 200]);
    await k.stop();
  });

  it('503 with an HTTP-date Retry-After is honoured too', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/unavail'), ['batch.succeeded']);
    // Computed when the request arrives: "retry at now + 3 s" (second resolution: 2-3 s).
    rcv.script('/unavail', [
      () => ({ status: 503, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } }),
      { status: 200 },
    ]);
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const reqs = await rcv.waitForCount('/unavail', 2, 15_000);
    const gap = reqs[1].time - reqs[0].time;
    assert.ok(gap >= 1900, `next attempt ${gap} ms after the 503, not before the HTTP date (2-3 s)`);
    assert.ok(gap <= 6000, `next attempt ${gap} ms after the 503`);
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded');
    assert.deepEqual(d.attempts.map((a) => a.response_status), [503, 200]);
    await k.stop();
  });

  it('a hung endpoint times out (KABAR_TIMEOUT_MS) and the error says so; pending deliveries cannot be :retry-ed', T, async (t) => {
    const { k, rcv } = await setup(t, { env: { KABAR_TIMEOUT_MS: '1000' } });
    const wh = await createHook(k, rcv.url('/hang'), ['batch.succeeded']);
    rcv.always('/hang', { hang: true });
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    await rcv.waitForCount('/hang', 1, 10_000);
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.attempt_count >= 1, 10_000);
    assertDelivery(d, { withAttempts: true });
    assert.equal(d.state, 'pending', 'a timeout is retried');
    const a = d.attempts[0];
    assert.equal(a.response_status, undefined, `no status: ${JSON.stringify(a)}`);
    assert.match(a.error || '', /time(d)?[ -]?out/i, `the attempt error mentions the timeout: ${JSON.stringify(a)}`);
    assert.ok(a.latency_ms >= 900 && a.latency_ms < 5000, `latency ${a.latency_ms} ms ~ the 1 s timeout`);

    const pending = await listDeliveries(k, wh.id, { state: 'pending' });
    assert.deepEqual(pending.map((x) => x.id), [d.id]);
    const r = await k.request('POST', `/v1/deliveries/${d.id}:retry`, { body: {} });
    assertError(r, 400, 'FAILED_PRECONDITION');
    await k.stop();
  });

  /** Hang `stuck` endpoint on rcvStuck with 10 events, then publish 5 healthy events
   *  to rcvOk one at a time: each must arrive within 1 s. */
  async function hungVsHealthy(k, rcvStuck, rcvOk) {
    await createHook(k, rcvStuck.url('/stuck'), ['batch.failed']);
    await createHook(k, rcvOk.url('/healthy'), ['batch.succeeded']);
    rcvStuck.always('/stuck', { hang: true });
    for (let i = 0; i < 10; i++) await publish(k, 'batch.failed', { id: `stuck-${i}` }, { deliveries: 1 });
    await rcvStuck.waitForCount('/stuck', 1, 5000);
    await sleep(300);
    const lat = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const ev = await publish(k, 'batch.succeeded', { id: `ok-${i}` }, { deliveries: 1 });
      await rcvOk.waitFor(() => rcvOk.forPath('/healthy').some((r) => r.headers['webhook-id'] === ev.id),
        10_000, `healthy delivery ${i}`);
      const rec = rcvOk.forPath('/healthy').find((r) => r.headers['webhook-id'] === ev.id);
      lat.push(rec.time - t0);
    }
    assert.ok(lat.every((ms) => ms <= 1000), `healthy events arrive within 1 s of publishing: ${lat} ms`);
    assert.ok(rcvStuck.forPath('/stuck').length <= 4, 'at most KABAR_MAX_PER_ENDPOINT (4) attempts at once to one endpoint');
  }

  it('a hung endpoint does not delay a healthy one (another receiver)', T, async (t) => {
    const { k, rcv } = await setup(t, { env: { KABAR_TIMEOUT_MS: '8000', KABAR_MAX_PER_ENDPOINT: '4' } });
    const ok = await startReceiver();
    t.after(() => ok.close());
    await hungVsHealthy(k, rcv, ok);
    // Close the receiver so the hung attempts end now, then stop.
    await rcv.close();
    await k.stop();
  });

  it('a hung endpoint does not delay a healthy one on the same host (another URI)', T, async (t) => {
    const { k, rcv } = await setup(t, { env: { KABAR_TIMEOUT_MS: '8000', KABAR_MAX_PER_ENDPOINT: '4' } });
    await hungVsHealthy(k, rcv, rcv);
    await rcv.close();
    await k.stop();
  });

  it('attempts to one slow endpoint run concurrently, up to KABAR_MAX_PER_ENDPOINT', T, async (t) => {
    const { k, rcv } = await setup(t, { env: { KABAR_MAX_PER_ENDPOINT: '4' } });
    const wh = await createHook(k, rcv.url('/slow'), ['batch.succeeded']);
    rcv.always('/slow', { delayMs: 2000 });
    const evs = [];
    for (let i = 0; i < 8; i++) evs.push(await publish(k, 'batch.succeeded', { id: `b${i}` }, { deliveries: 1 }));
    const reqs = await rcv.waitForCount('/slow', 8, 20_000);
    const rel = reqs.map((r) => r.time - reqs[0].time);
    // Concurrency over time: at most 4 requests open at once ...
    let maxOpen = 0;
    for (const r of reqs) {
      const open = reqs.filter((x) => x.time <= r.time && (x.answerTime ?? Infinity) > r.time).length;
      maxOpen = Math.max(maxOpen, open);
    }
    assert.ok(maxOpen <= 4, `at most 4 attempts open at once: ${maxOpen} (arrivals at ${rel} ms)`);
    // ... and 4 of them do start together, not one after the other.
    assert.ok(rel[3] < 1000, `the first 4 attempts start within 1 s of each other (arrivals at ${rel} ms)`);
    for (const e of evs) await waitDelivery(k, wh.id, e.id, (x) => x.state === 'succeeded', 10_000);
    await k.stop();
  });

  it('retries end at KABAR_RETRY_WINDOW_S: failed; :retry and :recover re-queue', T, async (t) => {
    const { k, rcv } = await setup(t, { env: { KABAR_RETRY_WINDOW_S: '3' } });
    const wh = await createHook(k, rcv.url('/f'), ['batch.succeeded']);
    rcv.always('/f', { status: 500, body: 'down' });
    const t0 = Date.now();
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const d = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'failed', 15_000, 'failed');
    assertDelivery(d, { withAttempts: true });
    assert.ok(d.attempt_count >= 2 && d.attempt_count <= 5, `attempts within a 3 s window: ${d.attempt_count}`);
    for (const a of d.attempts) assert.equal(a.response_status, 500);
    const created = Date.parse(d.create_time);
    assert.ok(Date.parse(d.attempts.at(-1).time) <= created + 3000 + 500,
      `no attempt after the window: ${d.attempts.at(-1).time} vs create ${d.create_time}`);
    assert.equal(d.next_attempt_time, undefined, 'a failed delivery has no next attempt');
    const seen = rcv.forPath('/f').length;
    assert.equal(seen, d.attempt_count, 'every attempt reached the receiver and is logged');
    await sleep(1500);
    assert.equal(rcv.forPath('/f').length, seen, 'no attempt after failing');
    assert.deepEqual((await listDeliveries(k, wh.id, { state: 'failed' })).map((x) => x.id), [d.id]);

    // Manual retry, now that the endpoint works.
    rcv.always('/f', { status: 200, body: 'back' });
    const r = await k.request('POST', `/v1/deliveries/${d.id}:retry`, { body: {} });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    const reqs = await rcv.waitForCount('/f', seen + 1, 10_000);
    assert.equal(reqs.at(-1).headers['webhook-id'], ev.id);
    verify(wh.new_signing_secret, reqs.at(-1));
    const d2 = await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded', 10_000);
    assert.equal(d2.attempt_count, seen + 1);
    assert.equal(d2.attempts.at(-1).response_status, 200);
    // A succeeded delivery may be retried too (docs: "a failed or succeeded delivery").
    const again = await k.request('POST', `/v1/deliveries/${d.id}:retry`, {});
    assert.equal(again.status, 200, again.text);
    await rcv.waitForCount('/f', seen + 2, 10_000);
    await waitDelivery(k, wh.id, ev.id, (x) => x.state === 'succeeded' && x.attempt_count === seen + 2, 10_000);

    // :recover: two more failed deliveries, recovered by "since".
    rcv.always('/f', { status: 500 });
    const e2 = await publish(k, 'batch.succeeded', { id: 'b2' }, { deliveries: 1 });
    await sleep(100);
    const tMid = new Date().toISOString();
    await sleep(100);
    const e3 = await publish(k, 'batch.succeeded', { id: 'b3' }, { deliveries: 1 });
    await waitDelivery(k, wh.id, e2.id, (x) => x.state === 'failed', 15_000, 'e2 failed');
    await waitDelivery(k, wh.id, e3.id, (x) => x.state === 'failed', 15_000, 'e3 failed');
    rcv.always('/f', { status: 200 });
    const n0 = rcv.forPath('/f').length;

    const future = await k.request('POST', `/v1/webhooks/${wh.id}:recover`,
      { body: { since: new Date(Date.now() + 3600_000).toISOString() } });
    assert.equal(future.status, 200, future.text);
    assert.deepEqual(future.json, { recovered: 0 });
    const badSince = await k.request('POST', `/v1/webhooks/${wh.id}:recover`, { body: { since: 'yesterday' } });
    assertError(badSince, 400, 'INVALID_ARGUMENT');
    const missing = await k.request('POST', `/v1/webhooks/${MISSING_ID}:recover`,
      { body: { since: new Date(t0).toISOString() } });
    assertError(missing, 404, 'NOT_FOUND');

    const rec1 = await k.request('POST', `/v1/webhooks/${wh.id}:recover`, { body: { since: tMid } });
    assert.equal(rec1.status, 200, rec1.text);
    assert.deepEqual(rec1.json, { recovered: 1 }, 'only e3 was created since tMid');
    await waitDelivery(k, wh.id, e3.id, (x) => x.state === 'succeeded', 10_000, 'e3 recovered');
    const rec2 = await k.request('POST', `/v1/webhooks/${wh.id}:recover`,
      { body: { since: new Date(t0 - 1000).toISOString() } });
    assert.equal(rec2.status, 200, rec2.text);
    assert.deepEqual(rec2.json, { recovered: 1 }, 'only e2 is still failed');
    await waitDelivery(k, wh.id, e2.id, (x) => x.state === 'succeeded', 10_000, 'e2 recovered');
    const after = rcv.forPath('/f').slice(n0);
    assert.deepEqual(ids(after).sort(), [e2.id, e3.id].sort(), 'one more attempt each');
    const rec3 = await k.request('POST', `/v1/webhooks/${wh.id}:recover`,
      { body: { since: new Date(t0 - 1000).toISOString() } });
    assert.deepEqual(rec3.json, { recovered: 0 });
    await k.stop();
  });

  it('a webhook failing for KABAR_DISABLE_AFTER_S is disabled; its pending deliveries wait until it is enabled', T, async (t) => {
    const { k, rcv } = await setup(t, { env: { KABAR_DISABLE_AFTER_S: '2' } });
    const wh = await createHook(k, rcv.url('/d'), ['batch.succeeded']);
    const healthy = await createHook(k, rcv.url('/d-ok'), ['batch.succeeded']);
    rcv.always('/d', { status: 500 });
    const e1 = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 2 });
    const [first] = await rcv.waitForCount('/d', 1, 10_000);
    await waitFor(async () => (await getHook(k, wh.id)).state === 'disabled_due_to_failed_deliveries',
      15_000, 'auto-disable', 100);
    const disabledAt = Date.now();
    assert.ok(disabledAt - first.time >= 1500,
      `disabled ${disabledAt - first.time} ms after the first failure (KABAR_DISABLE_AFTER_S=2)`);
    assert.equal((await getHook(k, healthy.id)).state, 'enabled', 'the healthy webhook stays enabled');
    await sleep(300);
    const n = rcv.forPath('/d').length;
    const d1 = await findDelivery(k, wh.id, e1.id);
    assert.equal(d1.state, 'pending', 'the pending delivery waits (the window is 24 h)');

    // While disabled: a new event is not delivered to it (only to the healthy one).
    const e2 = await publish(k, 'batch.succeeded', { id: 'b2' }, { deliveries: 1 });
    await rcv.waitFor(() => ids(rcv.forPath('/d-ok')).includes(e2.id), 5000, 'e2 to the healthy webhook');
    await sleep(2500);
    assert.equal(rcv.forPath('/d').length, n, 'no attempts while disabled');

    // Enabled again: the pending delivery resumes and succeeds.
    rcv.always('/d', { status: 200 });
    await setState(k, wh.id, 'enabled');
    await rcv.waitFor(() => rcv.forPath('/d').length > n, 10_000, 'the waiting delivery resumes');
    await waitDelivery(k, wh.id, e1.id, (x) => x.state === 'succeeded', 10_000);
    const e3 = await publish(k, 'batch.succeeded', { id: 'b3' }, { deliveries: 2 });
    await rcv.waitFor(() => ids(rcv.forPath('/d')).includes(e3.id), 10_000, 'e3 delivered');
    await sleep(1000);
    assert.ok(!ids(rcv.forPath('/d')).includes(e2.id), 'the event published while disabled is never delivered to it');
    assert.equal((await getHook(k, wh.id)).state, 'enabled');
    await k.stop();
  });
});

// ---------------------------------------------------------------- SSRF

describe('SSRF protection', () => {
  it('without --allow-private-targets: http:// is refused at create, loopback at delivery', T, async (t) => {
    const { k, rcv } = await setup(t, { allowPrivate: false });
    const r = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/nope'), subscribed_events: ['batch.succeeded'] } });
    assertError(r, 400, 'INVALID_ARGUMENT');

    const lo = await createHook(k, `https://localhost:${rcv.port}/ssrf`, ['batch.succeeded']);
    const priv = await createHook(k, 'https://10.0.0.1/ssrf', ['batch.succeeded']);
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 2 });
    const d = await waitDelivery(k, lo.id, ev.id, (x) => x.attempt_count >= 1, 10_000);
    const err = d.attempts[0].error || '';
    assert.match(err, /refused to connect/, `attempt error: ${JSON.stringify(d.attempts[0])}`);
    assert.match(err, /loopback/, `attempt error names the kind: ${err}`);
    assert.equal(d.attempts[0].response_status, undefined);
    const dp = await waitDelivery(k, priv.id, ev.id, (x) => x.attempt_count >= 1, 10_000);
    assert.match(dp.attempts[0].error || '', /refused to connect to 10\.0\.0\.1.*private/, JSON.stringify(dp.attempts[0]));
    assert.ok(dp.attempts[0].latency_ms < 1000, 'refused before any connection');
    assert.equal(rcv.requests.length, 0, 'nothing reached the receiver');
    await k.stop();
  });
});

// ---------------------------------------------------------------- ping

describe('ping', () => {
  it(':ping delivers a signed webhook.ping to that webhook only, a disabled one included', T, async (t) => {
    const { k, rcv } = await setup(t);
    const wh = await createHook(k, rcv.url('/ping'), ['batch.succeeded']);
    const other = await createHook(k, rcv.url('/other'), ['batch.succeeded']);
    const r = await k.request('POST', `/v1/webhooks/${wh.id}:ping`, { body: {} });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    const [rec] = await rcv.waitForCount('/ping', 1, 10_000);
    assert.match(rec.headers['webhook-id'], MSG_RE);
    assertDeliveryRequest(rec, rec.headers['webhook-id']);
    const body = verify(wh.new_signing_secret, rec);
    assert.deepEqual(Object.keys(body), ['type', 'version', 'timestamp', 'data']);
    assert.equal(body.type, 'webhook.ping');
    assert.equal(body.version, 'v1');
    assert.deepEqual(body.data, { webhook_id: wh.id });
    const d = await waitDelivery(k, wh.id, rec.headers['webhook-id'], (x) => x.state === 'succeeded');
    assert.equal(d.event_type, 'webhook.ping');
    // An empty body works too.
    const r2 = await k.request('POST', `/v1/webhooks/${wh.id}:ping`);
    assert.equal(r2.status, 200, r2.text);
    await rcv.waitForCount('/ping', 2, 10_000);
    await sleep(1000);
    assert.equal(rcv.forPath('/other').length, 0, 'only the pinged webhook gets it');
    assert.equal(other.state, 'enabled');

    // A disabled webhook takes a ping (an operator checking a repaired
    // endpoint) but no other event, and the ping does not enable it.
    await setState(k, wh.id, 'disabled');
    await publish(k, 'batch.succeeded', { id: 'while-disabled' }, { deliveries: 1 }); // other's
    const r3 = await k.request('POST', `/v1/webhooks/${wh.id}:ping`, { body: {} });
    assert.equal(r3.status, 200, r3.text);
    await rcv.waitForCount('/ping', 3, 10_000);
    const third = rcv.forPath('/ping')[2];
    assert.equal(third.json.type, 'webhook.ping');
    const d3 = await waitDelivery(k, wh.id, third.headers['webhook-id'], (x) => x.state === 'succeeded');
    assert.equal(d3.event_type, 'webhook.ping');
    assert.equal((await k.request('GET', `/v1/webhooks/${wh.id}`)).json.state, 'disabled');
    const r4 = await k.request('POST', `/v1/webhooks/${MISSING_ID}:ping`, { body: {} });
    assertError(r4, 404, 'NOT_FOUND');
    await sleep(500);
    assert.equal(rcv.forPath('/ping').length, 3);
    await k.stop();
  });

  it('the @google/genai SDK ping produces a delivery that standardwebhooks verifies', T, async (t) => {
    const { k, rcv } = await setup(t);
    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: k.baseUrl } });
    const created = await ai.webhooks.create({ uri: rcv.url('/sdk'), subscribed_events: ['batch.succeeded'] });
    assert.match(created.new_signing_secret, SECRET_RE);
    await ai.webhooks.ping(created.id);
    const [rec] = await rcv.waitForCount('/sdk', 1, 10_000);
    const body = verify(created.new_signing_secret, rec);
    assert.equal(body.type, 'webhook.ping');
    assert.deepEqual(body.data, { webhook_id: created.id });
    await k.stop();
  });
});

// ---------------------------------------------------------------- log

describe('the delivery log', () => {
  it('pages newest first, filters by state, 404s unknown and foreign deliveries', T, async (t) => {
    const { k, rcv } = await setup(t, { apiKeys: TWO_PROJECTS, env: { KABAR_RETRY_WINDOW_S: '2' } });
    const wh = await createHook(k, rcv.url('/log'), ['batch.succeeded'], {}, KEY_A);
    rcv.always('/log', { status: 500 });
    const evs = [];
    for (let i = 0; i < 2; i++) evs.push(await publish(k, 'batch.succeeded', { id: `f${i}` }, { key: KEY_A }));
    for (const e of evs) await waitDelivery(k, wh.id, e.id, (x) => x.state === 'failed', 15_000, 'failed', KEY_A);
    rcv.always('/log', { status: 200 });
    for (let i = 0; i < 3; i++) evs.push(await publish(k, 'batch.succeeded', { id: `s${i}` }, { key: KEY_A }));
    for (const e of evs.slice(2)) await waitDelivery(k, wh.id, e.id, (x) => x.state === 'succeeded', 10_000, 'succeeded', KEY_A);
    const newestFirst = evs.map((e) => e.id).reverse();

    // Pages of 2: 2, 2, 1, newest first, no token on the last page.
    const pages = [];
    let token;
    for (let i = 0; i < 10; i++) {
      const query = { page_size: '2' };
      if (token) query.page_token = token;
      const r = await k.request('GET', `/v1/webhooks/${wh.id}/deliveries`, { key: KEY_A, query });
      assert.equal(r.status, 200, r.text);
      for (const d of r.json.deliveries) assertDelivery(d);
      pages.push(r.json.deliveries.map((d) => d.message_id));
      token = r.json.next_page_token;
      if (!token) break;
      assert.equal(typeof token, 'string');
    }
    assert.deepEqual(pages, [newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)]);
    const all = await listDeliveries(k, wh.id, { key: KEY_A });
    assert.deepEqual(all.map((d) => d.message_id), newestFirst);
    for (const d of all) assert.equal(d.attempts, undefined, 'the list does not carry attempts');

    assert.deepEqual((await listDeliveries(k, wh.id, { key: KEY_A, state: 'failed' })).map((d) => d.message_id),
      newestFirst.slice(3));
    assert.deepEqual((await listDeliveries(k, wh.id, { key: KEY_A, state: 'succeeded' })).map((d) => d.message_id),
      newestFirst.slice(0, 3));
    assert.deepEqual(await listDeliveries(k, wh.id, { key: KEY_A, state: 'pending' }), []);
    assert.deepEqual((await listDeliveries(k, wh.id, { key: KEY_A, state: 'failed', pageSize: 1 })).map((d) => d.message_id),
      newestFirst.slice(3), 'paging within a state');

    const q = async (query) => k.request('GET', `/v1/webhooks/${wh.id}/deliveries`, { key: KEY_A, query });
    assertError(await q({ state: 'bogus' }), 400, 'INVALID_ARGUMENT');
    assertError(await q({ page_size: '-1' }), 400, 'INVALID_ARGUMENT');
    assertError(await q({ page_size: '1001' }), 400, 'INVALID_ARGUMENT');
    assertError(await q({ page_token: 'not-a-token' }), 400, 'INVALID_ARGUMENT');
    assertError(await k.request('GET', `/v1/webhooks/${MISSING_ID}/deliveries`, { key: KEY_A }), 404, 'NOT_FOUND');

    // Unknown and foreign deliveries.
    const mine = all[0].id;
    assertError(await k.request('GET', '/v1/deliveries/dlv_00000000000000000000000000', { key: KEY_A }), 404, 'NOT_FOUND');
    assertError(await k.request('GET', '/v1/deliveries/not-an-id', { key: KEY_A }), 404, 'NOT_FOUND');
    assertError(await k.request('GET', `/v1/deliveries/${mine}`, { key: KEY_B }), 404, 'NOT_FOUND');
    assertError(await k.request('POST', `/v1/deliveries/${mine}:retry`, { key: KEY_B }), 404, 'NOT_FOUND');
    assertError(await k.request('GET', `/v1/webhooks/${wh.id}/deliveries`, { key: KEY_B }), 404, 'NOT_FOUND');
    assertError(await k.request('POST', `/v1/webhooks/${wh.id}:recover`,
      { key: KEY_B, body: { since: '2020-01-01T00:00:00Z' } }), 404, 'NOT_FOUND');
    assertError(await k.request('GET', `/v1/deliveries/${mine}`, { key: null }), 401, 'UNAUTHENTICATED');
    const got = await getDelivery(k, mine, KEY_A);
    assertDelivery(got, { withAttempts: true });
    assert.equal(got.message_id, newestFirst[0]);
    const beta = await k.request('GET', `/v1beta/deliveries/${mine}`, { key: KEY_A });
    assert.equal(beta.status, 200);
    assert.deepEqual(beta.json, got);
    await k.stop();
  });
});

// ---------------------------------------------------------------- metrics

describe('metrics', () => {
  it('GET /metrics (no key) counts accepted events and attempts by outcome', T, async (t) => {
    const { k, rcv } = await setup(t);
    await createHook(k, rcv.url('/m1'), ['batch.succeeded']);
    await createHook(k, rcv.url('/m2'), ['batch.failed']);
    rcv.script('/m2', [{ status: 500 }, { status: 200 }]);
    const m0 = await metrics(k);
    for (const name of ['kabar_events_accepted_total', 'kabar_events_duplicate_total',
      'kabar_deliveries_created_total', 'kabar_deliveries_fast_total', 'kabar_deliveries_in_flight',
      'kabar_deliveries_pending']) {
      assert.ok(name in m0, `${name} is exported: ${JSON.stringify(m0)}`);
    }
    const val = (m, name) => m[name] ?? 0;
    const SUCC = 'kabar_delivery_attempts_total{outcome="succeeded"}';
    const RETRY = 'kabar_delivery_attempts_total{outcome="retry"}';

    await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    await publish(k, 'batch.succeeded', { id: 'b2' }, { deliveries: 1, headers: { 'idempotency-key': 'm-1' } });
    await publish(k, 'batch.succeeded', { id: 'b2' }, { duplicate: true, headers: { 'idempotency-key': 'm-1' } });
    await publish(k, 'batch.failed', { id: 'b3' }, { deliveries: 1 });
    await publish(k, 'video.generated', { id: 'v4' }, { deliveries: 0 });
    await rcv.waitFor(() => rcv.forPath('/m1').length >= 2 && rcv.forPath('/m2').length >= 2, 10_000, 'deliveries');
    const m1 = await waitFor(async () => {
      const m = await metrics(k);
      return val(m, SUCC) - val(m0, SUCC) >= 3 ? m : null;
    }, 5000, 'metrics to count the successes', 100);
    assert.equal(val(m1, 'kabar_events_accepted_total') - val(m0, 'kabar_events_accepted_total'), 4);
    assert.equal(val(m1, 'kabar_events_duplicate_total') - val(m0, 'kabar_events_duplicate_total'), 1);
    assert.equal(val(m1, 'kabar_deliveries_created_total') - val(m0, 'kabar_deliveries_created_total'), 3);
    assert.equal(val(m1, SUCC) - val(m0, SUCC), 3);
    assert.equal(val(m1, RETRY) - val(m0, RETRY), 1);
    assert.ok(Object.keys(m1).some((key) => key.startsWith('kabar_delivery_attempt_seconds_bucket')),
      'the attempt-latency histogram');
    assert.equal(val(m1, 'kabar_delivery_attempt_seconds_count'), 4, 'four attempts observed');
    const r = await k.request('GET', '/metrics', { key: null });
    assert.ok(!r.text.includes(KEY), 'no key in the metrics');
    await k.stop();
  });
});

// ---------------------------------------------------------------- shutdown

describe('graceful shutdown', () => {
  it('SIGTERM lets an attempt in flight finish, records it, and exits 0', T, async (t) => {
    const rcv = await startReceiver();
    const dataDir = tempDir('kabard-sigterm-');
    const k = new Kabard({ apiKey: KEY, dataDir, env: FAST });
    let k2;
    t.after(async () => {
      await rcv.close();
      await k.cleanup();
      if (k2) await k2.cleanup();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    await k.start();
    const wh = await createHook(k, rcv.url('/slow'), ['batch.succeeded']);
    rcv.always('/slow', { delayMs: 1500, body: 'slow ok' });
    const ev = await publish(k, 'batch.succeeded', { id: 'b1' }, { deliveries: 1 });
    const [rec] = await rcv.waitForCount('/slow', 1, 10_000);
    const t0 = Date.now();
    await k.stop(); // asserts exit 0 within 10 s
    const took = Date.now() - t0;
    assert.ok(Date.now() - rec.time >= 1400, `kabard waited for the attempt (stopped after ${took} ms)`);

    k2 = new Kabard({ apiKey: KEY, dataDir, env: FAST });
    await k2.start();
    const d = await waitDelivery(k2, wh.id, ev.id, (x) => x.state !== 'pending' || x.attempt_count > 0, 5000);
    assertDelivery(d, { withAttempts: true });
    assert.equal(d.state, 'succeeded', `the attempt was recorded: ${JSON.stringify(d)}`);
    assert.equal(d.attempt_count, 1);
    assert.equal(d.attempts[0].response_status, 200);
    assert.equal(d.attempts[0].response_excerpt, 'slow ok');
    assert.ok(d.attempts[0].latency_ms >= 1400, `latency ${d.attempts[0].latency_ms}`);
    await sleep(1500);
    assert.equal(rcv.forPath('/slow').length, 1, 'not sent again after the restart');
    await k2.stop();
  });
});
