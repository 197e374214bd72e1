// SPDX-License-Identifier: Apache-2.0
// The kabar CLI's job commands against a real kabard (simulated executor)
// over real HTTP.
//
// Interface under test (docs/operations.md, "From the command line"):
//   kabar interactions|batches list [--state S] [--page-size N] [--page-token T] [--all]
//   kabar operations list [--kind K] [...the same]
//   kabar interactions|batches|operations get ID | cancel ID
//   kabar interactions|batches|operations wait ID [--timeout D] [--interval D]
// wait exits 0 when the job succeeded, 1 when it ended otherwise (the state
// on stderr), 3 when it was still running at --timeout; 2 is a usage error.
//
// The simulator steers outcomes by model name: kabar-sim-fail fails,
// kabar-sim-requires-action stops an interaction at requires_action,
// kabar-sim-never never finishes (so a timeout or a cancel is certain, not
// a race). Other jobs finish KABAR_SIM_DELAY_MS after creation; a wait
// polls until then, whatever that takes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { KABAR, cleanEnv, runProgram, startKabard, tempDir } from './lib/kabard.mjs';
import { assertUsage, ok, parseJson, show } from './lib/cli.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'cli-jobs-key-0123456789abcdef';
const OTHER_KEY = 'cli-jobs-other-0123456789abcdef';
const scratch = tempDir('kabar-cli-jobs-');
const emptyCwd = path.join(scratch, 'cwd');
fs.mkdirSync(emptyCwd);

const INT_RE = /^int_[0-9a-z]{26}$/;
const BATCH_RE = /^batch_[0-9a-z]{26}$/;
const MISSING_INT = 'int_00000000000000000000000000';

/** Run kabar; resolves {code, signal, stdout, stderr}. */
function kabar(args, { timeoutMs = 20_000 } = {}) {
  return runProgram(KABAR, args, { cwd: emptyCwd, env: cleanEnv({ HOME: scratch }), timeoutMs });
}

