// SPDX-License-Identifier: Apache-2.0
// Dynamic webhooks end to end (product.md §5, docs/delivery.md "Dynamic
// webhooks: RS256 JWTs", docs/operations.md "Dynamic webhooks"): the official
// @google/genai SDK drives interactions, batches and videos against a real
// kabard (simulated executor, KABAR_SIM_DELAY_MS=200); each job carries a
// webhook_config, and every delivered request is verified with the `jose`
// library against kabard's published JWKS (createRemoteJWKSet, RS256,
// audience = the exact target uri, issuer = kabard's public URL), with every
// claim compared against the raw request (sub, iat, exp, webhook_id,
// body_sha256, the envelope members, user_metadata). The same jobs without a
// webhook_config go to the project's static webhook, Standard-Webhooks
// signed, and verify with the `standardwebhooks` library; dynamic jobs'
// events never reach the static webhook. POST /v1/events with a
// webhook_config is covered too (sub = the event id).
//
// Video: @google/genai 3.3.0 refuses webhookConfig for generateVideos in
// Vertex AI mode (and sends generateVideos only in Vertex AI mode), so the
// dynamic video job is created over REST (POST
// models/{model}:predictLongRunning with webhook_config) and polled with the
// SDK; the static video job goes entirely through the SDK.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { GenerateVideosOperation, GoogleGenAI } from '@google/genai';
import * as jose from 'jose';
import { Webhook } from 'standardwebhooks';

