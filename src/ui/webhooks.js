// SPDX-License-Identifier: Apache-2.0
// Webhooks: the list with a create form, and one webhook's page (edit,
// enable/disable, rotate its secret, ping, recover, delete).

import { CATALOG, del, get, patch, post } from './api.js';
import { badge, checkboxes, checked, field, h, mount, table, time } from './dom.js';

function events(ctx) {
  return ctx.session.event_types?.length ? ctx.session.event_types : CATALOG;
}

/** A secret shown once, with a copy button. */
function secretBox(secret, what) {
  const code = h('code', { class: 'secret', id: 'new-secret' }, secret);
  const btn = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        btn.textContent = 'Copied';
      } catch {
        const r = document.createRange();
        r.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(r);
        btn.textContent = 'Selected: press Ctrl+C';
      }
    },
  }, 'Copy');
  return h('div', { class: 'card secret-card', role: 'alert' },
    h('h2', {}, what),
    h('p', {}, 'Shown once: store it now. kabar keeps it encrypted and never shows it again.'),
    h('div', { class: 'secret-row' }, code, btn));
}

export async function webhooksPage(ctx) {
  const list = await get('/v1/webhooks', { page_size: 200 });
  const hooks = list.webhooks || [];
  const form = h('form', { class: 'card', 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'New webhook'),
    field({ label: 'Endpoint URL', name: 'uri', type: 'url', required: true, placeholder: 'https://example.com/hooks' }),
    field({ label: 'Name', name: 'name' }),
    ctx.portal ? null : field({ label: 'Tenant (optional)', name: 'tenant', hint: 'The customer this endpoint belongs to, for portal links.' }),
    checkboxes('Events', 'events', events(ctx), []),
    h('button', { type: 'submit', class: 'primary' }, 'Create webhook'));
  const out = h('div', {});
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {
      uri: form.elements.uri.value.trim(),
      name: form.elements.name.value,
      subscribed_events: checked(form, 'events'),
    };
    if (form.elements.tenant && form.elements.tenant.value.trim()) body.tenant = form.elements.tenant.value.trim();
    try {
      const wh = await post('/v1/webhooks', body);
      ctx.say(`Webhook ${wh.id} created.`);
      mount(out, secretBox(wh.new_signing_secret, 'Signing secret'),
        h('p', {}, h('a', { href: `#/webhooks/${wh.id}` }, `Open ${wh.name || wh.id}`)));
      form.reset();
      mount(listBox, hookTable(ctx, (await get('/v1/webhooks', { page_size: 200 })).webhooks || []));
    } catch (err) {
      ctx.say(err.message, 'error');
    }
  });
  const listBox = h('div', {}, hookTable(ctx, hooks));
  mount(ctx.main, h('h1', {}, 'Webhooks'), out, listBox, form);
}

function hookTable(ctx, hooks) {
  return table('Webhooks', ['Name', 'Endpoint', 'State', 'Events', ...(ctx.portal ? [] : ['Tenant']), 'Created'],
    hooks.map((w) => [
      h('a', { href: `#/webhooks/${w.id}` }, w.name || w.id),
      h('span', { class: 'uri' }, w.uri),
      badge(w.state),
      String(w.subscribed_events.length),
      ...(ctx.portal ? [] : [w.tenant || '—']),
      time(w.create_time),
    ]), 'No webhooks yet: create one below.');
}

