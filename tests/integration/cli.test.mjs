// SPDX-License-Identifier: Apache-2.0
// The kabar CLI against a real kabard.
//
// Interface under test: global options --server URL, --api-key KEY (or env
// KABAR_SERVER, KABAR_API_KEY; else ./data/api-key or $KABAR_DATA_DIR/api-key),
// --json; commands `webhooks create|get|list|update|delete|rotate-secret|ping`.
// Non-2xx: stderr "kabar: <STATUS>: <message>", exit 1; usage error: exit 2;
// unreachable server: exit 1.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { KABAR, cleanEnv, freePort, runProgram, startKabard, tempDir } from './lib/kabard.mjs';
import { MISSING_ID, SECRET_RE, assertWebhook } from './lib/common.mjs';

const KEY = 'cli-key-0123456789abcdefghij';
const scratch = tempDir('kabar-cli-');
const emptyCwd = path.join(scratch, 'cwd');
fs.mkdirSync(emptyCwd);

/** Run kabar; resolves {code, signal, stdout, stderr}. */
function kabar(args, { env = {}, cwd = emptyCwd, timeoutMs } = {}) {
  return runProgram(KABAR, args, {
    cwd,
    env: cleanEnv({ HOME: scratch, XDG_CONFIG_HOME: path.join(scratch, 'xdg'), ...env }),
    timeoutMs,
  });
}

function ok(r, what) {
  assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

function parseJson(r, what) {
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(`${what}: stdout is not JSON: ${r.stdout}`);
  }
}

/** A list answer: {webhooks:[…], next_page_token?} (an array is accepted for --all). */
function listItems(j) {
  if (Array.isArray(j)) return j;
  assert.ok(j && typeof j === 'object', 'list output is an object or array');
  return j.webhooks ?? [];
}

