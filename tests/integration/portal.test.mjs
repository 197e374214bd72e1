// SPDX-License-Identifier: Apache-2.0
// Web sessions and the customer portal by direct API calls: sign-in trades
// an API key for a cookie (CSRF-checked, rate-limited, ended by sign-out);
// a one-time portal link opens a session that sees and manages only its
// tenant's webhooks and their deliveries, whatever ids it sends.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startKabard } from './lib/kabard.mjs';
import { assertError, assertWebhook } from './lib/common.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'portal-key-0123456789abcdefABCDEF';
const OTHER = 'other-key-0123456789abcdefABCDEFG';
const T = { timeout: 60_000 };

async function setup(t) {
  const rcv = await startReceiver();
  const k = await startKabard({ apiKeys: `main:${KEY},other:${OTHER}`,
                                env: { KABAR_RETRY_SCHEDULE: '0,60', KABAR_RETRY_WINDOW_S: '1' } });
  t.after(async () => { await rcv.close(); await k.cleanup(); });
  return { k, rcv };
}

/** A cookie session: {cookie, csrf, info}. */
function session(r) {
  const set = r.headers.get('set-cookie');
  assert.ok(set, `a Set-Cookie header: ${r.text}`);
  assert.match(set, /^kabar_session=kbs_[A-Za-z0-9_-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
  return { cookie: set.split(';')[0], csrf: r.json.csrf_token, info: r.json };
}

/** A request with session s (cookie, and the CSRF header unless csrf: false). */
function as(k, s, method, path, { body, query, csrf = true } = {}) {
  const headers = { cookie: s.cookie };
  if (csrf) headers['x-kabar-csrf'] = s.csrf;
  return k.request(method, path, { key: null, headers, body, query });
}

async function hook(k, uri, extra = {}, key = KEY) {
  const r = await k.request('POST', '/v1/webhooks', { key, body: { uri, subscribed_events: ['batch.succeeded'], ...extra } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function openPortal(k, body) {
  const r = await k.request('POST', '/v1/portalSessions', { key: KEY, body });
  assert.equal(r.status, 200, r.text);
  const url = new URL(r.json.url);
  assert.equal(url.pathname, '/portal');
  const token = new URLSearchParams(url.hash.slice(1)).get('token');
  assert.match(token, /^kbl_[A-Za-z0-9_-]{43}$/);
  const o = await k.request('POST', '/ui/portal/open', { key: null, body: { token } });
  assert.equal(o.status, 200, o.text);
  return { token, s: session(o), link: r.json };
}

describe('web sessions', () => {
  it('sign-in makes an HttpOnly SameSite=Strict cookie; writes need the CSRF token; sign-out ends it', T, async (t) => {
    const { k } = await setup(t);
    const bad = await k.request('POST', '/ui/signin', { key: null, body: { api_key: 'nope' } });
    assertError(bad, 401, 'UNAUTHENTICATED');
    assert.equal(bad.headers.get('set-cookie'), null);

    const r = await k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } });
    assert.equal(r.status, 200, r.text);
    const s = session(r);
    assert.equal(s.info.project, 'main');
    assert.ok(!r.text.includes(KEY), 'the answer does not echo the key');

    const list = await as(k, s, 'GET', '/v1/webhooks');
    assert.equal(list.status, 200, list.text);
    // A cross-site form or fetch carries the cookie at most, never the token.
    const forged = await as(k, s, 'POST', '/v1/webhooks', { csrf: false,
      body: { uri: 'https://example.com/x', subscribed_events: ['batch.succeeded'] } });
    assertError(forged, 403, 'PERMISSION_DENIED');
    const wrong = await k.request('POST', '/v1/webhooks', { key: null,
      headers: { cookie: s.cookie, 'x-kabar-csrf': 'x'.repeat(43) },
      body: { uri: 'https://example.com/x', subscribed_events: ['batch.succeeded'] } });
    assertError(wrong, 403, 'PERMISSION_DENIED');
    assert.equal((await k.listAll({ key: KEY })).length, 0, 'nothing was created');
    const ok = await as(k, s, 'POST', '/v1/webhooks', {
      body: { uri: 'https://example.com/x', subscribed_events: ['batch.succeeded'] } });
    assert.equal(ok.status, 200, ok.text);

    const out = await as(k, s, 'POST', '/ui/signout');
    assert.equal(out.status, 200, out.text);
    assert.match(out.headers.get('set-cookie'), /^kabar_session=; Path=\/; Max-Age=0;/);
    assertError(await as(k, s, 'GET', '/v1/webhooks'), 401, 'UNAUTHENTICATED');
    const who = await as(k, s, 'GET', '/ui/session');
    assert.equal(who.status, 200);
    assert.deepEqual(who.json, { signed_in: false });

    // Neither the key nor the session token reaches the log.
    const token = s.cookie.split('=')[1];
    assert.ok(!k.stderr.includes(token), 'session token in the log');
    assert.ok(!k.stderr.includes(KEY), 'API key in the log');
  });

  it('sign-in attempts are rate-limited per address, good key or not', T, async (t) => {
    const { k } = await setup(t);
    let limited = -1;
    for (let i = 0; i < 30 && limited < 0; i++) {
      const r = await k.request('POST', '/ui/signin', { key: null, body: { api_key: `guess-${i}` } });
      if (r.status === 429) limited = i;
      else assertError(r, 401, 'UNAUTHENTICATED');
    }
    assert.ok(limited >= 10 && limited < 20, `limited after ${limited} attempts`);
    const good = await k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } });
    assertError(good, 429, 'RESOURCE_EXHAUSTED');
  });
});

