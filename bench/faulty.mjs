// SPDX-License-Identifier: Apache-2.0
// A healthy endpoint's publish -> receive latency, alone and next to faulty
// receivers on the same kabard (docs/delivery.md: one endpoint never delays
// the others).
//
// Three kinds of run, each on a fresh kabard and data directory, ROUNDS
// times, interleaved:
//   1. baseline: RATE events/s to one healthy webhook (a node:http receiver,
//      keep-alive) for SECONDS seconds;
//   2. faulty: the same, while FRATE events/s go to PER webhooks of each
//      faulty kind, served by a second process (so their load is not the
//      healthy receiver's):
//        big       answers 200 and streams a 100 MiB body
//        hung      reads the request, never answers
//        slow      answers 200, then one body byte every 100 ms, forever
//        reset     reads the request, resets the connection
//        redirect  answers 302 to a path of its own
//      all on one host:port, so they share kabard's connection pool;
//   3. failing (the control): as many webhooks and events as (2), each
//      endpoint answering 500 at once - the store's share of the cost of
//      failing endpoints, without their misbehaviour.
// Prints one JSON line per run: p50/p90/p99/max of the healthy latency,
// kabard's CPU seconds per second, and in the faulty run what each kind
// saw; then the medians over the rounds and the p99 ratios (goal: faulty
// at most 2x baseline). The faulty receivers run at nice 19 (see below);
// the machine's other load counts, so compare the runs of one invocation.
//
// Usage: node bench/faulty.mjs [--bin build] [--rate 200] [--frate 100]
//                [--per 2] [--seconds 20] [--warmup 3] [--rounds 3]
//                [--runs baseline,faulty,failing] [--kinds big,hung,slow,reset,redirect]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));

// ---------------------------------------------------------------- the faulty side

