// SPDX-License-Identifier: Apache-2.0
// The receiver toolkit: libkabar through `kabar verify`, `kabar listen` and
// the example program of docs/receiving.md, against what other libraries
// make (interop) and what kabard sends (end to end).
//
//   - Standard Webhooks: product.md §8's vectors and negative cases; messages
//     signed by the official `standardwebhooks` npm library.
//   - Dynamic webhooks: RS256 tokens signed by the `jose` npm library, their
//     JWKS served over HTTP or read from a file; the forgeries a verifier must
//     refuse (alg none, HS256 keyed with the public key, unknown kid, wrong
//     aud/iss, expired, a body swapped under a valid token).
//   - `kabar listen`: kabard -> listen -> --forward-to for static and dynamic
//     webhooks, de-duplication on webhook-id, 400 with a reason, a failing
//     forward target, Ctrl-C.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import * as jose from 'jose';
import { Webhook } from 'standardwebhooks';

import {
  BIN_DIR, KABAR, cleanEnv, freePort, rawRequest, runProgram, startKabard, tempDir,
} from './lib/kabard.mjs';
import { SECRET_RE, sleep } from './lib/common.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const EXAMPLE = path.join(BIN_DIR, 'tests', 'receiver_example');
const KEY = 'receiver-key-0123456789abcdefABC';
const scratch = tempDir('kabar-receiver-');
// A root-level hook: runs once every suite of this file has finished.
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
const T = { timeout: 60_000 };

/** Run a program with stdin; resolves {code, signal, stdout, stderr}. */
function run(bin, args, { input = '', timeoutMs } = {}) {
  return runProgram(bin, args, { cwd: scratch, env: cleanEnv(), input, timeoutMs });
}

const kabar = (args, opts) => run(KABAR, args, opts);

/** kabar verify with a secret; resolves the run. */
function verifySecret(secret, { id, ts, sig, body, now }) {
  const args = ['verify', '--secret', secret];
  if (id !== undefined) args.push('--id', id);
  if (ts !== undefined) args.push('--timestamp', String(ts));
  if (sig !== undefined) args.push('--signature', sig);
  if (now !== undefined) args.push('--now', String(now));
  return kabar(args, { input: body });
}

// ------------------------------------------------ product.md §8 vectors

const VECTORS = [
  {
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    ts: 1614265330, body: '{"test": 2432232314}',
    sig: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  },
  {
    secret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD', id: 'msg_27UH4WbU6Z5A5EzD8u03UvzRbpk',
    ts: 1649367553, body: '{"email":"test@example.com","username":"test_user"}',
    sig: 'v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=',
  },
];

