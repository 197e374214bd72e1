// SPDX-License-Identifier: Apache-2.0
// Several kabard processes on one PostgreSQL database (docs/postgres.md).
// Runs only in make test's PostgreSQL pass (KABAR_TEST_DATABASE_URL set).
//
// 1. Three processes share one database; 5,000 events are published across
//    them and one is SIGKILLed in the middle. Every acknowledged event must
//    reach the receiver (the killed process's leased deliveries are claimed
//    by the others when the leases run out: the attempt timeout plus a
//    minute); duplicates are counted and reported, not failed on.
// 2. The PostgreSQL server is stopped under load and started again: kabard
//    answers 503 meanwhile (and /readyz says so, while /healthz
//    stays 200: the process is alive), never crashes, reconnects
//    on its own, and every acknowledged event is delivered.
// 3. Roles: an api process and a worker process split the work.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Kabard, dropTestDatabase, testDatabaseUrl } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PG_SH = path.join(here, '..', 'pg', 'pg.sh');
const ON_PG = !!process.env.KABAR_TEST_DATABASE_URL;
const SKIP = ON_PG ? false : 'needs KABAR_TEST_DATABASE_URL (make test-pg)';

const KEY = 'pg-cluster-key-0123456789abcdefABCD';
const MASTER = Buffer.alloc(32, 7).toString('base64');
const ENV = {
  KABAR_RETRY_SCHEDULE: '0,1,1,1,1',
  KABAR_TIMEOUT_MS: '2000',          // lease = timeout + 60 s
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A database of its own for one scenario (dropped afterwards). */
function scenarioDatabase(tag) {
  return testDatabaseUrl(path.join(os.tmpdir(), `pg-cluster-${tag}-${process.pid}-${Date.now()}`));
}

/** Start n processes on one database, with one key and one master key. */
async function startCluster(n, database, extra = {}) {
  const ks = [];
  for (let i = 0; i < n; i++) {
    const k = new Kabard({ apiKey: KEY, masterKey: MASTER, database, env: { ...ENV, ...extra.env },
                           args: extra.args?.[i] });
    ks.push(k);
    await k.start();
  }
  return ks;
}

/** Distinct webhook-ids answered 2xx by the receiver, with their counts. */
function seenCounts(rcv) {
  const counts = new Map();
  for (const r of rcv.requests) {
    if (r.answerTime === undefined || r.response.status >= 300) continue;
    const id = r.headers['webhook-id'];
    counts.set(id, (counts.get(id) || 0) + 1);
  }
  return counts;
}

async function metric(k, name) {
  const r = await fetch(`${k.baseUrl}/metrics`);
  const text = await r.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/**
 * Publish events 0..count-1, `concurrency` at a time, each to the next live
 * process; a failed or 503 answer is retried on another process with the
 * same Idempotency-Key, so an event committed by a process that died before
 * answering is not published twice. Returns {acked: [id], failures}.
 */
async function publishAll(ks, tag, count, { concurrency = 48, isLive = () => true,
                                           onAck = () => {}, deadlineMs = 120_000 } = {}) {
  const acked = new Array(count);
  let failures = 0;
  let next = 0;
  let turn = 0;
  const deadline = Date.now() + deadlineMs;
  async function worker() {
    while (next < count) {
      const i = next++;
      for (;;) {
        assert.ok(Date.now() < deadline, `event ${i} not accepted in time`);
        const live = ks.filter(isLive);
        const k = live[turn++ % live.length];
        try {
          const r = await k.request('POST', '/v1/events', {
            body: { type: 'batch.succeeded', data: { id: `${tag}-${i}`, n: i } },
            headers: { 'idempotency-key': `${tag}-${i}` },
          });
          if (r.status === 200) {
            acked[i] = r.json.id;
            onAck(i);
            break;
          }
          failures++;
          if (r.status !== 503) throw new Error(`publish ${i}: ${r.status} ${r.text}`);
        } catch (e) {
          if (/publish \d+:/.test(e.message)) throw e;
          failures++;          // the connection died with the process
        }
        await sleep(20);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { acked, failures };
}

describe('several kabard processes on one PostgreSQL database', { skip: SKIP, concurrency: 1 }, () => {
  it('SIGKILL one of three processes while 5,000 events are published: every acknowledged event is delivered', { timeout: 240_000 }, async (t) => {
    const EVENTS = 5000;
    const db = scenarioDatabase('kill');
    const rcv = await startReceiver();
    // Slow enough answers keep deliveries in flight when the kill lands.
    rcv.always('/hook', { delayMs: 20 });
    const ks = await startCluster(3, db);
    t.after(async () => {
      await rcv.close();
      for (const k of ks) await k.cleanup();
      dropTestDatabase(db);
    });
    const cr = await ks[0].request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/hook'), subscribed_events: ['batch.succeeded'] } });
    assert.equal(cr.status, 200, cr.text);

    const victim = ks[2];
    let killed = false;
    let killing;
    const t0 = Date.now();
    let nacked = 0;
    const { acked, failures } = await publishAll(ks, 'kill', EVENTS, {
      isLive: (k) => !(k === victim && killed),
      onAck: () => {
        if (++nacked >= 2000 && !killing && rcv.requests.length > 0) {
          killing = (async () => {
            victim.proc.kill('SIGKILL');
            const exit = await victim.exited;
            victim.proc = null;
            assert.equal(exit.signal, 'SIGKILL');
            killed = true;
          })();
        }
      },
    });
    await killing;
    assert.ok(killing, 'the kill happened while publishing');
    const ids = new Set(acked);
    assert.equal(ids.size, EVENTS, 'every event acknowledged once, with a distinct id');
    t.diagnostic(`published ${EVENTS} events across 3 processes in ${Date.now() - t0} ms; ` +
                 `${failures} requests failed or were retried (the killed process's)`);

    const tk = Date.now();
    await waitFor(() => {
      const seen = seenCounts(rcv);
      for (const id of ids) if (!seen.has(id)) return false;
      return true;
    }, 180_000, 'every acknowledged event to arrive', 250).catch((e) => {
      const seen = seenCounts(rcv);
      const missing = [...ids].filter((id) => !seen.has(id));
      e.message += `: ${missing.length} missing, e.g. ${missing.slice(0, 3)}`;
      throw e;
    });
    const seen = seenCounts(rcv);
    let dups = 0;
    let dupEvents = 0;
    for (const n of seen.values()) {
      if (n > 1) { dups += n - 1; dupEvents++; }
    }
    const extra = [...seen.keys()].filter((id) => !ids.has(id)).length;
    const byProcess = [];
    for (const k of ks.slice(0, 2)) {
      byProcess.push(await metric(k, 'kabar_delivery_attempts_total{outcome="succeeded"}'));
    }
    t.diagnostic(`all ${EVENTS} acknowledged events arrived ${Date.now() - tk} ms after publishing ended; ` +
                 `duplicates: ${dups} extra requests for ${dupEvents} events (at most what the killed ` +
                 `process had in flight); ${extra} unacknowledged events; successful attempts by the ` +
                 `surviving processes: ${byProcess.join(', ')}`);
    assert.equal(extra, 0, 'every delivered event was acknowledged (idempotent retries)');
    assert.ok(dups <= 512, `duplicates bounded by one process's in-flight cap (${dups})`);
    assert.ok(byProcess.every((n) => n > 0), 'both survivors delivered');

    // The shared delivery log agrees, from any process.
    await waitFor(async () => {
      let n = 0;
      let token;
      for (let i = 0; i < 20; i++) {
        const query = { state: 'succeeded', page_size: '1000' };
        if (token) query.page_token = token;
        const r = await ks[1].request('GET', `/v1/webhooks/${cr.json.id}/deliveries`, { query });
        assert.equal(r.status, 200, r.text);
        n += r.json.deliveries.length;
        token = r.json.next_page_token;
        if (!token) break;
      }
      return n === EVENTS;
      // Answered but not yet recorded when the process died: logged once
      // their leases run out and a survivor sends them again.
    }, 120_000, 'every delivery logged as succeeded', 500);
    for (const k of ks.slice(0, 2)) assert.deepEqual(await k.stop(), { code: 0, signal: null });
  });

  describe('PostgreSQL restarted under load', () => {
    // A cluster of its own: stopping the shared one would break the tests
    // running alongside.
    let dir;
    let url;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kabar-pg-restart-'));
      url = execFileSync('sh', [PG_SH, 'start', dir], { encoding: 'utf8' }).trim();
    });
    after(() => {
      if (dir) execFileSync('sh', [PG_SH, 'stop', dir]);
    });

    it('answers 503 while the database is away, reconnects, and loses nothing acknowledged', { timeout: 180_000 }, async (t) => {
      const rcv = await startReceiver();
      const ks = await startCluster(2, url);
      t.after(async () => {
        await rcv.close();
        for (const k of ks) await k.cleanup();
      });
      const cr = await ks[0].request('POST', '/v1/webhooks', {
        body: { uri: rcv.url('/hook'), subscribed_events: ['batch.succeeded'] } });
      assert.equal(cr.status, 200, cr.text);

      // Publish continuously; stop the server a moment after the start.
      const statuses = new Map();
      let healthDown = 0;
      const load = publishAll(ks, 'restart', 3000, { concurrency: 16, deadlineMs: 150_000 });
      await waitFor(() => rcv.requests.length >= 300, 30_000, 'deliveries before the stop');
      execFileSync('sh', [PG_SH, 'down', dir]);
      const tDown = Date.now();
      // While it is away: every answer is a well-formed 503, and both
      // processes stay up.
      while (Date.now() - tDown < 3000) {
        const r = await ks[0].request('POST', '/v1/events', {
          body: { type: 'batch.succeeded', data: { id: 'probe' } } });
        statuses.set(r.status, (statuses.get(r.status) || 0) + 1);
        if (r.status === 503) assert.equal(r.json?.error?.status, 'UNAVAILABLE', r.text);
        const h = await fetch(`${ks[1].baseUrl}/readyz`);
        await h.arrayBuffer();
        if (h.status === 503) healthDown++;
        const live = await fetch(`${ks[1].baseUrl}/healthz`);
        await live.arrayBuffer();
        assert.equal(live.status, 200, '/healthz is liveness only');
        await sleep(100);
      }
      for (const k of ks) assert.equal(k.exit, null, `kabard exited: ${k.stderr.slice(-2000)}`);
      execFileSync('sh', [PG_SH, 'up', dir]);
      const tUp = Date.now();
      t.diagnostic(`database away ${tUp - tDown} ms: probe answers ${JSON.stringify(Object.fromEntries(statuses))}, ` +
                   `/readyz 503 ${healthDown} times`);
      assert.ok((statuses.get(503) || 0) > 0, 'the API answered 503 while the database was away');
      assert.equal(statuses.get(500) || 0, 0, 'no 500s');
      assert.ok(healthDown > 0, '/readyz said the database was away');

      const { acked, failures } = await load;
      const ids = new Set(acked);
      assert.equal(ids.size, 3000);
      await waitFor(() => {
        const seen = seenCounts(rcv);
        for (const id of ids) if (!seen.has(id)) return false;
        return true;
      }, 120_000, 'every acknowledged event to arrive after the restart', 250);
      const h = await fetch(`${ks[1].baseUrl}/readyz`);
      assert.equal(h.status, 200);
      t.diagnostic(`3000 events acknowledged (${failures} answers were 503 or failed and were retried ` +
                   `with their Idempotency-Key); all delivered ${Date.now() - tUp} ms after the server came back`);
      for (const k of ks) assert.deepEqual(await k.stop(), { code: 0, signal: null });
    });
  });

  it('--role api and --role worker split the work', { timeout: 60_000 }, async (t) => {
    const db = scenarioDatabase('roles');
    const rcv = await startReceiver();
    const api = new Kabard({ apiKey: KEY, masterKey: MASTER, database: db, env: ENV,
                             args: ['--role', 'api'] });
    const worker = new Kabard({ apiKey: KEY, masterKey: MASTER, database: db, env: ENV,
                                args: ['--role', 'worker'] });
    t.after(async () => {
      await rcv.close();
      await api.cleanup();
      await worker.cleanup();
      dropTestDatabase(db);
    });
    await api.start();
    await worker.start();
    const cr = await api.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/hook'), subscribed_events: ['batch.succeeded'] } });
    assert.equal(cr.status, 200, cr.text);
    // The worker serves probes and metrics, not the API.
    const wr = await worker.request('GET', '/v1/webhooks');
    assert.equal(wr.status, 404, wr.text);
    assert.match(wr.text, /--role worker/);
    assert.equal((await fetch(`${worker.baseUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${worker.baseUrl}/metrics`)).status, 200);

    const { acked } = await publishAll([api], 'roles', 200, { concurrency: 8 });
    await waitFor(() => {
      const seen = seenCounts(rcv);
      return acked.every((id) => seen.has(id));
    }, 20_000, 'the worker to deliver what the api process accepted');
    assert.equal(await metric(api, 'kabar_delivery_attempts_total'), 0, 'the api process delivers nothing');
    assert.ok(await metric(worker, 'kabar_delivery_attempts_total{outcome="succeeded"}') >= 200);
    assert.deepEqual(await api.stop(), { code: 0, signal: null });
    assert.deepEqual(await worker.stop(), { code: 0, signal: null });
  });
});
