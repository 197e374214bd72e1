// SPDX-License-Identifier: Apache-2.0
// Structured logs: --log-format json writes one JSON object per line with
// the fields the logfmt lines carry, and every failed delivery attempt is
// logged with an error text - also when the endpoint answered (an HTTP 400
// used to be logged with error="").

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { parseLogfmtLines, startKabard } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'logs-key-0123456789abcdefABCDEF';

async function failingDelivery(k, rcv, path, status) {
  rcv.always(path, { status });
  const w = await k.request('POST', '/v1/webhooks', {
    body: { uri: rcv.url(path), subscribed_events: ['batch.succeeded'] } });
  assert.equal(w.status, 200, w.text);
  const e = await k.request('POST', '/v1/events', {
    body: { type: 'batch.succeeded', data: { id: 'b1', output_file_uri: 'x' } } });
  assert.equal(e.status, 200, e.text);
  return w.json.id;
}

describe('--log-format json', () => {
  let k, rcv;
  before(async () => {
    rcv = await startReceiver();
    k = await startKabard({ apiKey: KEY, args: ['--log-format', 'json'] });
  });
  after(async () => { await k.stop(); await k.cleanup(); await rcv.close(); });

  it('every line of the log is one JSON object with ts, level and msg', async () => {
    await k.request('GET', '/v1/webhooks');
    const lines = k.stderr.split('\n').filter((l) => l.length > 0);
    assert.ok(lines.length > 3);
    for (const l of lines) {
      const o = JSON.parse(l);
      assert.equal(typeof o.ts, 'string', l);
      assert.match(o.level, /^(debug|info|warn|error)$/, l);
      assert.equal(typeof o.msg, 'string', l);
    }
  });

  it('a request line carries the same fields as in logfmt, numbers as numbers', async () => {
    await k.request('GET', '/v1/webhooks');
    const reqs = k.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .filter((o) => o.msg === 'request' && o.path === '/v1/webhooks');
    assert.ok(reqs.length >= 1);
    assert.equal(reqs.at(-1).method, 'GET');
    assert.equal(reqs.at(-1).status, 200);
    assert.equal(typeof reqs.at(-1).latency_ms, 'number');
  });

  it('a delivery answered with HTTP 400 is logged with an error text', async () => {
    const id = await failingDelivery(k, rcv, '/bad', 400);
    const rec = await waitFor(() => k.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l))
      .find((o) => o.msg === 'delivery attempt failed' && o.webhook === id), 10_000, 'the failure');
    assert.equal(rec.status, 400);
    assert.equal(rec.error, 'endpoint answered HTTP 400');
  });
});

describe('logfmt (the default)', () => {
  let k, rcv;
  before(async () => {
    rcv = await startReceiver();
    k = await startKabard({ apiKey: KEY });
  });
  after(async () => { await k.stop(); await k.cleanup(); await rcv.close(); });

  it('a 410 answer is logged with its error text too', async () => {
    const id = await failingDelivery(k, rcv, '/gone', 410);
    const rec = await waitFor(() => parseLogfmtLines(k.stderr)
      .find((o) => o.msg === 'delivery attempt failed' && o.webhook === id), 10_000, 'the failure');
    assert.equal(rec.status, '410');
    assert.equal(rec.error, 'endpoint answered HTTP 410 Gone; the webhook is disabled');
  });

  it('an unknown --log-format is refused at start', async () => {
    await assert.rejects(startKabard({ apiKey: KEY, args: ['--log-format', 'xml'] }),
                         /--log-format must be logfmt or json/);
  });
});
