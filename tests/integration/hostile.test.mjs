// SPDX-License-Identifier: Apache-2.0
// Hostile clients: what an attacker with no key, or with a key of another
// project, can do to a running kabard, and what it must not achieve.
//   - connection floods (idle and slowloris) from one loopback address while
//     another address probes: every probe answers, every hostile connection
//     is closed by the request deadline or refused with a JSON 503;
//   - server-wide actions need an admin key;
//   - (more suites below)

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { assertError } from './lib/common.mjs';
import { KABAR, cleanEnv, databaseDump, startKabard, tempDir } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

/** `kabar ARGS`: {code, stdout, stderr}. */
function kabar(args) {
  const home = tempDir('kabar-cli-');
  return new Promise((resolve) => {
    execFile(KABAR, args, { env: cleanEnv({ HOME: home, XDG_CONFIG_HOME: home }), timeout: 15_000 },
      (err, stdout, stderr) => {
        fs.rmSync(home, { recursive: true, force: true });
        resolve({ code: err ? err.code : 0, stdout, stderr });
      });
  });
}

/** The request deadline the flood runs against (kabard --request-timeout). */
const DEADLINE_S = 1;
const PER_ADDRESS = 250;
/** 2000, or what this process's open-file limit allows (said in the output). */
const HOSTILE = (() => {
  let soft = Infinity;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m) soft = Number(m[1]);
  } catch { /* not Linux: assume enough */ }
  if (soft >= 2500) return 2000;
  console.log(`hostile: the open-file limit is ${soft}: the flood uses ${soft - 500} connections, not 2000`);
  return Math.max(PER_ADDRESS + 100, soft - 500);
})();
const HOSTILE_ADDR = '127.0.0.2';

/** A probe from 127.0.0.1 on a fresh connection: status and JSON body. */
function probe(port, path = '/healthz') {
  return probeFrom(port, '127.0.0.1', path);
}

function probeFrom(port, addr, path = '/healthz') {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: addr });
    let data = '';
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => { data += d; });
    s.on('error', reject);
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d+)/.exec(data);
      resolve({ status: m ? Number(m[1]) : 0, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/**
 * Open n connections from addr: even ones idle (send nothing), odd ones
 * slowloris (a request line, then one header byte every 100 ms, never
 * finishing). Each resolves, once closed, with what it received and when.
 */
function flood(port, addr, n) {
  const socks = [];
  const done = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: addr });
    const rec = { i, slow: i % 2 === 1, data: '', opened: 0, closed: 0 };
    s.setEncoding('latin1');
    s.on('connect', () => {
      rec.opened = Date.now();
      if (rec.slow) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    });
    s.on('data', (d) => { rec.data += d; });
    s.on('error', () => {});
    done.push(new Promise((resolve) => s.on('close', () => { rec.closed = Date.now(); resolve(rec); })));
    socks.push({ s, rec });
  }
  const drip = setInterval(() => {
    for (const { s, rec } of socks) if (rec.slow && !s.destroyed && rec.opened) s.write('a');
  }, 100);
  return { socks, all: Promise.all(done).finally(() => clearInterval(drip)) };
}

