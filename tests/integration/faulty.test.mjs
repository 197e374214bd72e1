// SPDX-License-Identifier: Apache-2.0
// Faulty receivers against docs/delivery.md ("What kabard reads of an
// answer", "One request per attempt"): one kabard delivers to one node:http
// receiver whose paths misbehave in different ways, all on the same
// host:port, so that they share kabard's pool of kept-alive connections.
//
//   /ok        answers 200 "ok" (keep-alive)
//   /stream    answers 200 and streams a 100 MiB body; counts the bytes the
//              kernel took (what kabard read, plus at most the socket buffers)
//   /headers   answers 200 with 40 KiB of headers
//   /reset     reads the request, then resets the connection without an answer
//   /redirect  answers 302 to /target
//   /hang      reads the request, never answers
//
// Each webhook subscribes to one event type, so each publish reaches one
// path. The receiver counts every request it sees per path.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { startKabard } from './lib/kabard.mjs';
import { waitFor } from './lib/receiver.mjs';

const KEY = 'faulty-key-0123456789abcdefABCDEF';
const T = { timeout: 120_000 };
const BODY_MAX = 64 * 1024;
const STREAM_BYTES = 100 * 1024 * 1024;
const CUT_BODY = 'response body over 64 KiB: not read further, connection closed';
const CUT_HEADERS = 'response headers over 16 KiB: not read further, connection closed';
const NOT_RESENT = 'connection closed without a response (the request was not sent again)';
// Two attempts (at 0 and ~1 s), then the window is over: every delivery
// that keeps failing ends `failed` within a few seconds.
const ENV = { KABAR_RETRY_SCHEDULE: '0,1', KABAR_RETRY_WINDOW_S: '2' };
const TYPES = {
  ok: 'batch.succeeded', stream: 'interaction.completed', headers: 'batch.cancelled',
  reset: 'batch.failed', redirect: 'batch.expired',
};

/** The largest a TCP socket's kernel buffer may grow to (bytes). */
function sysctlMax(name) {
  try {
    return Number(fs.readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]);
  } catch {
    return 64 * 1024 * 1024;
  }
}

/** Stream n bytes as a chunked 200 body, with backpressure; stats.flushed
 * counts what the kernel accepted, stats.closed is set when the peer has
 * closed the connection. */
function streamBody(res, n, stats) {
  const chunk = Buffer.alloc(64 * 1024, 's');
  let queued = 0;
  res.on('close', () => { stats.closed = true; });
  res.writeHead(200, { 'content-type': 'text/plain' });
  const pump = () => {
    while (queued < n && !res.destroyed) {
      queued += chunk.length;
      const more = res.write(chunk, (err) => { if (!err) stats.flushed += chunk.length; });
      if (!more) {
        res.once('drain', pump);
        return;
      }
    }
    if (queued >= n && !res.destroyed) res.end();
  };
  pump();
}

