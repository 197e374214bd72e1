// SPDX-License-Identifier: Apache-2.0
// Integration tests of kabard's HTTP API against docs/api.md, with fetch().

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Kabard, databaseDump, rawRequest, startKabard } from './lib/kabard.mjs';
import {
  CATALOG, MISSING_ID, SECRET_RE, TIME_RE,
  assertError, assertNoSecrets, assertWebhook, newBody, sleep,
} from './lib/common.mjs';

const KEY = 'it-key-0123456789abcdefABCDEF';
const PREFIXES = ['/v1', '/v1beta'];
const HOUR = 3600 * 1000;

/** Create a webhook and return the answer (asserting 200). */
async function create(k, over = {}, opts = {}) {
  const r = await k.request('POST', `${opts.prefix || '/v1'}/webhooks`, { body: newBody(over), ...opts });
  assert.equal(r.status, 200, `create: ${r.status} ${r.text}`);
  assertWebhook(r.json, { created: true });
  return r.json;
}

async function get(k, id, opts = {}) {
  const r = await k.request('GET', `/v1/webhooks/${id}`, opts);
  assert.equal(r.status, 200, `get ${id}: ${r.status} ${r.text}`);
  assertWebhook(r.json);
  return r.json;
}

/** Run fn; assert the project's webhooks (all fields) did not change. */
async function assertUnchanged(k, fn) {
  const beforeList = await k.listAll();
  await fn();
  const afterList = await k.listAll();
  assert.deepEqual(afterList, beforeList, 'an error changed nothing');
}

/** truncated_secret is a shortened form of the secret: "whsec_...Xy9Q" (prefix ... suffix). */
function assertTruncatedOf(truncated, full) {
  const parts = truncated.split('...');
  assert.equal(parts.length, 2, `truncated_secret ${truncated} has the form prefix...suffix`);
  assert.ok(full.startsWith(parts[0]) && full.endsWith(parts[1]),
    `truncated_secret ${truncated} is a shortened form of the signing secret`);
}

function allowSet(r) {
  const allow = r.headers.get('allow');
  assert.ok(allow, 'Allow header present');
  return new Set(allow.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean));
}

function near(isoTime, expectedMs, toleranceMs, what) {
  const t = Date.parse(isoTime);
  assert.ok(Number.isFinite(t), `${what}: ${isoTime} parses`);
  assert.ok(Math.abs(t - expectedMs) <= toleranceMs,
    `${what}: ${isoTime} not within ${toleranceMs} ms of ${new Date(expectedMs).toISOString()}`);
}

