// SPDX-License-Identifier: Apache-2.0
// The signing keys of dynamic webhooks over HTTP and the CLI, against a real
// kabard.
//
// Interface under test: GET /.well-known/jwks.json (no API key; RFC 7517
// JWKS, Cache-Control public with a max-age); POST /v1/signingKeys:rotate
// (API key; answers {kid, activate_time}); `kabar keys rotate`. Keys are
// RSA, kid = RFC 7638 thumbprint, alg RS256, use sig, no private members;
// they persist across restarts, and a rotated-in key is published at once.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { calculateJwkThumbprint, importJWK } from 'jose';

import { KABAR, cleanEnv, request, runProgram, startKabard, tempDir } from './lib/kabard.mjs';

const KEY = 'jwks-key-0123456789abcdefghij';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const scratch = tempDir('kabar-jwks-');

/** Run kabar; resolves {code, signal, stdout, stderr}. */
function kabar(args, { timeoutMs } = {}) {
  return runProgram(KABAR, args, {
    cwd: scratch,
    env: cleanEnv({ HOME: scratch, XDG_CONFIG_HOME: path.join(scratch, 'xdg') }),
    timeoutMs,
  });
}

/** GET the JWKS without a key, check the response and every key; returns the keys. */
async function getJwks(k) {
  const r = await request(k.baseUrl, 'GET', '/.well-known/jwks.json');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const cc = r.headers.get('cache-control') || '';
  assert.match(cc, /\bpublic\b/, `cache-control: ${cc}`);
  const maxAge = /\bmax-age=(\d+)\b/.exec(cc);
  assert.ok(maxAge && Number(maxAge[1]) > 0, `cache-control: ${cc}`);
  assert.ok(r.json && Array.isArray(r.json.keys), r.text);
  assert.ok(r.json.keys.length >= 1);
  for (const jwk of r.json.keys) {
    assert.equal(jwk.kty, 'RSA');
    assert.equal(jwk.alg, 'RS256');
    assert.equal(jwk.use, 'sig');
    assert.equal(typeof jwk.n, 'string');
    assert.equal(jwk.e, 'AQAB');
    for (const m of PRIVATE_MEMBERS) assert.equal(jwk[m], undefined, `private member ${m} published`);
    assert.equal(jwk.kid, await calculateJwkThumbprint(jwk, 'sha256'));
    await importJWK(jwk, 'RS256');          // a usable public key
  }
  return r.json.keys;
}

describe('JWKS and signing keys', () => {
  let k;

  before(async () => {
    k = await startKabard({ apiKey: KEY });
  });

  after(async () => {
    if (k) await k.cleanup();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('publishes one RSA key on first start, without an API key', async () => {
    const keys = await getJwks(k);
    assert.equal(keys.length, 1);
    assert.equal(Buffer.from(keys[0].n, 'base64url').length, 256);  // RSA-2048
  });

  it('answers methods other than GET with 405', async () => {
    const r = await request(k.baseUrl, 'POST', '/.well-known/jwks.json', { body: {} });
    assert.equal(r.status, 405);
  });

  it('keeps the same key across a restart', async () => {
    const before1 = await getJwks(k);
    await k.stop();
    await k.start();
    const after1 = await getJwks(k);
    assert.deepEqual(after1.map((j) => j.kid), before1.map((j) => j.kid));
  });

  it('POST /v1/signingKeys:rotate needs an API key', async () => {
    const r = await request(k.baseUrl, 'POST', '/v1/signingKeys:rotate', { body: {} });
    assert.equal(r.status, 401, r.text);
  });

  it('POST /v1/signingKeys:rotate publishes a new key at once, keeping the old', async () => {
    const old = await getJwks(k);
    const t0 = Date.now();
    const r = await k.request('POST', '/v1/signingKeys:rotate', { body: {} });
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json.kid, 'string');
    assert.match(r.json.activate_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // Signing starts one JWKS max-age later, so caches have the key first.
    const activate = Date.parse(r.json.activate_time);
    assert.ok(activate >= t0 + 299_000 && activate <= Date.now() + 301_000,
      `activate_time ${r.json.activate_time}`);

    const now = await getJwks(k);
    const kids = now.map((j) => j.kid);
    assert.ok(kids.includes(r.json.kid), `new kid ${r.json.kid} not in ${kids}`);
    for (const j of old) assert.ok(kids.includes(j.kid), `old kid ${j.kid} dropped`);
    assert.equal(now.length, old.length + 1);
  });

  it('POST /v1/signingKeys:rotate rejects unknown fields', async () => {
    const r = await k.request('POST', '/v1/signingKeys:rotate', { body: { bits: 4096 } });
    assert.equal(r.status, 400, r.text);
  });

  it('`kabar keys rotate` rotates, in text and with --json', async () => {
    const old = await getJwks(k);
    const common = ['--server', k.baseUrl, '--api-key', KEY];

    const text = await kabar([...common, 'keys', 'rotate']);
    assert.equal(text.code, 0, `stdout: ${text.stdout}\nstderr: ${text.stderr}`);
    const m = /^kid:\s+(\S+)$/m.exec(text.stdout);
    assert.ok(m, text.stdout);

    const json = await kabar([...common, '--json', 'keys', 'rotate']);
    assert.equal(json.code, 0, `stdout: ${json.stdout}\nstderr: ${json.stderr}`);
    const body = JSON.parse(json.stdout);
    assert.equal(typeof body.kid, 'string');
    assert.equal(typeof body.activate_time, 'string');

    const kids = (await getJwks(k)).map((j) => j.kid);
    assert.ok(kids.includes(m[1]));
    assert.ok(kids.includes(body.kid));
    assert.equal(kids.length, old.length + 2);
  });

  it('keeps every published key across a restart after rotations', async () => {
    const before1 = (await getJwks(k)).map((j) => j.kid).sort();
    await k.stop();
    await k.start();
    const after1 = (await getJwks(k)).map((j) => j.kid).sort();
    assert.deepEqual(after1, before1);
  });
});