describe('connection floods', { timeout: 120_000 }, () => {
  let k;
  before(async () => {
    k = await startKabard({ args: ['--request-timeout', String(DEADLINE_S)] });
  });
  // stop() asserts a clean exit: shedding connections must not hang it.
  after(async () => { try { await k?.stop(); } finally { await k?.cleanup(); } });

  it(`${HOSTILE} idle and slowloris connections from one address lock out no one`, async () => {
    const t0 = Date.now();
    const f = flood(k.port, HOSTILE_ADDR, HOSTILE);
    // Probe while the flood holds what it can: every probe answers.
    const probes = [];
    for (let i = 0; i < 20; i++) {
      const r = await probe(k.port, i % 2 ? '/healthz' : '/readyz');
      probes.push(r.status);
    }
    const recs = await f.all;
    assert.deepEqual(probes.filter((s) => s !== 200), [], `probes: ${probes}`);
    const refused = recs.filter((r) => r.data.startsWith('HTTP/1.1 503'));
    const held = recs.filter((r) => !r.data.startsWith('HTTP/1.1 503'));
    for (const r of refused) {
      const body = JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4));
      assert.equal(body.error.code, 503);
      assert.equal(body.error.status, 'UNAVAILABLE');
      assert.match(r.data, /\r\nRetry-After: \d+\r\n/);
    }
    assert.ok(held.length <= PER_ADDRESS, `held ${held.length} > ${PER_ADDRESS}`);
    assert.ok(held.length > 0, 'some hostile connections were admitted');
    // Every admitted one was closed by the deadline: none answered.
    for (const r of held) assert.equal(r.data, '', `connection ${r.i} got ${r.data.slice(0, 80)}`);
    const worst = Math.max(...held.map((r) => r.closed - r.opened));
    console.log(`flood: ${HOSTILE} hostile, ${refused.length} refused with 503, ${held.length} ` +
                `held and closed, the last after ${worst} ms (deadline ${DEADLINE_S * 1000} ms); ` +
                `${probes.length}/${probes.length} probes answered; ${Date.now() - t0} ms in all`);
    // Closed by the guard, not by libmicrohttpd's inactivity timeout (which a
    // slowloris connection never meets): the reaper counted every one. How
    // long it took is printed above, not asserted: the machine may be busy.
    const m = (await k.request('GET', '/metrics', { key: null })).text;
    const shed = (reason) => Number(new RegExp(`^kabar_http_connections_shed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m)?.[1]);
    assert.equal(shed('refused'), refused.length, m);
    // (and the start-up's idle keep-alive connection, closed by the deadline too)
    assert.ok(shed('past_deadline') + shed('idle_scarce') >= held.length, m);
    // And the server serves the flooding address again once it stops (its
    // closed connections are counted out as libmicrohttpd reaps them).
    const again = await waitFor(async () => {
      const r = await probeFrom(k.port, HOSTILE_ADDR);
      return r.status !== 503 ? r : null;
    }, 30_000, 'the flooding address to be served again');
    assert.equal(again.status, 200);
  });
});

describe('scarce connections', { timeout: 60_000 }, () => {
  it('idle connections are closed early when three quarters are in use, long before the deadline', async () => {
    const k = await startKabard({ args: ['--request-timeout', '30', '--max-connections', '100',
                                         '--max-connections-per-address', '100'] });
    try {
      const t0 = Date.now();
      const socks = [];
      const closed = [];
      for (let i = 0; i < 90; i++) {
        const s = net.connect({ host: '127.0.0.1', port: k.port, localAddress: HOSTILE_ADDR });
        s.on('error', () => {});
        closed.push(new Promise((resolve) => s.on('close', () => resolve(Date.now() - t0))));
        socks.push(s);
      }
      const times = await Promise.all(closed);
      const r = await probe(k.port);
      assert.equal(r.status, 200);
      const worst = Math.max(...times);
      console.log(`scarce: 90 idle of 100 closed, the last after ${worst} ms (deadline 30000 ms)`);
      // Closed as idle while scarce, none by the (30 s) deadline.
      const m = (await k.request('GET', '/metrics', { key: null })).text;
      const shed = (reason) => Number(new RegExp(`^kabar_http_connections_shed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m)?.[1]);
      assert.ok(shed('idle_scarce') >= 90, m);
      assert.equal(shed('past_deadline'), 0, m);
    } finally { try { await k.stop(); } finally { await k.cleanup(); } }
  });
});

