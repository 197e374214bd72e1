// SPDX-License-Identifier: Apache-2.0
// Interop with the official @google/genai SDK: every WebhookService call,
// unmodified, against a real kabard.
//
// Note: @google/genai 3.3.0 uses the /v1/ prefix by default (its Gemini API
// default version is 'v1'); a client made with apiVersion 'v1beta' uses
// /v1beta/. Both are run. The SDK retries 408/409/429/5xx with backoff, so a
// server error shows up here as a slow test before it fails.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { GoogleGenAI } from '@google/genai';

import { startKabard } from './lib/kabard.mjs';
import { MISSING_ID, SECRET_RE, assertNoSecrets, assertWebhook, sleep } from './lib/common.mjs';

const KEY = 'sdk-key-0123456789abcdefghij';
const TEST_TIMEOUT = { timeout: 60_000 };

/** The SDK attaches sdkHttpResponse to every answer: drop it. */
function plain(x) {
  if (x === null || typeof x !== 'object') return x;
  const { sdkHttpResponse, ...rest } = x;
  return JSON.parse(JSON.stringify(rest));
}

/** Run fn, expecting the SDK to throw an HTTP error; return the error. */
async function sdkError(fn) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'the SDK call threw');
  return err;
}

function assertSdkError(err, httpStatus, status) {
  assert.equal(err.status, httpStatus, `error.status: ${err}`);
  assert.equal(err.statusCode ?? err.status, httpStatus);
  // the parsed body of Google's error shape
  assert.ok(err.error && err.error.error, `error.error carries the body: ${err}`);
  assert.equal(err.error.error.code, httpStatus);
  assert.equal(err.error.error.status, status);
  assert.equal(typeof err.error.error.message, 'string');
}

