// SPDX-License-Identifier: Apache-2.0
// Fault injection at the store's seam: kabard_fault (tests/fault) is kabard
// with a store that fails, once, the statement or the commit named in
// KABAR_STORE_FAULT, as a full disk or a lost server would. Every statement
// that writes (the list comes from kabard_fault itself, so a new one cannot
// be missed) is failed once, where the API, the delivery engine or the
// start-up runs it, and so is the commit of each kind of write transaction:
//   - a request: a 5xx JSON error (never a 2xx, never a crash), the database
//     exactly as it was before the request, and the same request then
//     succeeds;
//   - the delivery engine: kabard keeps running, the delivery ends
//     succeeded, and its attempt count matches the attempts it lists;
//   - start-up: kabard exits with a message and a nonzero code (no signal),
//     or runs on; either way the next start on the same data works.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { KABARD_FAULT, Kabard, cleanEnv, databaseDump, dropTestDatabase, tempDir } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const PG = Boolean(process.env.KABAR_TEST_DATABASE_URL);
const KEY = 'fault-key-0123456789abcdefABCDEFGH';
const ENV = { KABAR_RETRY_SCHEDULE: '0,1,1,1,1', KABAR_EXECUTOR: 'external' };
const T = { timeout: 60_000 };
/** A delivery that fails once is failed for good (the window is over). */
const ONE_TRY = { KABAR_RETRY_WINDOW_S: '1' };

/** Every statement that writes, as kabard_fault names them. */
const WRITES = execFileSync(KABARD_FAULT, [], {
  env: cleanEnv({ KABAR_STORE_FAULT: 'list' }), encoding: 'utf8',
}).trim().split('\n');

/** On PostgreSQL the claim statements lease the rows they return
 *  themselves (FOR UPDATE SKIP LOCKED); the separate lease statements run
 *  only on SQLite. */
const LEASE = {
  DELIVERY_LEASE: PG ? 'TARGET_TAKE' : 'DELIVERY_LEASE',
  OP_LEASE: PG ? 'OP_CLAIM' : 'OP_LEASE',
};

/** On PostgreSQL a batch of outcomes is written in two statements; on
 *  SQLite two per outcome (store_driver.h, batch_rows). */
const BATCH = {
  DELIVERY_RESULT: PG ? 'DELIVERIES_RESULT' : 'DELIVERY_RESULT',
  ATTEMPT_INSERT: PG ? 'ATTEMPTS_INSERT' : 'ATTEMPT_INSERT',
};

/** The whole database as text (without pg_dump's \restrict lines, whose
 *  key is new on every run). */
function dump(k) {
  if (k.databaseUrl) return databaseDump(k).replace(/^\\(un)?restrict .*\n/gm, '');
  return execFileSync('sqlite3', ['-readonly', path.join(k.dataDir, 'kabar.db'), '.dump'],
    { encoding: 'latin1', maxBuffer: 1 << 28 });
}

let rcv;
let seq = 0;

/** A webhook of k to a fresh path of the receiver; returns {id, path}. */
async function hook(k) {
  const p = `/h${++seq}`;
  const r = await k.request('POST', '/v1/webhooks', {
    body: { uri: rcv.url(p), subscribed_events: ['batch.succeeded', 'batch.failed', 'batch.cancelled'] },
  });
  assert.equal(r.status, 200, `setup: create webhook: ${r.text}`);
  return { id: r.json.id, path: p };
}

async function ok(r, what) {
  const res = await r;
  assert.ok(res.status >= 200 && res.status < 300, `setup: ${what}: ${res.status} ${res.text}`);
  return res;
}

const batchBody = { batch: { displayName: 'b', inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: 'r' }] }] } }] } } } };

async function newBatch(k) {
  return (await ok(k.request('POST', '/v1/models/m:batchGenerateContent', { body: batchBody }), 'batch')).json.name.split('/')[1];
}

