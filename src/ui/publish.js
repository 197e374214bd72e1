// SPDX-License-Identifier: Apache-2.0
// Publish a test event to every subscribed webhook (POST /v1/events).

import { CATALOG, post } from './api.js';
import { field, h, mount } from './dom.js';

const SAMPLE = { id: 'batch_test_1', output_file_uri: 'https://example.com/out.jsonl' };

export async function publishPage(ctx) {
  const result = h('div', {});
  const form = h('form', { class: 'card', 'aria-labelledby': 'publish-title' },
    h('h2', { id: 'publish-title' }, 'Test event'),
    field({ label: 'Event type', name: 'type', value: 'batch.succeeded', options: CATALOG }),
    field({ label: 'Data (JSON object)', name: 'data', type: 'textarea', value: JSON.stringify(SAMPLE, null, 2),
            spellcheck: 'false' }),
    h('button', { type: 'submit', class: 'primary' }, 'Publish'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let data;
    try { data = JSON.parse(form.elements.data.value); } catch (err) {
      return ctx.say(`Data is not JSON: ${err.message}`, 'error');
    }
    try {
      const r = await post('/v1/events', { type: form.elements.type.value, data });
      ctx.say(`Event ${r.id} accepted: ${r.deliveries} deliveries.`);
      mount(result, h('p', {}, `Event ${r.id}: ${r.deliveries} deliveries. `,
        h('a', { href: `#/deliveries?event_type=${encodeURIComponent(r.type)}` }, 'See deliveries')));
    } catch (err) { ctx.say(err.message, 'error'); }
  });
  mount(ctx.main, h('h1', {}, 'Publish'), form, result);
}