function serveFaulty() {
  const seen = {};
  let bigBytes = 0;
  const chunk = Buffer.alloc(64 * 1024, 'b');
  const server = http.createServer((req, res) => {
    const kind = req.url.split('/')[1];
    seen[kind] = (seen[kind] || 0) + 1;
    req.on('error', () => {});
    res.on('error', () => {});
    req.resume();
    req.on('end', () => {
      if (kind === 'big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let left = 100 * 1024 * 1024;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            left -= chunk.length;
            if (!res.write(chunk, (e) => { if (!e) bigBytes += chunk.length; })) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        pump();
      } else if (kind === 'hung') {
        // never answered; kabard's timeout ends it
      } else if (kind === 'slow') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('.'), 100);
        res.on('close', () => clearInterval(timer));
      } else if (kind === 'reset') {
        req.socket.resetAndDestroy();
      } else if (kind === 'fail') {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('failing');
      } else if (kind === 'redirect') {
        res.writeHead(302, { location: '/elsewhere' });
        res.end('moved');
      } else {
        res.end('ok');
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  process.on('message', () => process.send({ seen, bigBytes }));
}

// ---------------------------------------------------------------- the driver

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** utime + stime of pid, in seconds. */
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startKabard(bin, key) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kabar-faulty-'));
  const p = spawn(path.join(bin, 'kabard'),
    ['--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--allow-private-targets', '--log-level', 'warn'],
    { env: { ...process.env, KABAR_API_KEY: key }, stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr.resume();
  children.add(p);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
    await sleep(100);
  }
  return {
    base, pid: p.pid,
    stop: async () => {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      children.delete(p);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function createHook(k, key, uri, type) {
  const r = await fetch(`${k.base}/v1/webhooks`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
    body: JSON.stringify({ uri, subscribed_events: [type] }),
  });
  if (r.status !== 200) throw new Error(`create webhook: ${r.status} ${await r.text()}`);
}

const FAULTY_KINDS = ['big', 'hung', 'slow', 'reset', 'redirect'];

async function run(bin, { rate, frate, per, seconds, warmup, kinds }) {
  const faulty = kinds.length > 0;
  const key = 'kbr_benchmark_key_0123456789abcdef';
  const k = await startKabard(bin, key);
  const lat = [];
  let measuring = false;
  const healthy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const now = performance.now() + performance.timeOrigin;
      try {
        const ev = JSON.parse(Buffer.concat(chunks).toString());
        if (ev.data.measured) lat.push(now - ev.data.sent_ms);
      } catch { /* not ours */ }
      res.end('ok');
    });
  });
  healthy.keepAliveTimeout = 60_000;
  await new Promise((r) => healthy.listen(0, '127.0.0.1', r));
  await createHook(k, key, `http://127.0.0.1:${healthy.address().port}/hook`, 'batch.succeeded');

  let child;
  if (faulty) {
    // At the lowest priority: on a real network the faulty receivers run on
    // other machines, and here their own work (a 100 MiB streamer fills
    // its send buffer again and again) would otherwise compete with
    // kabard and the healthy receiver for this machine's cores.
    child = spawn('nice', ['-n', '19', process.execPath, new URL(import.meta.url).pathname,
      '--serve', 'faulty'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    children.add(child);
    const fport = await new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
    for (const [ki, kind] of kinds.entries())
      for (let i = 0; i < per; i++)
        await createHook(k, key, `http://127.0.0.1:${fport}/${kind}/${ki}-${i}`, 'batch.failed');
  }

  const h = { 'content-type': 'application/json', 'x-goog-api-key': key };
  let errors = 0, measured = 0, acked = 0;
  const publish = (type, data) => fetch(`${k.base}/v1/events`, {
    method: 'POST', headers: h, body: JSON.stringify({ type, data }),
  }).then((r) => { r.arrayBuffer(); if (r.status === 200) acked++; else errors++; return r.status; },
    () => { errors++; });

  const cpu0 = { t: 0, cpu: 0 };
  const total = seconds + warmup;
  const start = performance.now();
  let sentH = 0, sentF = 0;
  const inflight = new Set();
  await new Promise((resolve) => {
    const tick = () => {
      const el = (performance.now() - start) / 1000;
      if (!measuring && el >= warmup) {
        measuring = true;
        cpu0.t = performance.now();
        cpu0.cpu = cpuSeconds(k.pid);
      }
      const dueH = Math.min(rate * total, Math.floor(el * rate));
      while (sentH < dueH) {
        const n = sentH++;
        const m = measuring;
        if (m) measured++;
        const p = publish('batch.succeeded',
          { id: `h_${n}`, measured: m, sent_ms: performance.now() + performance.timeOrigin });
        inflight.add(p); p.finally(() => inflight.delete(p));
      }
      if (faulty) {
        const dueF = Math.min(frate * total, Math.floor(el * frate));
        while (sentF < dueF) {
          const p = publish('batch.failed', { id: `f_${sentF++}` });
          inflight.add(p); p.finally(() => inflight.delete(p));
        }
      }
      if (el >= total) resolve(); else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all([...inflight]);
  const deadline = Date.now() + 30_000;
  while (lat.length < measured && Date.now() < deadline) await sleep(50);
  const cpu = cpuSeconds(k.pid) - cpu0.cpu;
  const wall = (performance.now() - cpu0.t) / 1000;

  let seen;
  const childCpu = child ? cpuSeconds(child.pid) : 0;
  if (child) {
    seen = await new Promise((r) => { child.once('message', r); child.send('report'); });
    child.kill();
  }
  healthy.closeAllConnections();
  healthy.close();
  await k.stop();

  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(2) : NaN);
  return {
    run: !faulty ? 'baseline' : kinds.includes('fail') ? 'failing' : 'faulty', rate, seconds,
    ...(faulty ? { faulty_rate: frate, per_kind: per } : {}),
    measured, received: lat.length, publish_errors: errors,
    p50_ms: pct(50), p90_ms: pct(90), p99_ms: pct(99), max_ms: +(lat[lat.length - 1] ?? NaN).toFixed(2),
    kabard_cpu_s_per_s: +(cpu / wall).toFixed(3),
    ...(seen ? { faulty_requests: seen.seen, big_bytes_written: seen.bigBytes,
      faulty_receivers_cpu_s: +childCpu.toFixed(1) } : {}),
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const bin = path.resolve(args.bin || 'build');
  const rounds = Number(args.rounds || 3);
  const opts = {
    rate: Number(args.rate || 200), frate: Number(args.frate || 100), per: Number(args.per || 2),
    seconds: Number(args.seconds || 20), warmup: Number(args.warmup || 3),
  };
  // Interleaved, so that the machine's other load falls on every kind of
  // run alike; "failing" is the control: as many webhooks and events as
  // "faulty", but each endpoint answers 500 at once.
  const kinds = args.kinds ? args.kinds.split(',') : FAULTY_KINDS;
  const plan = { baseline: [], faulty: kinds, failing: kinds.map(() => 'fail') };
  const only = (args.runs || 'baseline,faulty,failing').split(',');
  for (const name of Object.keys(plan)) if (!only.includes(name)) delete plan[name];
  const out = { baseline: [], faulty: [], failing: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, kinds] of Object.entries(plan)) {
      const res = await run(bin, { ...opts, kinds });
      out[name].push(res);
      console.log(JSON.stringify({ round: r + 1, ...res }));
    }
  }
  const sum = {};
  for (const [name, list] of Object.entries(out)) {
    if (!list.length) continue;
    sum[name] = { p50_ms: median(list.map((x) => x.p50_ms)), p99_ms: median(list.map((x) => x.p99_ms)) };
  }
  const ratio = (a, b) => (sum[a] && sum[b] ? +(sum[a].p99_ms / sum[b].p99_ms).toFixed(2) : undefined);
  console.log(JSON.stringify({ median_of_rounds: sum,
    p99_faulty_over_baseline: ratio('faulty', 'baseline'),
    p99_faulty_over_failing: ratio('faulty', 'failing'),
    goal: 'p99_faulty_over_baseline <= 2' }));
}

if (args.serve === 'faulty') serveFaulty();
else await main();