describe('kabar verify: Standard Webhooks (product.md §8)', () => {
  it('accepts both vectors, with and without whsec_, and prints the body', T, async () => {
    for (const v of VECTORS) {
      for (const secret of [v.secret, v.secret.slice('whsec_'.length)]) {
        const r = await verifySecret(secret, { ...v, now: v.ts });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${v.body}\n`);
      }
    }
  });

  it('accepts when any one of several signatures matches, skipping unknown versions', T, async () => {
    const v = VECTORS[0];
    const other = `v1,${crypto.randomBytes(32).toString('base64')}`;
    for (const sig of [`${other} ${v.sig}`, `${v.sig} ${other}`, `v2,abc v1a,${v.sig.slice(3)} ${v.sig}`]) {
      const r = await verifySecret(v.secret, { ...v, sig, now: v.ts });
      assert.equal(r.code, 0, `${sig}: ${r.stderr}`);
    }
  });

  const v = VECTORS[0];
  const cases = [
    ['a missing webhook-id', { id: undefined }, /missing webhook-id/],
    ['a missing webhook-timestamp', { ts: undefined }, /missing webhook-timestamp/],
    ['a missing webhook-signature', { sig: undefined }, /missing webhook-signature/],
    ['a non-numeric timestamp', { ts: 'abc' }, /not a unix time/],
    ['a timestamp with trailing junk', { ts: `${v.ts}x` }, /not a unix time/],
    ['a timestamp 301 s old', { now: v.ts + 301 }, /too old/],
    ['a timestamp 301 s ahead', { now: v.ts - 301 }, /too far in the future/],
    ['a truncated signature', { sig: v.sig.slice(0, -5) }, /no matching signature/],
    ['a garbage signature', { sig: 'v1,!!!garbage!!!' }, /no matching signature/],
    ['"v1," alone', { sig: 'v1,' }, /no matching signature/],
    ['only an unknown version', { sig: `v2,${v.sig.slice(3)}` }, /no matching signature/],
    ['a changed body', { body: '{"test": 2432232315}' }, /no matching signature/],
    ['a changed id', { id: 'msg_p5jXN8AQM9LWM0D4loKWxJeK' }, /no matching signature/],
    ['a wrong secret', { secret: VECTORS[1].secret }, /no matching signature/],
  ];
  for (const [what, over, reason] of cases) {
    it(`rejects ${what} with exit 1 and the reason`, T, async () => {
      const m = { ...v, now: v.ts, ...over };
      const r = await verifySecret(m.secret, m);
      assert.equal(r.code, 1, `stdout ${r.stdout} stderr ${r.stderr}`);
      assert.match(r.stderr, reason);
      assert.equal(r.stdout, '');
    });
  }

  it('accepts 300 s either way', T, async () => {
    for (const now of [v.ts - 300, v.ts + 300]) {
      const r = await verifySecret(v.secret, { ...v, now });
      assert.equal(r.code, 0, r.stderr);
    }
  });

  it('refuses a malformed secret and a bad command line with exit 2', T, async () => {
    let r = await verifySecret('whsec_!!!', { ...v, now: v.ts });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /secret/);
    r = await kabar(['verify', '--id', 'x'], { input: '' });
    assert.equal(r.code, 2);
    r = await kabar(['verify', '--jwks', 'jwks.json', '--id', 'x'], { input: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /with --jwks give --audience .* --any-audience/);
    r = await kabar(['verify', '--secret', v.secret, '--jwks', 'x'], { input: '' });
    assert.equal(r.code, 2);
  });
});

describe('interop: the standardwebhooks npm library signs, libkabar verifies', () => {
  it('verifies random messages (kabar verify, real clock)', T, async () => {
    for (let i = 0; i < 5; i++) {
      const secret = `whsec_${crypto.randomBytes(24 + i * 8).toString('base64')}`;
      const wh = new Webhook(secret);
      const id = `msg_${crypto.randomBytes(8).toString('hex')}`;
      const body = JSON.stringify({ type: 'batch.succeeded', n: i, text: 'héllo ✓ "q"\n', pad: 'x'.repeat(i * 5000) });
      const now = new Date();
      const sig = wh.sign(id, now, body);
      const ts = Math.floor(now.getTime() / 1000);
      const r = await verifySecret(secret, { id, ts, sig, body });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${body}\n`);
      // And the reverse check: what the npm library verifies, so do we.
      wh.verify(body, { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig });
    }
  });

  it('the example program of docs/receiving.md verifies a raw request', T, async () => {
    assert.ok(fs.existsSync(EXAMPLE), `${EXAMPLE} not built`);
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const body = '{"type":"video.generated","data":{"id":"op_1"}}';
    const now = new Date();
    const sig = new Webhook(secret).sign('msg_example', now, body);
    const ts = Math.floor(now.getTime() / 1000);
    const req = `POST /hook HTTP/1.1\r\nHost: x\r\nWebhook-Id: msg_example\r\n` +
      `Webhook-Timestamp: ${ts}\r\nWebhook-Signature: ${sig}\r\n\r\n${body}`;
    let r = await run(EXAMPLE, [secret], { input: req });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^verified video\.generated msg_example \(signature\)\n/);
    r = await run(EXAMPLE, [secret], { input: req.replace('op_1', 'op_2') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no matching signature/);
  });
});

// ------------------------------------------------------- dynamic (JWT)

const ISS = 'https://kabar.example.com';
const AUD = 'https://receiver.example.com/hooks';

/** An RS256 key pair with its public JWK (kid = RFC 7638 thumbprint). */
async function makeKey() {
  const { publicKey, privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk);
  jwk.use = 'sig';
  jwk.alg = 'RS256';
  return { publicKey, privateKey, jwk, kid: jwk.kid };
}

const sha256url = (body) => crypto.createHash('sha256').update(body).digest('base64url');