async function startFaulty() {
  const seen = new Map();
  const stream = { flushed: 0, closed: false };
  const hanging = new Set();  // /hang requests not answered, connection open
  const hang = { closed: 0 };  // /hang connections closed (by kabard's timeout)
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    seen.set(path, (seen.get(path) || 0) + 1);
    req.on('error', () => {});
    res.on('error', () => {});
    req.resume();
    req.on('end', () => {
      if (path === '/stream') {
        streamBody(res, STREAM_BYTES, stream);
      } else if (path === '/headers') {
        const headers = {};
        for (let i = 0; i < 40; i++) headers[`x-pad-${i}`] = 'h'.repeat(1024);
        res.writeHead(200, headers);
        res.end('ok');
      } else if (path === '/hang') {
        hanging.add(res);
        res.on('close', () => {
          hanging.delete(res);
          hang.closed++;
        });
      } else if (path === '/reset') {
        req.socket.resetAndDestroy();
      } else if (path === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${server.address().port}/target` });
        res.end('moved');
      } else {
        res.end('ok');
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    seen: (path) => seen.get(path) || 0,
    hanging,
    hang,
    stream,
    url: (path) => `http://127.0.0.1:${server.address().port}${path}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function createHook(k, uri, type) {
  const r = await k.request('POST', '/v1/webhooks', { body: { uri, subscribed_events: [type] } });
  assert.equal(r.status, 200, `create webhook: ${r.status} ${r.text}`);
  return r.json.id;
}

async function publish(k, type, id) {
  const r = await k.request('POST', '/v1/events', { body: { type, data: { id } } });
  assert.equal(r.status, 200, `publish: ${r.status} ${r.text}`);
  return r.json.id;
}

/** The webhook's deliveries with their attempts, once none is pending. */
async function settled(k, whId, count) {
  let last;
  const list = await waitFor(async () => {
    const r = await k.request('GET', `/v1/webhooks/${whId}/deliveries`, { query: { page_size: '100' } });
    assert.equal(r.status, 200, r.text);
    last = r.json.deliveries;
    return last.length === count && last.every((d) => d.state !== 'pending') ? last : null;
  }, 30_000, `${count} settled deliveries of ${whId}`).catch((e) => {
    e.message += `; last: ${JSON.stringify(last)}`;
    throw e;
  });
  const out = [];
  for (const d of list) {
    const r = await k.request('GET', `/v1/deliveries/${d.id}`);
    assert.equal(r.status, 200, r.text);
    out.push(r.json);
  }
  return out;
}

describe('faulty receivers', () => {
  let k;
  let rcv;
  const hooks = {};

  before(async () => {
    rcv = await startFaulty();
    k = await startKabard({ apiKey: KEY, env: ENV });
    for (const [name, type] of Object.entries(TYPES)) hooks[name] = await createHook(k, rcv.url(`/${name}`), type);
  });
  after(async () => {
    await rcv?.close();
    await k?.cleanup();
  });

  it('a 100 MiB body: read up to 64 KiB, then the connection is dropped; the status decides', T, async () => {
    await publish(k, TYPES.stream, 's1');
    const [d] = await settled(k, hooks.stream, 1);
    await waitFor(() => rcv.stream.closed, 10_000, 'kabard to close the streaming connection');
    assert.equal(d.state, 'succeeded', JSON.stringify(d));
    assert.equal(d.attempts.length, 1);
    const [a] = d.attempts;
    assert.equal(a.response_status, 200);
    assert.equal(a.error, CUT_BODY);
    assert.equal(a.response_excerpt, 's'.repeat(1024), 'the first KiB is kept for the log');
    // What the receiver managed to hand to its kernel is what kabard read
    // plus what the two socket buffers can hold at most; kabard reading the
    // whole body would let all 100 MiB through.
    const bound = BODY_MAX + sysctlMax('tcp_wmem') + sysctlMax('tcp_rmem') + 1024 * 1024;
    assert.ok(rcv.stream.flushed < STREAM_BYTES, 'the stream did not run to its end');
    assert.ok(rcv.stream.flushed <= bound,
      `receiver wrote ${rcv.stream.flushed} bytes, more than the cap plus socket buffers (${bound})`);
    assert.equal(rcv.seen('/stream'), 1, 'one request');
  });

  it('headers over 16 KiB are cut off the same way', T, async () => {
    await publish(k, TYPES.headers, 'h1');
    const [d] = await settled(k, hooks.headers, 1);
    assert.equal(d.state, 'succeeded', JSON.stringify(d));
    assert.deepEqual(d.attempts.map((a) => [a.response_status, a.error]), [[200, CUT_HEADERS]]);
    assert.equal(rcv.seen('/headers'), 1);
  });

  it('a receiver that resets a reused connection: not sent again; one POST per recorded attempt', T, async () => {
    // A delivery to /ok leaves an idle kept-alive connection in the pool;
    // the next request to the same host:port goes out on it, and the reset
    // is the case in which libcurl would send the POST again by itself.
    const okBefore = rcv.seen('/ok');
    await publish(k, TYPES.ok, 'warm');
    await settled(k, hooks.ok, 1);
    assert.equal(rcv.seen('/ok'), okBefore + 1);
    await publish(k, TYPES.reset, 'r0');
    let [d] = await settled(k, hooks.reset, 1);
    assert.equal(d.state, 'failed', JSON.stringify(d));
    assert.equal(d.attempts[0].error, NOT_RESENT, JSON.stringify(d.attempts));
    assert.equal(rcv.seen('/reset'), d.attempts.length, 'receiver-seen POSTs == recorded attempts');

    // Then resets mixed with healthy deliveries on the same host:port.
    const N = 20;
    for (let i = 0; i < N; i++) {
      await Promise.all([publish(k, TYPES.ok, `ok${i}`), publish(k, TYPES.reset, `r${i + 1}`)]);
    }
    const resets = await settled(k, hooks.reset, N + 1);
    const oks = await settled(k, hooks.ok, N + 1);
    const attempts = resets.reduce((n, x) => n + x.attempts.length, 0);
    for (const x of resets) {
      assert.equal(x.state, 'failed');
      for (const a of x.attempts) assert.equal(a.response_status, undefined, JSON.stringify(a));
    }
    assert.equal(rcv.seen('/reset'), attempts, 'receiver-seen POSTs == recorded attempts');
    assert.ok(oks.every((x) => x.state === 'succeeded' && x.attempts.length === 1), JSON.stringify(oks));
    assert.equal(rcv.seen('/ok'), okBefore + N + 1, 'one POST per healthy delivery');
  });

  it('a redirect is not followed: the 3xx is the failed attempt', T, async () => {
    await publish(k, TYPES.redirect, 'd1');
    const [d] = await settled(k, hooks.redirect, 1);
    assert.equal(d.state, 'failed', JSON.stringify(d));
    assert.ok(d.attempts.length >= 1);
    for (const a of d.attempts) assert.equal(a.response_status, 302);
    assert.equal(rcv.seen('/redirect'), d.attempts.length);
    assert.equal(rcv.seen('/target'), 0, 'the Location was not followed');
  });
});

describe('hung receivers and the overall cap', () => {
  it('one hung endpoint cannot take every slot: a healthy one is delivered while it hangs', T, async (t) => {
    // 8 slots overall and 8 per endpoint: by the per-endpoint cap alone
    // the hung endpoint could hold all of them until the (60 s) timeout.
    const rcv = await startFaulty();
    const k = await startKabard({
      apiKey: KEY,
      env: { ...ENV, KABAR_MAX_IN_FLIGHT: '8', KABAR_MAX_PER_ENDPOINT: '8', KABAR_TIMEOUT_MS: '60000' },
    });
    t.after(async () => {
      await rcv.close();
      await k.cleanup();
    });
    await createHook(k, rcv.url('/hang'), TYPES.reset);
    const ok = await createHook(k, rcv.url('/ok'), TYPES.ok);
    for (let i = 0; i < 10; i++) await publish(k, TYPES.reset, `hang${i}`);
    await waitFor(() => rcv.hanging.size > 0, 10_000, 'the hung endpoint to hold requests');
    await publish(k, TYPES.ok, 'healthy');
    const [d] = await settled(k, ok, 1);
    assert.equal(d.state, 'succeeded', JSON.stringify(d));
    assert.equal(rcv.hang.closed, 0, 'no hung request had ended when the healthy one was delivered');
    const held = rcv.seen('/hang');
    assert.ok(held >= 1 && held <= 4, `the hung endpoint holds at most half the slots, held ${held}`);
  });
});