describe('kabard HTTP API', () => {
  /** @type {Kabard} */
  let k;
  before(async () => { k = await startKabard({ apiKey: KEY }); });
  after(async () => { if (k) { try { await k.stop(); } finally { await k.cleanup(); } } });

  it('GET /healthz answers 200 without a key', async () => {
    const r = await k.request('GET', '/healthz', { key: null });
    assert.equal(r.status, 200);
  });

  for (const prefix of PREFIXES) {
    it(`every route works under ${prefix}/`, async () => {
      const p = prefix;
      // create
      const c = await k.request('POST', `${p}/webhooks`, {
        body: { name: 'orders', uri: 'https://example.com/hooks/gemini', subscribed_events: ['batch.failed', 'batch.succeeded'] },
      });
      assert.equal(c.status, 200, c.text);
      assert.ok(c.headers.get('content-type').startsWith('application/json'));
      assertWebhook(c.json, { created: true });
      const w = c.json;
      assert.equal(w.name, 'orders');
      assert.equal(w.uri, 'https://example.com/hooks/gemini');
      assert.deepEqual(w.subscribed_events, ['batch.succeeded', 'batch.failed']);
      assert.equal(w.state, 'enabled');
      assert.equal(w.signing_secrets.length, 1);
      near(w.create_time, Date.now(), 60_000, 'create_time');

      // get
      const g = await k.request('GET', `${p}/webhooks/${w.id}`);
      assert.equal(g.status, 200, g.text);
      assertWebhook(g.json);
      const { new_signing_secret: secret, ...rest } = w;
      assert.deepEqual(g.json, rest, 'get returns what create returned, minus the secret');
      assertNoSecrets(g.text, [secret], 'get');

      // list
      const l = await k.request('GET', `${p}/webhooks`, { query: { page_size: '1000' } });
      assert.equal(l.status, 200, l.text);
      const found = l.json.webhooks.find((x) => x.id === w.id);
      assert.deepEqual(found, rest);
      assertNoSecrets(l.text, [secret], 'list');

      // update
      const u = await k.request('PATCH', `${p}/webhooks/${w.id}`, { query: { update_mask: 'name' }, body: { name: 'renamed' } });
      assert.equal(u.status, 200, u.text);
      assertWebhook(u.json);
      assert.equal(u.json.name, 'renamed');

      // rotateSigningSecret (custom method) and rotate_secret (REST form)
      const r1 = await k.request('POST', `${p}/webhooks/${w.id}:rotateSigningSecret`, { body: {} });
      assert.equal(r1.status, 200, r1.text);
      assert.deepEqual(Object.keys(r1.json), ['secret']);
      assert.match(r1.json.secret, SECRET_RE);
      const r2 = await k.request('POST', `${p}/webhooks/${w.id}/rotate_secret`, { body: {} });
      assert.equal(r2.status, 200, r2.text);
      assert.deepEqual(Object.keys(r2.json), ['secret']);
      assert.match(r2.json.secret, SECRET_RE);
      assert.equal(new Set([secret, r1.json.secret, r2.json.secret]).size, 3, 'every rotation makes a new secret');

      // ping
      const pg = await k.request('POST', `${p}/webhooks/${w.id}:ping`, { body: {} });
      assert.equal(pg.status, 200, pg.text);
      assert.deepEqual(pg.json, {});

      // delete
      const d = await k.request('DELETE', `${p}/webhooks/${w.id}`);
      assert.equal(d.status, 200, d.text);
      assert.deepEqual(d.json, {});
      assertError(await k.request('GET', `${p}/webhooks/${w.id}`), 404, 'NOT_FOUND');
    });
  }

  it('a webhook made under /v1 is the same one under /v1beta', async () => {
    const w = await create(k);
    const a = await k.request('GET', `/v1/webhooks/${w.id}`);
    const b = await k.request('GET', `/v1beta/webhooks/${w.id}`);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.deepEqual(b.json, a.json);
  });

  describe('create', () => {
    it('returns the resource with new_signing_secret (whsec_ + base64 of 32 bytes)', async () => {
      const w = await create(k, { name: 'x', subscribed_events: ['video.generated'] });
      assert.match(w.new_signing_secret, SECRET_RE);
      assert.equal(Buffer.from(w.new_signing_secret.slice(6), 'base64').length, 32);
      assert.equal(w.name, 'x');
      assert.deepEqual(w.subscribed_events, ['video.generated']);
      assert.equal(w.signing_secrets.length, 1);
      assertNoSecrets(JSON.stringify(w.signing_secrets), [w.new_signing_secret], 'signing_secrets');
      assertTruncatedOf(w.signing_secrets[0].truncated_secret, w.new_signing_secret);
    });

    it('makes a different secret for every webhook', async () => {
      const a = await create(k);
      const b = await create(k);
      assert.notEqual(a.new_signing_secret, b.new_signing_secret);
      assert.notEqual(a.id, b.id);
    });

    it('get and list never return the full secret, only truncated_secret', async () => {
      const w = await create(k);
      const g = await k.request('GET', `/v1/webhooks/${w.id}`);
      assert.equal(g.json.new_signing_secret, undefined);
      assert.deepEqual(Object.keys(g.json.signing_secrets[0]), ['truncated_secret']);
      assertNoSecrets(g.text, [w.new_signing_secret], 'get');
      const l = await k.request('GET', '/v1/webhooks', { query: { page_size: '1000' } });
      assertNoSecrets(l.text, [w.new_signing_secret], 'list');
    });

    it('accepts every catalog event; duplicates collapse; output in catalog order', async () => {
      const all = await create(k, { subscribed_events: [...CATALOG].reverse() });
      assert.deepEqual(all.subscribed_events, CATALOG);
      const dup = await create(k, { subscribed_events: ['video.generated', 'batch.succeeded', 'video.generated', 'batch.succeeded'] });
      assert.deepEqual(dup.subscribed_events, ['batch.succeeded', 'video.generated']);
    });

    it('name is optional ("" when unset)', async () => {
      const r = await k.request('POST', '/v1/webhooks', {
        body: { uri: 'https://example.com/noname', subscribed_events: ['batch.failed'] },
      });
      assert.equal(r.status, 200, r.text);
      assertWebhook(r.json, { created: true });
      assert.equal(r.json.name, '');
    });

    it('accepts camelCase subscribedEvents', async () => {
      const r = await k.request('POST', '/v1/webhooks', {
        body: { name: 'camel', uri: 'https://example.com/camel', subscribedEvents: ['batch.expired'] },
      });
      assert.equal(r.status, 200, r.text);
      assertWebhook(r.json, { created: true });
      assert.deepEqual(r.json.subscribed_events, ['batch.expired']);
    });

    it('accepts state disabled / ENABLED on create', async () => {
      const d = await create(k, { state: 'disabled' });
      assert.equal(d.state, 'disabled');
      const e = await create(k, { state: 'ENABLED' });
      assert.equal(e.state, 'enabled');
      const D = await create(k, { state: 'DISABLED' });
      assert.equal(D.state, 'disabled');
    });

    it('ignores output-only fields on input', async () => {
      const r = await k.request('POST', '/v1/webhooks', {
        body: {
          ...newBody(),
          id: 'wh_zzzzzzzzzzzzzzzzzzzzzzzzzz',
          create_time: '2000-01-01T00:00:00.000000Z',
          update_time: '2000-01-01T00:00:00.000000Z',
          signing_secrets: [{ truncated_secret: 'whsec_...AAAA' }],
          new_signing_secret: 'whsec_' + Buffer.alloc(32).toString('base64'),
        },
      });
      assert.equal(r.status, 200, r.text);
      assertWebhook(r.json, { created: true });
      assert.notEqual(r.json.id, 'wh_zzzzzzzzzzzzzzzzzzzzzzzzzz');
      assert.ok(!r.json.create_time.startsWith('2000-'));
      assert.notEqual(r.json.new_signing_secret, 'whsec_' + Buffer.alloc(32).toString('base64'));
    });

    it('accepts a 256-byte name and a 2048-byte uri', async () => {
      const n = await create(k, { name: 'n'.repeat(256) });
      assert.equal(n.name, 'n'.repeat(256));
      const u8 = await create(k, { name: 'é'.repeat(128) }); // 256 bytes of UTF-8
      assert.equal(u8.name, 'é'.repeat(128));
      const base = 'https://example.com/';
      const uri = base + 'a'.repeat(2048 - base.length);
      const u = await create(k, { uri });
      assert.equal(u.uri, uri);
    });

    it('accepts an http:// uri when run with --allow-private-targets', async () => {
      const w = await create(k, { uri: 'http://127.0.0.1:9/hook' });
      assert.equal(w.uri, 'http://127.0.0.1:9/hook');
    });

    it('accepts a body of exactly 1 MiB', async () => {
      const json = JSON.stringify(newBody({ name: 'exactly-1MiB' }));
      const body = json.slice(0, -1) + ' '.repeat(1024 * 1024 - json.length) + '}';
      assert.equal(Buffer.byteLength(body), 1024 * 1024);
      const r = await rawRequest(k.baseUrl, 'POST', '/v1/webhooks', {
        headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body,
      });
      assert.equal(r.status, 200, r.text.slice(0, 500));
      assert.equal(r.json.name, 'exactly-1MiB');
    });

    it('handles 16 concurrent creates: all 200, distinct ids, all listed', async () => {
      const rs = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        k.request('POST', '/v1/webhooks', { body: newBody({ name: `conc-${i}` }) })));
      for (const r of rs) assert.equal(r.status, 200, r.text);
      const ids = rs.map((r) => r.json.id);
      assert.equal(new Set(ids).size, 16);
      assert.equal(new Set(rs.map((r) => r.json.new_signing_secret)).size, 16);
      const listed = new Set((await k.listAll()).map((w) => w.id));
      for (const id of ids) assert.ok(listed.has(id));
    });

    it('gives ids that sort by creation time, listed in creation order', async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) { ids.push((await create(k)).id); await sleep(3); }
      assert.deepEqual([...ids].sort(), ids, 'ids sort by creation time');
      const listed = (await k.listAll()).map((w) => w.id).filter((id) => ids.includes(id));
      assert.deepEqual(listed, ids, 'list is in creation order');
    });
  });

  describe('create: every bad input is 400 INVALID_ARGUMENT and changes nothing', () => {
    const bad = [
      ['malformed JSON', '{"uri": "https://example.com/x", "subscribed_events": ['],
      ['truncated JSON', '{"uri"'],
      ['trailing garbage', '{"uri": "https://example.com/x", "subscribed_events": ["batch.failed"]} x'],
      ['an empty body', ''],
      ['a JSON array', '[]'],
      ['a JSON string', '"hello"'],
      ['a JSON number', '42'],
      ['JSON null', 'null'],
      ['duplicate keys', '{"uri": "https://example.com/a", "uri": "https://example.com/b", "subscribed_events": ["batch.failed"]}'],
      ['an unknown field', { ...newBody(), colour: 'red' }],
      ['an unknown event type', newBody({ subscribed_events: ['batch.exploded'] })],
      ['one unknown event among good ones', newBody({ subscribed_events: ['batch.failed', 'batch.Succeeded'] })],
      ['empty subscribed_events', newBody({ subscribed_events: [] })],
      ['missing subscribed_events', { name: 'x', uri: 'https://example.com/x' }],
      ['subscribed_events as a string', newBody({ subscribed_events: 'batch.failed' })],
      ['a non-string event', newBody({ subscribed_events: [42] })],
      ['missing uri', { name: 'x', subscribed_events: ['batch.failed'] }],
      ['a non-string uri', newBody({ uri: 42 })],
      ['a non-string name', newBody({ name: 7 })],
      ['a non-URL uri', newBody({ uri: 'not a url' })],
      ['a relative uri', newBody({ uri: '/hooks/x' })],
      ['a uri without scheme', newBody({ uri: 'example.com/hook' })],
      ['an empty uri', newBody({ uri: '' })],
      ['an ftp uri', newBody({ uri: 'ftp://example.com/hook' })],
      ['a javascript: uri', newBody({ uri: 'javascript:alert(1)' })],
      ['a uri without host', newBody({ uri: 'https:///path' })],
      ['a uri that is only a scheme', newBody({ uri: 'https://' })],
      ['a uri with a space in the host', newBody({ uri: 'https://exa mple.com/' })],
      ['credentials in the uri', newBody({ uri: 'https://user:pass@example.com/hook' })],
      ['a user name in the uri', newBody({ uri: 'https://user@example.com/hook' })],
      ['credentials in an http uri', newBody({ uri: 'http://user:pass@127.0.0.1:9/hook' })],
      ['a uri over 2048 bytes', newBody({ uri: 'https://example.com/' + 'a'.repeat(2049 - 20) })],
      ['a name over 256 bytes', newBody({ name: 'n'.repeat(257) })],
      ['a name over 256 bytes of UTF-8', newBody({ name: 'é'.repeat(129) })],
      ['an unknown state', newBody({ state: 'paused' })],
      ['state disabled_due_to_failed_deliveries', newBody({ state: 'disabled_due_to_failed_deliveries' })],
      ['a non-string state', newBody({ state: true })],
      ['an object as name', newBody({ name: { first: 'a' } })],
      ['the same field in snake_case and camelCase',
        { ...newBody(), subscribedEvents: ['batch.failed'] }],
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"name": "bad'), Buffer.from([0xff, 0xfe]),
        Buffer.from('", "uri": "https://example.com/u", "subscribed_events": ["batch.failed"]}')])],
    ];
    for (const [what, body] of bad) {
      it(`rejects ${what}`, async () => {
        await assertUnchanged(k, async () => {
          const r = await k.request('POST', '/v1/webhooks', { body });
          assertError(r, 400, 'INVALID_ARGUMENT');
        });
      });
    }

    it('rejects a body over 1 MiB with 413 INVALID_ARGUMENT (Content-Length)', async () => {
      await assertUnchanged(k, async () => {
        const body = JSON.stringify(newBody({ name: 'x'.repeat(1024 * 1024) }));
        assert.ok(Buffer.byteLength(body) > 1024 * 1024);
        const r = await rawRequest(k.baseUrl, 'POST', '/v1/webhooks', {
          headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body,
        });
        assertError(r, 413, 'INVALID_ARGUMENT');
      });
    });

    it('rejects a body of 1 MiB + 1 byte with 413', async () => {
      await assertUnchanged(k, async () => {
        const json = JSON.stringify(newBody());
        const body = json.slice(0, -1) + ' '.repeat(1024 * 1024 + 1 - json.length) + '}';
        assert.equal(Buffer.byteLength(body), 1024 * 1024 + 1);
        const r = await rawRequest(k.baseUrl, 'POST', '/v1/webhooks', {
          headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body,
        });
        assertError(r, 413, 'INVALID_ARGUMENT');
      });
    });

    it('rejects a chunked body over 1 MiB with 413', async () => {
      await assertUnchanged(k, async () => {
        const body = JSON.stringify(newBody({ name: 'y'.repeat(2 * 1024 * 1024) }));
        const r = await rawRequest(k.baseUrl, 'POST', '/v1/webhooks', {
          headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body, chunked: true,
        });
        assertError(r, 413, 'INVALID_ARGUMENT');
      });
    });

    it('rejects an oversized PATCH body with 413', async () => {
      const w = await create(k);
      await assertUnchanged(k, async () => {
        const body = JSON.stringify({ name: 'z'.repeat(1024 * 1024 + 10) });
        const r = await rawRequest(k.baseUrl, 'PATCH', `/v1/webhooks/${w.id}`, {
          headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY }, body,
        });
        assertError(r, 413, 'INVALID_ARGUMENT');
      });
    });
  });

  describe('an http:// uri without --allow-private-targets', () => {
    let strict;
    before(async () => { strict = await startKabard({ apiKey: KEY, allowPrivate: false }); });
    after(async () => { if (strict) { try { await strict.stop(); } finally { await strict.cleanup(); } } });

    it('is refused with 400 on create and changes nothing', async () => {
      await assertUnchanged(strict, async () => {
        assertError(await strict.request('POST', '/v1/webhooks', { body: newBody({ uri: 'http://example.com/hook' }) }),
          400, 'INVALID_ARGUMENT');
      });
    });

    it('is refused with 400 on update', async () => {
      const w = await create(strict);
      await assertUnchanged(strict, async () => {
        assertError(await strict.request('PATCH', `/v1/webhooks/${w.id}`, { body: { uri: 'http://example.com/hook' } }),
          400, 'INVALID_ARGUMENT');
      });
    });

    it('while https:// is accepted', async () => {
      const w = await create(strict, { uri: 'https://example.com/ok' });
      assert.equal(w.uri, 'https://example.com/ok');
    });

    it('credentials are refused here too', async () => {
      assertError(await strict.request('POST', '/v1/webhooks', { body: newBody({ uri: 'https://a:b@example.com/' }) }),
        400, 'INVALID_ARGUMENT');
    });
  });

  describe('list', () => {
    let pk; // a server of its own so the counts are exact
    before(async () => { pk = await startKabard({ apiKey: KEY }); });
    after(async () => { if (pk) { try { await pk.stop(); } finally { await pk.cleanup(); } } });

    it('is empty on a fresh server, without next_page_token', async () => {
      const r = await pk.request('GET', '/v1/webhooks');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.webhooks ?? [], []);
      assert.equal(r.json.next_page_token, undefined);
    });

    let ids7;
    it('pages 7 webhooks 3 at a time: 3, 3, 1, no token on the last page', async () => {
      ids7 = [];
      for (let i = 0; i < 7; i++) ids7.push((await create(pk, { name: `p${i}` })).id);
      const seen = [];
      const sizes = [];
      let token;
      for (let page = 0; page < 3; page++) {
        const query = { page_size: '3' };
        if (token) query.page_token = token;
        const r = await pk.request('GET', '/v1/webhooks', { query });
        assert.equal(r.status, 200, r.text);
        const keys = Object.keys(r.json).sort();
        assert.deepEqual(keys, page < 2 ? ['next_page_token', 'webhooks'] : ['webhooks'], `page ${page}: ${r.text}`);
        r.json.webhooks.forEach((w) => assertWebhook(w));
        sizes.push(r.json.webhooks.length);
        seen.push(...r.json.webhooks.map((w) => w.id));
        token = r.json.next_page_token;
        if (page < 2) {
          assert.equal(typeof token, 'string');
          assert.ok(token.length > 0);
        }
      }
      assert.deepEqual(sizes, [3, 3, 1]);
      assert.deepEqual(seen, ids7, 'every webhook once, in creation order');
    });

    it('the same query under /v1beta pages the same way', async () => {
      const a = await pk.request('GET', '/v1beta/webhooks', { query: { page_size: '3' } });
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(a.json.webhooks.map((w) => w.id), ids7.slice(0, 3));
      const b = await pk.request('GET', '/v1beta/webhooks', { query: { page_size: '3', page_token: a.json.next_page_token } });
      assert.equal(b.status, 200, b.text);
      assert.deepEqual(b.json.webhooks.map((w) => w.id), ids7.slice(3, 6));
    });

    it('accepts camelCase pageSize and pageToken', async () => {
      const a = await pk.request('GET', '/v1/webhooks', { query: { pageSize: '2' } });
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(a.json.webhooks.map((w) => w.id), ids7.slice(0, 2));
      const b = await pk.request('GET', '/v1/webhooks', { query: { pageSize: '2', pageToken: a.json.next_page_token } });
      assert.equal(b.status, 200, b.text);
      assert.deepEqual(b.json.webhooks.map((w) => w.id), ids7.slice(2, 4));
    });

    it('no next_page_token when the last page is exactly full', async () => {
      const a = await pk.request('GET', '/v1/webhooks', { query: { page_size: '7' } });
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(a.json.webhooks.map((w) => w.id), ids7);
      assert.equal(a.json.next_page_token, undefined, 'page_size == count: no token');
      const b = await pk.request('GET', '/v1/webhooks', { query: { page_size: '6' } });
      assert.equal(b.json.webhooks.length, 6);
      assert.ok(b.json.next_page_token);
      const c = await pk.request('GET', '/v1/webhooks', { query: { page_size: '6', page_token: b.json.next_page_token } });
      assert.equal(c.status, 200, c.text);
      assert.deepEqual(c.json.webhooks.map((w) => w.id), ids7.slice(6));
      assert.equal(c.json.next_page_token, undefined);
    });

    it('page_size 1 walks one at a time', async () => {
      const seen = [];
      let token;
      for (let i = 0; i < 7; i++) {
        const query = { page_size: '1' };
        if (token) query.page_token = token;
        const r = await pk.request('GET', '/v1/webhooks', { query });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.webhooks.length, 1);
        seen.push(r.json.webhooks[0].id);
        token = r.json.next_page_token;
        if (i < 6) assert.ok(token, `token after page ${i}`);
        else assert.equal(token, undefined);
      }
      assert.deepEqual(seen, ids7);
    });

    it('defaults to 50 per page over 55 webhooks (no page_size, and page_size=0)', async () => {
      for (let i = 7; i < 55; i++) await create(pk, { name: `p${i}` });
      for (const query of [{}, { page_size: '0' }]) {
        const a = await pk.request('GET', '/v1/webhooks', { query });
        assert.equal(a.status, 200, a.text);
        assert.equal(a.json.webhooks.length, 50, `first page with ${JSON.stringify(query)}`);
        assert.ok(a.json.next_page_token);
        const b = await pk.request('GET', '/v1/webhooks', { query: { ...query, page_token: a.json.next_page_token } });
        assert.equal(b.status, 200, b.text);
        assert.equal(b.json.webhooks.length, 5);
        assert.equal(b.json.next_page_token, undefined);
        const all = [...a.json.webhooks, ...b.json.webhooks].map((w) => w.id);
        assert.equal(new Set(all).size, 55);
        assert.deepEqual(all.slice(0, 7), ids7);
      }
    });

    it('page_size 1000 is allowed and returns everything', async () => {
      const r = await pk.request('GET', '/v1/webhooks', { query: { page_size: '1000' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.webhooks.length, 55);
      assert.equal(r.json.next_page_token, undefined);
    });

    for (const size of ['1001', '-1', 'abc', '2.5', '99999999999999999999']) {
      it(`page_size=${size} is 400 INVALID_ARGUMENT`, async () => {
        assertError(await pk.request('GET', '/v1/webhooks', { query: { page_size: size } }), 400, 'INVALID_ARGUMENT');
      });
    }

    it('a page token kabard did not make is 400', async () => {
      for (const t of ['garbage', 'AAAAAAAAAAAAAAAA', '%%%']) {
        assertError(await pk.request('GET', '/v1/webhooks', { query: { page_token: t } }), 400, 'INVALID_ARGUMENT');
      }
    });

    it('a deletion between pages neither skips nor repeats the others', async () => {
      const a = await pk.request('GET', '/v1/webhooks', { query: { page_size: '3' } });
      assert.deepEqual(a.json.webhooks.map((w) => w.id), ids7.slice(0, 3));
      // delete one already seen and the first of the next page
      assert.equal((await pk.request('DELETE', `/v1/webhooks/${ids7[1]}`)).status, 200);
      assert.equal((await pk.request('DELETE', `/v1/webhooks/${ids7[3]}`)).status, 200);
      const b = await pk.request('GET', '/v1/webhooks', { query: { page_size: '3', page_token: a.json.next_page_token } });
      assert.equal(b.status, 200, b.text);
      assert.deepEqual(b.json.webhooks.map((w) => w.id), [ids7[4], ids7[5], ids7[6]]);
    });

    it('a tampered page token is 400', async () => {
      const a = await pk.request('GET', '/v1/webhooks', { query: { page_size: '3' } });
      const t = a.json.next_page_token;
      const i = Math.floor(t.length / 2);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
      const c = alphabet[(alphabet.indexOf(t[i]) + 7) % alphabet.length] ?? 'A';
      const tampered = t.slice(0, i) + c + t.slice(i + 1);
      assert.notEqual(tampered, t);
      assertError(await pk.request('GET', '/v1/webhooks', { query: { page_size: '3', page_token: tampered } }),
        400, 'INVALID_ARGUMENT');
    });
  });

  describe('update', () => {
    it('without update_mask changes exactly the fields in the body', async () => {
      const w = await create(k, { name: 'before', uri: 'https://example.com/before', subscribed_events: ['batch.failed'] });
      await sleep(2);
      const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, { body: { name: 'after' } });
      assert.equal(r.status, 200, r.text);
      assertWebhook(r.json);
      assert.equal(r.json.name, 'after');
      assert.equal(r.json.uri, 'https://example.com/before');
      assert.deepEqual(r.json.subscribed_events, ['batch.failed']);
      assert.equal(r.json.state, 'enabled');
      assert.equal(r.json.id, w.id);
      assert.equal(r.json.create_time, w.create_time);
      assert.ok(r.json.update_time > w.update_time, 'update_time moves');
      assert.deepEqual(r.json.signing_secrets, w.signing_secrets);
      assert.deepEqual(await get(k, w.id), r.json, 'get shows the update');

      const r2 = await k.request('PATCH', `/v1/webhooks/${w.id}`, {
        body: { uri: 'https://example.com/after', subscribed_events: ['video.generated', 'batch.succeeded'] },
      });
      assert.equal(r2.status, 200, r2.text);
      assert.equal(r2.json.name, 'after');
      assert.equal(r2.json.uri, 'https://example.com/after');
      assert.deepEqual(r2.json.subscribed_events, ['batch.succeeded', 'video.generated']);
    });

    it('with update_mask changes only the named fields', async () => {
      const w = await create(k, { name: 'm0', uri: 'https://example.com/m0', subscribed_events: ['batch.failed'] });
      const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, {
        query: { update_mask: 'name' },
        body: { name: 'm1', uri: 'https://example.com/m1', subscribed_events: ['video.generated'] },
      });
      assert.equal(r.status, 200, r.text);
      assertWebhook(r.json);
      assert.equal(r.json.name, 'm1');
      assert.equal(r.json.uri, 'https://example.com/m0', 'uri not in the mask: unchanged');
      assert.deepEqual(r.json.subscribed_events, ['batch.failed'], 'events not in the mask: unchanged');

      const r2 = await k.request('PATCH', `/v1/webhooks/${w.id}`, {
        query: { update_mask: 'uri,subscribed_events' },
        body: { name: 'm2', uri: 'https://example.com/m2', subscribed_events: ['video.generated'] },
      });
      assert.equal(r2.status, 200, r2.text);
      assert.equal(r2.json.name, 'm1');
      assert.equal(r2.json.uri, 'https://example.com/m2');
      assert.deepEqual(r2.json.subscribed_events, ['video.generated']);
      assert.deepEqual(await get(k, w.id), r2.json);
    });

    it('accepts camelCase updateMask and subscribedEvents', async () => {
      const w = await create(k, { subscribed_events: ['batch.failed'] });
      const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, {
        query: { updateMask: 'subscribedEvents' },
        body: { subscribedEvents: ['interaction.completed'], name: 'ignored' },
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.subscribed_events, ['interaction.completed']);
      assert.equal(r.json.name, w.name);

      const r2 = await k.request('PATCH', `/v1/webhooks/${w.id}`, {
        query: { update_mask: 'subscribed_events' },
        body: { subscribedEvents: ['interaction.failed'] },
      });
      assert.equal(r2.status, 200, r2.text);
      assert.deepEqual(r2.json.subscribed_events, ['interaction.failed']);

      const r3 = await k.request('PATCH', `/v1/webhooks/${w.id}`, { body: { subscribedEvents: ['batch.cancelled'] } });
      assert.equal(r3.status, 200, r3.text);
      assert.deepEqual(r3.json.subscribed_events, ['batch.cancelled']);
    });

    it('a mask naming name with no name in the body clears it', async () => {
      const w = await create(k, { name: 'to-clear' });
      const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, { query: { update_mask: 'name' }, body: {} });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.name, '');
      assert.equal(r.json.uri, w.uri);
    });

    for (const field of ['uri', 'subscribed_events']) {
      it(`a mask naming ${field} with no ${field} in the body is 400 and changes nothing`, async () => {
        const w = await create(k);
        await assertUnchanged(k, async () => {
          assertError(await k.request('PATCH', `/v1/webhooks/${w.id}`, { query: { update_mask: field }, body: { name: 'x' } }),
            400, 'INVALID_ARGUMENT');
        });
      });
    }

    it('an error that quotes client text cut inside a character still has its JSON body', async () => {
      // The message quotes at most 100 bytes of the unknown field: the cut
      // falls inside the two-byte "é".
      const w = await create(k);
      const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, { query: { update_mask: `${'a'.repeat(99)}é` }, body: {} });
      assertError(r, 400, 'INVALID_ARGUMENT');
      assert.match(r.json.error.message, /^update_mask names an unknown or read-only field "a{99}\?"$/);
    });

    it('sets state disabled and enabled (either case)', async () => {
      const w = await create(k);
      for (const [input, want] of [['disabled', 'disabled'], ['enabled', 'enabled'], ['DISABLED', 'disabled'], ['ENABLED', 'enabled']]) {
        const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, { body: { state: input } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.state, want);
        assert.equal((await get(k, w.id)).state, want);
      }
      const m = await k.request('PATCH', `/v1/webhooks/${w.id}`, { query: { update_mask: 'state' }, body: { state: 'disabled', name: 'no' } });
      assert.equal(m.status, 200, m.text);
      assert.equal(m.json.state, 'disabled');
      assert.equal(m.json.name, w.name);
    });

    it('ignores output-only fields in the body', async () => {
      const w = await create(k);
      const r = await k.request('PATCH', `/v1/webhooks/${w.id}`, {
        body: { name: 'oo', id: 'wh_zzzzzzzzzzzzzzzzzzzzzzzzzz', create_time: '2000-01-01T00:00:00.000000Z' },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, w.id);
      assert.equal(r.json.create_time, w.create_time);
      assert.equal(r.json.name, 'oo');
    });

    const badUpdates = [
      ['state disabled_due_to_failed_deliveries', {}, { state: 'disabled_due_to_failed_deliveries' }],
      ['state DISABLED_DUE_TO_FAILED_DELIVERIES', {}, { state: 'DISABLED_DUE_TO_FAILED_DELIVERIES' }],
      ['state disabled_due_to_failed_deliveries under a mask', { update_mask: 'state' }, { state: 'disabled_due_to_failed_deliveries' }],
      ['an unknown state', {}, { state: 'paused' }],
      ['an unknown mask field', { update_mask: 'colour' }, { name: 'x' }],
      ['a mask with one unknown field', { update_mask: 'name,colour' }, { name: 'x' }],
      ['an unknown body field', {}, { name: 'x', colour: 'red' }],
      ['an unknown event', {}, { subscribed_events: ['batch.exploded'] }],
      ['empty subscribed_events', {}, { subscribed_events: [] }],
      ['a non-URL uri', {}, { uri: 'not a url' }],
      ['an empty uri', {}, { uri: '' }],
      ['credentials in the uri', {}, { uri: 'https://user:pass@example.com/x' }],
      ['a name over 256 bytes', {}, { name: 'n'.repeat(257) }],
      ['a good name with a bad uri (no partial update)', {}, { name: 'half', uri: 'not a url' }],
      ['a good name with a refused state (no partial update)', {}, { name: 'half', state: 'disabled_due_to_failed_deliveries' }],
      ['good fields under a mask with an unknown one', { update_mask: 'name,uri,colour' }, { name: 'half', uri: 'https://example.com/half' }],
      ['malformed JSON', {}, '{"name": '],
      ['a JSON array', {}, '["name"]'],
      ['duplicate keys', {}, '{"name": "a", "name": "b"}'],
    ];
    for (const [what, query, body] of badUpdates) {
      it(`refuses ${what} with 400 and changes nothing`, async () => {
        const w = await create(k);
        await assertUnchanged(k, async () => {
          assertError(await k.request('PATCH', `/v1/webhooks/${w.id}`, { query, body }), 400, 'INVALID_ARGUMENT');
        });
        assert.equal((await get(k, w.id)).state, 'enabled');
      });
    }
  });

  describe('rotateSigningSecret', () => {
    const DAY = 24 * HOUR;

    it('by default keeps the old secret for 24h: two signing_secrets, the older with expire_time ≈ now+24h', async () => {
      const w = await create(k);
      const r = await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body: {} });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(Object.keys(r.json), ['secret']);
      assert.match(r.json.secret, SECRET_RE);
      assert.notEqual(r.json.secret, w.new_signing_secret);
      const g = await get(k, w.id);
      assert.equal(g.signing_secrets.length, 2);
      assert.equal(g.signing_secrets[0].expire_time, undefined, 'the new secret signs and does not expire');
      assertTruncatedOf(g.signing_secrets[0].truncated_secret, r.json.secret);
      assertTruncatedOf(g.signing_secrets[1].truncated_secret, w.new_signing_secret);
      assert.deepEqual(g.signing_secrets[1].truncated_secret, w.signing_secrets[0].truncated_secret, 'the older one is second');
      near(g.signing_secrets[1].expire_time, Date.now() + DAY, 5 * 60_000, 'expire_time');
      assert.match(g.signing_secrets[1].expire_time, TIME_RE);
      assertNoSecrets(JSON.stringify(g), [w.new_signing_secret, r.json.secret], 'get after rotation');
    });

    for (const body of [
      { revocation_behavior: 'revoke_previous_secrets_after_h24' },
      { revocation_behavior: 'REVOKE_PREVIOUS_SECRETS_AFTER_H24' },
      { revocationBehavior: 'revoke_previous_secrets_after_h24' },
    ]) {
      it(`with ${JSON.stringify(body)} keeps two secrets`, async () => {
        const w = await create(k);
        const r = await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body });
        assert.equal(r.status, 200, r.text);
        assert.match(r.json.secret, SECRET_RE);
        const g = await get(k, w.id);
        assert.equal(g.signing_secrets.length, 2);
        near(g.signing_secrets[1].expire_time, Date.now() + DAY, 5 * 60_000, 'expire_time');
      });
    }

    for (const body of [
      { revocation_behavior: 'revoke_previous_secrets_immediately' },
      { revocation_behavior: 'REVOKE_PREVIOUS_SECRETS_IMMEDIATELY' },
      { revocationBehavior: 'REVOKE_PREVIOUS_SECRETS_IMMEDIATELY' },
    ]) {
      it(`with ${JSON.stringify(body)} leaves one secret`, async () => {
        const w = await create(k);
        // first a default rotation, so there is something to revoke
        assert.equal((await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body: {} })).status, 200);
        assert.equal((await get(k, w.id)).signing_secrets.length, 2);
        const r = await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body });
        assert.equal(r.status, 200, r.text);
        assert.match(r.json.secret, SECRET_RE);
        const g = await get(k, w.id);
        assert.equal(g.signing_secrets.length, 1);
        assert.deepEqual(Object.keys(g.signing_secrets[0]), ['truncated_secret']);
        assertTruncatedOf(g.signing_secrets[0].truncated_secret, r.json.secret);
      });
    }

    for (const prefix of PREFIXES) {
      it(`the REST form ${prefix}/webhooks/{id}/rotate_secret takes the same body and answer`, async () => {
        const w = await create(k);
        const r = await k.request('POST', `${prefix}/webhooks/${w.id}/rotate_secret`, {
          body: { revocation_behavior: 'revoke_previous_secrets_immediately' },
        });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(Object.keys(r.json), ['secret']);
        assert.match(r.json.secret, SECRET_RE);
        assert.equal((await get(k, w.id)).signing_secrets.length, 1);
        const r2 = await k.request('POST', `${prefix}/webhooks/${w.id}/rotate_secret`, { body: {} });
        assert.equal(r2.status, 200, r2.text);
        assert.equal((await get(k, w.id)).signing_secrets.length, 2);
      });
    }

    it('expire_time is fixed at rotation, not recomputed on every read', async () => {
      const w = await create(k);
      assert.equal((await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body: {} })).status, 200);
      const a = await get(k, w.id);
      await sleep(1100);
      const b = await get(k, w.id);
      assert.deepEqual(b.signing_secrets, a.signing_secrets);
      assert.equal(b.update_time, a.update_time);
    });

    it('keeps at most 5 live secrets after 7 rotations', async () => {
      const w = await create(k);
      const secrets = [w.new_signing_secret];
      let prev = w.signing_secrets;
      for (let i = 0; i < 7; i++) {
        const r = await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body: {} });
        assert.equal(r.status, 200, `rotation ${i + 1}: ${r.text}`);
        assert.match(r.json.secret, SECRET_RE);
        secrets.push(r.json.secret);
        const g = await get(k, w.id);
        assert.equal(g.signing_secrets.length, Math.min(i + 2, 5), `after rotation ${i + 1}`);
        // newest first: the previous list moves down one place; a sixth drops the oldest
        assert.deepEqual(g.signing_secrets.slice(1).map((s) => s.truncated_secret),
          prev.slice(0, 4).map((s) => s.truncated_secret), `after rotation ${i + 1}: the oldest goes`);
        prev = g.signing_secrets;
      }
      assert.equal(new Set(secrets).size, 8);
      const g = await k.request('GET', `/v1/webhooks/${w.id}`);
      assertWebhook(g.json);
      assert.equal(g.json.signing_secrets[0].expire_time, undefined);
      for (const s of g.json.signing_secrets.slice(1)) near(s.expire_time, Date.now() + DAY, 5 * 60_000, 'expire_time');
      assertNoSecrets(g.text, secrets, 'get after 7 rotations');
      const l = await k.request('GET', '/v1/webhooks', { query: { page_size: '1000' } });
      assertNoSecrets(l.text, secrets, 'list after 7 rotations');
    });

    for (const [what, body] of [
      ['a bad revocation_behavior', { revocation_behavior: 'whenever' }],
      ['an empty revocation_behavior', { revocation_behavior: '' }],
      ['a non-string revocation_behavior', { revocation_behavior: 1 }],
      ['an unknown field', { revoke: true }],
      ['malformed JSON', '{"revocation_behavior": '],
      ['a JSON array', '[]'],
      ['duplicate keys', '{"revocation_behavior": "revoke_previous_secrets_immediately", "revocation_behavior": "revoke_previous_secrets_after_h24"}'],
    ]) {
      it(`refuses ${what} with 400 and changes nothing`, async () => {
        const w = await create(k);
        await assertUnchanged(k, async () => {
          assertError(await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body }), 400, 'INVALID_ARGUMENT');
          assertError(await k.request('POST', `/v1/webhooks/${w.id}/rotate_secret`, { body }), 400, 'INVALID_ARGUMENT');
        });
      });
    }
  });

  describe('ping', () => {
    for (const prefix of PREFIXES) {
      it(`answers {} under ${prefix} with {} or an empty body`, async () => {
        const w = await create(k);
        const a = await k.request('POST', `${prefix}/webhooks/${w.id}:ping`, { body: {} });
        assert.equal(a.status, 200, a.text);
        assert.deepEqual(a.json, {});
        const b = await k.request('POST', `${prefix}/webhooks/${w.id}:ping`);
        assert.equal(b.status, 200, b.text);
        assert.deepEqual(b.json, {});
        const c = await k.request('POST', `${prefix}/webhooks/${w.id}:ping`, { body: '', headers: { 'content-type': 'application/json' } });
        assert.equal(c.status, 200, c.text);
        assert.deepEqual(c.json, {});
      });
    }

    it('does not change the webhook', async () => {
      const w = await create(k);
      await assertUnchanged(k, async () => {
        assert.equal((await k.request('POST', `/v1/webhooks/${w.id}:ping`, { body: {} })).status, 200);
      });
    });
  });

  describe('delete', () => {
    it('answers {}; then get, update, rotate, ping and delete are 404 and list omits it', async () => {
      const w = await create(k);
      const d = await k.request('DELETE', `/v1/webhooks/${w.id}`);
      assert.equal(d.status, 200, d.text);
      assert.deepEqual(d.json, {});
      assertError(await k.request('GET', `/v1/webhooks/${w.id}`), 404, 'NOT_FOUND');
      assertError(await k.request('GET', `/v1beta/webhooks/${w.id}`), 404, 'NOT_FOUND');
      assertError(await k.request('PATCH', `/v1/webhooks/${w.id}`, { body: { name: 'x' } }), 404, 'NOT_FOUND');
      assertError(await k.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body: {} }), 404, 'NOT_FOUND');
      assertError(await k.request('POST', `/v1/webhooks/${w.id}/rotate_secret`, { body: {} }), 404, 'NOT_FOUND');
      assertError(await k.request('POST', `/v1/webhooks/${w.id}:ping`, { body: {} }), 404, 'NOT_FOUND');
      assertError(await k.request('DELETE', `/v1/webhooks/${w.id}`), 404, 'NOT_FOUND');
      assert.ok(!(await k.listAll()).some((x) => x.id === w.id));
    });

    it('deletes only the one webhook', async () => {
      const a = await create(k);
      const b = await create(k);
      const bBefore = await get(k, b.id);
      assert.equal((await k.request('DELETE', `/v1beta/webhooks/${a.id}`)).status, 200);
      assert.deepEqual(await get(k, b.id), bBefore);
    });
  });

  describe('unknown ids, routes and methods', () => {
    let w;
    before(async () => { w = await create(k); });

    it('an unknown id is 404 NOT_FOUND on every id route, naming the id', async () => {
      await assertUnchanged(k, async () => {
        for (const prefix of PREFIXES) {
          const reqs = [
            ['GET', `${prefix}/webhooks/${MISSING_ID}`],
            ['PATCH', `${prefix}/webhooks/${MISSING_ID}`, { name: 'x' }],
            ['DELETE', `${prefix}/webhooks/${MISSING_ID}`],
            ['POST', `${prefix}/webhooks/${MISSING_ID}:rotateSigningSecret`, {}],
            ['POST', `${prefix}/webhooks/${MISSING_ID}/rotate_secret`, {}],
            ['POST', `${prefix}/webhooks/${MISSING_ID}:ping`, {}],
          ];
          for (const [method, p, body] of reqs) {
            const r = await k.request(method, p, { body });
            assertError(r, 404, 'NOT_FOUND');
            assert.ok(r.json.error.message.includes(MISSING_ID), `${method} ${p}: message names the id: ${r.json.error.message}`);
          }
        }
      });
    });

    it('a malformed id is 404 NOT_FOUND', async () => {
      for (const id of ['nope', 'wh_', 'wh_short', 'WH_00000000000000000000000000']) {
        assertError(await k.request('GET', `/v1/webhooks/${id}`), 404, 'NOT_FOUND');
      }
    });

    it('an unknown route is 404 NOT_FOUND', async () => {
      for (const p of ['/v1/nothing', '/v1beta/nothing', '/v2/webhooks', '/webhooks', '/v1',
        `/v1/webhooks/${w.id}:explode`, `/v1/webhooks/${w.id}/more/path`, `/v1/webhooks/${w.id}/rotate`]) {
        assertError(await k.request('GET', p), 404, 'NOT_FOUND');
        assertError(await k.request('POST', p, { body: {} }), 404, 'NOT_FOUND');
      }
    });

    const wrong = [
      ['PUT', () => '/v1/webhooks', ['GET', 'POST']],
      ['DELETE', () => '/v1/webhooks', ['GET', 'POST']],
      ['PATCH', () => '/v1beta/webhooks', ['GET', 'POST']],
      ['PUT', () => `/v1/webhooks/${w.id}`, ['GET', 'PATCH', 'DELETE']],
      ['POST', () => `/v1/webhooks/${w.id}`, ['GET', 'PATCH', 'DELETE']],
      ['GET', () => `/v1/webhooks/${w.id}:ping`, ['POST']],
      ['DELETE', () => `/v1beta/webhooks/${w.id}:ping`, ['POST']],
      ['GET', () => `/v1/webhooks/${w.id}:rotateSigningSecret`, ['POST']],
      ['PATCH', () => `/v1/webhooks/${w.id}:rotateSigningSecret`, ['POST']],
      ['GET', () => `/v1beta/webhooks/${w.id}/rotate_secret`, ['POST']],
    ];
    for (const [method, p, allowed] of wrong) {
      it(`${method} on a route that takes ${allowed.join('/')} is 405 UNIMPLEMENTED with Allow`, async () => {
        await assertUnchanged(k, async () => {
          const body = ['POST', 'PUT', 'PATCH'].includes(method) ? { name: 'x' } : undefined;
          const r = await k.request(method, p(), { body });
          assertError(r, 405, 'UNIMPLEMENTED');
          const allow = allowSet(r);
          for (const m of allowed) assert.ok(allow.has(m), `Allow ${r.headers.get('allow')} lists ${m}`);
          assert.ok(!allow.has(method), `Allow ${r.headers.get('allow')} does not list ${method}`);
        });
      });
    }
  });

  describe('authentication', () => {
    let w;
    before(async () => { w = await create(k); });
    const routes = (id) => [
      ['GET', '/webhooks'],
      ['POST', '/webhooks', newBody()],
      ['GET', `/webhooks/${id}`],
      ['PATCH', `/webhooks/${id}`, { name: 'hacked' }],
      ['DELETE', `/webhooks/${id}`],
      ['POST', `/webhooks/${id}:rotateSigningSecret`, {}],
      ['POST', `/webhooks/${id}/rotate_secret`, {}],
      ['POST', `/webhooks/${id}:ping`, {}],
    ];

    it('a missing key is 401 UNAUTHENTICATED on every route and changes nothing', async () => {
      await assertUnchanged(k, async () => {
        for (const prefix of PREFIXES) {
          for (const [method, p, body] of routes(w.id)) {
            assertError(await k.request(method, prefix + p, { key: null, body }), 401, 'UNAUTHENTICATED');
          }
        }
      });
    });

    it('a wrong key is 401 UNAUTHENTICATED on every route, and is not echoed', async () => {
      const bad = 'wrong-key-zzzzzzzzzzzzzzzz';
      await assertUnchanged(k, async () => {
        for (const prefix of PREFIXES) {
          for (const [method, p, body] of routes(w.id)) {
            const r = await k.request(method, prefix + p, { key: bad, body });
            assertError(r, 401, 'UNAUTHENTICATED');
            assert.ok(!r.text.includes(bad));
          }
          assertError(await k.request('GET', `${prefix}/webhooks`, { key: null, query: { key: bad } }), 401, 'UNAUTHENTICATED');
          assertError(await k.request('GET', `${prefix}/webhooks`, { key: '' }), 401, 'UNAUTHENTICATED');
          assertError(await k.request('GET', `${prefix}/webhooks`, { key: KEY + 'x' }), 401, 'UNAUTHENTICATED');
          assertError(await k.request('GET', `${prefix}/webhooks`, { key: KEY.slice(0, -1) }), 401, 'UNAUTHENTICATED');
        }
      });
    });

    it('?key= works in place of the header', async () => {
      for (const prefix of PREFIXES) {
        const g = await k.request('GET', `${prefix}/webhooks/${w.id}`, { key: null, query: { key: KEY } });
        assert.equal(g.status, 200, g.text);
        assert.equal(g.json.id, w.id);
        const l = await k.request('GET', `${prefix}/webhooks`, { key: null, query: { key: KEY, page_size: '2' } });
        assert.equal(l.status, 200, l.text);
        assert.equal(l.json.webhooks.length, 2);
        const c = await k.request('POST', `${prefix}/webhooks`, { key: null, query: { key: KEY }, body: newBody() });
        assert.equal(c.status, 200, c.text);
        assertWebhook(c.json, { created: true });
        const p = await k.request('POST', `${prefix}/webhooks/${w.id}:ping`, { key: null, query: { key: KEY }, body: {} });
        assert.equal(p.status, 200, p.text);
      }
    });
  });
});