import { startKabard } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'dyn-key-0123456789abcdefghijklmn';
const T = { timeout: 60_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ALL_EVENTS = ['batch.succeeded', 'batch.cancelled', 'batch.expired', 'batch.failed',
  'interaction.requires_action', 'interaction.completed', 'interaction.failed',
  'interaction.cancelled', 'video.generated'];
/** Time to wait after the first delivery for a (wrong) duplicate to show up. */
const QUIET_MS = 600;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const MSG_RE = /^msg_[0-9a-z]{26}$/;

const b64urlSha256 = (buf) => crypto.createHash('sha256').update(buf).digest('base64url');

describe('dynamic webhooks: RS256 JWTs verified with jose, static ones with standardwebhooks', () => {
  let k;
  let rcv;
  let secret;
  let ai;
  let vertex;
  let jwks;          // jose.createRemoteJWKSet
  let jwksKeys;      // the published keys (JSON)
  let thumbprint;    // RFC 7638 thumbprint of the (only) published key
  /** Every dynamic job/event id we made: none of them may reach /static. */
  const dynamicIds = new Set();
  /** Every verified dynamic delivery: {rec, payload, aud}. */
  const verified = [];
  let pathSeq = 0;
  const newPath = (what) => `/dyn/${what}-${++pathSeq}`;

  before(async () => {
    k = await startKabard({ apiKey: KEY, env: { KABAR_SIM_DELAY_MS: '200' } });
    rcv = await startReceiver();
    const r = await k.request('POST', '/v1/webhooks', {
      body: { name: 'static', uri: rcv.url('/static'), subscribed_events: ALL_EVENTS },
    });
    assert.equal(r.status, 200, r.text);
    secret = r.json.new_signing_secret;
    ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: k.baseUrl } });
    vertex = new GoogleGenAI({ vertexai: true, apiKey: KEY, apiVersion: 'v1', httpOptions: { baseUrl: k.baseUrl } });

    const j = await fetch(`${k.baseUrl}/.well-known/jwks.json`);
    assert.equal(j.status, 200);
    jwksKeys = (await j.json()).keys;
    assert.equal(jwksKeys.length, 1, 'one key on a fresh server');
    thumbprint = await jose.calculateJwkThumbprint(jwksKeys[0], 'sha256');
    jwks = jose.createRemoteJWKSet(new URL(`${k.baseUrl}/.well-known/jwks.json`));
  });

  after(async () => {
    if (rcv) await rcv.close();
    if (k) { try { await k.stop(); } finally { await k.cleanup(); } }
  });

  // ---------------------------------------------------------------- helpers

  /**
   * Verify one dynamic delivery rec, sent to target uri aud, about subject
   * sub, with user_metadata um (undefined: none). Asserts every claim against
   * the raw request and the negative checks; returns {payload, body}.
   */
  async function verifyDynamic(rec, { aud, sub, um }) {
    assert.equal(rec.method, 'POST');
    assert.match(rec.headers['content-type'] || '', /^application\/json/);
    const token = rec.headers['webhook-signature'];
    assert.equal(typeof token, 'string', 'webhook-signature present');
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `a compact JWS: ${token}`);
    const msgId = rec.headers['webhook-id'];
    assert.match(msgId, MSG_RE);
    const ts = rec.headers['webhook-timestamp'];
    assert.match(ts, /^\d+$/);

    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
      algorithms: ['RS256'], audience: aud, issuer: k.baseUrl,
    });
    assert.deepEqual(protectedHeader, { alg: 'RS256', typ: 'JWT', kid: thumbprint });
    assert.deepEqual(jose.decodeProtectedHeader(token), protectedHeader);

    // registered claims
    assert.equal(payload.iss, k.baseUrl);
    assert.equal(payload.aud, aud, 'aud is the target uri, exactly');
    assert.equal(payload.sub, sub);
    assert.equal(payload.iat, Number(ts), 'iat == webhook-timestamp');
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, `iat ${payload.iat} is now`);
    assert.equal(payload.exp, payload.iat + 300);
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.jti.length > 0);
    assert.equal(payload.webhook_id, msgId);
    assert.equal(payload.body_sha256, b64urlSha256(rec.body), 'body_sha256 of the raw body');

    // the envelope: raw body members == token members
    const body = JSON.parse(rec.text);
    const want = um === undefined ? ['data', 'timestamp', 'type', 'version']
      : ['data', 'timestamp', 'type', 'user_metadata', 'version'];
    assert.deepEqual(Object.keys(body).sort(), want, `envelope members: ${rec.text}`);
    for (const m of ['type', 'version', 'timestamp', 'data']) {
      assert.deepEqual(payload[m], body[m], `claim ${m} equals the body's`);
    }
    assert.equal(body.version, 'v1');
    assert.match(body.timestamp, TIME_RE);
    assert.deepEqual(body.user_metadata, um);
    assert.deepEqual(payload.user_metadata, um);
    const claimKeys = ['aud', 'body_sha256', 'exp', 'iat', 'iss', 'jti', 'sub', 'webhook_id', ...want].sort();
    assert.deepEqual(Object.keys(payload).sort(), claimKeys, `claims: ${JSON.stringify(payload)}`);

    // negative checks
    const tampered = Buffer.from(rec.text.replace(`"${body.type}"`, `"${body.type}x"`));
    assert.notDeepEqual(tampered, rec.body);
    assert.notEqual(b64urlSha256(tampered), payload.body_sha256, 'a swapped body fails body_sha256');
    await assert.rejects(jose.jwtVerify(token, jwks, {
      algorithms: ['RS256'], audience: `${aud}x`, issuer: k.baseUrl,
    }), (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'aud',
    'a wrong audience is refused');
    await assert.rejects(jose.jwtVerify(token, jwks, {
      algorithms: ['RS256'], audience: aud, issuer: `${k.baseUrl}/other`,
    }), (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'iss',
    'a wrong issuer is refused');
    const [h, p, s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'someone_else' })).toString('base64url');
    await assert.rejects(jose.jwtVerify(`${h}.${forged}.${s}`, jwks, { algorithms: ['RS256'] }),
      (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'altered claims are refused');
    await assert.rejects(jose.jwtVerify(`${h}.${p}.${s}`, jwks, { algorithms: ['ES256'] }),
      (e) => e.code === 'ERR_JOSE_ALG_NOT_ALLOWED', 'only the expected algorithm');
    // it is not a Standard Webhooks signature
    assert.throws(() => new Webhook(secret).verify(rec.body, rec.headers));

    verified.push({ rec, payload, aud });
    return { payload, body };
  }

  /**
   * Wait for the single delivery at each uri of uris (receiver paths), then
   * wait QUIET_MS and check it stayed the only one. All uris carry the same
   * event (one webhook-id). Returns [{rec, payload, body, aud}] per uri.
   */
  async function dynamicDeliveries(uris, { sub, um, type }) {
    const out = [];
    for (const uri of uris) {
      const p = new URL(uri).pathname;
      await rcv.waitForCount(p, 1, 10_000);
    }
    await sleep(QUIET_MS);
    for (const uri of uris) {
      const p = new URL(uri).pathname;
      const recs = rcv.forPath(p);
      assert.equal(recs.length, 1, `exactly one delivery to ${uri}: ${recs.map((r) => r.text).join('\n')}`);
      const { payload, body } = await verifyDynamic(recs[0], { aud: uri, sub, um });
      assert.equal(body.type, type);
      out.push({ rec: recs[0], payload, body, aud: uri });
    }
    assert.equal(new Set(out.map((o) => o.rec.headers['webhook-id'])).size, 1,
      'one event (one webhook-id) fanned out to every uri');
    assert.equal(new Set(out.map((o) => o.rec.text)).size, 1, 'the same body to every uri');
    // one token per target: each is bound to its own audience
    for (const o of out) {
      for (const other of uris.filter((u) => u !== o.aud)) {
        await assert.rejects(jose.jwtVerify(o.rec.headers['webhook-signature'], jwks, {
          algorithms: ['RS256'], audience: other, issuer: k.baseUrl,
        }), (e) => e.claim === 'aud', `token for ${o.aud} refused for ${other}`);
      }
    }
    return out;
  }

  /** The static webhook's deliveries about id, verified with standardwebhooks. */
  function staticEventsOf(id) {
    return rcv.forPath('/static').map((rec) => {
      const ev = new Webhook(secret).verify(rec.body, rec.headers);
      return { ev, rec };
    }).filter(({ ev }) => ev.data && ev.data.id === id);
  }

  /** Wait for the static event of id and type; then check it is the only
   *  event about id (exactly one per transition). Returns the parsed event. */
  async function oneStaticEvent(id, type) {
    await waitFor(() => staticEventsOf(id).some(({ ev }) => ev.type === type), 10_000, `${type} of ${id} at /static`);
    await sleep(QUIET_MS);
    const evs = staticEventsOf(id);
    assert.equal(evs.length, 1, `one static event about ${id}: ${evs.map(({ rec }) => rec.text).join('\n')}`);
    const { ev, rec } = evs[0];
    assert.equal(ev.type, type);
    assert.match(rec.headers['webhook-signature'], /^v1,[A-Za-z0-9+/=]+$/);
    assert.match(rec.headers['webhook-id'], MSG_RE);
    assert.deepEqual(Object.keys(ev).sort(), ['data', 'timestamp', 'type', 'version']);
    // a tampered body does not verify
    assert.throws(() => new Webhook(secret).verify(Buffer.from(rec.text.replace(id, `${id}x`)), rec.headers));
    return ev;
  }

  /** The dynamic deliveries listed on GET /v1/operations/{id}: one per uri, no webhook. */
  async function checkOperationDeliveries(id, uris, type) {
    const op = await waitFor(async () => {
      const o = await k.request('GET', `/v1/operations/${id}`);
      assert.equal(o.status, 200, o.text);
      return o.json.deliveries.length >= uris.length &&
        o.json.deliveries.every((d) => d.state === 'succeeded') && o.json;
    }, 10_000, `deliveries of ${id} succeeded`);
    assert.deepEqual(op.deliveries.map((d) => [d.type, d.target_uri, d.webhook_id]).sort(),
      uris.map((u) => [type, u, undefined]).sort());
    assert.deepEqual(op.webhook_config.uris, uris);
    return op;
  }

  const batchOutputUri = (fileName) =>
    `${k.baseUrl}/v1/files/${fileName.replace(/^files\//, '')}:download?alt=media`;

  // ---------------------------------------------------------------- batches

  describe('batches (ai.batches.create with config.webhookConfig)', () => {
    it('success: batch.succeeded with id and output_file_uri to both uris, JWT verified', T, async () => {
      const uris = [rcv.url(newPath('batch-ok')), rcv.url(`${newPath('batch-ok')}?tag=a&b=2`)];
      const um = { team: 'x', n: 1, nested: { list: [1, 'two', null] } };
      const b = await ai.batches.create({
        model: 'gemini-sim',
        src: [{ contents: [{ role: 'user', parts: [{ text: 'one' }] }], metadata: { key: 'k1' } },
          { contents: 'two' }],
        config: { displayName: 'dyn-ok', webhookConfig: { uris, userMetadata: um } },
      });
      assert.match(b.name, /^batches\/batch_[0-9a-z]{26}$/);
      const id = b.name.split('/')[1];
      dynamicIds.add(id);
      const done = await waitFor(async () => {
        const g = await ai.batches.get({ name: b.name });
        return g.state === 'JOB_STATE_SUCCEEDED' && g;
      }, 10_000, 'batch succeeded');

      const [d] = await dynamicDeliveries(uris, { sub: id, um, type: 'batch.succeeded' });
      assert.deepEqual(Object.keys(d.body.data).sort(), ['id', 'output_file_uri']);
      assert.equal(d.body.data.id, id);
      assert.equal(d.body.data.output_file_uri, batchOutputUri(done.dest.fileName));
      const f = await fetch(d.payload.data.output_file_uri, { headers: { 'x-goog-api-key': KEY } });
      assert.equal(f.status, 200);
      const lines = (await f.text()).trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.response.candidates[0].content.parts[0].text), ['echo: one', 'echo: two']);
      await checkOperationDeliveries(id, uris, 'batch.succeeded');
      assert.equal(staticEventsOf(id).length, 0, 'no static delivery of a dynamic batch');
    });

    it('failure (kabar-sim-fail): batch.failed with error_code and error_message, JWT verified', T, async () => {
      const uris = [rcv.url(newPath('batch-fail'))];
      const um = { run: 'fail' };
      const b = await ai.batches.create({
        model: 'kabar-sim-fail', src: [{ contents: 'x' }],
        config: { webhookConfig: { uris, userMetadata: um } },
      });
      const id = b.name.split('/')[1];
      dynamicIds.add(id);
      const [d] = await dynamicDeliveries(uris, { sub: id, um, type: 'batch.failed' });
      assert.deepEqual(Object.keys(d.body.data).sort(), ['error_code', 'error_message', 'id']);
      assert.equal(d.body.data.id, id);
      assert.equal(d.body.data.error_code, 'INTERNAL');
      assert.match(d.body.data.error_message, /simulated failure/);
      assert.equal((await ai.batches.get({ name: b.name })).state, 'JOB_STATE_FAILED');
      await checkOperationDeliveries(id, uris, 'batch.failed');
      assert.equal(staticEventsOf(id).length, 0, 'no static delivery of a dynamic batch');
    });

    it('without webhookConfig: static batch.succeeded / batch.failed verify with standardwebhooks', T, async () => {
      const ok = await ai.batches.create({ model: 'gemini-sim', src: [{ contents: 'static' }] });
      const okId = ok.name.split('/')[1];
      const fail = await ai.batches.create({ model: 'kabar-sim-fail', src: [{ contents: 'static' }] });
      const failId = fail.name.split('/')[1];
      const evOk = await oneStaticEvent(okId, 'batch.succeeded');
      const done = await ai.batches.get({ name: ok.name });
      assert.equal(done.state, 'JOB_STATE_SUCCEEDED');
      assert.deepEqual(evOk.data, { id: okId, output_file_uri: batchOutputUri(done.dest.fileName) });
      const evFail = await oneStaticEvent(failId, 'batch.failed');
      assert.deepEqual(Object.keys(evFail.data).sort(), ['error_code', 'error_message', 'id']);
      assert.equal(evFail.data.error_code, 'INTERNAL');
      const op = await k.request('GET', `/v1/operations/${okId}`);
      assert.equal(op.json.deliveries.length, 1);
      assert.equal(op.json.deliveries[0].target_uri, rcv.url('/static'));
      assert.match(op.json.deliveries[0].webhook_id, /^wh_/);
    });
  });

  // ---------------------------------------------------------- interactions

  describe('interactions (ai.interactions.create, background: true, webhook_config)', () => {
    it('completed: interaction.completed, JWT verified', T, async () => {
      const uris = [rcv.url(newPath('int-ok'))];
      const um = { conversation: 'c-1' };
      const r = await ai.interactions.create({
        model: 'gemini-sim', input: 'hello', background: true,
        webhook_config: { uris, user_metadata: um },
      });
      assert.equal(r.status, 'in_progress');
      assert.match(r.id, /^int_[0-9a-z]{26}$/);
      dynamicIds.add(r.id);
      const [d] = await dynamicDeliveries(uris, { sub: r.id, um, type: 'interaction.completed' });
      assert.deepEqual(d.body.data, { id: r.id });
      const g = await ai.interactions.get(r.id);
      assert.equal(g.status, 'completed');
      assert.equal(g.output_text, 'echo: hello');
      await checkOperationDeliveries(r.id, uris, 'interaction.completed');
      assert.equal(staticEventsOf(r.id).length, 0);
    });

    it('requires_action (kabar-sim-requires-action): interaction.requires_action, JWT verified', T, async () => {
      const uris = [rcv.url(newPath('int-ra'))];
      const um = { step: 2 };
      const r = await ai.interactions.create({
        model: 'kabar-sim-requires-action', input: 'call a tool', background: true,
        webhook_config: { uris, user_metadata: um },
      });
      dynamicIds.add(r.id);
      const [d] = await dynamicDeliveries(uris, { sub: r.id, um, type: 'interaction.requires_action' });
      assert.deepEqual(d.body.data, { id: r.id });
      const g = await ai.interactions.get(r.id);
      assert.equal(g.status, 'requires_action');
      assert.ok(g.steps.some((s) => s.type === 'function_call' && s.name === 'kabar_sim_action'));
      await checkOperationDeliveries(r.id, uris, 'interaction.requires_action');
      assert.equal(staticEventsOf(r.id).length, 0);
    });

    it('failed (kabar-sim-fail): interaction.failed with error_code/error_message, JWT verified', T, async () => {
      const uris = [rcv.url(newPath('int-fail'))];
      const r = await ai.interactions.create({
        model: 'kabar-sim-fail', input: 'x', background: true,
        webhook_config: { uris },   // no user_metadata: none in the envelope or the token
      });
      dynamicIds.add(r.id);
      const [d] = await dynamicDeliveries(uris, { sub: r.id, um: undefined, type: 'interaction.failed' });
      assert.deepEqual(Object.keys(d.body.data).sort(), ['error_code', 'error_message', 'id']);
      assert.equal(d.body.data.id, r.id);
      assert.equal(d.body.data.error_code, 'INTERNAL');
      assert.match(d.body.data.error_message, /simulated failure/);
      assert.equal((await ai.interactions.get(r.id)).status, 'failed');
      await checkOperationDeliveries(r.id, uris, 'interaction.failed');
      assert.equal(staticEventsOf(r.id).length, 0);
    });

    it('cancelled (interactions.cancel): interaction.cancelled, JWT verified', T, async () => {
      const uris = [rcv.url(newPath('int-cancel'))];
      const um = { cancel: true };
      const r = await ai.interactions.create({
        model: 'kabar-sim-never', input: 'x', background: true,
        webhook_config: { uris, user_metadata: um },
      });
      dynamicIds.add(r.id);
      const c = await ai.interactions.cancel(r.id);
      assert.equal(c.status, 'cancelled');
      const [d] = await dynamicDeliveries(uris, { sub: r.id, um, type: 'interaction.cancelled' });
      assert.deepEqual(d.body.data, { id: r.id });
      await checkOperationDeliveries(r.id, uris, 'interaction.cancelled');
      assert.equal(staticEventsOf(r.id).length, 0);
    });

    it('without webhook_config: the four static events verify with standardwebhooks', T, async () => {
      const ok = await ai.interactions.create({ model: 'gemini-sim', input: 'a', background: true });
      const ra = await ai.interactions.create({ model: 'kabar-sim-requires-action', input: 'b', background: true });
      const fail = await ai.interactions.create({ model: 'kabar-sim-fail', input: 'c', background: true });
      const never = await ai.interactions.create({ model: 'kabar-sim-never', input: 'd', background: true });
      assert.equal((await ai.interactions.cancel(never.id)).status, 'cancelled');
      assert.deepEqual((await oneStaticEvent(ok.id, 'interaction.completed')).data, { id: ok.id });
      assert.deepEqual((await oneStaticEvent(ra.id, 'interaction.requires_action')).data, { id: ra.id });
      const f = await oneStaticEvent(fail.id, 'interaction.failed');
      assert.deepEqual(Object.keys(f.data).sort(), ['error_code', 'error_message', 'id']);
      assert.equal(f.data.error_code, 'INTERNAL');
      assert.deepEqual((await oneStaticEvent(never.id, 'interaction.cancelled')).data, { id: never.id });
    });
  });

  // ---------------------------------------------------------------- videos

  describe('videos', () => {
    it('the SDK refuses webhookConfig for generateVideos (so REST is used for the dynamic job)', T, async () => {
      await assert.rejects(vertex.models.generateVideos({
        model: 'models/veo-sim', source: { prompt: 'x' },
        config: { webhookConfig: { uris: [rcv.url('/never')] } },
      }), /webhookConfig/);
    });

    it('REST predictLongRunning with webhook_config: video.generated, JWT verified; SDK polls it', T, async () => {
      const uris = [rcv.url(newPath('video'))];
      const um = { reel: 'r1' };
      const c = await k.request('POST', '/v1/models/veo-sim:predictLongRunning', {
        body: { instances: [{ prompt: 'a green kite' }], webhook_config: { uris, user_metadata: um } },
      });
      assert.equal(c.status, 200, c.text);
      assert.match(c.json.name, /^models\/veo-sim\/operations\/vid_[0-9a-z]{26}$/);
      const id = c.json.name.split('/').pop();
      dynamicIds.add(id);

      // the SDK polls the REST-created operation (Gemini API polling)
      let op = new GenerateVideosOperation();
      op.name = c.json.name;
      for (let i = 0; i < 100 && !op.done; i++) {
        op = await ai.operations.getVideosOperation({ operation: op });
        if (!op.done) await sleep(100);
      }
      assert.equal(op.done, true);
      const uri = op.response.generatedVideos[0].video.uri;

      const [d] = await dynamicDeliveries(uris, { sub: id, um, type: 'video.generated' });
      assert.deepEqual(Object.keys(d.body.data).sort(), ['file_name', 'id', 'output_file_uri']);
      assert.equal(d.body.data.id, id);
      assert.equal(d.body.data.output_file_uri, uri);
      assert.equal(d.body.data.file_name, `files/${id.replace('_', '')}`);
      const f = await fetch(uri, { headers: { 'x-goog-api-key': KEY } });
      assert.equal(f.status, 200);
      assert.ok(Buffer.from(await f.arrayBuffer()).toString('latin1').includes('a green kite'));
      await checkOperationDeliveries(id, uris, 'video.generated');
      assert.equal(staticEventsOf(id).length, 0);
    });

    it('SDK generateVideos without a webhook config: static video.generated verifies with standardwebhooks', T, async () => {
      let op = await vertex.models.generateVideos({ model: 'models/veo-sim', source: { prompt: 'static kite' } });
      for (let i = 0; i < 100 && !op.done; i++) {
        await sleep(100);
        op = await vertex.operations.getVideosOperation({ operation: op });
      }
      assert.equal(op.done, true);
      const id = op.name.split('/').pop();
      const ev = await oneStaticEvent(id, 'video.generated');
      assert.deepEqual(ev.data, {
        id, output_file_uri: op.response.generatedVideos[0].video.uri, file_name: `files/${id.replace('_', '')}`,
      });
    });
  });

  // ----------------------------------------------------------- POST /v1/events

  describe('POST /v1/events with webhook_config', () => {
    it('delivers a JWT whose sub is the event (message) id', T, async () => {
      const uris = [rcv.url(newPath('event-a')), rcv.url(newPath('event-b'))];
      const um = { producer: 'external', seq: 7 };
      const data = { id: 'batch_external_1', output_file_uri: 'https://files.example.com/out.jsonl', extra: { k: [1, 2] } };
      const r = await k.request('POST', '/v1/events', {
        body: { type: 'batch.succeeded', data, webhook_config: { uris, user_metadata: um } },
      });
      assert.equal(r.status, 200, r.text);
      assert.match(r.json.id, MSG_RE);
      assert.equal(r.json.type, 'batch.succeeded');
      assert.equal(r.json.duplicate, false);
      assert.equal(r.json.deliveries, uris.length, `one delivery per uri: ${r.text}`);
      dynamicIds.add(data.id);
      const out = await dynamicDeliveries(uris, { sub: r.json.id, um, type: 'batch.succeeded' });
      for (const d of out) {
        assert.equal(d.rec.headers['webhook-id'], r.json.id);
        assert.deepEqual(d.body.data, data, 'data passed through as given');
      }
    });

    it('camelCase webhookConfig/userMetadata works the same', T, async () => {
      const uris = [rcv.url(newPath('event-camel'))];
      const um = { camel: 'yes' };
      const data = { id: 'int_external_2' };
      const r = await k.request('POST', '/v1/events', {
        body: { type: 'interaction.completed', data, webhookConfig: { uris, userMetadata: um } },
      });
      assert.equal(r.status, 200, r.text);
      dynamicIds.add(data.id);
      const [d] = await dynamicDeliveries(uris, { sub: r.json.id, um, type: 'interaction.completed' });
      assert.deepEqual(d.body.data, data);
    });

    it('without webhook_config the same event goes to the static webhook, standardwebhooks-verified', T, async () => {
      const data = { id: 'batch_external_static', output_file_uri: 'https://files.example.com/s.jsonl' };
      const r = await k.request('POST', '/v1/events', { body: { type: 'batch.succeeded', data } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.deliveries, 1);
      const ev = await oneStaticEvent(data.id, 'batch.succeeded');
      assert.deepEqual(ev.data, data);
      const rec = staticEventsOf(data.id)[0].rec;
      assert.equal(rec.headers['webhook-id'], r.json.id);
    });
  });

  // ---------------------------------------------------------------- overall

  describe('across all of the above', () => {
    it('no dynamic job or event reached the static webhook', T, async () => {
      await sleep(QUIET_MS);
      assert.ok(dynamicIds.size >= 9, `dynamic ids: ${[...dynamicIds]}`);
      const leaked = rcv.forPath('/static').map((rec) => JSON.parse(rec.text))
        .filter((ev) => ev.data && dynamicIds.has(ev.data.id));
      assert.deepEqual(leaked, []);
      // and no static delivery carries user_metadata or a JWT
      for (const rec of rcv.forPath('/static')) {
        assert.match(rec.headers['webhook-signature'], /^v1,/);
        assert.equal(JSON.parse(rec.text).user_metadata, undefined);
      }
    });

    it('every dynamic path got exactly one request; swapped bodies fail body_sha256', T, async () => {
      const dyn = rcv.requests.filter((r) => r.path.startsWith('/dyn/'));
      const byPath = new Map();
      for (const r of dyn) byPath.set(r.path, (byPath.get(r.path) || 0) + 1);
      assert.equal(byPath.size, pathSeq, `paths: ${[...byPath.keys()]}`);
      for (const [p, n] of byPath) assert.equal(n, 1, `${p} got ${n} requests`);
      assert.equal(verified.length, dyn.length, 'every dynamic request was verified');

      // a token paired with another event's body: body_sha256 does not match
      const distinct = verified.filter((v, i) => verified.findIndex((w) => w.rec.text === v.rec.text) === i);
      assert.ok(distinct.length >= 2);
      for (let i = 0; i < distinct.length; i++) {
        const other = distinct[(i + 1) % distinct.length];
        assert.notEqual(distinct[i].payload.body_sha256, b64urlSha256(other.rec.body),
          'token of one event does not match the body of another');
      }
      // every token was signed by the one published key; still one key
      const j = await (await fetch(`${k.baseUrl}/.well-known/jwks.json`)).json();
      assert.deepEqual(j.keys.map((x) => x.kid), jwksKeys.map((x) => x.kid));
    });
  });
});