/** The claims kabard sends (product.md §5). */
function claimsFor({ id, ts, body, over = {} }) {
  return {
    iss: ISS, aud: AUD, sub: 'batches/123', iat: ts, exp: ts + 300, jti: crypto.randomUUID(),
    webhook_id: id, body_sha256: sha256url(body),
    type: 'batch.succeeded', version: 'v1', timestamp: new Date(ts * 1000).toISOString(),
    data: { id: 'batches/123' }, user_metadata: { team: 'a' },
    ...over,
  };
}

async function signToken(key, claims, header = {}) {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header })
    .sign(key.privateKey);
}

/** A JWKS server: {url, fetches, set(jwks), close()}. */
async function serveJwks(jwks) {
  const state = { jwks, fetches: 0 };
  const srv = http.createServer((req, res) => {
    state.fetches++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' });
    res.end(JSON.stringify(state.jwks));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}/.well-known/jwks.json`,
    get fetches() { return state.fetches; },
    set(j) { state.jwks = j; },
    close: () => new Promise((r) => srv.close(r)),
  };
}

function verifyJwt(jwks, { id, ts, token, body, audience = AUD, issuer = ISS, now }) {
  const args = ['verify', '--jwks', jwks];
  if (audience) args.push('--audience', audience);
  if (issuer) args.push('--issuer', issuer);
  if (id !== undefined) args.push('--id', id);
  if (ts !== undefined) args.push('--timestamp', String(ts));
  if (token !== undefined) args.push('--signature', token);
  if (now !== undefined) args.push('--now', String(now));
  return kabar(args, { input: body });
}

describe('interop: the jose npm library signs RS256, libkabar verifies', () => {
  let key;
  let other;
  let server;
  let jwksFile;
  const body = '{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123"}}';
  const id = 'msg_01jjz0dyn0000000000000000a';
  const ts = Math.floor(Date.now() / 1000);

  before(async () => {
    key = await makeKey();
    other = await makeKey();
    server = await serveJwks({ keys: [key.jwk] });
    jwksFile = path.join(scratch, 'jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [other.jwk, key.jwk] }));
  });
  after(async () => { await server.close(); });

  it('verifies a token with the JWKS from a URL and prints the claims', T, async () => {
    const token = await signToken(key, claimsFor({ id, ts, body }));
    const r = await verifyJwt(server.url, { id, ts, token, body });
    assert.equal(r.code, 0, r.stderr);
    const ev = JSON.parse(r.stdout);
    assert.equal(ev.type, 'batch.succeeded');
    assert.equal(ev.webhook_id, id);
    assert.equal(ev.aud, AUD);
    assert.deepEqual(ev.data, { id: 'batches/123' });
    assert.deepEqual(ev.user_metadata, { team: 'a' });
    assert.ok(server.fetches >= 1);
  });

  it('verifies with the JWKS from a file, and with aud as an array', T, async () => {
    const token = await signToken(key, claimsFor({ id, ts, body, over: { aud: ['x', AUD] } }));
    const r = await verifyJwt(jwksFile, { id, ts, token, body });
    assert.equal(r.code, 0, r.stderr);
  });

  const forgeries = [
    ['a wrong audience', async () => signToken(key, claimsFor({ id, ts, body, over: { aud: 'https://evil.example/h' } })), /audience/],
    ['a wrong issuer', async () => signToken(key, claimsFor({ id, ts, body, over: { iss: 'https://evil.example' } })), /issuer/],
    ['an expired token', async () => signToken(key, claimsFor({ id, ts, body, over: { exp: ts - 1 } })), /expired/],
    ['alg:none', async () => new jose.UnsecuredJWT(claimsFor({ id, ts, body })).encode(), /algorithm/],
    ['alg:none with a kid', async () => {
      const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: key.kid })).toString('base64url');
      const p = Buffer.from(JSON.stringify(claimsFor({ id, ts, body }))).toString('base64url');
      return `${h}.${p}.`;
    }, /algorithm/],
    ['alg:HS256 keyed with the public key (PEM)', async () => {
      const pem = await jose.exportSPKI(key.publicKey);
      return new jose.SignJWT(claimsFor({ id, ts, body }))
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid })
        .sign(new TextEncoder().encode(pem));
    }, /algorithm/],
    ['alg:HS256 keyed with the public JWK', async () => new jose.SignJWT(claimsFor({ id, ts, body }))
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid })
      .sign(new TextEncoder().encode(JSON.stringify(key.jwk))), /algorithm/],
    ['an unknown kid', async () => signToken(other, claimsFor({ id, ts, body })), /kid/],
    ['another key under the known kid', async () => signToken(other, claimsFor({ id, ts, body }), { kid: key.kid }), /no matching signature/],
    ['a webhook_id for another message', async () => signToken(key, claimsFor({ id: 'msg_other', ts, body })), /webhook_id/],
    ['an iat that is not webhook-timestamp', async () => signToken(key, claimsFor({ id, ts: ts - 5, body })), /iat/],
  ];
  for (const [what, make, reason] of forgeries) {
    it(`rejects ${what}`, T, async () => {
      const token = await make();
      const r = await verifyJwt(server.url, { id, ts, token, body });
      assert.equal(r.code, 1, `stdout ${r.stdout} stderr ${r.stderr}`);
      assert.match(r.stderr, reason);
    });
  }

  it('rejects a body swapped under a valid token', T, async () => {
    const token = await signToken(key, claimsFor({ id, ts, body }));
    const r = await verifyJwt(server.url, { id, ts, token, body: body.replace('123', '124') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /body_sha256/);
  });

  it('rejects a token older than the tolerance', T, async () => {
    const token = await signToken(key, claimsFor({ id, ts, body }));
    const r = await verifyJwt(server.url, { id, ts, token, body, now: ts + 301 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /too old/);
  });

  it('reports a JWKS it cannot fetch', T, async () => {
    const port = await freePort();
    const token = await signToken(key, claimsFor({ id, ts, body }));
    const r = await verifyJwt(`http://127.0.0.1:${port}/jwks.json`, { id, ts, token, body });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot get the JWKS/);
  });
});

