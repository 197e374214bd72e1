// SPDX-License-Identifier: Apache-2.0
// Shared expectations of docs/api.md, used by the api, sdk and cli tests.

import assert from 'node:assert/strict';

export const CATALOG = [
  'batch.succeeded', 'batch.cancelled', 'batch.expired', 'batch.failed',
  'interaction.requires_action', 'interaction.completed', 'interaction.failed',
  'interaction.cancelled', 'video.generated',
  'kabar.webhook.disabled', 'kabar.webhook.enabled', 'kabar.delivery.exhausted',
];

/** whsec_ + base64 of 32 bytes (43 chars + one '=' of padding). */
export const SECRET_RE = /^whsec_[A-Za-z0-9+/]{43}=$/;
/** RFC 3339 UTC with microseconds. */
export const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** A prefix and 26 base32 characters (lower case, as in the docs). */
export const ID_RE = /^wh_[0-9a-z]{26}$/;
/** Well-formed ids that no server made. */
export const MISSING_ID = 'wh_00000000000000000000000000';

export const RESOURCE_KEYS = ['create_time', 'id', 'name', 'signing_secrets', 'state',
  'subscribed_events', 'update_time', 'uri'];

let seq = 0;
/** A valid create body; overrides replace fields. */
export function newBody(over = {}) {
  seq++;
  return {
    name: `hook-${seq}`,
    uri: `https://example.com/hooks/${seq}`,
    subscribed_events: ['batch.succeeded', 'batch.failed'],
    ...over,
  };
}

/** Assert a Webhook resource as docs/api.md describes it. */
export function assertWebhook(w, { created = false } = {}) {
  assert.equal(typeof w, 'object');
  const keys = Object.keys(w).sort();
  const want = created ? [...RESOURCE_KEYS, 'new_signing_secret'].sort() : RESOURCE_KEYS;
  assert.deepEqual(keys, want, `resource keys: ${JSON.stringify(w)}`);
  assert.match(w.id, ID_RE);
  assert.equal(typeof w.name, 'string');
  assert.equal(typeof w.uri, 'string');
  assert.ok(Array.isArray(w.subscribed_events) && w.subscribed_events.length > 0);
  for (const e of w.subscribed_events) assert.ok(CATALOG.includes(e), `event ${e}`);
  const order = w.subscribed_events.map((e) => CATALOG.indexOf(e));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'events in catalog order');
  assert.equal(new Set(w.subscribed_events).size, w.subscribed_events.length, 'no duplicate events');
  assert.ok(['enabled', 'disabled', 'disabled_due_to_failed_deliveries'].includes(w.state), `state ${w.state}`);
  assert.ok(Array.isArray(w.signing_secrets) && w.signing_secrets.length >= 1 && w.signing_secrets.length <= 5,
    `signing_secrets: ${JSON.stringify(w.signing_secrets)}`);
  w.signing_secrets.forEach((s, i) => {
    const sk = Object.keys(s).sort();
    if (i === 0) assert.deepEqual(sk, ['truncated_secret'], 'the signing secret has no expire_time');
    else assert.deepEqual(sk, ['expire_time', 'truncated_secret'], 'retiring secrets carry expire_time');
    assert.equal(typeof s.truncated_secret, 'string');
    assert.ok(s.truncated_secret.startsWith('whsec_'), `truncated_secret ${s.truncated_secret}`);
    assert.ok(s.truncated_secret.length < 20, `truncated_secret too long: ${s.truncated_secret}`);
    if (s.expire_time !== undefined) assert.match(s.expire_time, TIME_RE);
  });
  assert.match(w.create_time, TIME_RE);
  assert.match(w.update_time, TIME_RE);
  assert.ok(w.update_time >= w.create_time, 'update_time >= create_time');
  if (created) assert.match(w.new_signing_secret, SECRET_RE);
}

/** Assert none of the secrets appears anywhere in text. */
export function assertNoSecrets(text, secrets, what = 'text') {
  for (const s of secrets) {
    assert.ok(!text.includes(s), `${what} contains the full secret ${s}`);
    assert.ok(!text.includes(s.slice('whsec_'.length)), `${what} contains the secret's base64 ${s}`);
  }
}

/** Assert Google's error shape with the given HTTP status and status string. */
export function assertError(r, httpStatus, status) {
  assert.equal(r.status, httpStatus, `expected ${httpStatus} ${status}, got ${r.status}: ${r.text}`);
  const ct = r.headers.get ? r.headers.get('content-type') : r.headers['content-type'];
  assert.ok(ct && ct.startsWith('application/json'), `content-type ${ct}`);
  assert.ok(r.json && typeof r.json === 'object', `error body is JSON: ${r.text}`);
  assert.deepEqual(Object.keys(r.json), ['error'], `error body: ${r.text}`);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'status'], `error body: ${r.text}`);
  assert.equal(r.json.error.code, httpStatus);
  assert.equal(r.json.error.status, status);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 0, 'error message is not empty');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