describe('project isolation (KABAR_API_KEYS="alpha:ka,beta:kb")', () => {
  let k;
  let a; // alpha's webhook
  let b; // beta's webhook
  before(async () => {
    k = await startKabard({ apiKeys: 'alpha:ka-0123456789abcdef,beta:kb-0123456789abcdef' });
  });
  after(async () => { if (k) { try { await k.stop(); } finally { await k.cleanup(); } } });
  const KA = 'ka-0123456789abcdef';
  const KB = 'kb-0123456789abcdef';

  it('each project creates its own webhooks', async () => {
    a = await create(k, { name: 'alpha-hook' }, { key: KA });
    b = await create(k, { name: 'beta-hook' }, { key: KB });
  });

  it('list shows only the own project', async () => {
    assert.deepEqual((await k.listAll({ key: KA })).map((w) => w.id), [a.id]);
    assert.deepEqual((await k.listAll({ key: KB })).map((w) => w.id), [b.id]);
  });

  it("beta cannot get, update, delete, rotate or ping alpha's webhook: 404, like a missing id", async () => {
    const alphaBefore = await k.listAll({ key: KA });
    for (const prefix of PREFIXES) {
      const reqs = [
        ['GET', `/webhooks/ID`],
        ['PATCH', `/webhooks/ID`, { name: 'stolen' }],
        ['PATCH', `/webhooks/ID`, { state: 'disabled' }],
        ['DELETE', `/webhooks/ID`],
        ['POST', `/webhooks/ID:rotateSigningSecret`, { revocation_behavior: 'revoke_previous_secrets_immediately' }],
        ['POST', `/webhooks/ID/rotate_secret`, {}],
        ['POST', `/webhooks/ID:ping`, {}],
      ];
      for (const [method, p, body] of reqs) {
        const theirs = await k.request(method, prefix + p.replace('ID', a.id), { key: KB, body });
        assertError(theirs, 404, 'NOT_FOUND');
        const missing = await k.request(method, prefix + p.replace('ID', MISSING_ID), { key: KB, body });
        assertError(missing, 404, 'NOT_FOUND');
        assert.equal(theirs.json.error.message.replaceAll(a.id, 'ID'), missing.json.error.message.replaceAll(MISSING_ID, 'ID'),
          'another project\'s id answers exactly like a missing one');
      }
    }
    assert.deepEqual(await k.listAll({ key: KA }), alphaBefore, "alpha's webhook is untouched");
    assert.deepEqual((await k.listAll({ key: KB })).map((w) => w.id), [b.id]);
  });

  it('alpha cannot reach beta\'s webhook either, but its own works', async () => {
    assertError(await k.request('GET', `/v1/webhooks/${b.id}`, { key: KA }), 404, 'NOT_FOUND');
    assert.equal((await k.request('GET', `/v1/webhooks/${a.id}`, { key: KA })).status, 200);
    assert.equal((await k.request('GET', `/v1/webhooks/${b.id}`, { key: KB })).status, 200);
  });

  it('a page token of one project does not reveal the other', async () => {
    for (let i = 0; i < 3; i++) await create(k, {}, { key: KA });
    const p1 = await k.request('GET', '/v1/webhooks', { key: KA, query: { page_size: '1' } });
    assert.ok(p1.json.next_page_token);
    const r = await k.request('GET', '/v1/webhooks', { key: KB, query: { page_size: '10', page_token: p1.json.next_page_token } });
    if (r.status === 200) {
      for (const w of r.json.webhooks) assert.equal(w.id, b.id, 'beta sees only its own');
    } else {
      assertError(r, 400, 'INVALID_ARGUMENT');
    }
  });

  it('an unknown key is 401', async () => {
    assertError(await k.request('GET', '/v1/webhooks', { key: 'kc-0123456789abcdef' }), 401, 'UNAUTHENTICATED');
    assertError(await k.request('GET', '/v1/webhooks', { key: 'alpha' }), 401, 'UNAUTHENTICATED');
  });
});