async function claimed(k) {
  const id = await newBatch(k);
  const c = await ok(k.request('POST', '/v1/operations:claim', { body: { worker: 'w', kinds: ['batch'] } }), 'claim');
  assert.equal(c.json.operation.id, id);
  return id;
}

/** A delivery of a new webhook that has failed for good (one attempt, 500). */
async function failedDelivery(k) {
  const h = await hook(k);
  rcv.always(h.path, { status: 500 });
  await ok(k.request('POST', '/v1/events', { body: { type: 'batch.succeeded', data: { id: 'b' } } }), 'publish');
  const d = await waitFor(async () => {
    const r = await k.request('GET', `/v1/webhooks/${h.id}/deliveries`);
    return r.json?.deliveries?.[0]?.state === 'failed' && r.json.deliveries[0];
  }, 15_000, 'a failed delivery');
  rcv.always(h.path, { status: 200 });
  return { hook: h, delivery: d };
}

/** A web session from sign-in: {cookie, csrf}. */
async function signedIn(k) {
  const r = await ok(k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } }), 'sign in');
  return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: r.json.csrf_token };
}

/** The token of a new portal link. */
async function portalLink(k) {
  const r = await ok(k.request('POST', '/v1/portalSessions', { body: { tenant: 'acme' } }), 'portal link');
  return new URLSearchParams(new URL(r.json.url).hash.slice(1)).get('token');
}

/*
 * The requests, each with the statements it writes. setup(k) runs first
 * (without a fault on the statement under test, or with n saying which run
 * of it fails), act(k, state) is the request that must fail.
 */
const REQUESTS = {
  'create webhook': {
    writes: ['WEBHOOK_INSERT', 'SECRET_INSERT'],
    act: (k) => k.request('POST', '/v1/webhooks', { body: { uri: rcv.url('/c'), subscribed_events: ['batch.succeeded'] } }),
  },
  'update webhook': {
    writes: ['WEBHOOK_UPDATE'],
    setup: hook,
    act: (k, h) => k.request('PATCH', `/v1/webhooks/${h.id}`, { query: { update_mask: 'name' }, body: { name: 'renamed' } }),
  },
  'delete webhook': {
    env: ONE_TRY,
    writes: ['WEBHOOK_DELIVERIES_DELETE', 'WEBHOOK_DELETE'],
    setup: async (k) => (await failedDelivery(k)).hook,
    act: (k, h) => k.request('DELETE', `/v1/webhooks/${h.id}`),
  },
  'rotate secret': {
    writes: ['SECRET_EXPIRE_LIVE', 'SECRET_INSERT', 'SECRET_EXPIRE_EXCESS', 'WEBHOOK_TOUCH'],
    n: { SECRET_INSERT: 2 },
    setup: hook,
    act: (k, h) => k.request('POST', `/v1/webhooks/${h.id}:rotateSigningSecret`, { body: {} }),
  },
  'publish event': {
    writes: ['MESSAGE_INSERT', 'DELIVERY_INSERT', 'TARGETS_UPSERT'],
    setup: hook,
    act: (k) => k.request('POST', '/v1/events', { body: { type: 'batch.succeeded', data: { id: 'p' } } }),
  },
  'retry delivery': {
    env: ONE_TRY,
    writes: ['DELIVERY_RETRY', 'TARGET_LOWER_OF'],
    setup: failedDelivery,
    act: (k, s) => k.request('POST', `/v1/deliveries/${s.delivery.id}:retry`, { body: {} }),
  },
  'recover webhook': {
    env: ONE_TRY,
    writes: ['WEBHOOK_RECOVER', 'TARGET_LOWER'],
    setup: failedDelivery,
    act: (k, s) => k.request('POST', `/v1/webhooks/${s.hook.id}:recover`, { body: { since: '2000-01-01T00:00:00Z' } }),
  },
  'rotate signing key': {
    writes: ['KEYS_RETIRE_LIVE', 'KEY_INSERT'],
    act: (k) => k.request('POST', '/v1/signingKeys:rotate', { body: {} }),
  },
  'create operation': {
    writes: ['OP_INSERT'],
    act: (k) => k.request('POST', '/v1/models/m:batchGenerateContent', { body: batchBody }),
  },
  'claim operation': {
    writes: [LEASE.OP_LEASE],
    setup: newBatch,
    act: (k) => k.request('POST', '/v1/operations:claim', { body: { worker: 'w', kinds: ['batch'] } }),
  },
  'heartbeat': {
    writes: ['OP_HEARTBEAT'],
    setup: claimed,
    act: (k, id) => k.request('POST', `/v1/operations/${id}:heartbeat`, { body: { worker: 'w' } }),
  },
  'fail operation (and its event)': {
    writes: ['OP_TRANSITION', 'MESSAGE_INSERT', 'DELIVERY_INSERT'],
    setup: async (k) => { await hook(k); return claimed(k); },
    act: (k, id) => k.request('POST', `/v1/operations/${id}:fail`, { body: { worker: 'w', error_code: 'INTERNAL' } }),
  },
  'sign in': {
    writes: ['SESSION_PURGE', 'SESSION_INSERT'],
    act: (k) => k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } }),
  },
  'portal link': {
    writes: ['SESSION_INSERT'],
    act: (k) => k.request('POST', '/v1/portalSessions', { body: { tenant: 'acme' } }),
  },
  'open portal link': {
    writes: ['SESSION_EXCHANGE'],
    setup: portalLink,
    act: (k, token) => k.request('POST', '/ui/portal/open', { key: null, body: { token } }),
  },
  'sign out': {
    writes: ['SESSION_DELETE'],
    setup: signedIn,
    act: (k, s) => k.request('POST', '/ui/signout', { key: null, headers: { cookie: s.cookie, 'x-kabar-csrf': s.csrf } }),
  },
  'delete operation': {
    writes: ['OP_DELETE'],
    setup: async (k) => {
      const id = await newBatch(k);
      await ok(k.request('POST', `/v1/batches/${id}:cancel`), 'cancel');
      return id;
    },
    act: (k, id) => k.request('DELETE', `/v1/batches/${id}`),
  },
};

