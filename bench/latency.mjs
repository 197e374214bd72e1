// SPDX-License-Identifier: Apache-2.0
// Publish -> receive latency at a steady rate.
//
// Starts a receiver on a free port, creates a webhook on kabard pointing at
// it, publishes RATE events per second for SECONDS seconds (each carrying
// its send time), and reports p50/p90/p99/max of (receive time - send time)
// for the events that arrived. Usage:
//   node latency.mjs --kabard http://127.0.0.1:8080 --key KEY [--rate 1000] [--seconds 10]
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const base = args.kabard;
const key = args.key;
const rate = Number(args.rate || 1000);
const seconds = Number(args.seconds || 10);
if (!base || !key) {
  console.error('usage: node latency.mjs --kabard URL --key KEY [--rate N] [--seconds S]');
  process.exit(2);
}

const lat = [];
const seen = new Set();
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = performance.now() + performance.timeOrigin;
    try {
      const ev = JSON.parse(Buffer.concat(chunks).toString());
      const id = req.headers['webhook-id'];
      if (ev.data && ev.data.sent_ms && !seen.has(id)) {
        seen.add(id);
        lat.push(now - ev.data.sent_ms);
      }
    } catch { /* not ours */ }
    res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

const h = { 'content-type': 'application/json', 'x-goog-api-key': key };
let r = await fetch(`${base}/v1/webhooks`, {
  method: 'POST', headers: h,
  body: JSON.stringify({ uri: `http://127.0.0.1:${port}/hook`, subscribed_events: ['batch.succeeded'] }),
});
if (r.status !== 200) throw new Error(`create webhook: ${r.status} ${await r.text()}`);
const wh = await r.json();

const total = rate * seconds;
let sent = 0, acked = 0, errors = 0;
const start = performance.now();
await new Promise((resolve) => {
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    while (sent < due) {
      const n = sent++;
      fetch(`${base}/v1/events`, {
        method: 'POST', headers: h,
        body: JSON.stringify({ type: 'batch.succeeded',
                               data: { id: `batch_${n}`, sent_ms: performance.now() + performance.timeOrigin } }),
      }).then((res) => { res.arrayBuffer(); if (res.status === 200) acked++; else errors++; },
              () => { errors++; });
    }
    if (sent >= total) resolve(); else setTimeout(tick, 1);
  };
  tick();
});
const deadline = Date.now() + 30_000;
while (lat.length < acked + 0 && Date.now() < deadline || acked + errors < total && Date.now() < deadline)
  await new Promise((res) => setTimeout(res, 50));

lat.sort((a, b) => a - b);
const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN;
const out = { rate, seconds, sent, acked, errors, received: lat.length,
              p50_ms: +pct(50).toFixed(2), p90_ms: +pct(90).toFixed(2),
              p99_ms: +pct(99).toFixed(2), max_ms: +(lat[lat.length - 1] || NaN).toFixed(2) };
console.log(JSON.stringify(out));
await fetch(`${base}/v1/webhooks/${wh.id}`, { method: 'DELETE', headers: h });
server.close();
process.exit(0);