function assertCliError(r, status, message) {
  assert.equal(r.code, 1, `exit 1 expected: ${show(r)}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.ok(lines.some((l) => l.startsWith(`kabar: ${status}: `) && l.includes(message)),
    `stderr has "kabar: ${status}: …${message}…": ${r.stderr}`);
}

/** The value of a "label:    value" line of a block. */
function field(text, label) {
  const m = text.match(new RegExp(`^${label}:\\s+(.*)$`, 'm'));
  return m ? m[1] : undefined;
}

/** The rows of a table: arrays of cells, header first. */
function table(text) {
  return text.split('\n\n')[0].split('\n').filter(Boolean).map((l) => l.trim().split(/\s{2,}/));
}

describe('kabar interactions, batches and operations', () => {
  let k;
  let rcv;
  let g;        // global options

  async function interaction(model, { background = true, input = 'hello' } = {}) {
    const r = await k.request('POST', '/v1/interactions', { body: { model, input, background } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, INT_RE);
    return r.json;
  }

  async function batch(model, displayName = 'nightly') {
    const requests = ['one', 'two'].map((text, i) => ({
      request: { contents: [{ parts: [{ text }] }] }, metadata: { key: `k${i}` },
    }));
    const r = await k.request('POST', `/v1/models/${model}:batchGenerateContent`, {
      body: { batch: { displayName, inputConfig: { requests: { requests } } } },
    });
    assert.equal(r.status, 200, r.text);
    const id = r.json.name.slice('batches/'.length);
    assert.match(id, BATCH_RE);
    return id;
  }

  before(async () => {
    rcv = await startReceiver();
    k = await startKabard({
      apiKeys: `p1:${KEY},p2:${OTHER_KEY}`,
      env: { KABAR_SIM_DELAY_MS: '300' },
    });
    k.apiKey = KEY;
    g = ['--server', k.baseUrl, '--api-key', KEY];
  });

  after(async () => {
    try {
      if (k) { try { await k.stop(); } finally { await k.cleanup(); } }
    } finally {
      if (rcv) await rcv.close();
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  describe('interactions', () => {
    it('get shows the status, the output, the error, the function call it waits on', async () => {
      const done = await interaction('m', { background: false, input: 'hi there' });
      assert.equal(done.status, 'completed');
      let r = ok(await kabar([...g, 'interactions', 'get', done.id]), 'get');
      assert.equal(field(r.stdout, 'id'), done.id);
      assert.equal(field(r.stdout, 'status'), 'completed');
      assert.equal(field(r.stdout, 'model'), 'm');
      assert.equal(field(r.stdout, 'output'), 'echo: hi there');
      assert.equal(field(r.stdout, 'error'), undefined);

      const failed = await interaction('kabar-sim-fail', { background: false });
      r = ok(await kabar([...g, 'interactions', 'get', failed.id]), 'get failed');
      assert.equal(field(r.stdout, 'status'), 'failed');
      assert.match(field(r.stdout, 'error'), /^INTERNAL: simulated failure/);

      const action = await interaction('kabar-sim-requires-action', { background: false });
      r = ok(await kabar([...g, 'interactions', 'get', action.id]), 'get requires_action');
      assert.equal(field(r.stdout, 'status'), 'requires_action');
      assert.equal(field(r.stdout, 'action'), 'function_call kabar_sim_action (id call_1)');

      // --json: the Interaction resource, exactly as the API sends it.
      r = ok(await kabar([...g, '--json', 'interactions', 'get', done.id]), 'get --json');
      const api = await k.request('GET', `/v1/interactions/${done.id}`);
      assert.deepEqual(parseJson(r, 'get --json'), api.json);
    });

    it('get shows user text with control characters escaped', async () => {
      const done = await interaction('m', { background: false, input: 'a\u001b[31mred\nb' });
      const r = ok(await kabar([...g, 'interactions', 'get', done.id]), 'get');
      assert.ok(!r.stdout.includes('\u001b'), 'no raw escape reaches the terminal');
      assert.equal(field(r.stdout, 'output'), 'echo: a\\x1b[31mred\\nb');
    });

    it('wait: exit 0 once the interaction completes, shown as get shows it', async () => {
      const i = await interaction('m');
      assert.equal(i.status, 'in_progress');
      const r = ok(await kabar([...g, 'interactions', 'wait', i.id, '--interval', '50ms']), 'wait');
      assert.equal(field(r.stdout, 'status'), 'completed');
      assert.equal(field(r.stdout, 'output'), 'echo: hello');
    });

    it('wait: exit 3 at --timeout while in progress, with the interaction as it was', async () => {
      const i = await interaction('kabar-sim-never');
      const r = await kabar([...g, 'interactions', 'wait', i.id, '--timeout', '300ms', '--interval', '50ms']);
      assert.equal(r.code, 3, show(r));
      assert.equal(field(r.stdout, 'status'), 'in_progress');
      assert.equal(r.stderr, `kabar: interaction ${i.id} is still in_progress after 300ms\n`);
      // --json: the last resource seen, still exit 3.
      const j = await kabar([...g, '--json', 'interactions', 'wait', i.id, '--timeout', '0.1']);
      assert.equal(j.code, 3, show(j));
      assert.equal(parseJson(j, 'wait --json').status, 'in_progress');
      assert.match(j.stderr, /is still in_progress after 100ms/);
    });

    it('wait: exit 1 when it ends otherwise: failed, requires_action, cancelled while waiting', async () => {
      let i = await interaction('kabar-sim-fail');
      let r = await kabar([...g, 'interactions', 'wait', i.id, '--interval', '50ms']);
      assert.equal(r.code, 1, show(r));
      assert.equal(field(r.stdout, 'status'), 'failed');
      assert.equal(r.stderr, `kabar: interaction ${i.id} ended failed\n`);

      i = await interaction('kabar-sim-requires-action');
      r = await kabar([...g, 'interactions', 'wait', i.id, '--interval', '50ms']);
      assert.equal(r.code, 1, show(r));
      assert.equal(r.stderr, `kabar: interaction ${i.id} ended requires_action\n`);

      // A wait without a limit ends when the interaction is cancelled,
      // whether the cancel comes before its first poll or after.
      i = await interaction('kabar-sim-never');
      const waiting = kabar([...g, 'interactions', 'wait', i.id, '--timeout', '0', '--interval', '50ms']);
      ok(await kabar([...g, 'interactions', 'cancel', i.id]), 'cancel');
      r = await waiting;
      assert.equal(r.code, 1, show(r));
      assert.equal(field(r.stdout, 'status'), 'cancelled');
      assert.equal(r.stderr, `kabar: interaction ${i.id} ended cancelled\n`);
    });

    it('cancel: once, then FAILED_PRECONDITION; --json is the cancelled interaction', async () => {
      let i = await interaction('kabar-sim-never');
      let r = ok(await kabar([...g, 'interactions', 'cancel', i.id]), 'cancel');
      assert.equal(r.stdout, `Interaction ${i.id} cancelled.\n`);
      assert.equal((await k.request('GET', `/v1/interactions/${i.id}`)).json.status, 'cancelled');
      r = await kabar([...g, 'interactions', 'cancel', i.id]);
      assertCliError(r, 'FAILED_PRECONDITION', 'is already cancelled');

      i = await interaction('kabar-sim-never');
      r = ok(await kabar([...g, '--json', 'interactions', 'cancel', i.id]), 'cancel --json');
      const j = parseJson(r, 'cancel --json');
      assert.equal(j.id, i.id);
      assert.equal(j.status, 'cancelled');
    });

    it('list: the project\'s interactions only, oldest first; --state filters', async () => {
      const a = await interaction('m', { background: false });
      const b = await interaction('kabar-sim-never');
      let r = ok(await kabar([...g, 'interactions', 'list', '--all']), 'list');
      const rows = table(r.stdout);
      assert.deepEqual(rows[0], ['ID', 'STATE', 'MODEL', 'CREATED']);
      const ids = rows.slice(1).map((row) => row[0]);
      assert.ok(ids.every((id) => INT_RE.test(id)), `only interactions: ${ids}`);
      assert.ok(ids.indexOf(a.id) >= 0 && ids.indexOf(a.id) < ids.indexOf(b.id), 'oldest first');
      assert.deepEqual(rows.find((row) => row[0] === a.id).slice(1, 3), ['succeeded', 'm']);
      assert.deepEqual(rows.find((row) => row[0] === b.id).slice(1, 3), ['pending', 'kabar-sim-never']);

      r = ok(await kabar([...g, '--json', 'interactions', 'list', '--state', 'pending', '--all']), 'list --state');
      const pending = parseJson(r, 'list --json').operations;
      assert.ok(pending.some((o) => o.id === b.id));
      assert.ok(pending.every((o) => o.kind === 'interaction' && o.state === 'pending'));
      ok(await kabar([...g, 'interactions', 'cancel', b.id]), 'cancel');

      // Another project sees none of them.
      r = ok(await kabar(['--server', k.baseUrl, '--api-key', OTHER_KEY, 'interactions', 'list']), 'other project');
      assert.equal(r.stdout, 'No interactions.\n');
      r = await kabar(['--server', k.baseUrl, '--api-key', OTHER_KEY, 'interactions', 'get', a.id]);
      assertCliError(r, 'NOT_FOUND', a.id);
    });

    it('wait: durations with and without a unit; on an ended job it answers at once', async () => {
      const done = await interaction('m', { background: false });
      for (const d of ['90', '0', '1.5h', '2m', '0.25s', '250ms', '720h', '0.0001']) {
        const r = ok(await kabar([...g, 'interactions', 'wait', done.id, '--timeout', d]), `--timeout ${d}`);
        assert.equal(field(r.stdout, 'status'), 'completed');
      }
      for (const d of ['10ms', '0.01', '1h', '60m', '2s']) {
        ok(await kabar([...g, 'interactions', 'wait', done.id, '--interval', d]), `--interval ${d}`);
      }
      // Less than a millisecond is a millisecond, not "0" (no limit).
      const never = await interaction('kabar-sim-never');
      const r = await kabar([...g, 'interactions', 'wait', never.id, '--timeout', '0.0001']);
      assert.equal(r.code, 3, show(r));
      assert.match(r.stderr, /is still in_progress after 1ms$/m);
      ok(await kabar([...g, 'interactions', 'cancel', never.id]), 'cancel');
      for (const d of ['721h', '1.', '.5', '5x', '-1', '1e3', '1 s', '', 's']) {
        assertUsage(await kabar([...g, 'interactions', 'wait', done.id, '--timeout', d]), /--timeout must be a duration/);
      }
    });

    it('refuses what it cannot use: exit 2 before any request, 1 for what the server refuses', async () => {
      assertUsage(await kabar([...g, 'interactions', 'wait']), /missing ID/);
      assertUsage(await kabar([...g, 'interactions', 'wait', MISSING_INT, '--timeout', 'soon']), /--timeout must be a duration/);
      assertUsage(await kabar([...g, 'interactions', 'wait', MISSING_INT, '--timeout', '31d']), /--timeout/);
      assertUsage(await kabar([...g, 'interactions', 'wait', MISSING_INT, '--interval', '1ms']), /--interval must be a duration from 10ms/);
      assertUsage(await kabar([...g, 'interactions', 'wait', MISSING_INT, '--interval', '0']), /--interval/);
      assertUsage(await kabar([...g, 'interactions', 'get', '']), /the ID is empty/);
      assertUsage(await kabar([...g, 'interactions', 'list', '--page-size', 'ten']), /--page-size/);
      assertUsage(await kabar([...g, 'interactions', 'list', '--kind', 'batch']), /unknown option --kind/);
      assertCliError(await kabar([...g, 'interactions', 'get', MISSING_INT]), 'NOT_FOUND', MISSING_INT);
      assertCliError(await kabar([...g, 'interactions', 'wait', MISSING_INT]), 'NOT_FOUND', MISSING_INT);
      assertCliError(await kabar([...g, 'interactions', 'cancel', MISSING_INT]), 'NOT_FOUND', MISSING_INT);
      assertCliError(await kabar([...g, 'interactions', 'list', '--state', 'done']), 'INVALID_ARGUMENT', 'state must be');
      // A "/" in the ID stays in the ID: it cannot reach another route.
      assertCliError(await kabar([...g, 'interactions', 'get', '../webhooks']), 'NOT_FOUND', '');
    });
  });

  describe('batches', () => {
    it('wait: exit 0 when it succeeds; get shows counts and the results URI; the name form works', async () => {
      const id = await batch('m');
      const r = ok(await kabar([...g, 'batches', 'wait', `batches/${id}`, '--interval', '50ms']), 'wait');
      assert.equal(field(r.stdout, 'id'), id);
      assert.equal(field(r.stdout, 'name'), 'nightly');
      assert.equal(field(r.stdout, 'state'), 'BATCH_STATE_SUCCEEDED');
      assert.equal(field(r.stdout, 'model'), 'models/m');
      assert.equal(field(r.stdout, 'requests'), '2 (2 succeeded)');
      const api = await k.request('GET', `/v1/batches/${id}`);
      assert.equal(field(r.stdout, 'results'), api.json.output_file_uri);
      const g2 = ok(await kabar([...g, '--json', 'batches', 'get', id]), 'get --json');
      assert.deepEqual(parseJson(g2, 'get --json'), api.json);
      // The results URI serves the JSONL the batch wrote.
      const res = await fetch(api.json.output_file_uri, { headers: { 'x-goog-api-key': KEY } });
      assert.equal(res.status, 200);
      assert.equal((await res.text()).trim().split('\n').length, 2);
    });

    it('wait: exit 1 with the error when it fails; exit 3 at --timeout; cancel; exit 1 once cancelled', async () => {
      const failed = await batch('kabar-sim-fail');
      let r = await kabar([...g, 'batches', 'wait', failed, '--interval', '50ms']);
      assert.equal(r.code, 1, show(r));
      assert.equal(field(r.stdout, 'state'), 'BATCH_STATE_FAILED');
      assert.match(field(r.stdout, 'error'), /^INTERNAL: simulated failure/);
      assert.equal(r.stderr, `kabar: batch ${failed} ended BATCH_STATE_FAILED\n`);

      const never = await batch('kabar-sim-never');
      r = await kabar([...g, 'batches', 'wait', never, '--timeout', '200ms', '--interval', '50ms']);
      assert.equal(r.code, 3, show(r));
      assert.equal(field(r.stdout, 'state'), 'BATCH_STATE_PENDING');
      assert.equal(r.stderr, `kabar: batch ${never} is still BATCH_STATE_PENDING after 200ms\n`);

      r = ok(await kabar([...g, 'batches', 'cancel', never]), 'cancel');
      assert.equal(r.stdout, `Batch ${never} cancelled.\n`);
      r = await kabar([...g, 'batches', 'wait', never]);
      assert.equal(r.code, 1, show(r));
      assert.equal(field(r.stdout, 'state'), 'BATCH_STATE_CANCELLED');
      assertCliError(await kabar([...g, 'batches', 'cancel', never]), 'FAILED_PRECONDITION', 'is already');
    });

    it('list: batches only, with the generic states; an interaction is not a batch', async () => {
      const id = await batch('kabar-sim-never', 'to list');
      const r = ok(await kabar([...g, 'batches', 'list', '--state', 'pending', '--all']), 'list');
      const rows = table(r.stdout);
      assert.deepEqual(rows[0], ['ID', 'STATE', 'MODEL', 'CREATED']);
      assert.deepEqual(rows.find((row) => row[0] === id).slice(1, 3), ['pending', 'models/kabar-sim-never']);
      assert.ok(rows.slice(1).every((row) => BATCH_RE.test(row[0]) && row[1] === 'pending'));
      ok(await kabar([...g, 'batches', 'cancel', id]), 'cancel');
      const i = await interaction('m', { background: false });
      assertCliError(await kabar([...g, 'batches', 'get', i.id]), 'NOT_FOUND', i.id);
    });
  });

  describe('operations', () => {
    it('list: every kind with a KIND column, --kind filters, pages follow the hint, --all and --json', async () => {
      await interaction('m', { background: false });
      await batch('kabar-sim-never');
      let r = ok(await kabar([...g, 'operations', 'list', '--all']), 'list');
      let rows = table(r.stdout);
      assert.deepEqual(rows[0], ['ID', 'KIND', 'STATE', 'MODEL', 'CREATED']);
      const kinds = new Set(rows.slice(1).map((row) => row[1]));
      assert.ok(kinds.has('batch') && kinds.has('interaction'), [...kinds].join());
      const total = rows.length - 1;

      r = ok(await kabar([...g, 'operations', 'list', '--kind', 'batch', '--all']), 'list --kind');
      rows = table(r.stdout);
      assert.ok(rows.slice(1).every((row) => row[1] === 'batch'));

      // One page at a time, following the printed command line.
      const seen = [];
      let args = ['operations', 'list', '--page-size', '2'];
      for (let n = 0; n < 100; n++) {
        r = ok(await kabar([...g, ...args]), 'list page');
        seen.push(...table(r.stdout).slice(1).map((row) => row[0]));
        const m = r.stdout.match(/^More operations: kabar (operations list --page-size 2 --page-token \S+)$/m);
        if (!m) break;
        args = m[1].split(' ');
      }
      assert.equal(seen.length, total);
      assert.equal(new Set(seen).size, total, 'no job twice');

      // --json --all: one page holding every job, no token.
      r = ok(await kabar([...g, '--json', 'operations', 'list', '--page-size', '1', '--all']), 'list --json --all');
      const j = parseJson(r, 'list --json --all');
      assert.deepEqual(Object.keys(j), ['operations']);
      assert.equal(j.operations.length, total);
      assertCliError(await kabar([...g, 'operations', 'list', '--kind', 'job']), 'INVALID_ARGUMENT', 'kind must be');
    });

    it('get and wait: state, results and the deliveries of the job\'s events', async () => {
      const wh = await k.request('POST', '/v1/webhooks', {
        body: { uri: rcv.url('/jobs'), subscribed_events: ['batch.succeeded'] },
      });
      assert.equal(wh.status, 200, wh.text);
      const id = await batch('m');
      let r = ok(await kabar([...g, 'operations', 'wait', `operations/${id}`, '--interval', '50ms']), 'wait');
      assert.equal(field(r.stdout, 'kind'), 'batch');
      assert.equal(field(r.stdout, 'state'), 'succeeded');
      assert.match(field(r.stdout, 'results'), /:download\?alt=media$/);
      // The event's delivery is made by the dispatcher; wait for it, then show it.
      await rcv.waitForCount('/jobs', 1);
      const api = await waitFor(async () => {
        const o = await k.request('GET', `/v1/operations/${id}`);
        return o.json.deliveries.length === 1 && o.json.deliveries[0].state === 'succeeded' ? o : null;
      }, 10_000, 'the delivery to succeed');
      r = ok(await kabar([...g, 'operations', 'get', id]), 'get');
      assert.equal(field(r.stdout, 'deliveries'), '1');
      const d = api.json.deliveries[0];
      assert.match(r.stdout, new RegExp(`^  batch\\.succeeded  ${d.delivery_id}  succeeded  attempts 1  ${rcv.url('/jobs').replace(/[.?]/g, '\\$&')}$`, 'm'));
      r = ok(await kabar([...g, '--json', 'operations', 'get', id]), 'get --json');
      assert.deepEqual(parseJson(r, 'get --json'), api.json);
      await k.request('DELETE', `/v1/webhooks/${wh.json.id}`);
    });

    it('cancel: through the kind\'s own route; a video cannot be; --json shows the record', async () => {
      const i = await interaction('kabar-sim-never');
      let r = ok(await kabar([...g, 'operations', 'cancel', i.id]), 'cancel interaction');
      assert.equal(r.stdout, `Operation ${i.id} cancelled.\n`);
      assert.equal((await k.request('GET', `/v1/interactions/${i.id}`)).json.status, 'cancelled');

      const b = await batch('kabar-sim-never');
      r = ok(await kabar([...g, '--json', 'operations', 'cancel', `operations/${b}`]), 'cancel batch');
      const j = parseJson(r, 'cancel --json');
      assert.equal(j.id, b);
      assert.equal(j.state, 'cancelled');
      assert.equal(j.done, true);
      assertCliError(await kabar([...g, 'operations', 'cancel', b]), 'FAILED_PRECONDITION', 'is already');

      const v = await k.request('POST', '/v1/models/kabar-sim-never:predictLongRunning', {
        body: { instances: [{ prompt: 'a cat' }] },
      });
      assert.equal(v.status, 200, v.text);
      const vid = v.json.name.split('/').pop();
      r = await kabar([...g, 'operations', 'cancel', vid]);
      assert.equal(r.code, 1, show(r));
      assert.equal(r.stderr, `kabar: operations cancel: ${vid} is a video operation, and only interactions and batches can be cancelled\n`);
      assert.equal((await k.request('GET', `/v1/operations/${vid}`)).json.state, 'pending', 'nothing changed');
      // A wait on it times out.
      r = await kabar([...g, 'operations', 'wait', vid, '--timeout', '0.2s', '--interval', '50ms']);
      assert.equal(r.code, 3, show(r));
      assert.equal(field(r.stdout, 'state'), 'pending');
    });
  });

  it('help and the command table list the three groups', async () => {
    const r = ok(await kabar(['help']), 'help');
    for (const group of ['interactions', 'batches', 'operations']) {
      for (const cmd of ['list', 'get', 'cancel', 'wait']) {
        assert.match(r.stdout, new RegExp(`^  ${group} ${cmd}( |$)`, 'm'), `${group} ${cmd}`);
      }
    }
    assert.match(r.stdout, /3 it was still\s+running at --timeout/);
  });
});