/* The delivery engine's writes: a delivery whose first attempt runs the
 * statement (the webhook answers 500 first where it is a failure's, or
 * where it is a claim's: a fresh event's first attempt goes by the fast
 * path, leased in its insert, and its retry is claimed). */
const ENGINE = {
  [LEASE.DELIVERY_LEASE]: { first: 500 },
  [BATCH.DELIVERY_RESULT]: {},
  [BATCH.ATTEMPT_INSERT]: {},
  // PostgreSQL: an excerpt that is not text goes on its own.
  ...(PG ? { ATTEMPT_INSERT: { body: Buffer.from([0x6f, 0x6b, 0x00, 0xff]) } } : {}),
  WEBHOOK_SUCCEEDED: {},
  WEBHOOK_FAILED: { first: 500 },
  WEBHOOK_DISABLE_NOW: { first: 500 },   // asked first on every failure
  TARGET_SETTLE: { first: 500 },          // every claim that takes from a target
  TARGETS_LOWER_OF: { first: 500 },       // a retry makes its target due
  TARGET_PARK: { first: 500, disable: true },
};

/* The retention job's writes: a pass whose statement fails changes
 * nothing (one transaction) and a later pass prunes what it missed. */
const RETENTION = ['PRUNE_ATTEMPTS', 'PRUNE_DELIVERIES', 'PRUNE_MESSAGES', 'PRUNE_OPERATIONS'];

/* Start-up's writes: the first start of a data dir (with KABAR_API_KEYS
 * where the configured keys are synced, without any key where one is
 * generated). */
