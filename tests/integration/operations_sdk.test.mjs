// SPDX-License-Identifier: Apache-2.0
// Long-running operations through the official @google/genai SDK, unmodified,
// against a real kabard with the simulated executor (KABAR_SIM_DELAY_MS=200):
// interactions, batches, videos and result downloads, plus the events of
// every transition at a static webhook, verified with standardwebhooks and
// counted: exactly one event per transition.
//
// Note: @google/genai 3.3.0 sends models.generateVideos only in Vertex AI
// mode (in Gemini API mode it throws before any request), so the video test
// uses a Vertex AI client with an API key and kabard as base URL; polling is
// then POST models/{model}:fetchPredictOperation. The Gemini API poll
// (GET models/{model}/operations/{id}) is checked with a Gemini API client.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { GoogleGenAI } from '@google/genai';
import { Webhook } from 'standardwebhooks';

import { startKabard, tempDir } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'ops-sdk-key-0123456789abcdefghij';
const T = { timeout: 60_000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('operations through @google/genai', () => {
  let k;
  let rcv;
  let secret;
  let ai;
  let dir;

  before(async () => {
    k = await startKabard({ apiKey: KEY, env: { KABAR_SIM_DELAY_MS: '200' } });
    rcv = await startReceiver();
    const r = await k.request('POST', '/v1/webhooks', {
      body: {
        name: 'ops', uri: rcv.url('/static'),
        subscribed_events: ['batch.succeeded', 'batch.cancelled', 'batch.expired', 'batch.failed',
          'interaction.requires_action', 'interaction.completed', 'interaction.failed',
          'interaction.cancelled', 'video.generated'],
      },
    });
    assert.equal(r.status, 200, r.text);
    secret = r.json.new_signing_secret;
    ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: k.baseUrl } });
    dir = tempDir('kabar-ops-sdk-');
  });
  after(async () => {
    if (rcv) await rcv.close();
    if (k) { try { await k.stop(); } finally { await k.cleanup(); } }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The verified events at the static webhook about job id. */
  function eventsOf(id) {
    return rcv.forPath('/static').map((rec) => {
      const ev = new Webhook(secret).verify(rec.body, rec.headers);
      return { ...ev, webhookId: rec.headers['webhook-id'] };
    }).filter((ev) => ev.data && ev.data.id === id);
  }

  /** Wait for the event type of job id, then check it came exactly once
   *  (one message; a retry of it would carry the same webhook-id). */
  async function oneEvent(id, type) {
    await waitFor(() => eventsOf(id).some((e) => e.type === type), 10_000, `${type} of ${id}`);
    await sleep(300); // a duplicate would arrive meanwhile
    const evs = eventsOf(id);
    const ofType = evs.filter((e) => e.type === type);
    assert.equal(new Set(ofType.map((e) => e.webhookId)).size, 1, `one ${type}: ${JSON.stringify(evs)}`);
    assert.equal(new Set(evs.map((e) => e.webhookId)).size, evs.length >= 1 ? new Set(evs.map((e) => e.type)).size : 0,
      `one message per transition: ${JSON.stringify(evs)}`);
    return ofType[0];
  }

  describe('interactions', () => {
    it('create without background completes synchronously (and emits interaction.completed)', T, async () => {
      const r = await ai.interactions.create({ model: 'gemini-sim', input: 'hello there' });
      assert.equal(r.status, 'completed');
      assert.equal(r.output_text, 'echo: hello there');
      assert.match(r.id, /^int_[0-9a-z]{26}$/);
      const ev = await oneEvent(r.id, 'interaction.completed');
      assert.deepEqual(Object.keys(ev).sort(), ['data', 'timestamp', 'type', 'version', 'webhookId'].sort());
      assert.deepEqual(ev.data, { id: r.id });
    });

    it('background with webhook_config: in_progress, then completed via get', T, async () => {
      const r = await ai.interactions.create({
        model: 'gemini-sim', input: 'later', background: true,
        webhook_config: { uris: [rcv.url('/dynamic')], user_metadata: { job: 'j1' } },
      });
      assert.equal(r.status, 'in_progress');
      assert.deepEqual(r.webhook_config, { uris: [rcv.url('/dynamic')], user_metadata: { job: 'j1' } });
      const done = await waitFor(async () => {
        const g = await ai.interactions.get(r.id);
        return g.status === 'completed' && g;
      }, 10_000, 'completed');
      assert.equal(done.output_text, 'echo: later');
      // dynamic: its event went to the uris, not to the static webhook
      const op = await waitFor(async () => {
        const o = await k.request('GET', `/v1/operations/${r.id}`);
        return o.json.deliveries.length > 0 && o.json;
      }, 5000, 'dynamic delivery');
      assert.deepEqual(op.deliveries.map((d) => [d.type, d.target_uri, d.webhook_id]),
        [['interaction.completed', rcv.url('/dynamic'), undefined]]);
      await sleep(300);
      assert.equal(eventsOf(r.id).length, 0, 'no static event for a dynamic job');
    });

    it('webhook_config without background is refused', T, async () => {
      await assert.rejects(ai.interactions.create({
        model: 'gemini-sim', input: 'x', webhook_config: { uris: [rcv.url('/d')] },
      }), (e) => e.status === 400);
    });

    it('kabar-sim-requires-action stops at requires_action', T, async () => {
      const r = await ai.interactions.create({ model: 'kabar-sim-requires-action', input: 'tool?' });
      assert.equal(r.status, 'requires_action');
      const call = r.steps.find((s) => s.type === 'function_call');
      assert.equal(call.name, 'kabar_sim_action');
      await oneEvent(r.id, 'interaction.requires_action');
    });

    it('kabar-sim-fail fails with an error', T, async () => {
      const r = await ai.interactions.create({ model: 'kabar-sim-fail', input: 'x', background: true });
      const g = await waitFor(async () => {
        const x = await ai.interactions.get(r.id);
        return x.status === 'failed' && x;
      }, 10_000, 'failed');
      assert.equal(g.errors[0].code, 'INTERNAL');
      const ev = await oneEvent(r.id, 'interaction.failed');
      assert.equal(ev.data.error_code, 'INTERNAL');
      assert.match(ev.data.error_message, /simulated failure/);
    });

    it('cancel and delete', T, async () => {
      const r = await ai.interactions.create({ model: 'kabar-sim-never', input: 'x', background: true });
      const c = await ai.interactions.cancel(r.id);
      assert.equal(c.status, 'cancelled');
      await oneEvent(r.id, 'interaction.cancelled');
      await assert.rejects(ai.interactions.cancel(r.id), (e) => e.status === 400);
      await ai.interactions.delete(r.id);
      await assert.rejects(ai.interactions.get(r.id), (e) => e.status === 404);
    });
  });

  describe('batches', () => {
    let batch;
    it('create with inline requests and webhookConfig; get until succeeded', T, async () => {
      batch = await ai.batches.create({
        model: 'gemini-sim',
        src: [
          { contents: [{ role: 'user', parts: [{ text: 'first' }] }], metadata: { key: 'k1' } },
          { contents: [{ role: 'user', parts: [{ text: 'second' }] }], metadata: { key: 'k2' } },
          { contents: [{ role: 'user', parts: [{ text: 'third' }] }] },
        ],
        config: { displayName: 'three', webhookConfig: { uris: [rcv.url('/dyn-batch')], userMetadata: { b: 1 } } },
      });
      assert.match(batch.name, /^batches\/batch_[0-9a-z]{26}$/);
      assert.equal(batch.state, 'JOB_STATE_PENDING');
      assert.equal(batch.displayName, 'three');
      assert.equal(batch.model, 'models/gemini-sim');
      const done = await waitFor(async () => {
        const g = await ai.batches.get({ name: batch.name });
        return g.state === 'JOB_STATE_SUCCEEDED' && g;
      }, 10_000, 'succeeded');
      assert.ok(done.endTime);
      assert.match(done.dest.fileName, /^files\/batch[0-9a-z]{26}$/);
      assert.equal(done.dest.inlinedResponses.length, 3);
      assert.equal(done.dest.inlinedResponses[0].response.candidates[0].content.parts[0].text, 'echo: first');
      assert.deepEqual(done.dest.inlinedResponses[0].metadata, { key: 'k1' });

      // the results file: downloadable with the SDK, one line per request, in order
      const out = path.join(dir, 'results.jsonl');
      await ai.files.download({ file: done.dest.fileName, downloadPath: out });
      await waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').endsWith('\n'), 5000, 'download');
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines.map((l) => l.key), ['k1', 'k2', undefined]);
      assert.deepEqual(lines.map((l) => l.response.candidates[0].content.parts[0].text),
        ['echo: first', 'echo: second', 'echo: third']);

      const op = await k.request('GET', `/v1/operations/${batch.name.split('/')[1]}`);
      assert.equal(op.json.deliveries.length, 1);
      assert.equal(op.json.deliveries[0].target_uri, rcv.url('/dyn-batch'));
      assert.equal(op.json.deliveries[0].type, 'batch.succeeded');
    });

    it('static webhook gets batch.succeeded with output_file_uri', T, async () => {
      const b = await ai.batches.create({ model: 'gemini-sim', src: [{ contents: 'only' }] });
      const id = b.name.split('/')[1];
      const ev = await oneEvent(id, 'batch.succeeded');
      assert.match(ev.data.output_file_uri, /\/v1\/files\/batch[0-9a-z]{26}:download\?alt=media$/);
      const f = await fetch(ev.data.output_file_uri, { headers: { 'x-goog-api-key': KEY } });
      assert.equal(f.status, 200);
      const line = JSON.parse((await f.text()).trim());
      assert.equal(line.response.candidates[0].content.parts[0].text, 'echo: only');
      const noKey = await fetch(ev.data.output_file_uri);
      assert.equal(noKey.status, 401);
    });

    it('list (paged), cancel, delete', T, async () => {
      const a = await ai.batches.create({ model: 'kabar-sim-never', src: [{ contents: 'x' }] });
      const b = await ai.batches.create({ model: 'kabar-sim-never', src: [{ contents: 'y' }] });
      const names = [];
      const pager = await ai.batches.list({ config: { pageSize: 1 } });
      for await (const j of pager) names.push(j.name);
      assert.ok(names.includes(a.name) && names.includes(b.name), names.join());
      assert.equal(new Set(names).size, names.length, 'no duplicates across pages');

      await ai.batches.cancel({ name: a.name });
      assert.equal((await ai.batches.get({ name: a.name })).state, 'JOB_STATE_CANCELLED');
      await oneEvent(a.name.split('/')[1], 'batch.cancelled');
      await assert.rejects(ai.batches.cancel({ name: a.name }), (e) => /400/.test(String(e.message ?? e)));
      await ai.batches.delete({ name: a.name });
      await assert.rejects(ai.batches.get({ name: a.name }), (e) => /404/.test(String(e.message ?? e)));
      await ai.batches.cancel({ name: b.name });
    });

    it('kabar-sim-fail: batch.failed with error_code and error_message', T, async () => {
      const b = await ai.batches.create({ model: 'kabar-sim-fail', src: [{ contents: 'x' }] });
      const id = b.name.split('/')[1];
      const ev = await oneEvent(id, 'batch.failed');
      assert.equal(ev.data.error_code, 'INTERNAL');
      assert.equal(typeof ev.data.error_message, 'string');
      assert.equal((await ai.batches.get({ name: b.name })).state, 'JOB_STATE_FAILED');
    });
  });

  describe('videos', () => {
    it('models.generateVideos + operations.getVideosOperation until done; the video downloads', T, async () => {
      const vertex = new GoogleGenAI({
        vertexai: true, apiKey: KEY, apiVersion: 'v1', httpOptions: { baseUrl: k.baseUrl },
      });
      let op = await vertex.models.generateVideos({ model: 'models/veo-sim', source: { prompt: 'a red kite' } });
      assert.match(op.name, /^models\/veo-sim\/operations\/vid_[0-9a-z]{26}$/);
      assert.ok(!op.done);
      for (let i = 0; i < 100 && !op.done; i++) {
        await sleep(100);
        op = await vertex.operations.getVideosOperation({ operation: op });
      }
      assert.equal(op.done, true);
      const uri = op.response.generatedVideos[0].video.uri;
      assert.match(uri, /\/v1\/files\/vid[0-9a-z]{26}:download\?alt=media$/);
      assert.equal(op.response.generatedVideos[0].video.mimeType, 'video/mp4');

      // Gemini API polling of the same operation
      const mldev = await ai.operations.getVideosOperation({ operation: op });
      assert.equal(mldev.done, true);
      assert.equal(mldev.response.generatedVideos[0].video.uri, uri);

      const f = await fetch(uri, { headers: { 'x-goog-api-key': KEY } });
      assert.equal(f.status, 200);
      assert.equal(f.headers.get('content-type'), 'video/mp4');
      const bytes = Buffer.from(await f.arrayBuffer());
      assert.equal(bytes.subarray(4, 8).toString(), 'ftyp');
      assert.ok(bytes.toString('latin1').includes('a red kite'));

      const id = op.name.split('/').pop();
      const ev = await oneEvent(id, 'video.generated');
      assert.equal(ev.data.output_file_uri, uri);
      assert.equal(ev.data.file_name, `files/${id.replace('_', '')}`);
      // the same file through the SDK's files.download
      const out = path.join(dir, 'video.mp4');
      await ai.files.download({ file: ev.data.file_name, downloadPath: out });
      await waitFor(() => fs.existsSync(out) && fs.statSync(out).size === bytes.length, 5000, 'download');
    });
  });
});