describe('two keys of one project (KABAR_API_KEYS="alpha:k1,alpha:k2,beta:k3")', () => {
  let k;
  before(async () => { k = await startKabard({ apiKeys: 'alpha:k1-0123456789abcdef,alpha:k2-0123456789abcdef,beta:k3-0123456789abcdef' }); });
  after(async () => { if (k) { try { await k.stop(); } finally { await k.cleanup(); } } });

  it('both keys see and manage the same webhooks', async () => {
    const w = await create(k, {}, { key: 'k1-0123456789abcdef' });
    const g = await k.request('GET', `/v1/webhooks/${w.id}`, { key: 'k2-0123456789abcdef' });
    assert.equal(g.status, 200, g.text);
    assert.deepEqual((await k.listAll({ key: 'k2-0123456789abcdef' })).map((x) => x.id), [w.id]);
    assert.equal((await k.request('PATCH', `/v1/webhooks/${w.id}`, { key: 'k2-0123456789abcdef', body: { name: 'by-k2' } })).status, 200);
    assert.equal((await get(k, w.id, { key: 'k1-0123456789abcdef' })).name, 'by-k2');
    assertError(await k.request('GET', `/v1/webhooks/${w.id}`, { key: 'k3-0123456789abcdef' }), 404, 'NOT_FOUND');
    assert.deepEqual(await k.listAll({ key: 'k3-0123456789abcdef' }), []);
  });
});