describe('server-wide actions need an operator', { timeout: 60_000 }, () => {
  const DEF = 'default-key-0123456789abcdefABCD';
  const OTHER = 'other-key-0123456789abcdefABCDEF';
  const ADMIN = 'admin-key-0123456789abcdefABCDEF';
  const rotate = (k, key) => k.request('POST', '/v1/signingKeys:rotate', { key, body: {} });
  const kids = async (k) => (await k.request('GET', '/.well-known/jwks.json', { key: null })).json.keys.length;

  it('without KABAR_ADMIN_KEY, the project "default" is the operator; others get 403', async () => {
    const k = await startKabard({ apiKeys: `default:${DEF},other:${OTHER}` });
    try {
      const n = await kids(k);
      assertError(await rotate(k, OTHER), 403, 'PERMISSION_DENIED');
      assertError(await rotate(k, null), 401, 'UNAUTHENTICATED');
      assertError(await rotate(k, 'not-a-key-0123456789'), 401, 'UNAUTHENTICATED');
      assert.equal(await kids(k), n, 'no key was made');
      assert.equal((await rotate(k, DEF)).status, 200);
      const cli = await kabar(['--server', k.baseUrl, '--api-key', DEF, 'keys', 'rotate']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(await kids(k), n + 2);
    } finally { await k.cleanup(); }
  });

  it('with KABAR_ADMIN_KEY, only that key rotates, and it opens no project', async () => {
    const k = await startKabard({ apiKeys: `default:${DEF},other:${OTHER}`,
                                  env: { KABAR_ADMIN_KEY: ADMIN } });
    try {
      const n = await kids(k);
      assertError(await rotate(k, DEF), 403, 'PERMISSION_DENIED');
      assertError(await rotate(k, OTHER), 403, 'PERMISSION_DENIED');
      assert.equal(await kids(k), n);
      assert.equal((await rotate(k, ADMIN)).status, 200);
      const cli = await kabar(['--server', k.baseUrl, '--api-key', ADMIN, 'keys', 'rotate']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(await kids(k), n + 2);
      assertError(await k.request('GET', '/v1/webhooks', { key: ADMIN }), 401, 'UNAUTHENTICATED');
    } finally { await k.cleanup(); }
  });
});

describe('a full disk', { timeout: 120_000 }, () => {
  it('answers 503 UNAVAILABLE with Retry-After, /readyz says not ready, nothing acknowledged is lost', async (t) => {
    if (process.env.KABAR_TEST_DATABASE_URL) {
      t.skip('the PostgreSQL server owns its disk (its disk-full errors, SQLSTATE 53xxx, are 503 as well)');
      return;
    }
    if (process.getuid?.() !== 0) {
      t.skip('needs root to mount a small tmpfs: NOT TESTED here');
      return;
    }
    const dir = tempDir('kabar-full-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs (${String(e.stderr).trim()}): NOT TESTED here`);
      return;
    }
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    let k;
    try {
      k = await startKabard({ dataDir, apiKey: 'full-disk-key-0123456789abcdef', database: '' });
      const acked = [];
      for (let i = 0; i < 20; i++) {
        const r = await k.request('POST', '/v1/webhooks', {
          body: { name: `before-${i}`, uri: `https://example.com/b/${i}`, subscribed_events: ['batch.succeeded'] } });
        assert.equal(r.status, 200, r.text);
        acked.push(r.json.id);
      }
      const filler = path.join(dir, 'filler');
      const fd = fs.openSync(filler, 'w');
      const chunk = Buffer.alloc(64 * 1024, 120);
      try { for (;;) fs.writeSync(fd, chunk); } catch (e) { assert.equal(e.code, 'ENOSPC'); }
      try { for (;;) fs.writeSync(fd, chunk, 0, 512); } catch (e) { assert.equal(e.code, 'ENOSPC'); }
      fs.closeSync(fd);

      const refused = [];
      let first503;
      for (let i = 0; i < 2000 && refused.length < 5; i++) {
        const name = `full-${i}-${'x'.repeat(200)}`;
        const r = await k.request('POST', '/v1/webhooks', {
          body: { name, uri: `https://example.com/h/${i}`, subscribed_events: ['batch.succeeded'] } });
        assert.ok(r.status === 200 || r.status === 503, `${r.status}: ${r.text}`);
        if (r.status === 200) { acked.push(r.json.id); continue; }
        assertError(r, 503, 'UNAVAILABLE');
        assert.match(r.headers.get('retry-after') || '', /^\d+$/);
        refused.push(name);
        first503 ??= i;
      }
      assert.ok(refused.length > 0, 'the disk never filled');
      const ev = await k.request('POST', '/v1/events', {
        body: { type: 'batch.succeeded', data: { id: 'batches/full' } } });
      assertError(ev, 503, 'UNAVAILABLE');
      const ready = await k.request('GET', '/readyz', { key: null });
      assert.equal(ready.status, 503, ready.text);
      assert.equal(ready.json.status, 'not_ready');
      assert.equal((await k.request('GET', '/healthz', { key: null })).status, 200);

      // Space again: ready without a restart, and writes work.
      fs.rmSync(filler);
      const again = await k.request('GET', '/readyz', { key: null });
      assert.equal(again.status, 200, again.text);
      const after = await k.request('POST', '/v1/webhooks', {
        body: { name: 'after', uri: 'https://example.com/after', subscribed_events: ['batch.succeeded'] } });
      assert.equal(after.status, 200, after.text);
      const names = new Set((await k.listAll()).map((w) => w.name));
      const ids = new Set((await k.listAll()).map((w) => w.id));
      for (const id of acked) assert.ok(ids.has(id), `acknowledged webhook ${id} lost`);
      for (const n of refused) assert.ok(!names.has(n), 'a refused webhook was stored');
      console.log(`full disk: ${acked.length} created, then 503 from request ${first503}; ` +
                  `${refused.length} refused, none stored; /readyz 503 then 200 once space was back`);
      assert.match(k.stderr, /msg="database unavailable"/);
    } finally {
      await k?.cleanup();
      try { execFileSync('umount', [dir], { stdio: 'pipe' }); } catch { /* not mounted */ }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('log values are escaped', { timeout: 60_000 }, () => {
  const forged = '/v1/x%22%20status=200%20project=admin%20forged=%22%0Aforged2=1%1B%5B31m%5C';
  const decoded = '/v1/x" status=200 project=admin forged="\nforged2=1\u001b[31m\\';

  for (const format of ['logfmt', 'json']) {
    it(`in ${format}: a quote, space or control character in a path forges no field`, async () => {
      const k = await startKabard({ args: ['--log-format', format] });
      try {
        const r = await k.request('GET', forged, { key: null });
        assertError(r, 404, 'NOT_FOUND');
        await k.stop();
        const lines = k.stderr.split('\n').filter((l) => l.includes('forged'));
        assert.equal(lines.length, 1, lines.join('\n'));
        assert.ok(!lines[0].includes('\u001b'), 'a control byte reached the log');
        let rec;
        if (format === 'json') {
          rec = JSON.parse(lines[0]);
        } else {
          [rec] = (await import('./lib/kabard.mjs')).parseLogfmtLines(lines[0]);
        }
        assert.equal(rec.msg, 'request');
        assert.equal(rec.forged, undefined, lines[0]);
        assert.equal(rec.forged2, undefined, lines[0]);
        assert.equal(String(rec.status), '404');
        assert.equal(rec.project, '-');
        // The path survives, but for the control byte (shown as '?').
        if (format === 'json') assert.equal(rec.path, decoded.replace('\u001b', '?'));
        else assert.ok(lines[0].includes(' path="/v1/x\\" status=200 project=admin forged=\\"\\nforged2=1?[31m\\\\" '), lines[0]);
      } finally { await k.cleanup(); }
    });
  }
});

/** The whole database as text, as fault.test.mjs takes it. */
function dump(k) {
  if (k.databaseUrl) return databaseDump(k).replace(/^\\(un)?restrict .*\n/gm, '');
  return execFileSync('sqlite3', ['-readonly', path.join(k.dataDir, 'kabar.db'), '.dump'],
    { encoding: 'latin1', maxBuffer: 1 << 28 });
}

/** Every route of the OpenAPI description: [method, path template]. */
const ROUTES = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const doc = JSON.parse(fs.readFileSync(path.join(here, '..', '..', 'src', 'api', 'openapi.json'), 'utf8'));
  const out = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const m of Object.keys(ops)) if (m !== 'parameters') out.push([m.toUpperCase(), p]);
  }
  return out;
})();

/** A request held to no OpenAPI route (the corpus's paths are not routes). */
async function bare(k, method, url, { key, body } = {}) {
  const headers = {};
  if (key) headers['x-goog-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(url, k.baseUrl), { method, headers, body,
                                                     signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

function isJsonError(r) {
  return r.status >= 400 && r.status < 500 && r.json?.error?.code === r.status &&
    typeof r.json.error.message === 'string' && typeof r.json.error.status === 'string';
}

describe('bad requests and other projects, on every route', { timeout: 120_000 }, () => {
  const A = 'project-a-key-0123456789abcdefAB';
  const B = 'project-b-key-0123456789abcdefAB';
  let k, rcv, ids;

  /** A route's path with project A's resources in it. */
  const fill = (p) => {
    const kind = p.split('/')[2];
    const id = { webhooks: ids.webhook, deliveries: ids.delivery, interactions: ids.interaction,
                 batches: ids.batch, operations: ids.interaction, files: 'file_0' }[kind];
    return p.replace('{model}/operations/{id}', `veo/operations/${ids.video}`)
      .replace('{model}', 'veo').replace('{publisher}', 'google')
      .replace('{hash}', 'x').replace('{name}', 'y').replace('{id}', id ?? 'x');
  };

  before(async () => {
    rcv = await startReceiver();
    k = await startKabard({ apiKeys: `default:${A},other:${B}`,
                            env: { KABAR_EXECUTOR: 'external', KABAR_PRUNE_INTERVAL_MS: '3600000' } });
    const as = (m, p, body) => k.request(m, p, { key: A, body });
    const hook = await as('POST', '/v1/webhooks', { uri: rcv.url('/h'), subscribed_events: ['batch.succeeded'] });
    assert.equal(hook.status, 200, hook.text);
    assert.equal((await as('POST', '/v1/events', { type: 'batch.succeeded', data: { id: 'batches/x' } })).status, 200);
    const delivery = await waitFor(async () => {
      const r = await as('GET', `/v1/webhooks/${hook.json.id}/deliveries`);
      return r.json.deliveries?.find((d) => d.state === 'succeeded');
    }, 10_000, 'the delivery');
    const inter = await as('POST', '/v1/interactions', { model: 'm', input: 'hi', background: true });
    assert.equal(inter.status, 200, inter.text);
    const batch = await as('POST', '/v1/models/m:batchGenerateContent', { batch: { displayName: 'b',
      inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: 'r' }] }] } }] } } } });
    assert.equal(batch.status, 200, batch.text);
    const video = await as('POST', '/v1/models/veo:predictLongRunning', { instances: [{ prompt: 'p' }] });
    assert.equal(video.status, 200, video.text);
    ids = { webhook: hook.json.id, delivery: delivery.id, interaction: inter.json.id,
            batch: batch.json.name.split('/')[1], video: video.json.name.split('/').pop() };
  });
  after(async () => { await k?.cleanup(); await rcv?.close(); });

  it('every bad request is a JSON 4xx and changes nothing', async () => {
    const before1 = dump(k);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const bodies = ['{', '[]', '"x"', deep, '{"zz_unknown_field":1}', '{"name":"\xff"}', '{"a":1,"a":2}'];
    let n = 0;
    const fails = [];
    for (const [m, tpl] of ROUTES) {
      const p = fill(tpl);
      const tries = [
        [`${p}%00`], [`${p}%C3%28`], [`${p}?page_size=1&pageSize=1`], [`${p}?page_size=`],
        [`${p}?=x`], [`${p}?update_mask=name%00x`],
      ];
      if (m === 'POST' || m === 'PATCH') for (const b of bodies) tries.push([p, b]);
      for (const [url, body] of tries) {
        const r = await bare(k, m, url, { key: A,
                                          body: body === undefined ? undefined : Buffer.from(body, 'latin1') });
        n++;
        if (!isJsonError(r)) fails.push(`${m} ${url.slice(0, 80)} ${String(body).slice(0, 30)}: ${r.status} ${r.text.slice(0, 120)}`);
      }
    }
    assert.deepEqual(fails, [], `${fails.length} of ${n} bad requests were not a JSON 4xx`);
    assert.equal(dump(k), before1, 'a bad request changed the database');
    console.log(`bad requests: ${n} on ${ROUTES.length} routes, every one a JSON 4xx, database unchanged`);
  });

  it("another project's key reaches nothing of project A on any route", async () => {
    const before1 = dump(k);
    const secrets = Object.values(ids);
    const fails = [];
    for (const [m, tpl] of ROUTES) {
      const p = fill(tpl);
      const body = m === 'POST' || m === 'PATCH' ? {} : undefined;
      const r = await k.request(m, p, { key: B, body });
      // An error may quote the id the request named; nothing else of A.
      const leaked = secrets.filter((id) => !p.includes(id) && r.text.includes(id));
      if (leaked.length) fails.push(`${m} ${p}: shows ${leaked}`);
      if (r.status < 300 && p.split('/').length > 3 && p.startsWith('/v1/') &&
          !['/v1/deliveries', '/v1/operations', '/v1/batches', '/v1/stats'].includes(p)) {
        fails.push(`${m} ${p}: ${r.status} ${r.text.slice(0, 100)}`);
      }
      if (r.status >= 500) fails.push(`${m} ${p}: ${r.status}`);
    }
    assert.deepEqual(fails, []);
    assert.equal(dump(k), before1, "another project's requests changed the database");
  });
});