// ------------------------------------------------------------ kabar listen

/** Start `kabar listen` with args; resolves {proc, port, url, out(), stop()}. */
async function startListen(args) {
  const proc = spawn(KABAR, ['listen', ...args], { cwd: scratch, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  let exit = null;
  exited.then((e) => { exit = e; });
  await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+\//.test(stdout) || exit, 10_000, 'kabar listen to start');
  if (exit) throw new Error(`kabar listen exited ${JSON.stringify(exit)}: ${stdout}${stderr}`);
  const port = Number(stdout.match(/listening on http:\/\/127\.0\.0\.1:(\d+)\//)[1]);
  return {
    proc, port, url: `http://127.0.0.1:${port}`,
    out: () => stdout, err: () => stderr,
    lines: () => stdout.split('\n').filter((l) => / id=/.test(l)),
    async stop() {
      if (exit) return exit;
      proc.kill('SIGINT');
      const r = await Promise.race([exited, sleep(10_000).then(() => 'timeout')]);
      if (r === 'timeout') { proc.kill('SIGKILL'); throw new Error('kabar listen ignored SIGINT'); }
      return r;
    },
  };
}

/** Start `kabar listen` on a port known before it starts (the target URI,
 *  and so the audience, names it): argsFor(port) gives the arguments. A port
 *  free when probed may be taken before `kabar listen` binds it (other tests
 *  listen and connect at the same time), so a refused bind takes another. */
async function startListenOnFreePort(argsFor) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startListen(['--port', String(port), ...argsFor(port)]);
    } catch (e) {
      if (attempt >= 5 || !/cannot listen on .*in use/.test(e.message)) throw e;
    }
  }
}

/** Sign and POST a Standard Webhooks message to url; the raw answer. */
function postSigned(url, secret, { id, body, ts = Math.floor(Date.now() / 1000), headers = {} }) {
  const sig = new Webhook(secret).sign(id, new Date(ts * 1000), body);
  return rawRequest(url, 'POST', '/hook', {
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig, ...headers },
    body,
  });
}