describe('customer portal', () => {
  it('a portal session sees and manages only its tenant, by any id it tries', T, async (t) => {
    const { k, rcv } = await setup(t);
    const mine = await hook(k, rcv.url('/acme'), { tenant: 'acme' });
    const theirs = await hook(k, rcv.url('/globex'), { tenant: 'globex' });
    const project = await hook(k, rcv.url('/plain'));
    const other = await hook(k, rcv.url('/other'), { tenant: 'acme' }, OTHER);
    assert.equal(mine.tenant, 'acme');
    assert.equal(project.tenant, undefined, 'no tenant member without a tenant');
    // The operator filters by tenant too.
    const byTenant = await k.request('GET', '/v1/webhooks', { key: KEY, query: { tenant: 'acme' } });
    assert.deepEqual(byTenant.json.webhooks.map((w) => w.id), [mine.id]);

    const pub = await k.request('POST', '/v1/events', { key: KEY, body: { type: 'batch.succeeded', data: { id: 'b1' } } });
    assert.equal(pub.json.deliveries, 3);
    const all = await waitFor(async () => {
      const r = await k.request('GET', '/v1/deliveries', { key: KEY });
      return r.json.deliveries.length === 3 && r.json.deliveries.every((d) => d.state !== 'pending') ? r.json.deliveries : null;
    }, 15_000, 'three deliveries');
    const dMine = all.find((d) => d.webhook_id === mine.id);
    const dTheirs = all.find((d) => d.webhook_id === theirs.id);

    const { s, token, link } = await openPortal(k, { tenant: 'acme', ttl: '600s',
                                                      event_types: ['batch.succeeded', 'batch.failed'] });
    assert.equal(link.tenant, 'acme');
    assert.equal(s.info.tenant, 'acme');
    assert.deepEqual(s.info.event_types, ['batch.succeeded', 'batch.failed']);

    // The link works once.
    const again = await k.request('POST', '/ui/portal/open', { key: null, body: { token } });
    assertError(again, 401, 'UNAUTHENTICATED');
    assert.match(again.json.error.message, /expired or was already used/);

    // Lists hold the tenant's own only.
    const list = await as(k, s, 'GET', '/v1/webhooks');
    assert.deepEqual(list.json.webhooks.map((w) => w.id), [mine.id]);
    const forcedFilter = await as(k, s, 'GET', '/v1/webhooks', { query: { tenant: 'globex' } });
    assert.deepEqual(forcedFilter.json.webhooks.map((w) => w.id), [mine.id]);
    const dl = await as(k, s, 'GET', '/v1/deliveries');
    assert.deepEqual(dl.json.deliveries.map((d) => d.id), [dMine.id]);
    const dlOther = await as(k, s, 'GET', '/v1/deliveries', { query: { webhook: theirs.id } });
    assert.deepEqual(dlOther.json.deliveries, []);

    // Its own: get, edit, rotate, ping, deliveries, retry.
    assert.equal((await as(k, s, 'GET', `/v1/webhooks/${mine.id}`)).status, 200);
    const upd = await as(k, s, 'PATCH', `/v1/webhooks/${mine.id}`, { body: { name: 'renamed' } });
    assert.equal(upd.status, 200, upd.text);
    assert.equal(upd.json.tenant, 'acme');
    assert.equal((await as(k, s, 'POST', `/v1/webhooks/${mine.id}:rotateSigningSecret`, { body: {} })).status, 200);
    assert.equal((await as(k, s, 'POST', `/v1/webhooks/${mine.id}:ping`, { body: {} })).status, 200);
    assert.equal((await as(k, s, 'GET', `/v1/webhooks/${mine.id}/deliveries`)).status, 200);
    assert.equal((await as(k, s, 'GET', `/v1/deliveries/${dMine.id}`)).status, 200);
    assert.equal((await as(k, s, 'POST', `/v1/deliveries/${dMine.id}:retry`, { body: {} })).status, 200);
    const created = await as(k, s, 'POST', '/v1/webhooks', {
      body: { uri: rcv.url('/new'), subscribed_events: ['batch.failed'] } });
    assert.equal(created.status, 200, created.text);
    const { tenant: _t, ...gemini } = created.json;
    assertWebhook(gemini, { created: true });
    assert.equal(created.json.tenant, 'acme', 'created in its tenant');

    // Everything else, by id: 404 as if it did not exist.
    for (const id of [theirs.id, project.id, other.id]) {
      assertError(await as(k, s, 'GET', `/v1/webhooks/${id}`), 404, 'NOT_FOUND');
      assertError(await as(k, s, 'PATCH', `/v1/webhooks/${id}`, { body: { name: 'x' } }), 404, 'NOT_FOUND');
      assertError(await as(k, s, 'DELETE', `/v1/webhooks/${id}`), 404, 'NOT_FOUND');
      assertError(await as(k, s, 'POST', `/v1/webhooks/${id}:rotateSigningSecret`, { body: {} }), 404, 'NOT_FOUND');
      assertError(await as(k, s, 'POST', `/v1/webhooks/${id}:ping`, { body: {} }), 404, 'NOT_FOUND');
      assertError(await as(k, s, 'GET', `/v1/webhooks/${id}/deliveries`), 404, 'NOT_FOUND');
      assertError(await as(k, s, 'POST', `/v1/webhooks/${id}:recover`, { body: { since: '2026-01-01T00:00:00Z' } }), 404, 'NOT_FOUND');
    }
    assertError(await as(k, s, 'GET', `/v1/deliveries/${dTheirs.id}`), 404, 'NOT_FOUND');
    assertError(await as(k, s, 'POST', `/v1/deliveries/${dTheirs.id}:retry`, { body: {} }), 404, 'NOT_FOUND');
    // It cannot move a webhook out of its tenant, nor make one elsewhere,
    // nor subscribe to types it was not offered.
    assertError(await as(k, s, 'PATCH', `/v1/webhooks/${mine.id}`, { body: { tenant: 'globex' } }), 403, 'PERMISSION_DENIED');
    assertError(await as(k, s, 'POST', '/v1/webhooks', {
      body: { uri: rcv.url('/x'), subscribed_events: ['batch.succeeded'], tenant: 'globex' } }), 403, 'PERMISSION_DENIED');
    assertError(await as(k, s, 'POST', '/v1/webhooks', {
      body: { uri: rcv.url('/x'), subscribed_events: ['video.generated'] } }), 403, 'PERMISSION_DENIED');
    // The project's other resources are closed to it.
    for (const [m, p, body] of [['POST', '/v1/events', { type: 'batch.succeeded', data: {} }],
      ['GET', '/v1/operations'], ['GET', '/v1/stats'], ['POST', '/v1/signingKeys:rotate', {}],
      ['POST', '/v1/portalSessions', { tenant: 'globex' }], ['GET', '/v1/batches']]) {
      assertError(await as(k, s, m, p, { body }), 403, 'PERMISSION_DENIED');
    }
    // Nothing of theirs changed.
    const still = await k.request('GET', `/v1/webhooks/${theirs.id}`, { key: KEY });
    assert.equal(still.json.name, theirs.name);
    assert.equal(still.json.signing_secrets.length, 1);
  });

  it('an expired link opens nothing and an expired session is refused, each with a clear message', T, async (t) => {
    const { k } = await setup(t);
    const spare = await k.request('POST', '/v1/portalSessions', { key: KEY, body: { tenant: 'acme' } });
    assert.equal(spare.status, 200, spare.text);
    const token = new URLSearchParams(new URL(spare.json.url).hash.slice(1)).get('token');
    const { s: portal } = await openPortal(k, { tenant: 'acme' });
    const operator = session(await k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } }));
    assert.equal((await as(k, portal, 'GET', '/v1/webhooks')).status, 200);
    assert.equal((await as(k, operator, 'GET', '/v1/webhooks')).status, 200);

    // Every link and session reaches its end: each ends when it began.
    k.sql('UPDATE ui_sessions SET expire_time = create_time');

    const open = await k.request('POST', '/ui/portal/open', { key: null, body: { token } });
    assertError(open, 401, 'UNAUTHENTICATED');
    assert.match(open.json.error.message, /portal link has expired or was already used/);
    assert.equal(open.headers.get('set-cookie'), null);
    for (const s of [portal, operator]) {
      const r = await as(k, s, 'GET', '/v1/webhooks');
      assertError(r, 401, 'UNAUTHENTICATED');
      assert.match(r.json.error.message, /session has ended/);
      assertError(await as(k, s, 'POST', '/v1/webhooks', {
        body: { uri: 'https://example.com/x', subscribed_events: ['batch.succeeded'] } }), 401, 'UNAUTHENTICATED');
      assert.deepEqual((await as(k, s, 'GET', '/ui/session')).json, { signed_in: false });
    }
    assert.equal((await k.listAll({ key: KEY })).length, 0, 'nothing was created');

    // A new sign-in works, and its write clears the ended rows away.
    const again = session(await k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } }));
    assert.equal((await as(k, again, 'GET', '/v1/webhooks')).status, 200);
    assert.equal(k.sql('SELECT count(*) FROM ui_sessions'), '1');
  });

  it('refuses bad portal requests and unknown links', T, async (t) => {
    const { k } = await setup(t);
    for (const body of [{}, { tenant: '' }, { tenant: 'a b' }, { tenant: 'x'.repeat(65) },
      { tenant: 'acme', ttl: '5s' }, { tenant: 'acme', ttl: 'soon' }, { tenant: 'acme', event_types: ['nope'] },
      { tenant: 'acme', extra: 1 }]) {
      assertError(await k.request('POST', '/v1/portalSessions', { key: KEY, body }), 400, 'INVALID_ARGUMENT');
    }
    assertError(await k.request('POST', '/v1/portalSessions', { key: null, body: { tenant: 'acme' } }), 401, 'UNAUTHENTICATED');
    const r = await k.request('POST', '/ui/portal/open', { key: null, body: { token: 'kbl_' + 'A'.repeat(43) } });
    assertError(r, 401, 'UNAUTHENTICATED');
    // An operator's browser session cannot mint links (a link is a credential).
    const si = session(await k.request('POST', '/ui/signin', { key: null, body: { api_key: KEY } }));
    assertError(await as(k, si, 'POST', '/v1/portalSessions', { body: { tenant: 'acme' } }), 403, 'PERMISSION_DENIED');
  });
});
