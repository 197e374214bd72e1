// SPDX-License-Identifier: Apache-2.0
// The web UI in a real browser: Debian's chromium, headless, driven by
// playwright-core, against a real kabard delivering to a real receiver.
// Screenshots of the main pages (desktop 1280x800, phone 390x844) are
// written to BUILD_DIR/screenshots.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { BIN_DIR, startKabard } from './lib/kabard.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'ui-key-0123456789abcdefABCDEFGHIJ';
const SHOTS = path.join(BIN_DIR, 'screenshots');
const CHROMIUM = process.env.KABAR_CHROMIUM || '/usr/bin/chromium';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const T = { timeout: 120_000 };
const XSS_DATA = { id: '<script>window.__xss = 1</script>', note: '<img src=x onerror="window.__xss = 2">' };
const XSS_REPLY = '<img src=x onerror="window.__xss = 3"><script>window.__xss = 4</script>';

let k, rcv, browser;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  rcv = await startReceiver();
  k = await startKabard({ apiKey: KEY, env: {
    KABAR_RETRY_SCHEDULE: '0,60', KABAR_RETRY_WINDOW_S: '1',
    KABAR_UI_TITLE: 'Acme Webhooks', KABAR_UI_ACCENT: '#7a3ee0',
  } });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
                                    args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

after(async () => {
  await browser?.close();
  await rcv?.close();
  await k?.cleanup();
});

/** A page whose console errors (CSP violations among them) and page errors are collected. */
async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(m.text()); });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  page.on('dialog', (d) => d.accept());
  return { context, page };
}