describe('persistence and the generated api key', () => {
  let k1;
  let k2;
  after(async () => {
    if (k2) await k2.cleanup();
    if (k1) await k1.cleanup();
  });

  let key;
  let snapshot;
  let deleted;
  let secrets;
  it('first start without a key generates one, prints it and writes DIR/api-key (0600)', async () => {
    k1 = await startKabard({});
    const file = path.join(k1.dataDir, 'api-key');
    assert.ok(fs.existsSync(file), 'api-key file exists');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'api-key mode 0600');
    key = fs.readFileSync(file, 'utf8').trim();
    assert.ok(key.length >= 16, `generated key is long enough: ${key.length}`);
    assert.ok(!/\s/.test(key));
    assert.ok(k1.output.includes(key), 'the generated key is printed at first start');
    assert.equal(k1.apiKey, key);
  });

  it('the generated key works, and a wrong one does not', async () => {
    const r = await k1.request('GET', '/v1/webhooks', { key });
    assert.equal(r.status, 200, r.text);
    assertError(await k1.request('GET', '/v1/webhooks', { key: key + 'x' }), 401, 'UNAUTHENTICATED');
  });

  it('webhooks, secrets and the key survive a restart (SIGTERM exits 0)', async () => {
    const ws = [];
    for (let i = 0; i < 3; i++) ws.push(await create(k1, { name: `persist-${i}` }));
    const rot = await k1.request('POST', `/v1/webhooks/${ws[0].id}:rotateSigningSecret`, { body: {} });
    assert.equal(rot.status, 200);
    assert.equal((await k1.request('PATCH', `/v1/webhooks/${ws[1].id}`, { body: { state: 'disabled' } })).status, 200);
    assert.equal((await k1.request('DELETE', `/v1/webhooks/${ws[2].id}`)).status, 200);
    deleted = ws[2].id;
    secrets = [...ws.map((w) => w.new_signing_secret), rot.json.secret];
    snapshot = await k1.listAll();
    assert.equal(snapshot.length, 2);

    const exit = await k1.stop();
    assert.deepEqual(exit, { code: 0, signal: null });

    k2 = new Kabard({ dataDir: k1.dataDir });
    await k2.start();
    const file = path.join(k1.dataDir, 'api-key');
    assert.equal(fs.readFileSync(file, 'utf8').trim(), key, 'the key file is unchanged');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(k2.apiKey, key);
    const after2 = await k2.listAll({ key });
    assert.deepEqual(after2, snapshot, 'every webhook, as it was');
    assert.equal(after2[0].signing_secrets.length, 2);
    assert.equal(after2[1].state, 'disabled');
    assertError(await k2.request('GET', `/v1/webhooks/${deleted}`, { key }), 404, 'NOT_FOUND');
    // and the store still works after the restart
    const w = await create(k2, {}, { key });
    assert.equal((await k2.request('POST', `/v1/webhooks/${w.id}:rotateSigningSecret`, { body: {}, key })).status, 200);
    secrets.push(w.new_signing_secret);
    assert.deepEqual(await k2.stop(), { code: 0, signal: null });
  });

  it('secrets are not stored in the clear in the data directory', async () => {
    const files = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p); else if (e.isFile()) files.push(p);
      }
    };
    walk(k1.dataDir);
    const dump = databaseDump(k1);      // PostgreSQL: the database is elsewhere
    if (dump !== undefined) assertNoSecrets(dump, secrets, 'pg_dump');
    assert.ok(files.length > 1 || dump !== undefined, 'the data dir has a database');
    for (const f of files) {
      const content = fs.readFileSync(f).toString('latin1');
      assertNoSecrets(content, secrets, f);
    }
  });
});

