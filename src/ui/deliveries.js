// SPDX-License-Identifier: Apache-2.0
// Deliveries: the project-wide log with filters and paging
// (GET /v1/deliveries), and one delivery with its attempts.

import { CATALOG, get, post } from './api.js';
import { badge, field, h, mount, table, time } from './dom.js';

const FILTERS = ['webhook', 'event_type', 'state', 'status_class', 'since', 'until'];

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function deliveriesPage(ctx) {
  const q = ctx.query;
  const hooks = (await get('/v1/webhooks', { page_size: 200 })).webhooks || [];
  const query = { page_size: 25 };
  for (const f of FILTERS) if (q[f]) query[f] = q[f];
  if (q.page_token) query.page_token = q.page_token;
  const page = await get('/v1/deliveries', query);
  const names = Object.fromEntries(hooks.map((w) => [w.id, w.name || w.id]));

  const form = h('form', { class: 'card filters', 'aria-label': 'Filters' },
    field({ label: 'Webhook', name: 'webhook', value: q.webhook || '',
            options: [['', 'All'], ...hooks.map((w) => [w.id, w.name || w.id]),
                      ...(ctx.portal ? [] : [['dynamic', 'Jobs\' own URIs (dynamic)']])] }),
    field({ label: 'Event type', name: 'event_type', value: q.event_type || '',
            options: [['', 'All'], ...CATALOG, 'webhook.ping'] }),
    field({ label: 'State', name: 'state', value: q.state || '',
            options: [['', 'All'], 'pending', 'succeeded', 'failed'] }),
    field({ label: 'Response', name: 'status_class', value: q.status_class || '',
            options: [['', 'All'], '2xx', '3xx', '4xx', '5xx', ['none', 'No response']] }),
    field({ label: 'From', name: 'since', type: 'datetime-local', value: toLocalInput(q.since) }),
    field({ label: 'Until', name: 'until', type: 'datetime-local', value: toLocalInput(q.until) }),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('a', { class: 'button', href: '#/deliveries' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const f of FILTERS) {
      let v = form.elements[f].value;
      if (v && (f === 'since' || f === 'until')) v = new Date(v).toISOString();
      if (v) p.set(f, v);
    }
    location.hash = `#/deliveries?${p}`;
  });

  const rows = (page.deliveries || []).map((d) => [
    h('a', { href: `#/deliveries/${d.id}` }, d.id.slice(-8)),
    d.event_type,
    d.webhook_id ? (names[d.webhook_id] || d.webhook_id) : h('span', { class: 'uri' }, d.uri),
    badge(d.state),
    d.last_response_status ? String(d.last_response_status) : (d.attempt_count ? 'no response' : '—'),
    String(d.attempt_count),
    time(d.create_time),
  ]);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    q.page_token ? h('a', { class: 'button', href: '#' + location.hash.slice(1).replace(/([?&])page_token=[^&]*&?/, '$1').replace(/[?&]$/, '') }, 'First page') : null,
    page.next_page_token ? h('a', { class: 'button', href: `#/deliveries?${new URLSearchParams({ ...Object.fromEntries(FILTERS.filter((f) => q[f]).map((f) => [f, q[f]])), page_token: page.next_page_token })}` }, 'Next page') : null);
  mount(ctx.main, h('h1', {}, 'Deliveries'), form,
    table('Deliveries', ['Delivery', 'Event', 'Webhook', 'State', 'Response', 'Attempts', 'Created'], rows,
      'No deliveries match.'),
    pager);
}

/** The payload as indented JSON text when it parses, else as it is. */
function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

export async function deliveryPage(ctx, id) {
  const d = await get(`/v1/deliveries/${encodeURIComponent(id)}`);
  const attempts = (d.attempts || []).slice().reverse();
  mount(ctx.main,
    h('p', {}, h('a', { href: d.webhook_id ? `#/deliveries?webhook=${d.webhook_id}` : '#/deliveries' }, '← Deliveries')),
    h('h1', {}, `Delivery ${d.id.slice(-8)}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, d.id)),
      h('dt', {}, 'Event'), h('dd', {}, d.event_type),
      h('dt', {}, 'State'), h('dd', {}, badge(d.state)),
      h('dt', {}, 'Endpoint'), h('dd', { class: 'uri' }, d.uri),
      d.webhook_id ? [h('dt', {}, 'Webhook'), h('dd', {}, h('a', { href: `#/webhooks/${d.webhook_id}` }, d.webhook_id))] : null,
      h('dt', {}, 'Message'), h('dd', {}, h('code', {}, d.message_id)),
      h('dt', {}, 'Created'), h('dd', {}, time(d.create_time)),
      d.next_attempt_time ? [h('dt', {}, 'Next attempt'), h('dd', {}, time(d.next_attempt_time))] : null),
    h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'primary', disabled: d.state === 'pending',
        onclick: async () => {
          try {
            await post(`/v1/deliveries/${d.id}:retry`);
            ctx.say('Retry queued.');
            await deliveryPage(ctx, id);
          } catch (err) { ctx.say(err.message, 'error'); }
        },
      }, 'Retry now'),
      h('button', { type: 'button', onclick: () => deliveryPage(ctx, id) }, 'Refresh')),
    h('h2', {}, 'Payload'),
    h('pre', { class: 'code', id: 'payload', tabindex: 0 }, pretty(d.payload ?? '')),
    h('h2', {}, `Attempts (${d.attempt_count})`),
    attempts.length ? attempts.map((a, i) => h('section', { class: 'card attempt', 'aria-label': `Attempt ${attempts.length - i}` },
      h('h3', {}, `Attempt ${attempts.length - i} · `,
        a.response_status ? badge(String(a.response_status), a.response_status < 300 ? 'succeeded' : 'failed')
                          : badge('no response', 'failed'),
        ` · ${a.latency_ms.toFixed(1)} ms · `, time(a.time)),
      a.error ? h('p', { class: 'error' }, a.error) : null,
      h('h4', {}, 'Headers sent'),
      h('pre', { class: 'code' }, Object.entries(a.request_headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n')),
      h('h4', {}, 'Response (first KiB)'),
      h('pre', { class: 'code excerpt' }, a.response_excerpt ?? (a.response_excerpt_base64 ? `base64: ${a.response_excerpt_base64}` : '(empty)')),
    )) : h('p', { class: 'muted' }, 'Not attempted yet.'));
}
