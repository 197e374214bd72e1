// SPDX-License-Identifier: Apache-2.0
// Signing keys of dynamic webhooks: the published JWKS, and rotation.

import { get, post } from './api.js';
import { h, mount, table } from './dom.js';

export async function keysPage(ctx) {
  const jwks = await fetch('/.well-known/jwks.json', { credentials: 'omit', cache: 'no-store' }).then((r) => r.json());
  const out = h('div', {});
  mount(ctx.main, h('h1', {}, 'Signing keys'),
    h('p', { class: 'muted' }, 'RS256 keys that sign deliveries to jobs\' own URIs, as published at /.well-known/jwks.json. A new key is published at once and signs once caches have seen it; the old one stays published until its tokens have expired.'),
    table('Published keys', ['Key id (kid)', 'Type', 'Use'], (jwks.keys || []).map((k) => [
      h('code', { class: 'kid' }, k.kid), `${k.kty} ${k.alg || ''}`, k.use || '—',
    ]), 'No keys published.'),
    h('div', { class: 'actions' }, h('button', {
      type: 'button', class: 'primary',
      onclick: async () => {
        if (!confirm('Make a new signing key?')) return;
        try {
          const r = await post('/v1/signingKeys:rotate');
          ctx.say(`New key ${r.kid} published.`);
          await keysPage(ctx);
        } catch (err) { ctx.say(err.message, 'error'); }
      },
    }, 'Rotate signing key')), out);
}