describe('logging and shutdown', () => {
  const LOGKEY = 'log-key-DO-NOT-LOG-0123456789';
  let k;
  let secrets = [];
  let id;
  before(async () => { k = await startKabard({ apiKey: LOGKEY }); });
  after(async () => { if (k) await k.cleanup(); });

  it('serves a mix of requests', async () => {
    const w = await create(k);
    id = w.id;
    secrets.push(w.new_signing_secret);
    const r = await k.request('POST', `/v1/webhooks/${id}:rotateSigningSecret`, { body: {} });
    secrets.push(r.json.secret);
    const r2 = await k.request('POST', `/v1beta/webhooks/${id}/rotate_secret`, { body: {}, key: null, query: { key: LOGKEY } });
    assert.equal(r2.status, 200);
    secrets.push(r2.json.secret);
    assert.equal((await k.request('GET', '/v1/webhooks')).status, 200);
    assert.equal((await k.request('GET', '/v1/webhooks', { key: null, query: { key: LOGKEY } })).status, 200);
    assert.equal((await k.request('GET', `/v1/webhooks/${MISSING_ID}`)).status, 404);
    assert.equal((await k.request('POST', '/v1/webhooks', { body: '{bad' })).status, 400);
    assert.equal((await k.request('GET', '/v1/webhooks', { key: 'wrong-key-in-log-test' })).status, 401);
    assert.equal((await k.request('POST', `/v1/webhooks/${id}:ping`, { body: {} })).status, 200);
  });

  it('SIGTERM exits 0 within 10 s', async () => {
    const exit = await k.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  it('logs one logfmt line per request with method, path, status and latency_ms', async () => {
    const lines = k.requestLog();
    const has = (method, p, status) => lines.some((l) => l.method === method && l.path === p && l.status === String(status));
    assert.ok(has('POST', '/v1/webhooks', 200), 'create logged');
    assert.ok(has('GET', '/v1/webhooks', 200), 'list logged');
    assert.ok(has('GET', `/v1/webhooks/${MISSING_ID}`, 404), 'a 404 logged');
    assert.ok(has('POST', '/v1/webhooks', 400), 'a 400 logged');
    assert.ok(has('GET', '/v1/webhooks', 401), 'a 401 logged');
    assert.ok(has('POST', `/v1/webhooks/${id}:rotateSigningSecret`, 200), 'rotation logged');
    assert.ok(has('POST', `/v1/webhooks/${id}:ping`, 200), 'ping logged');
    for (const l of lines) {
      assert.match(l.latency_ms ?? '', /^\d+(\.\d+)?$/, `latency_ms in ${l._line}`);
      assert.match(l.status, /^\d{3}$/);
    }
    // the test above made exactly 9 API requests (healthz polling aside)
    assert.equal(lines.filter((l) => l.path && l.path.startsWith('/v1')).length, 9, `one line per request:\n${k.stderr}`);
  });

  it('never logs a secret or the api key (not even one given as ?key=)', () => {
    const out = k.output;
    assertNoSecrets(out, secrets, 'the log');
    assert.ok(!out.includes(LOGKEY), 'the log contains the api key');
    assert.ok(!out.includes('whsec_' + secrets[0].slice(6, 20)), 'no long prefix of a secret either');
  });
});