const STARTUP = {
  META_PUT: {},
  PROJECT_ENSURE: {},
  APIKEY_DELETE_SOURCE: { apiKeys: true },
  APIKEY_UPSERT: { apiKeys: true },
  APIKEY_INSERT: { generated: true },
  KEY_INSERT: {},
  DELIVERIES_RELEASE: {},
  TARGETS_WAKE_RELEASED: {},
};

/* What the unit tests fail instead: a key reused after its window (a day)
 * frees it from the old message (test_store_deliver.c,
 * test_idempotency_release_fault). */
const UNIT = ['MESSAGE_IDEM_RELEASE'];

/* What kabard does not run: the RELEASED outcome of store_attempts_record
 * (an attempt handed back unsent). The delivery engine lets attempts in
 * flight finish at shutdown and never records it; test_store_deliver.c
 * covers the store's side. */
const UNUSED = ['DELIVERY_RELEASE'];

function faultKabard(spec, opts = {}) {
  const env = { ...ENV, ...(spec ? { KABAR_STORE_FAULT: spec } : {}) };
  const keys = opts.generated ? {} : opts.apiKeys ? { apiKeys: `default:${KEY}` } : { apiKey: KEY };
  return new Kabard({ binary: KABARD_FAULT, ...keys, env: { ...env, ...opts.env },
    dataDir: opts.dataDir, database: opts.database });
}

function fired(k, spec) {
  const [point, name] = spec.split(':');
  return k.stderr.includes(`store fault: ${point} ${name}\n`);
}

async function withKabard(k, fn) {
  try {
    await k.start();
    await fn(k);
  } finally {
    await k.cleanup();
  }
}

/*
 * A first start generates the master key and an RS256 signing key and
 * migrates the schema; the request and delivery cases start instead on a
 * copy of one data dir (and, on PostgreSQL, of one database) made once.
 */
let template;

async function makeTemplate() {
  const dataDir = tempDir('kabard-fault-template-');
  const k = faultKabard(null, { dataDir });
  await k.start();
  await k.stop();
  return { dataDir, database: k.databaseUrl };
}

/** A fresh copy of the template: {dataDir, database}. */
function fromTemplate() {
  const dataDir = tempDir('kabard-fault-');
  fs.cpSync(template.dataDir, dataDir, { recursive: true });
  if (!template.database) return { dataDir };
  const u = new URL(template.database);
  const name = `kabar_f_${crypto.randomBytes(8).toString('hex')}`;
  execFileSync('psql', [process.env.KABAR_TEST_DATABASE_URL, '-qAtc',
    `CREATE DATABASE ${name} TEMPLATE ${u.pathname.slice(1)}`], { stdio: 'pipe' });
  u.pathname = `/${name}`;
  return { dataDir, database: u.toString() };
}

function removeCopy(copy) {
  fs.rmSync(copy.dataDir, { recursive: true, force: true });
  dropTestDatabase(copy.database);
}

/** A kabard_fault with spec on a copy of the template, removed after fn. */
async function withCopy(spec, opts, fn) {
  const copy = fromTemplate();
  try {
    await withKabard(faultKabard(spec, { ...opts, ...copy }), fn);
  } finally {
    removeCopy(copy);
  }
}

/** The request fails cleanly at spec, changes nothing, and then works. */
async function requestCase(spec, req) {
  await withCopy(spec, { env: req.env }, async (k) => {
    const state = req.setup ? await req.setup(k) : undefined;
    assert.ok(!fired(k, spec), `${spec} fired during the setup:\n${k.stderr.slice(-2000)}`);
    const before = dump(k);
    const r = await req.act(k, state);
    // The fault's line on stderr may reach us after the answer.
    await waitFor(() => fired(k, spec), 5000, `${spec} fires (answer ${r.status} ${r.text})`);
    assert.ok(r.status >= 500 && r.status <= 599, `a 5xx, not ${r.status} ${r.text}`);
    assert.ok(r.headers.get('content-type')?.startsWith('application/json'), r.headers.get('content-type'));
    assert.equal(r.json?.error?.code, r.status, r.text);
    assert.equal(typeof r.json.error.message, 'string');
    assert.equal(k.exit, null, 'kabard is running');
    assert.equal(dump(k), before, 'the database is as it was before the request');
    const again = await req.act(k, state);
    assert.ok(again.status >= 200 && again.status < 300, `then it works: ${again.status} ${again.text}`);
  });
}