/** The API error line of a failed command. */
function assertCliError(r, status, message) {
  assert.equal(r.code, 1, `exit code 1 expected, got ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  if (message !== undefined) {
    assert.ok(lines.includes(`kabar: ${status}: ${message}`), `stderr has "kabar: ${status}: ${message}": ${r.stderr}`);
  } else {
    assert.ok(lines.some((l) => l.startsWith(`kabar: ${status}: `) && l.length > `kabar: ${status}: `.length),
      `stderr has "kabar: ${status}: …": ${r.stderr}`);
  }
}

describe('kabar CLI', () => {
  let k;
  let g; // global options
  before(async () => {
    k = await startKabard({ apiKey: KEY });
    g = ['--server', k.baseUrl, '--api-key', KEY];
  });
  after(async () => {
    if (k) { try { await k.stop(); } finally { await k.cleanup(); } }
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  let w; // made by the create test, used by the next ones

  it('webhooks create --json prints the resource with the new secret', async () => {
    const r = ok(await kabar([...g, '--json', 'webhooks', 'create', '--uri', 'https://example.com/cli',
      '--events', 'batch.succeeded,batch.failed', '--name', 'cli-hook']), 'create');
    w = parseJson(r, 'create');
    assertWebhook(w, { created: true });
    assert.equal(w.name, 'cli-hook');
    assert.equal(w.uri, 'https://example.com/cli');
    assert.deepEqual(w.subscribed_events, ['batch.succeeded', 'batch.failed']);
    assert.match(w.new_signing_secret, SECRET_RE);
    const api = await k.request('GET', `/v1/webhooks/${w.id}`);
    assert.equal(api.status, 200);
    assert.equal(api.json.name, 'cli-hook');
  });

  it('webhooks create without --name', async () => {
    const r = ok(await kabar([...g, '--json', 'webhooks', 'create', '--uri', 'https://example.com/cli-noname',
      '--events', 'video.generated']), 'create');
    const j = parseJson(r, 'create');
    assertWebhook(j, { created: true });
    assert.equal(j.name, '');
    assert.deepEqual(j.subscribed_events, ['video.generated']);
  });

  it('human output of create shows the whsec_ secret and the id', async () => {
    const r = ok(await kabar([...g, 'webhooks', 'create', '--uri', 'https://example.com/cli-human',
      '--events', 'batch.expired', '--name', 'cli-human']), 'create');
    const m = r.stdout.match(/whsec_[A-Za-z0-9+/]{43}=/);
    assert.ok(m, `stdout shows the secret: ${r.stdout}`);
    const id = r.stdout.match(/wh_[0-9a-z]{26}/);
    assert.ok(id, `stdout shows the id: ${r.stdout}`);
    const api = await k.request('GET', `/v1/webhooks/${id[0]}`);
    assert.equal(api.status, 200);
    assert.equal(api.json.name, 'cli-human');
  });

  it('webhooks get --json matches the API', async () => {
    const r = ok(await kabar([...g, '--json', 'webhooks', 'get', w.id]), 'get');
    const j = parseJson(r, 'get');
    const api = await k.request('GET', `/v1/webhooks/${w.id}`);
    assert.deepEqual(j, api.json);
    assert.ok(!r.stdout.includes(w.new_signing_secret));
  });

  it('webhooks get (human) shows the id and uri, never the secret', async () => {
    const r = ok(await kabar([...g, 'webhooks', 'get', w.id]), 'get');
    assert.ok(r.stdout.includes(w.id));
    assert.ok(r.stdout.includes(w.uri));
    assert.ok(!r.stdout.includes(w.new_signing_secret));
  });

  it('webhooks update --name / --uri / --events / --disable / --enable', async () => {
    let j = parseJson(ok(await kabar([...g, '--json', 'webhooks', 'update', w.id, '--name', 'cli-renamed']), 'update'), 'update');
    assertWebhook(j);
    assert.equal(j.name, 'cli-renamed');
    assert.equal(j.uri, w.uri);
    assert.deepEqual(j.subscribed_events, w.subscribed_events);

    j = parseJson(ok(await kabar([...g, '--json', 'webhooks', 'update', w.id, '--uri', 'https://example.com/cli-moved']), 'update'), 'update');
    assert.equal(j.uri, 'https://example.com/cli-moved');
    assert.equal(j.name, 'cli-renamed');

    j = parseJson(ok(await kabar([...g, '--json', 'webhooks', 'update', w.id, '--events', 'video.generated,batch.cancelled']), 'update'), 'update');
    assert.deepEqual(j.subscribed_events, ['batch.cancelled', 'video.generated']);
    assert.equal(j.uri, 'https://example.com/cli-moved');

    j = parseJson(ok(await kabar([...g, '--json', 'webhooks', 'update', w.id, '--disable']), 'update'), 'update');
    assert.equal(j.state, 'disabled');
    assert.equal(j.name, 'cli-renamed');
    assert.equal((await k.request('GET', `/v1/webhooks/${w.id}`)).json.state, 'disabled');

    j = parseJson(ok(await kabar([...g, '--json', 'webhooks', 'update', w.id, '--enable']), 'update'), 'update');
    assert.equal(j.state, 'enabled');
    assert.deepEqual(j, (await k.request('GET', `/v1/webhooks/${w.id}`)).json);
  });

  it('webhooks rotate-secret keeps the old secret 24h; --revoke-now revokes it', async () => {
    const r = ok(await kabar([...g, '--json', 'webhooks', 'rotate-secret', w.id]), 'rotate-secret');
    const j = parseJson(r, 'rotate-secret');
    assert.deepEqual(Object.keys(j), ['secret']);
    assert.match(j.secret, SECRET_RE);
    assert.notEqual(j.secret, w.new_signing_secret);
    assert.equal((await k.request('GET', `/v1/webhooks/${w.id}`)).json.signing_secrets.length, 2);

    const r2 = ok(await kabar([...g, '--json', 'webhooks', 'rotate-secret', w.id, '--revoke-now']), 'rotate-secret --revoke-now');
    const j2 = parseJson(r2, 'rotate-secret');
    assert.match(j2.secret, SECRET_RE);
    assert.equal((await k.request('GET', `/v1/webhooks/${w.id}`)).json.signing_secrets.length, 1);

    const human = ok(await kabar([...g, 'webhooks', 'rotate-secret', w.id]), 'rotate-secret (human)');
    assert.match(human.stdout, /whsec_[A-Za-z0-9+/]{43}=/);
  });

  it('webhooks ping exits 0', async () => {
    const r = ok(await kabar([...g, 'webhooks', 'ping', w.id]), 'ping');
    assert.equal(r.stderr, '');
    ok(await kabar([...g, '--json', 'webhooks', 'ping', w.id]), 'ping --json');
  });

  it('webhooks delete exits 0; then get fails with NOT_FOUND', async () => {
    const c = await k.request('POST', '/v1/webhooks', { body: { uri: 'https://example.com/cli-del', subscribed_events: ['batch.failed'] } });
    assert.equal(c.status, 200);
    const id = c.json.id;
    ok(await kabar([...g, 'webhooks', 'delete', id]), 'delete');
    assert.equal((await k.request('GET', `/v1/webhooks/${id}`)).status, 404);
    const api = await k.request('GET', `/v1/webhooks/${id}`);
    const r = await kabar([...g, 'webhooks', 'get', id]);
    assertCliError(r, 'NOT_FOUND', api.json.error.message);
    assert.equal(r.stdout, '');
    assertCliError(await kabar([...g, 'webhooks', 'delete', id]), 'NOT_FOUND', api.json.error.message);
  });

  it('API errors: stderr "kabar: STATUS: message", exit 1', async () => {
    const api = await k.request('GET', `/v1/webhooks/${MISSING_ID}`);
    for (const args of [
      ['webhooks', 'get', MISSING_ID],
      ['webhooks', 'ping', MISSING_ID],
      ['webhooks', 'rotate-secret', MISSING_ID],
      ['webhooks', 'update', MISSING_ID, '--name', 'x'],
      ['webhooks', 'delete', MISSING_ID],
    ]) {
      const r = await kabar([...g, ...args]);
      assertCliError(r, 'NOT_FOUND', api.json.error.message);
      const rj = await kabar([...g, '--json', ...args]);
      assertCliError(rj, 'NOT_FOUND', api.json.error.message);
    }
    const before = await k.listAll();
    assertCliError(await kabar([...g, 'webhooks', 'create', '--uri', 'https://example.com/x', '--events', 'batch.exploded']),
      'INVALID_ARGUMENT');
    assertCliError(await kabar([...g, 'webhooks', 'create', '--uri', 'not a url', '--events', 'batch.failed']),
      'INVALID_ARGUMENT');
    assertCliError(await kabar([...g, 'webhooks', 'create', '--uri', 'https://u:p@example.com/x', '--events', 'batch.failed']),
      'INVALID_ARGUMENT');
    assert.deepEqual(await k.listAll(), before, 'failed creates changed nothing');
  });

  it('a wrong api key: "kabar: UNAUTHENTICATED: …", exit 1', async () => {
    const r = await kabar(['--server', k.baseUrl, '--api-key', 'wrong-key', 'webhooks', 'list']);
    assertCliError(r, 'UNAUTHENTICATED');
  });

  for (const args of [
    [],
    ['webhooks'],
    ['webhooks', 'frobnicate'],
    ['no-such-command'],
    ['--no-such-option', 'webhooks', 'list'],
    ['webhooks', 'get'],
    ['webhooks', 'delete'],
    ['webhooks', 'ping'],
    ['webhooks', 'rotate-secret'],
    ['webhooks', 'update'],
    ['webhooks', 'create', '--events', 'batch.failed'],
    ['webhooks', 'create', '--uri'],
    ['webhooks', 'list', '--page-size'],
    ['webhooks', 'list', '--no-such-option'],
  ]) {
    it(`usage error exits 2: kabar ${args.join(' ')}`, async () => {
      const before = await k.listAll();
      const r = await kabar([...g, ...args]);
      assert.equal(r.code, 2, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.ok(r.stderr.length > 0, 'usage errors say something on stderr');
      assert.deepEqual(await k.listAll(), before);
    });
  }

  it('an unreachable server exits 1 with a kabar: message', async () => {
    const port = await freePort();
    const r = await kabar(['--server', `http://127.0.0.1:${port}`, '--api-key', KEY, 'webhooks', 'list']);
    assert.equal(r.code, 1, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /^kabar: /m);
  });

  it('KABAR_SERVER and KABAR_API_KEY stand in for --server and --api-key', async () => {
    const r = ok(await kabar(['--json', 'webhooks', 'get', w.id], { env: { KABAR_SERVER: k.baseUrl, KABAR_API_KEY: KEY } }), 'env');
    assert.equal(parseJson(r, 'get').id, w.id);
  });

  it('--api-key wins over KABAR_API_KEY, --server over KABAR_SERVER', async () => {
    const port = await freePort();
    const r = ok(await kabar([...g, '--json', 'webhooks', 'get', w.id],
      { env: { KABAR_SERVER: `http://127.0.0.1:${port}`, KABAR_API_KEY: 'wrong-key' } }), 'flags over env');
    assert.equal(parseJson(r, 'get').id, w.id);
  });

  describe('list', () => {
    let lk; // its own server, for exact counts
    let ids;
    before(async () => {
      lk = await startKabard({ apiKey: KEY });
      ids = [];
      for (let i = 0; i < 5; i++) {
        const r = await lk.request('POST', '/v1/webhooks', {
          body: { name: `l${i}`, uri: `https://example.com/l${i}`, subscribed_events: ['batch.failed'] },
        });
        assert.equal(r.status, 200);
        ids.push(r.json.id);
      }
    });
    after(async () => { if (lk) { try { await lk.stop(); } finally { await lk.cleanup(); } } });
    const lg = () => ['--server', lk.baseUrl, '--api-key', KEY];

    it('list --json shows the first page (all 5 here)', async () => {
      const j = parseJson(ok(await kabar([...lg(), '--json', 'webhooks', 'list']), 'list'), 'list');
      const items = listItems(j);
      assert.deepEqual(items.map((x) => x.id), ids);
      items.forEach((x) => assertWebhook(x));
      if (!Array.isArray(j)) assert.equal(j.next_page_token, undefined);
    });

    it('list --page-size 2 --json shows 2 and a next_page_token', async () => {
      const j = parseJson(ok(await kabar([...lg(), '--json', 'webhooks', 'list', '--page-size', '2']), 'list'), 'list');
      assert.ok(!Array.isArray(j), 'a single page is the API object');
      assert.deepEqual(j.webhooks.map((x) => x.id), ids.slice(0, 2));
      assert.equal(typeof j.next_page_token, 'string');
    });

    it('list --all --page-size 2 --json follows every page', async () => {
      const j = parseJson(ok(await kabar([...lg(), '--json', 'webhooks', 'list', '--all', '--page-size', '2']), 'list --all'), 'list');
      assert.deepEqual(listItems(j).map((x) => x.id), ids);
      if (!Array.isArray(j)) assert.equal(j.next_page_token, undefined);
    });

    it('list (human) shows every id', async () => {
      const r = ok(await kabar([...lg(), 'webhooks', 'list']), 'list');
      for (const id of ids) assert.ok(r.stdout.includes(id), `${id} in ${r.stdout}`);
    });

    it('list --page-size 1001 fails: a usage error (2) or the API 400 (1)', async () => {
      // The interface does not say whether the CLI checks the range itself.
      const r = await kabar([...lg(), 'webhooks', 'list', '--page-size', '1001']);
      if (r.code === 2) assert.ok(r.stderr.length > 0);
      else assertCliError(r, 'INVALID_ARGUMENT');
      assert.equal(r.stdout, '');
    });
  });

  describe('api key from the data directory', () => {
    let gk; // a kabard that generated its key
    before(async () => { gk = await startKabard({}); });
    after(async () => { if (gk) { try { await gk.stop(); } finally { await gk.cleanup(); } } });

    it('the server generated DIR/api-key', () => {
      assert.ok(fs.existsSync(path.join(gk.dataDir, 'api-key')));
      assert.ok(gk.apiKey && gk.apiKey.length > 0);
    });

    it('KABAR_DATA_DIR/api-key is used when no key is given', async () => {
      const r = ok(await kabar(['--json', 'webhooks', 'list'], { env: { KABAR_SERVER: gk.baseUrl, KABAR_DATA_DIR: gk.dataDir } }),
        'list with KABAR_DATA_DIR');
      assert.deepEqual(listItems(parseJson(r, 'list')), []);
      const c = ok(await kabar(['--server', gk.baseUrl, '--json', 'webhooks', 'create', '--uri', 'https://example.com/dd',
        '--events', 'batch.failed'], { env: { KABAR_DATA_DIR: gk.dataDir } }), 'create with KABAR_DATA_DIR');
      const id = parseJson(c, 'create').id;
      assert.equal((await gk.request('GET', `/v1/webhooks/${id}`)).status, 200);
    });

    it('./data/api-key is used when no key is given', async () => {
      const cwd = path.join(scratch, 'with-data');
      fs.mkdirSync(path.join(cwd, 'data'), { recursive: true });
      fs.copyFileSync(path.join(gk.dataDir, 'api-key'), path.join(cwd, 'data', 'api-key'));
      fs.chmodSync(path.join(cwd, 'data', 'api-key'), 0o600);
      const r = ok(await kabar(['--server', gk.baseUrl, '--json', 'webhooks', 'list'], { cwd }), 'list with ./data/api-key');
      assert.equal(listItems(parseJson(r, 'list')).length, 1);
    });

    it('with no key anywhere the command fails', async () => {
      const r = await kabar(['--server', gk.baseUrl, 'webhooks', 'list']);
      assert.notEqual(r.code, 0, `stdout: ${r.stdout}`);
      assert.match(r.stderr, /^kabar: /m);
    });
  });
});
