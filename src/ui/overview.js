// SPDX-License-Identifier: Apache-2.0
// Overview: deliveries per second by outcome, attempt latency p50/p99,
// queue depth and per-webhook success rate, from GET /v1/stats, redrawn
// every few seconds while the page is open.

import { get } from './api.js';
import { barList, lineChart } from './chart.js';
import { h, mount } from './dom.js';

const REFRESH_MS = 5000;

export async function overview(ctx) {
  const box = h('div', { class: 'grid' });
  const depth = h('p', { class: 'big', id: 'queue-depth' }, '—');
  const updated = h('p', { class: 'muted', 'aria-live': 'off' }, '');
  mount(ctx.main, h('h1', {}, 'Overview'),
    h('div', { class: 'stat-row' },
      h('div', { class: 'card stat' }, h('h2', {}, 'Queue depth'), depth,
        h('p', { class: 'muted' }, 'deliveries waiting to be sent')),
      updated),
    box);
  let names = {};
  try {
    names = Object.fromEntries(((await get('/v1/webhooks', { page_size: 200 })).webhooks || [])
      .map((w) => [w.id, w.name || w.id]));
  } catch { /* ids then */ }

  const draw = async () => {
    const st = await get('/v1/stats');
    const labels = st.buckets.map((b) => new Date(b.start_time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    const per = (k) => st.buckets.map((b) => b[k] / st.bucket_s);
    depth.textContent = String(st.queue_depth);
    mount(box,
      lineChart({ title: `Deliveries per second (last ${st.window_s / 60} min)`, xLabels: labels, unit: '/s',
                  series: [{ label: 'succeeded', cls: 'ok', values: per('succeeded') },
                           { label: 'failed', cls: 'bad', values: per('failed') }] }),
      lineChart({ title: 'Attempt latency', xLabels: labels, unit: ' ms',
                  series: [{ label: 'p50', cls: 'ok', values: st.buckets.map((b) => b.latency_p50_ms ?? null) },
                           { label: 'p99', cls: 'warn', values: st.buckets.map((b) => b.latency_p99_ms ?? null) }] }),
      barList({ title: 'Success rate per webhook', empty: 'No attempts in this window.',
                items: st.webhooks.map((w) => ({ label: names[w.webhook_id] || w.webhook_id, value: w.success_rate,
                                                 text: `${(w.success_rate * 100).toFixed(1)}% of ${w.attempts}` })) }));
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}${st.sampled ? ' (sampled)' : ''}`;
  };
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), REFRESH_MS);
  ctx.onStop(() => clearInterval(timer));
}
