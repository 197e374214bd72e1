// SPDX-License-Identifier: Apache-2.0
// Operations: the project's interactions, batches and videos and their states.

import { get } from './api.js';
import { badge, field, h, mount, table, time } from './dom.js';

export async function operationsPage(ctx) {
  const q = ctx.query;
  const page = await get('/v1/operations', { kind: q.kind, state: q.state, page_size: 50, page_token: q.page_token });
  const ops = page.operations || [];
  const form = h('form', { class: 'card filters', 'aria-label': 'Filters' },
    field({ label: 'Kind', name: 'kind', value: q.kind || '', options: [['', 'All'], 'interaction', 'batch', 'video'] }),
    field({ label: 'State', name: 'state', value: q.state || '',
            options: [['', 'All'], 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired', 'requires_action'] }),
    h('div', { class: 'filter-buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Apply')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const f of ['kind', 'state']) if (form.elements[f].value) p.set(f, form.elements[f].value);
    location.hash = `#/operations?${p}`;
  });
  const counts = {};
  for (const o of ops) counts[o.state] = (counts[o.state] || 0) + 1;
  mount(ctx.main, h('h1', {}, 'Operations'), form,
    h('p', { class: 'muted' }, Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' · ') || ''),
    table('Operations', ['Id', 'Kind', 'Model', 'State', 'Created', 'Updated'], ops.map((o) => [
      h('code', {}, o.id), o.kind, o.model || '—', badge(o.state), time(o.create_time), time(o.update_time),
    ]), 'No operations match.'),
    page.next_page_token ? h('p', {}, h('a', { class: 'button', href: `#/operations?${new URLSearchParams({ ...(q.kind ? { kind: q.kind } : {}), ...(q.state ? { state: q.state } : {}), page_token: page.next_page_token })}` }, 'Next page')) : null);
}