describe('kabar listen', () => {
  it('verifies, de-duplicates, forwards unchanged and prints one line per event', T, async (t) => {
    const rcv = await startReceiver();
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const l = await startListen(['--port', '0', '--secret', secret, '--forward-to', rcv.url('/app'), '--verbose']);
    t.after(async () => { await l.stop(); await rcv.close(); });

    const body = '{"type":"batch.succeeded","data":{"id":"b1"}}';
    let r = await postSigned(l.url, secret, { id: 'msg_a', body, headers: { 'x-custom': 'kept' } });
    assert.equal(r.status, 200, r.text);
    await rcv.waitForCount('/app', 1);
    const fwd = rcv.forPath('/app')[0];
    assert.equal(fwd.method, 'POST');
    assert.equal(fwd.body.toString(), body);
    assert.equal(fwd.headers['webhook-id'], 'msg_a');
    assert.equal(fwd.headers['x-custom'], 'kept');
    assert.equal(fwd.headers['content-type'], 'application/json');
    assert.ok(fwd.headers['webhook-signature'].startsWith('v1,'));

    // The same message again (a retry): 2xx, not forwarded.
    r = await postSigned(l.url, secret, { id: 'msg_a', body });
    assert.equal(r.status, 200);
    // Not verified: 400 with the reason, not forwarded.
    r = await postSigned(l.url, `whsec_${crypto.randomBytes(32).toString('base64')}`, { id: 'msg_b', body });
    assert.equal(r.status, 400);
    assert.match(r.text, /no matching signature/);
    r = await rawRequest(l.url, 'POST', '/hook', { headers: { 'webhook-id': 'msg_c' }, body });
    assert.equal(r.status, 400);
    assert.match(r.text, /missing webhook-timestamp/);
    await sleep(200);
    assert.equal(rcv.forPath('/app').length, 1);

    const lines = l.lines();
    assert.equal(lines.length, 4, l.out());
    assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ batch\.succeeded id=msg_a verified=yes duplicate=no forwarded=200$/);
    assert.match(lines[1], /batch\.succeeded id=msg_a verified=yes duplicate=yes$/);
    assert.match(lines[2], /- id=msg_b verified=no duplicate=no reason="no matching signature"/);
    assert.ok(l.out().includes(body), '--verbose prints the body');
    const e = await l.stop();
    assert.deepEqual(e, { code: 0, signal: null });
    assert.match(l.out(), /stopped/);
  });

  it('answers with the forward target\'s failure and lets the retry through', T, async (t) => {
    const rcv = await startReceiver();
    rcv.script('/app', [{ status: 500 }, { status: 200 }]);
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const l = await startListen(['--port', '0', '--secret', secret, '--forward-to', rcv.url('/app')]);
    t.after(async () => { await l.stop(); await rcv.close(); });
    const body = '{"type":"batch.failed"}';
    let r = await postSigned(l.url, secret, { id: 'msg_r', body });
    assert.equal(r.status, 500);
    r = await postSigned(l.url, secret, { id: 'msg_r', body });
    assert.equal(r.status, 200);
    assert.equal(rcv.forPath('/app').length, 2);
    r = await postSigned(l.url, secret, { id: 'msg_r', body });
    assert.equal(r.status, 200);
    assert.equal(rcv.forPath('/app').length, 2);
    // An unreachable target: 502.
    await rcv.close();
    r = await postSigned(l.url, secret, { id: 'msg_s', body });
    assert.equal(r.status, 502);
  });

  it('refuses a bad command line', T, async () => {
    let r = await kabar(['listen', '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port/);
    r = await kabar(['listen', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give --secret \(the webhook's whsec_/);
    // kabard makes every secret itself: one made here could not be used.
    r = await kabar(['listen', '--port', '0', '--print-secret']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --print-secret/);
    r = await kabar(['listen', '--port', '0', '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '--forward-to', 'ftp://x']);
    assert.equal(r.code, 2);
    // As verify: with --jwks the audience is given, or any audience is asked for.
    r = await kabar(['listen', '--port', '0', '--jwks', 'jwks.json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /with --jwks give --audience .* --any-audience/);
    r = await kabar(['listen', '--port', '0', '--jwks', 'jwks.json', '--audience', AUD, '--any-audience']);
    assert.equal(r.code, 2);
    r = await kabar(['listen', '--port', '0', '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '--any-audience']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /go with --jwks/);
  });

  it('dynamic: --any-audience accepts a token meant for another receiver, --audience does not', T, async (t) => {
    const key = await makeKey();
    const server = await serveJwks({ keys: [key.jwk] });
    const any = await startListen(['--port', '0', '--jwks', server.url, '--any-audience']);
    const mine = await startListen(['--port', '0', '--jwks', server.url, '--audience', 'https://me.example/hook']);
    t.after(async () => { await any.stop(); await mine.stop(); await server.close(); });
    const body = '{"type":"interaction.completed","data":{"id":"i1"}}';
    const ts = Math.floor(Date.now() / 1000);
    const token = await signToken(key, claimsFor({ id: 'msg_a', ts, body, over: { type: 'interaction.completed' } }));
    const post = (l) => rawRequest(l.url, 'POST', '/hook', {
      headers: { 'webhook-id': 'msg_a', 'webhook-timestamp': String(ts), 'webhook-signature': token }, body,
    });
    let r = await post(any);
    assert.equal(r.status, 200, r.text);
    r = await post(mine);
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /aud/);
  });

  it('dynamic: verifies jose-signed tokens against a JWKS URL', T, async (t) => {
    const key = await makeKey();
    const server = await serveJwks({ keys: [key.jwk] });
    const l = await startListen(['--port', '0', '--jwks', server.url, '--audience', AUD, '--issuer', ISS]);
    t.after(async () => { await l.stop(); await server.close(); });
    const body = '{"type":"interaction.completed","data":{"id":"i1"}}';
    const ts = Math.floor(Date.now() / 1000);
    const token = await signToken(key, claimsFor({ id: 'msg_j', ts, body, over: { type: 'interaction.completed' } }));
    const post = (b, tok = token) => rawRequest(l.url, 'POST', '/hook', {
      headers: { 'webhook-id': 'msg_j', 'webhook-timestamp': String(ts), 'webhook-signature': tok }, body: b,
    });
    let r = await post(body);
    assert.equal(r.status, 200, r.text);
    r = await post(body);
    assert.equal(r.status, 200);
    r = await post(body.replace('i1', 'i2'));
    assert.equal(r.status, 400);
    assert.match(r.text, /body_sha256/);
    const lines = l.lines();
    assert.match(lines[0], /interaction\.completed id=msg_j verified=yes duplicate=no$/);
    assert.match(lines[1], /id=msg_j verified=yes duplicate=yes$/);
  });
});

// ------------------------------------------------- kabard -> kabar listen

describe('end to end: kabard delivers to kabar listen', () => {
  it('static webhooks: every event verified, forwarded once', T, async (t) => {
    const rcv = await startReceiver();
    const k = await startKabard({ apiKey: KEY, env: { KABAR_RETRY_SCHEDULE: '0,1,1,1' } });
    let l;
    t.after(async () => { if (l) await l.stop(); await rcv.close(); await k.cleanup(); });
    // The secret comes with the webhook and the listener needs it: create
    // the webhook first, then point it at the port the listener got.
    const created = await k.request('POST', '/v1/webhooks', {
      body: { uri: 'http://127.0.0.1:9/hook', subscribed_events: ['batch.succeeded', 'batch.failed'] },
    });
    assert.equal(created.status, 200, created.text);
    const secret = created.json.new_signing_secret;
    l = (await startListenOnFreePort(() => ['--secret', secret, '--forward-to', rcv.url('/app')]));
    const moved = await k.request('PATCH', `/v1/webhooks/${created.json.id}`, {
      query: { update_mask: 'uri' }, body: { uri: `http://127.0.0.1:${l.port}/hook` },
    });
    assert.equal(moved.status, 200, moved.text);

    const ids = [];
    for (const type of ['batch.succeeded', 'batch.failed', 'batch.succeeded']) {
      const r = await k.request('POST', '/v1/events', { body: { type, data: { id: `batches/${ids.length}` } } });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.id);
    }
    await rcv.waitForCount('/app', 3, 15_000);
    const got = rcv.forPath('/app').map((q) => q.headers['webhook-id']).sort();
    assert.deepEqual(got, [...ids].sort());
    // What arrived verifies with the npm library too: forwarded unchanged.
    for (const q of rcv.forPath('/app')) {
      new Webhook(secret).verify(q.body.toString(), q.headers);
    }
    await waitFor(() => l.lines().length >= 3, 5000, 'three lines');
    for (const line of l.lines()) assert.match(line, /verified=yes duplicate=no forwarded=200/);

    // A manual redelivery is the same webhook-id: acknowledged, not forwarded.
    const dl = await k.request('GET', `/v1/webhooks/${created.json.id}/deliveries`);
    const first = dl.json.deliveries.find((d) => d.message_id === ids[0]);
    const retry = await k.request('POST', `/v1/deliveries/${first.id}:retry`, { body: {} });
    assert.equal(retry.status, 200, retry.text);
    await waitFor(() => l.lines().some((x) => x.includes(`id=${ids[0]} verified=yes duplicate=yes`)), 15_000, 'the duplicate line');
    assert.equal(rcv.forPath('/app').length, 3);
  });
});

describe('end to end: kabard delivers dynamic webhooks to kabar listen', () => {
  it('RS256 tokens verify against kabard\'s JWKS (aud = the target URI, iss = kabard)', T, async (t) => {
    const rcv = await startReceiver();
    const k = await startKabard({ apiKey: KEY, env: { KABAR_SIM_DELAY_MS: '200', KABAR_RETRY_SCHEDULE: '0,1,1,1' } });
    let l;
    t.after(async () => { if (l) await l.stop(); await rcv.close(); await k.cleanup(); });
    const hook = (port) => `http://127.0.0.1:${port}/hook`;
    l = (await startListenOnFreePort((port) => ['--jwks', `${k.baseUrl}/.well-known/jwks.json`,
      '--audience', hook(port), '--issuer', k.baseUrl, '--forward-to', rcv.url('/app')]));
    const target = hook(l.port);
    const r = await k.request('POST', '/v1/interactions', {
      body: { model: 'm', input: 'hello', background: true, webhook_config: { uris: [target], user_metadata: { team: 'x' } } },
    });
    assert.equal(r.status, 200, r.text);
    await rcv.waitForCount('/app', 1, 20_000);
    const q = rcv.forPath('/app')[0];
    const event = JSON.parse(q.body.toString());
    assert.match(event.type, /^interaction\./);
    // The forwarded token is kabard's, unchanged: it verifies with jose too.
    const jwks = jose.createRemoteJWKSet(new URL(`${k.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jose.jwtVerify(q.headers['webhook-signature'], jwks,
      { algorithms: ['RS256'], audience: target, issuer: k.baseUrl });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.webhook_id, q.headers['webhook-id']);
    assert.deepEqual(payload.user_metadata, { team: 'x' });
    await waitFor(() => l.lines().length >= 1, 5000, 'a line');
    assert.match(l.lines()[0], /interaction\.\S+ id=msg_\S+ verified=yes duplicate=no forwarded=200/);
    // The same delivery again (as a retry would be): acknowledged as a duplicate.
    const r2 = await rawRequest(l.url, 'POST', '/hook', { headers: q.headers, body: q.body });
    assert.equal(r2.status, 200, r2.text);
    assert.match(r2.text, /duplicate/);
    assert.equal(rcv.forPath('/app').length, 1);
  });
});

describe('kabard\'s JWKS', () => {
  it('is fetched and accepted by libkabar (a foreign token gets "unknown kid", not a fetch error)', T, async (t) => {
    const k = await startKabard({ apiKey: KEY });
    t.after(async () => { await k.cleanup(); });
    const key = await makeKey();
    const body = '{}';
    const ts = Math.floor(Date.now() / 1000);
    const token = await signToken(key, claimsFor({ id: 'msg_x', ts, body }));
    const r = await verifyJwt(`${k.baseUrl}/.well-known/jwks.json`, { id: 'msg_x', ts, token, body });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no key in the JWKS has the token's kid/);
  });
});

describe('docs/receiving.md', () => {
  it('shows the example program exactly as it is built and tested', () => {
    const here = path.dirname(new URL(import.meta.url).pathname);
    const doc = fs.readFileSync(path.join(here, '..', '..', 'docs', 'receiving.md'), 'utf8');
    const src = fs.readFileSync(path.join(here, '..', 'examples', 'receiver_example.c'), 'utf8');
    const m = doc.match(/### A complete example[\s\S]*?```c\n([\s\S]*?)```/);
    assert.ok(m, 'the example section');
    assert.equal(m[1], src);
  });
});