describe('smaller rules', { timeout: 60_000 }, () => {
  it('cancel takes only no body or {}; instances are type-checked; files are 0600', async () => {
    const dataDir = tempDir('kabar-modes-');
    fs.chmodSync(dataDir, 0o755);
    const k = await startKabard({ dataDir, env: { KABAR_EXECUTOR: 'external' } });
    try {
      const inter = await k.request('POST', '/v1/interactions', { body: { model: 'm', input: 'hi', background: true } });
      assert.equal(inter.status, 200, inter.text);
      const cancel = (body) => bare(k, 'POST', `/v1/interactions/${inter.json.id}/cancel`, { key: k.apiKey, body });
      for (const body of ['{"a":1}', '[]', '['.repeat(100_000) + ']'.repeat(100_000), 'null']) {
        const r = await cancel(body);
        assert.ok(isJsonError(r) && r.status === 400, `${body.slice(0, 20)}: ${r.status} ${r.text}`);
      }
      assert.equal((await k.request('GET', `/v1/interactions/${inter.json.id}`)).json.status, 'in_progress');
      assert.equal((await cancel('{}')).status, 200);

      for (const instances of [[{ prompt: 5 }], [{ prompt: 'p' }, 'x'], [{ prompt: 'p', image: 'x' }]]) {
        assertError(await k.request('POST', '/v1/models/veo:predictLongRunning', { body: { instances } }),
          400, 'INVALID_ARGUMENT');
      }
      for (const extra of [{ input: 5 }, { stream: 'yes' }, { store: 'yes' }, { tools: {} },
        { generation_config: [] }, { system_instruction: 5 }, { previous_interaction_id: 7 }]) {
        assertError(await k.request('POST', '/v1/interactions', { body: { model: 'm', input: 'x', ...extra } }),
          400, 'INVALID_ARGUMENT');
      }

      await k.stop();
      const modes = {};
      for (const f of fs.readdirSync(dataDir)) {
        const st = fs.statSync(path.join(dataDir, f));
        if (st.isFile()) modes[f] = (st.mode & 0o777).toString(8);
      }
      assert.ok(modes['kabar.db'] || k.databaseUrl, JSON.stringify(modes));
      for (const [f, m] of Object.entries(modes)) assert.equal(m, '600', `${f} is ${m}`);
      // A database an older kabard left readable is narrowed at start.
      if (!k.databaseUrl) {
        fs.chmodSync(path.join(dataDir, 'kabar.db'), 0o644);
        await k.start();
        await k.stop();
        assert.equal((fs.statSync(path.join(dataDir, 'kabar.db')).mode & 0o777).toString(8), '600');
      }
    } finally {
      await k.cleanup();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('out of file descriptors', { timeout: 60_000 }, () => {
  it('the accept thread waits between failed accepts instead of spinning', async (t) => {
    if (!fs.existsSync('/proc/self/fd')) {
      t.skip('needs /proc: NOT TESTED here');
      return;
    }
    const k = await startKabard({ args: ['--request-timeout', '30'] });
    const socks = [];
    let restore = () => {};
    try {
      // Lower kabard's limit of open files to its lowest free descriptor
      // number: no new descriptor fits, so every accept fails with EMFILE
      // and the connections stay queued.
      const pid = k.proc.pid;
      const fds = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
      let limit = 0;
      while (fds.has(limit)) limit++;
      const soft = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))[1];
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:`]);
      restore = () => execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ host: '127.0.0.1', port: k.port, localAddress: HOSTILE_ADDR });
        s.on('error', () => {});
        socks.push(s);
      }
      // The reaper logs the failures once per tick. Waiting 100 ms between
      // tries makes a few a second; a thread polling a listener that stays
      // readable makes hundreds of thousands.
      const counts = await waitFor(() => {
        const c = [...k.stderr.matchAll(/msg="connections shed".* accept_failed=(\d+)/g)]
          .map((m) => Number(m[1])).filter((n) => n > 0);
        return c.length >= 3 ? c : null;
      }, 30_000, 'three log lines with failed accepts');
      console.log(`out of descriptors: failed accepts per log line ${counts.join(', ')}`);
      assert.ok(counts.every((n) => n < 1000), `failed accepts per tick: ${counts}`);
    } finally {
      for (const s of socks) s.destroy();
      restore();                      // so that it stops as it would
      await k.stop();
      await k.cleanup();
    }
  });
});

describe('shutdown under load', { timeout: 60_000 }, () => {
  it('SIGTERM while events are being published: a clean exit, every answer 200 or 503', async () => {
    // A publish defers its answer until its commit; one still in its
    // handler when the server stops must be waited for, or libmicrohttpd
    // aborts on a connection suspended after the stop began.
    const KEY = 'stop-key-0123456789abcdefABCDEF';
    for (let run = 0; run < 3; run++) {
      const k = await startKabard({ apiKey: KEY });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      const body = JSON.stringify({ type: 'batch.succeeded', data: { id: 'batches/stop' } });
      const statuses = new Map();
      let stopping = false;
      let answered = 0;
      const one = () => new Promise((resolve) => {
        const q = http.request({ agent, host: '127.0.0.1', port: k.port, method: 'POST', path: '/v1/events',
          headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => { statuses.set(res.statusCode, (statuses.get(res.statusCode) || 0) + 1); resolve(true); });
          res.on('error', () => resolve(false));
        });
        q.on('error', () => resolve(false));
        q.end(body);
      });
      const loops = Array.from({ length: 64 }, async () => {
        while (!stopping) if (await one()) answered++; else break;
      });
      try {
        await waitFor(() => answered >= 500, 30_000, '500 events acknowledged');
        await k.stop();             // throws unless kabard exited 0
      } finally {
        stopping = true;
        await Promise.all(loops);
        agent.destroy();
        await k.cleanup();
      }
      for (const s of statuses.keys()) assert.ok(s === 200 || s === 503, `status ${s}: ${[...statuses]}`);
    }
  });
});