/** A delivery whose write at spec fails is retried and ends delivered. */
async function engineCase(spec, opts) {
  await withCopy(spec, {}, async (k) => {
    const h = await hook(k);
    if (opts.first) rcv.script(h.path, [{ status: opts.first }]);
    if (opts.body) rcv.script(h.path, [{ status: 200, body: opts.body }]);
    await ok(k.request('POST', '/v1/events', { body: { type: 'batch.succeeded', data: { id: 'e' } } }), 'publish');
    if (opts.disable) {
      // After the first failure the webhook is disabled: the claim meets
      // its target due and parks it; enabled again, the retry goes out.
      await waitFor(() => rcv.forPath(h.path).length >= 1, 10_000, 'the first attempt');
      const state = (s) => ok(k.request('PATCH', `/v1/webhooks/${h.id}`,
        { body: { state: s }, query: { update_mask: 'state' } }), s);
      await state('disabled');
      await waitFor(() => fired(k, spec), 10_000, `${spec} fires`);
      await state('enabled');
    }
    await waitFor(() => fired(k, spec), 10_000, `${spec} fires`);
    const d = await waitFor(async () => {
      const r = await k.request('GET', `/v1/webhooks/${h.id}/deliveries`);
      return r.json?.deliveries?.[0]?.state === 'succeeded' && r.json.deliveries[0];
    }, 20_000, 'the delivery succeeds');
    const full = await k.request('GET', `/v1/deliveries/${d.id}`);
    assert.equal(full.status, 200, full.text);
    assert.equal(full.json.attempt_count, (full.json.attempts || []).length,
      `attempt_count matches the attempts: ${full.text}`);
    assert.equal(k.exit, null, 'kabard is running');
  });
}

/** A prune pass failing at spec leaves kabard running, and a later pass
 *  removes the delivered event and the cancelled batch all the same. */
async function retentionCase(spec) {
  const env = { KABAR_RETENTION_S: '1', KABAR_PRUNE_INTERVAL_MS: '100' };
  await withCopy(spec, { env }, async (k) => {
    const h = await hook(k);
    await ok(k.request('POST', '/v1/events', { body: { type: 'batch.succeeded', data: { id: 'e' } } }), 'publish');
    const d = await waitFor(async () => {
      const r = await k.request('GET', `/v1/webhooks/${h.id}/deliveries`);
      return r.json?.deliveries?.[0]?.state === 'succeeded' && r.json.deliveries[0];
    }, 20_000, 'the delivery succeeds');
    const id = await newBatch(k);
    await ok(k.request('POST', `/v1/batches/${id}:cancel`), 'cancel');
    await waitFor(() => fired(k, spec), 20_000, `${spec} fires`);
    await waitFor(async () => (await k.request('GET', `/v1/deliveries/${d.id}`)).status === 404,
      20_000, 'a later pass prunes the delivery');
    await waitFor(async () => (await k.request('GET', `/v1/batches/${id}`)).status === 404,
      20_000, 'a later pass prunes the batch');
    assert.equal(k.exit, null, 'kabard is running');
  });
}

/** A start whose write at spec fails ends cleanly or runs on; the next
 *  start on the same data works. */