describe('@google/genai SDK against kabard', () => {
  let k;
  before(async () => { k = await startKabard({ apiKey: KEY }); });
  after(async () => { if (k) { try { await k.stop(); } finally { await k.cleanup(); } } });

  for (const apiVersion of [undefined, 'v1beta']) {
    const prefix = apiVersion ? `/${apiVersion}` : '/v1';
    describe(`client with apiVersion ${apiVersion ?? '(default)'}`, () => {
      let ai;
      let w;
      before(() => {
        ai = new GoogleGenAI({
          apiKey: KEY,
          ...(apiVersion ? { apiVersion } : {}),
          httpOptions: { baseUrl: k.baseUrl },
        });
      });

      it('webhooks.create', TEST_TIMEOUT, async () => {
        const res = plain(await ai.webhooks.create({
          name: 'sdk-orders',
          uri: 'https://example.com/hooks/sdk',
          subscribed_events: ['batch.succeeded', 'batch.failed'],
        }));
        assertWebhook(res, { created: true });
        assert.equal(res.name, 'sdk-orders');
        assert.equal(res.uri, 'https://example.com/hooks/sdk');
        assert.deepEqual(res.subscribed_events, ['batch.succeeded', 'batch.failed']);
        assert.equal(res.state, 'enabled');
        assert.match(res.new_signing_secret, SECRET_RE);
        w = res;
      });

      it('webhooks.get', TEST_TIMEOUT, async () => {
        const res = plain(await ai.webhooks.get(w.id));
        assertWebhook(res);
        const { new_signing_secret, ...rest } = w;
        assert.deepEqual(res, rest);
        assertNoSecrets(JSON.stringify(res), [new_signing_secret], 'get');
        // same as what the REST API says
        const r = await k.request('GET', `/v1/webhooks/${w.id}`);
        assert.deepEqual(res, r.json);
      });

      it('webhooks.list with page_size and page_token', TEST_TIMEOUT, async () => {
        await ai.webhooks.create({ name: 'sdk-2', uri: 'https://example.com/2', subscribed_events: ['video.generated'] });
        await ai.webhooks.create({ name: 'sdk-3', uri: 'https://example.com/3', subscribed_events: ['batch.expired'] });
        const rest = await k.listAll();
        assert.ok(rest.length >= 3);
        const seen = [];
        let page_token;
        let pages = 0;
        do {
          const res = plain(await ai.webhooks.list(page_token ? { page_size: 2, page_token } : { page_size: 2 }));
          assert.ok(Array.isArray(res.webhooks));
          assert.ok(res.webhooks.length >= 1 && res.webhooks.length <= 2, `page of ${res.webhooks.length}`);
          res.webhooks.forEach((x) => assertWebhook(x));
          seen.push(...res.webhooks);
          page_token = res.next_page_token;
          pages++;
        } while (page_token && pages < 100);
        assert.equal(pages, Math.ceil(rest.length / 2));
        assert.deepEqual(seen, rest);
        const all = plain(await ai.webhooks.list());
        assert.deepEqual(all.webhooks, rest.slice(0, 50));
      });

      it('webhooks.update with update_mask', TEST_TIMEOUT, async () => {
        const res = plain(await ai.webhooks.update(w.id, { name: 'sdk-renamed', update_mask: 'name' }));
        assertWebhook(res);
        assert.equal(res.name, 'sdk-renamed');
        assert.equal(res.uri, w.uri);
        assert.deepEqual(res.subscribed_events, w.subscribed_events);
        const masked = plain(await ai.webhooks.update(w.id, {
          name: 'not-applied', uri: 'https://example.com/hooks/sdk-moved', update_mask: 'uri',
        }));
        assert.equal(masked.name, 'sdk-renamed');
        assert.equal(masked.uri, 'https://example.com/hooks/sdk-moved');
        const state = plain(await ai.webhooks.update(w.id, { state: 'disabled' }));
        assert.equal(state.state, 'disabled');
        const back = plain(await ai.webhooks.update(w.id, { state: 'enabled', update_mask: 'state' }));
        assert.equal(back.state, 'enabled');
        assert.deepEqual(plain(await ai.webhooks.get(w.id)), back);
      });

      it('webhooks.rotateSigningSecret', TEST_TIMEOUT, async () => {
        const res = plain(await ai.webhooks.rotateSigningSecret(w.id, { revocation_behavior: 'revoke_previous_secrets_after_h24' }));
        assert.deepEqual(Object.keys(res), ['secret']);
        assert.match(res.secret, SECRET_RE);
        assert.notEqual(res.secret, w.new_signing_secret);
        const g = plain(await ai.webhooks.get(w.id));
        assert.equal(g.signing_secrets.length, 2);
        assert.ok(g.signing_secrets[1].expire_time);
        const now = plain(await ai.webhooks.rotateSigningSecret(w.id, { revocation_behavior: 'revoke_previous_secrets_immediately' }));
        assert.match(now.secret, SECRET_RE);
        assert.equal(plain(await ai.webhooks.get(w.id)).signing_secrets.length, 1);
        const dflt = plain(await ai.webhooks.rotateSigningSecret(w.id));
        assert.match(dflt.secret, SECRET_RE);
        assert.equal(plain(await ai.webhooks.get(w.id)).signing_secrets.length, 2);
      });

      it('webhooks.ping', TEST_TIMEOUT, async () => {
        const res = plain(await ai.webhooks.ping(w.id));
        assert.deepEqual(res, {});
      });

      it('webhooks.delete', TEST_TIMEOUT, async () => {
        const res = plain(await ai.webhooks.delete(w.id));
        assert.deepEqual(res, {});
        const err = await sdkError(() => ai.webhooks.get(w.id));
        assertSdkError(err, 404, 'NOT_FOUND');
      });

      it('a missing id throws an error with status 404 on every call', TEST_TIMEOUT, async () => {
        const calls = [
          () => ai.webhooks.get(MISSING_ID),
          () => ai.webhooks.update(MISSING_ID, { name: 'x', update_mask: 'name' }),
          () => ai.webhooks.delete(MISSING_ID),
          () => ai.webhooks.rotateSigningSecret(MISSING_ID, { revocation_behavior: 'revoke_previous_secrets_after_h24' }),
          () => ai.webhooks.ping(MISSING_ID),
        ];
        for (const call of calls) {
          const t0 = Date.now();
          const err = await sdkError(call);
          assertSdkError(err, 404, 'NOT_FOUND');
          assert.ok(err.error.error.message.includes(MISSING_ID));
          assert.ok(Date.now() - t0 < 5000, 'a 404 is not retried');
        }
      });

      it('bad input throws 400 INVALID_ARGUMENT', TEST_TIMEOUT, async () => {
        const err = await sdkError(() => ai.webhooks.create({
          name: 'bad', uri: 'https://example.com/bad', subscribed_events: ['batch.exploded'],
        }));
        assertSdkError(err, 400, 'INVALID_ARGUMENT');
        const err2 = await sdkError(() => ai.webhooks.list({ page_size: 1001 }));
        assertSdkError(err2, 400, 'INVALID_ARGUMENT');
      });

      it('a wrong api key throws 401 UNAUTHENTICATED', TEST_TIMEOUT, async () => {
        const bad = new GoogleGenAI({
          apiKey: 'not-the-key',
          ...(apiVersion ? { apiVersion } : {}),
          httpOptions: { baseUrl: k.baseUrl },
        });
        const err = await sdkError(() => bad.webhooks.list());
        assertSdkError(err, 401, 'UNAUTHENTICATED');
      });

      it(`the SDK's requests went to ${prefix}/`, async () => {
        await sleep(100);
        const paths = k.requestLog().map((l) => l.path).filter(Boolean);
        assert.ok(paths.some((p) => p.startsWith(`${prefix}/webhooks`)), `log has ${prefix}/webhooks paths`);
        assert.ok(paths.includes(`${prefix}/webhooks/${w.id}:rotateSigningSecret`), 'rotate logged');
        assert.ok(paths.includes(`${prefix}/webhooks/${w.id}:ping`), 'ping logged');
        assert.ok(paths.includes(`${prefix}/webhooks/${MISSING_ID}`), '404 logged');
      });
    });
  }
});