export async function webhookPage(ctx, id) {
  const w = await get(`/v1/webhooks/${encodeURIComponent(id)}`);
  const out = h('div', {});
  const act = (label, fn, cls = '') => h('button', {
    type: 'button', class: cls,
    onclick: async () => {
      try { await fn(); } catch (err) { ctx.say(err.message, 'error'); }
    },
  }, label);

  const edit = h('form', { class: 'card', 'aria-labelledby': 'edit-title' },
    h('h2', { id: 'edit-title' }, 'Settings'),
    field({ label: 'Endpoint URL', name: 'uri', type: 'url', value: w.uri, required: true }),
    field({ label: 'Name', name: 'name', value: w.name }),
    ctx.portal ? null : field({ label: 'Tenant', name: 'tenant', value: w.tenant || '' }),
    checkboxes('Events', 'events', events(ctx), w.subscribed_events),
    h('button', { type: 'submit', class: 'primary' }, 'Save'));
  edit.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { uri: edit.elements.uri.value.trim(), name: edit.elements.name.value,
                   subscribed_events: checked(edit, 'events') };
    let mask = 'uri,name,subscribed_events';
    if (edit.elements.tenant) { body.tenant = edit.elements.tenant.value.trim(); mask += ',tenant'; }
    try {
      await patch(`/v1/webhooks/${w.id}`, body, { update_mask: mask });
      ctx.say('Saved.');
    } catch (err) { ctx.say(err.message, 'error'); }
  });

  const recover = h('form', { class: 'card', 'aria-labelledby': 'recover-title' },
    h('h2', { id: 'recover-title' }, 'Recover failed deliveries'),
    field({ label: 'Failed since', name: 'since', type: 'datetime-local', required: true,
            hint: 'Every failed delivery created since then is sent again now.' }),
    h('button', { type: 'submit' }, 'Recover'));
  recover.addEventListener('submit', async (e) => {
    e.preventDefault();
    const since = new Date(recover.elements.since.value);
    if (Number.isNaN(since.getTime())) return ctx.say('Pick a date and time.', 'error');
    try {
      const r = await post(`/v1/webhooks/${w.id}:recover`, { since: since.toISOString() });
      ctx.say(`${r.recovered} deliveries queued again.`);
    } catch (err) { ctx.say(err.message, 'error'); }
  });

  const enabled = w.state === 'enabled';
  mount(ctx.main,
    h('p', {}, h('a', { href: '#/webhooks' }, '← Webhooks')),
    h('h1', {}, w.name || w.id),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, w.id)),
      h('dt', {}, 'State'), h('dd', {}, badge(w.state)),
      h('dt', {}, 'Endpoint'), h('dd', { class: 'uri' }, w.uri),
      w.tenant ? [h('dt', {}, 'Tenant'), h('dd', {}, w.tenant)] : null,
      h('dt', {}, 'Signing secrets'),
      h('dd', {}, w.signing_secrets.map((s) => h('div', {}, h('code', {}, s.truncated_secret),
        s.expire_time ? [' expires ', time(s.expire_time)] : ' (signing)'))),
      h('dt', {}, 'Created'), h('dd', {}, time(w.create_time))),
    h('div', { class: 'actions' },
      h('a', { class: 'button', href: `#/deliveries?webhook=${w.id}` }, 'Deliveries'),
      act('Send a ping', async () => { await post(`/v1/webhooks/${w.id}:ping`); ctx.say('Ping sent.'); }),
      act(enabled ? 'Disable' : 'Enable', async () => {
        await patch(`/v1/webhooks/${w.id}`, { state: enabled ? 'disabled' : 'enabled' }, { update_mask: 'state' });
        ctx.say(enabled ? 'Disabled.' : 'Enabled.');
        await webhookPage(ctx, id);
      }),
      act('Rotate secret', async () => {
        if (!confirm('Make a new signing secret? The current one keeps working for 24 hours.')) return;
        const r = await post(`/v1/webhooks/${w.id}:rotateSigningSecret`, {});
        mount(out, secretBox(r.secret, 'New signing secret'));
        ctx.say('Secret rotated.');
      }),
      act('Delete', async () => {
        if (!confirm(`Delete ${w.name || w.id}? Its delivery log goes with it.`)) return;
        await del(`/v1/webhooks/${w.id}`);
        ctx.say('Deleted.');
        location.hash = '#/webhooks';
      }, 'danger')),
    out, edit, recover);
}
