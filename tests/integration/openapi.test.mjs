// SPDX-License-Identifier: Apache-2.0
// The OpenAPI 3.1 description (src/api/openapi.json): it is a valid
// document, kabard serves exactly it at /openapi.json, and the probes it
// documents answer as it says. Every other integration test checks its
// responses against the document too (lib/openapi.mjs, hooked into
// request()); tests/unit/test_openapi.c holds it to the route table.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { Validator } from '@seriousme/openapi-schema-validator';

import { startKabard } from './lib/kabard.mjs';
import { OPENAPI_PATH, checkResponse, coverage, doc } from './lib/openapi.mjs';

describe('the OpenAPI document', () => {
  let k;
  before(async () => { k = await startKabard({ apiKey: 'openapi-key-0123456789abcdef' }); });
  after(async () => { await k.stop(); await k.cleanup(); });

  it('is a valid OpenAPI 3.1 document', async () => {
    const v = new Validator();
    const res = await v.validate(OPENAPI_PATH);
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(res, { valid: true }, JSON.stringify(res.errors, null, 1));
  });

  it('is served at /openapi.json, without a key, byte for byte', async () => {
    const r = await k.request('GET', '/openapi.json', { key: null });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.text, fs.readFileSync(OPENAPI_PATH, 'utf8'));
  });

  it('documents every /v1 route once, the /v1beta aliases by its description', () => {
    for (const p of Object.keys(doc.paths)) assert.ok(!p.startsWith('/v1beta/'), p);
    assert.match(doc.info.description, /\/v1beta\//);
  });

  it('rejects a response that does not match (the check has teeth)', () => {
    assert.throws(() => checkResponse('GET', '/v1/webhooks/wh_00000000000000000000000000', 200,
                                      'application/json', '{"id":"wh_x"}'), /does not match/);
    assert.throws(() => checkResponse('GET', '/healthz', 200, 'text/plain', 'ok'),
                  /content type/);
    assert.throws(() => checkResponse('GET', '/v1/nothing', 200, 'application/json', '{}'),
                  /not documented/);
  });

  it('/healthz answers 200 {"status":"ok"} without a key', async () => {
    const r = await k.request('GET', '/healthz', { key: null });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
  });

  it('/readyz answers 200 with its checks when the store answers and delivery runs', async () => {
    const r = await k.request('GET', '/readyz', { key: null });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: 'ready', checks: { store: 'ok', delivery: 'running' } });
    assert.ok(coverage().get('GET /readyz 200') >= 1);
  });
});

describe('/readyz in a process that does not deliver (--role api)', () => {
  let k;
  before(async () => {
    k = await startKabard({ apiKey: 'openapi-key-0123456789abcdef', args: ['--role', 'api'] });
  });
  after(async () => { await k.stop(); await k.cleanup(); });

  it('is ready without a delivery thread, and says so', async () => {
    const r = await k.request('GET', '/readyz', { key: null });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.checks.delivery, 'not_run_here');
  });
});