async function signIn(page) {
  await page.goto(k.baseUrl + '/');
  await page.getByLabel('API key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
}

/** A link of the main navigation. */
function nav(page, name) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

function shot(page, name) {
  return page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function api(method, p, body) {
  const r = await k.request(method, p, { body });
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${r.text}`);
  return r.json;
}

/** Wait until the delivery log holds one matching pred; returns it. */
function waitDelivery(query, pred, what) {
  return waitFor(async () => {
    const r = await k.request('GET', '/v1/deliveries', { query });
    return r.json.deliveries.find(pred) || null;
  }, 20_000, what, 100);
}

describe('web UI', () => {
  it('serves the page with a strict CSP, hashed long-cached assets, and the brand', T, async () => {
    const { context, page } = await newPage();
    const res = await page.goto(k.baseUrl + '/');
    const csp = res.headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers()['cache-control'], 'no-cache');
    const html = await res.text();
    assert.doesNotMatch(html, /<script>|<style|style=/, 'no inline script or style');
    const src = html.match(/src="(\/assets\/[0-9a-f]{16}\/app\.js)"/);
    assert.ok(src, 'app.js under a content-hashed path');
    const asset = await k.request('GET', src[1], { key: null });
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control'), /max-age=31536000, immutable/);
    assert.match(asset.headers.get('content-type'), /^text\/javascript/);
    const stale = await k.request('GET', '/assets/0000000000000000/app.js', { key: null });
    assert.equal(stale.status, 404);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await page.title(), 'Acme Webhooks');
    assert.equal(await page.locator('#brand-title').textContent(), 'Acme Webhooks');
    await shot(page, 'signin-desktop');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  it('signs in with the keyboard; a wrong key is refused; sign-out ends the session', T, async () => {
    const { context, page } = await newPage();
    await page.goto(k.baseUrl + '/');
    await page.getByLabel('API key').waitFor();
    await page.keyboard.type('wrong-key');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'API key not valid' }).waitFor();
    await page.getByLabel('API key').focus();
    await page.keyboard.type(KEY);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const [cookie] = await context.cookies();
    assert.equal(cookie.name, 'kabar_session');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the cookie');
    assert.equal(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)), '{}{}');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const r = await k.request('GET', '/v1/webhooks', { key: null, headers: { cookie: `kabar_session=${cookie.value}` } });
    assert.equal(r.status, 401, 'the old cookie no longer works');
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.deepEqual(page.problems.filter((p) => !/401/.test(p)), []);
    await context.close();
  });

  it('creates a webhook and shows its secret once; publishes an event, shows the delivery and its attempt; XSS stays inert', T, async () => {
    const { context, page } = await newPage();
    await signIn(page);
    rcv.always('/ok', { status: 200, headers: { 'content-type': 'text/html' }, body: XSS_REPLY });

    await nav(page, 'Webhooks').click();
    await page.getByLabel('Endpoint URL').fill(rcv.url('/ok'));
    await page.getByLabel('Name').fill('orders');
    await page.getByRole('checkbox', { name: 'batch.succeeded' }).check();
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const secret = await page.locator('#new-secret').textContent();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await page.getByRole('button', { name: 'Copy' }).waitFor();
    await shot(page, 'webhook-created-desktop');
    await page.getByRole('link', { name: 'orders' }).first().click();
    await page.getByRole('heading', { name: 'orders', level: 1 }).waitFor();
    assert.ok(!(await page.content()).includes(secret.slice(6)), 'the secret is not shown again');
    await page.goto(k.baseUrl + '/#/webhooks');
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    assert.ok(!(await page.content()).includes(secret.slice(6)), 'nor on the list');

    await nav(page, 'Publish').click();
    await page.getByLabel('Event type').selectOption('batch.succeeded');
    await page.getByLabel('Data (JSON object)').fill(JSON.stringify(XSS_DATA));
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.getByRole('status').filter({ hasText: '1 deliveries' }).waitFor();
    await waitDelivery({ state: 'succeeded' }, () => true, 'the delivery succeeds');

    await nav(page, 'Deliveries').click();
    await page.getByRole('heading', { name: 'Deliveries', level: 1 }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'batch.succeeded' });
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: /^Attempt 1/ }).waitFor();
    const payload = await page.locator('#payload').textContent();
    assert.ok(payload.includes('<img src=x onerror=') && payload.includes('<script>window.__xss = 1</script>'),
      'the payload is shown as text');
    assert.ok(payload.includes('\n  '), 'pretty-printed');
    const excerpt = await page.locator('pre.excerpt').textContent();
    assert.equal(excerpt, XSS_REPLY);
    assert.match(await page.locator('.attempt').textContent(), /webhook-id: msg_/);
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
    assert.equal(await page.locator('main img').count(), 0, 'no injected element');
    await shot(page, 'delivery-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'delivery-phone');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  it('a failing endpoint: retry it, and recover everything failed since a time', T, async () => {
    const { context, page } = await newPage();
    await signIn(page);
    rcv.always('/flaky', { status: 500, body: 'down for maintenance' });
    const wh = await api('POST', '/v1/webhooks', { name: 'flaky', uri: rcv.url('/flaky'), subscribed_events: ['batch.failed'] });
    await api('POST', '/v1/events', { type: 'batch.failed', data: { id: 'b1', error_code: 'X', error_message: 'y' } });
    const failed = await waitDelivery({ webhook: wh.id, state: 'failed' }, () => true, 'a failed delivery');

    await page.goto(`${k.baseUrl}/#/deliveries?webhook=${wh.id}&state=failed&status_class=5xx`);
    await page.getByRole('link', { name: failed.id.slice(-8) }).click();
    await page.locator('pre.excerpt').filter({ hasText: 'down for maintenance' }).waitFor();
    rcv.always('/flaky', { status: 200 });
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.getByRole('status').filter({ hasText: 'Retry queued.' }).waitFor();
    await waitDelivery({ webhook: wh.id, state: 'succeeded' }, (d) => d.id === failed.id, 'the retry succeeds');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByRole('heading', { name: /^Attempt 2/ }).waitFor();

    // Two more failures, then recover both since a minute ago.
    rcv.always('/flaky', { status: 503 });
    const since = new Date(Date.now() - 60_000);
    await api('POST', '/v1/events', { type: 'batch.failed', data: { id: 'b2', error_code: 'X', error_message: 'y' } });
    await api('POST', '/v1/events', { type: 'batch.failed', data: { id: 'b3', error_code: 'X', error_message: 'y' } });
    await waitFor(async () => (await k.request('GET', '/v1/deliveries', { query: { webhook: wh.id, state: 'failed' } }))
      .json.deliveries.length === 2, 20_000, 'two failed deliveries');
    rcv.always('/flaky', { status: 200 });
    await page.goto(`${k.baseUrl}/#/webhooks/${wh.id}`);
    const pad = (n) => String(n).padStart(2, '0');
    const local = `${since.getFullYear()}-${pad(since.getMonth() + 1)}-${pad(since.getDate())}T${pad(since.getHours())}:${pad(since.getMinutes())}`;
    await page.getByLabel('Failed since').fill(local);
    await page.getByRole('button', { name: 'Recover' }).click();
    await page.getByRole('status').filter({ hasText: '2 deliveries queued again.' }).waitFor();
    await waitFor(async () => (await k.request('GET', '/v1/deliveries', { query: { webhook: wh.id, state: 'succeeded' } }))
      .json.deliveries.length === 3, 20_000, 'all three succeeded');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  it('rotates a webhook secret (shown once) and a signing key; charts the overview', T, async () => {
    const { context, page } = await newPage();
    await signIn(page);
    const wh = await api('POST', '/v1/webhooks', { name: 'rotating', uri: rcv.url('/ok'), subscribed_events: ['batch.succeeded'] });
    await page.goto(`${k.baseUrl}/#/webhooks/${wh.id}`);
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const secret = await page.locator('#new-secret').textContent();
    assert.match(secret, /^whsec_/);
    assert.notEqual(secret, wh.new_signing_secret);
    const after = await api('GET', `/v1/webhooks/${wh.id}`);
    assert.equal(after.signing_secrets.length, 2);

    await nav(page, 'Signing keys').click();
    const kids = async () => page.locator('code.kid').allTextContents();
    await page.getByRole('heading', { name: 'Signing keys', level: 1 }).waitFor();
    const before = await kids();
    await page.getByRole('button', { name: 'Rotate signing key' }).click();
    await page.getByRole('status').filter({ hasText: /New key .* published/ }).waitFor();
    await waitFor(async () => (await kids()).length === before.length + 1, 10_000, 'one more published key');

    await nav(page, 'Overview').click();
    await page.getByRole('img', { name: /Deliveries per second/ }).waitFor();
    await page.getByRole('img', { name: 'Attempt latency' }).waitFor();
    await page.getByRole('meter').first().waitFor();
    assert.match(await page.locator('#queue-depth').textContent(), /^\d+$/);
    await shot(page, 'overview-desktop');
    await nav(page, 'Webhooks').click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await shot(page, 'webhooks-desktop');
    await page.setViewportSize(PHONE);
    await nav(page, 'Overview').click();
    await page.getByRole('img', { name: 'Attempt latency' }).waitFor();
    await shot(page, 'overview-phone');
    assert.deepEqual(page.problems, []);
    await context.close();
  });

  it('a portal link shows only its tenant, once, and the API holds it there too', T, async () => {
    const acme = await api('POST', '/v1/webhooks', { name: 'acme-orders', uri: rcv.url('/ok'), subscribed_events: ['batch.succeeded'], tenant: 'acme' });
    const globex = await api('POST', '/v1/webhooks', { name: 'globex-orders', uri: rcv.url('/ok'), subscribed_events: ['batch.succeeded'], tenant: 'globex' });
    const link = await api('POST', '/v1/portalSessions', { tenant: 'acme', ttl: '900s' });

    const { context, page } = await newPage(PHONE);
    await page.goto(link.url);
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
    const text = await page.locator('main').textContent();
    assert.ok(text.includes('acme-orders'));
    assert.ok(!text.includes('globex-orders'), 'another tenant is not listed');
    assert.ok(!text.includes('rotating') && !text.includes('flaky'), 'the project\'s webhooks are not listed');
    assert.deepEqual(await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents(),
      ['Webhooks', 'Deliveries']);
    await shot(page, 'portal-phone');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth
      && [...document.querySelectorAll('.table-wrap')].every((e) => e.scrollWidth <= e.clientWidth)),
      'nothing scrolls sideways at 390 px');

    // The same session by direct calls from the page (cookie + CSRF token).
    const calls = await page.evaluate(async ([mine, theirs]) => {
      const csrf = (await (await fetch('/ui/session')).json()).csrf_token;
      const go = async (method, p, body) => (await fetch(p, { method, headers: { 'content-type': 'application/json', 'x-kabar-csrf': csrf }, body: body && JSON.stringify(body) })).status;
      return {
        mine: await go('GET', `/v1/webhooks/${mine}`),
        theirs: await go('GET', `/v1/webhooks/${theirs}`),
        patchTheirs: await go('PATCH', `/v1/webhooks/${theirs}`, { name: 'pwned' }),
        rotateTheirs: await go('POST', `/v1/webhooks/${theirs}:rotateSigningSecret`, {}),
        publish: await go('POST', '/v1/events', { type: 'batch.succeeded', data: {} }),
        keys: await go('POST', '/v1/signingKeys:rotate', {}),
      };
    }, [acme.id, globex.id]);
    assert.deepEqual(calls, { mine: 200, theirs: 404, patchTheirs: 404, rotateTheirs: 404, publish: 403, keys: 403 });
    assert.equal((await api('GET', `/v1/webhooks/${globex.id}`)).name, 'globex-orders');
    await context.close();

    // The link is spent: a second visit gets a clear page.
    const second = await newPage(DESKTOP);
    await second.page.goto(link.url);
    await second.page.getByRole('heading', { name: 'Link no longer valid' }).waitFor();
    assert.match(await second.page.locator('main').textContent(), /expired or was already used/);
    await second.context.close();
  });

  // Last: it ends every session of this server.
  it('an expired portal link, portal session and operator session each end on a clear page', T, async () => {
    const spare = await api('POST', '/v1/portalSessions', { tenant: 'acme', ttl: '900s' });
    const live = await api('POST', '/v1/portalSessions', { tenant: 'acme', ttl: '900s' });
    const portal = await newPage(PHONE);
    await portal.page.goto(live.url);
    await portal.page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    const operator = await newPage(DESKTOP);
    await signIn(operator.page);
    // Settle the operator page before the sessions end: the overview redraws
    // on a timer, so move to a page that asks the server nothing until the
    // next click, and wait for it (it renders after its one request).
    await operator.page.getByText(/^Updated /).waitFor();
    await nav(operator.page, 'Webhooks').click();
    await operator.page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();

    // Every link and session reaches its end: each ends when it began.
    k.sql('UPDATE ui_sessions SET expire_time = create_time');

    const link = await newPage(DESKTOP);
    await link.page.goto(spare.url);
    await link.page.getByRole('heading', { name: 'Link no longer valid', level: 1 }).waitFor();
    assert.match(await link.page.getByRole('alert').textContent(), /portal link has expired or was already used/);
    assert.equal(await link.page.getByRole('navigation', { name: 'Main' }).getByRole('link').count(), 0);

    await nav(portal.page, 'Deliveries').click();
    await portal.page.getByRole('heading', { name: 'Session ended', level: 1 }).waitFor();
    assert.match(await portal.page.getByRole('alert').textContent(), /portal session has expired/);
    assert.equal(await portal.page.getByRole('navigation', { name: 'Main' }).getByRole('link').count(), 0);

    await nav(operator.page, 'Deliveries').click();
    await operator.page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    assert.match(await operator.page.getByRole('alert').textContent(), /session has ended; sign in again/);
    await shot(link.page, 'portal-link-expired');

    for (const p of [link, portal, operator]) {
      assert.deepEqual(p.page.problems.filter((m) => !/401/.test(m)), [], 'no page errors');
      await p.context.close();
    }
  });
});