async function startupCase(spec, opts) {
  const dataDir = tempDir('kabard-fault-');
  const first = faultKabard(spec, { ...opts, dataDir });
  const database = first.databaseUrl;
  try {
    let started = true;
    try {
      await first.start();
    } catch {
      started = false;
    }
    await waitFor(() => fired(first, spec), 5000, `${spec} fires`);
    if (started) {
      await first.stop();
    } else {
      assert.equal(first.exit.signal, null, `no crash: ${first.stderr.slice(-2000)}`);
      assert.notEqual(first.exit.code, 0);
      // (its last words may reach us after its exit)
      await waitFor(() => /^kabard: cannot .+$|level=error/m.test(first.stderr), 5000, 'says why');
    }
    const second = faultKabard(null, { ...opts, dataDir, database });
    await withKabard(second, async (k) => {
      const key = opts.apiKeys ? { key: KEY } : {};
      await ok(k.request('POST', '/v1/webhooks', { ...key, body: { uri: rcv.url('/s'), subscribed_events: ['batch.succeeded'] } }), 'create after restart');
    });
  } finally {
    await first.cleanup();
    (await import('node:fs')).rmSync(dataDir, { recursive: true, force: true });
  }
}

// Each case has a kabard and a data dir of its own, and paths of its own on
// the shared receiver: they run three at a time.
describe('store faults', { concurrency: 3 }, () => {
  before(async () => {
    rcv = await startReceiver();
    template = await makeTemplate();
  });
  after(async () => {
    if (template) removeCopy(template);
    if (rcv) await rcv.close();
  });

  it('every statement that writes is failed by one of the cases below', () => {
    const covered = new Set([
      ...Object.values(REQUESTS).flatMap((r) => r.writes),
      ...Object.keys(ENGINE), ...Object.keys(STARTUP), ...RETENTION, ...UNUSED, ...UNIT,
      'DELIVERY_LEASE', 'OP_LEASE',   // under their PostgreSQL names on PostgreSQL
      'DELIVERY_RESULT', 'ATTEMPT_INSERT', 'DELIVERIES_RESULT', 'ATTEMPTS_INSERT', // per backend
    ]);
    assert.deepEqual(WRITES.filter((w) => !covered.has(w)), []);
    assert.ok(WRITES.length >= 30, `${WRITES.length} writes`);
  });

  for (const [name, req] of Object.entries(REQUESTS)) {
    for (const stmt of req.writes) {
      const spec = `run:${stmt}:${req.n?.[stmt] ?? 1}`;
      it(`${name}: ${spec}`, T, () => requestCase(spec, req));
    }
    const stmt = req.writes[0];
    const spec = `commit:${stmt}:${req.n?.[stmt] ?? 1}`;
    it(`${name}: ${spec}`, T, () => requestCase(spec, req));
  }

  for (const [stmt, opts] of Object.entries(ENGINE)) {
    it(`delivery: run:${stmt}:1`, T, () => engineCase(`run:${stmt}:1`, opts));
  }
  it(`delivery: commit:${BATCH.ATTEMPT_INSERT}:1`, T, () => engineCase(`commit:${BATCH.ATTEMPT_INSERT}:1`, {}));
  it(`delivery: commit:${LEASE.DELIVERY_LEASE}:1`, T, () => engineCase(`commit:${LEASE.DELIVERY_LEASE}:1`, { first: 500 }));

  for (const stmt of RETENTION) {
    it(`retention: run:${stmt}:1`, T, () => retentionCase(`run:${stmt}:1`));
  }
  it('retention: commit:PRUNE_MESSAGES:1', T, () => retentionCase('commit:PRUNE_MESSAGES:1'));

  for (const [stmt, opts] of Object.entries(STARTUP)) {
    it(`start-up: run:${stmt}:1`, T, () => startupCase(`run:${stmt}:1`, opts));
  }
  it('start-up: commit:APIKEY_UPSERT:1', T, () => startupCase('commit:APIKEY_UPSERT:1', { apiKeys: true }));
  it('start-up: commit:META_PUT:1', T, () => startupCase('commit:META_PUT:1', {}));
});
