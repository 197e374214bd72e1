// SPDX-License-Identifier: Apache-2.0
// The dashboard's shell: brand, sign-in, navigation and a small hash
// router (#/webhooks, #/deliveries/ID, ...). The customer portal is the same
// page at /portal, opened from a one-time link whose token is in the
// fragment, and shows only the routes of its tenant's webhooks.

import { ApiError, get, post, setCsrf } from './api.js';
import { h, mount } from './dom.js';
import { overview } from './overview.js';
import { webhooksPage, webhookPage } from './webhooks.js';
import { deliveriesPage, deliveryPage } from './deliveries.js';
import { operationsPage } from './operations.js';
import { keysPage } from './keys.js';
import { publishPage } from './publish.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const statusEl = document.getElementById('status');
const portal = location.pathname === '/portal';
let session = null;
let stopPage = null;

/** Tell the user something (announced to screen readers too). */
export function say(msg, kind = 'ok') {
  statusEl.className = `status status-${kind}`;
  statusEl.textContent = msg;
}

const OPERATOR_ROUTES = [
  ['overview', 'Overview'], ['webhooks', 'Webhooks'], ['deliveries', 'Deliveries'],
  ['operations', 'Operations'], ['keys', 'Signing keys'], ['publish', 'Publish'],
];
const PORTAL_ROUTES = [['webhooks', 'Webhooks'], ['deliveries', 'Deliveries']];

async function brand() {
  try {
    const cfg = await get('/ui/config');
    document.getElementById('brand-title').textContent = cfg.title;
    document.title = cfg.title;
    document.documentElement.style.setProperty('--accent', cfg.accent);
    if (cfg.logo) {
      const img = document.getElementById('brand-logo');
      img.src = '/ui/logo';
      img.hidden = false;
    }
  } catch { /* the defaults stay */ }
}

function renderNav() {
  const routes = portal ? PORTAL_ROUTES : OPERATOR_ROUTES;
  const cur = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] || routes[0][0];
  mount(nav, h('ul', {}, routes.map(([r, label]) =>
    h('li', {}, h('a', { href: `#/${r}`, 'aria-current': r === cur ? 'page' : null }, label)))));
  mount(who,
    h('span', { class: 'muted' }, session.tenant ? `${session.tenant} · ${session.project}` : session.project),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
}

async function signOut() {
  try { await post('/ui/signout'); } catch { /* the session may be gone already */ }
  session = null;
  setCsrf('');
  say('Signed out.');
  if (portal) return ended('You have signed out of the portal.');
  signInForm();
}

function ended(message, title = 'Session ended') {
  mount(nav);
  mount(who);
  mount(main, h('h1', { tabindex: -1 }, title), h('p', { role: 'alert' }, message),
    h('p', { class: 'muted' }, 'Ask the service that sent you here for a new portal link.'));
  main.querySelector('h1').focus();
}

function signInForm(message) {
  mount(nav);
  mount(who);
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Use an API key of your project. It is traded for a session cookie and not kept in the browser.'),
    message ? h('p', { class: 'error', role: 'alert' }, message) : null,
    h('div', { class: 'field' },
      h('label', { for: 'api-key' }, 'API key'),
      h('input', { id: 'api-key', name: 'api_key', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = form.elements.api_key.value;
    form.elements.api_key.value = '';
    try {
      start(await post('/ui/signin', { api_key: key }));
    } catch (err) {
      signInForm(err.message);
    }
  });
  mount(main, form);
  form.elements.api_key.focus();
}

function start(s) {
  session = s;
  setCsrf(s.csrf_token);
  if (!location.hash || location.hash === '#') location.hash = portal ? '#/webhooks' : '#/overview';
  route();
}

async function route() {
  if (!session) return;
  if (stopPage) { stopPage(); stopPage = null; }
  renderNav();
  const [path, qs] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(qs || ''));
  const ctx = { session, main, say, portal, query, onStop: (f) => { stopPage = f; } };
  const page = parts[0] || (portal ? 'webhooks' : 'overview');
  try {
    if (page === 'webhooks' && parts[1]) await webhookPage(ctx, parts[1]);
    else if (page === 'webhooks') await webhooksPage(ctx);
    else if (page === 'deliveries' && parts[1]) await deliveryPage(ctx, parts[1]);
    else if (page === 'deliveries') await deliveriesPage(ctx);
    else if (!portal && page === 'overview') await overview(ctx);
    else if (!portal && page === 'operations') await operationsPage(ctx);
    else if (!portal && page === 'keys') await keysPage(ctx);
    else if (!portal && page === 'publish') await publishPage(ctx);
    else mount(main, h('h1', { tabindex: -1 }, 'Not found'), h('p', {}, 'There is no such page.'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session = null;
      if (portal) return ended('This portal session has expired.');
      return signInForm('Your session has ended; sign in again.');
    }
    mount(main, h('h1', { tabindex: -1 }, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, err.message));
  }
  const h1 = main.querySelector('h1');
  if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
}

async function boot() {
  await brand();
  window.addEventListener('hashchange', () => { say(''); route(); });
  if (portal) {
    const m = location.hash.match(/token=([A-Za-z0-9_-]+)/);
    if (m) {
      // The link is spent now; keep its token out of the history.
      history.replaceState(null, '', '/portal#/webhooks');
      try {
        return start(await post('/ui/portal/open', { token: m[1] }));
      } catch (err) {
        return ended(err.status === 401 ? 'This portal link has expired or was already used.'
          : err.message, 'Link no longer valid');
      }
    }
  }
  let s = null;
  try { s = await get('/ui/session'); } catch { /* as not signed in */ }
  if (s?.signed_in) start(s);
  else if (portal) ended('This portal link has expired or was already used.', 'Link no longer valid');
  else signInForm();
}

boot();
