// SPDX-License-Identifier: Apache-2.0
// The kabar CLI's event and delivery-log commands against a real kabard and
// a real receiver.
//
// Interface under test (docs/delivery.md):
//   kabar events publish --type T (--data JSON | --data-file P | --data-stdin)
//   kabar deliveries list --webhook WH [--state S] [--page-size N]
//                         [--page-token T] [--all]
//   kabar deliveries get ID | kabar deliveries retry ID
//   kabar webhooks recover ID --since TIME
// Non-2xx: stderr "kabar: <STATUS>: <message>", exit 1; usage error: exit 2.
//
// kabard runs with KABAR_RETRY_SCHEDULE=0,1 and KABAR_RETRY_WINDOW_S=2, so a
// delivery to an endpoint that answers 500 ends `failed` within seconds.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { KABAR, cleanEnv, runProgram, startKabard, tempDir } from './lib/kabard.mjs';
import { assertUsage, ok, parseJson, show } from './lib/cli.mjs';
import { startReceiver, waitFor } from './lib/receiver.mjs';

const KEY = 'cli-delivery-key-0123456789abcdef';
const scratch = tempDir('kabar-cli-dl-');
const emptyCwd = path.join(scratch, 'cwd');
fs.mkdirSync(emptyCwd);

const MSG_RE = /^msg_[0-9a-z]{26}$/;
const DLV_RE = /^dlv_[0-9a-z]{26}$/;
const MISSING_DLV = 'dlv_00000000000000000000000000';
const MISSING_WH = 'wh_00000000000000000000000000';

/** Run kabar; resolves {code, signal, stdout, stderr}. input goes to stdin. */
function kabar(args, { input, timeoutMs } = {}) {
  return runProgram(KABAR, args, { cwd: emptyCwd, env: cleanEnv({ HOME: scratch }), input, timeoutMs });
}

function assertCliError(r, status, message) {
  assert.equal(r.code, 1, `exit 1 expected: ${show(r)}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.ok(lines.includes(`kabar: ${status}: ${message}`),
    `stderr has "kabar: ${status}: ${message}": ${r.stderr}`);
}

describe('kabar events and deliveries', () => {
  let k;
  let rcv;
  let g;        // global options
  let whOk;     // subscribed to batch.succeeded, answered 200
  let whFail;   // subscribed to batch.failed, answered 500

  /** The delivery of webhook wh for message msg, through the API. */
  async function deliveryOf(wh, msg) {
    const r = await k.request('GET', `/v1/webhooks/${wh}/deliveries`, { query: { page_size: '1000' } });
    assert.equal(r.status, 200, r.text);
    return r.json.deliveries.find((d) => d.message_id === msg);
  }

  async function waitForState(wh, msg, state, timeoutMs = 10_000) {
    return waitFor(async () => {
      const d = await deliveryOf(wh, msg);
      return d && d.state === state ? d : null;
    }, timeoutMs, `delivery of ${msg} to ${wh} to be ${state}`);
  }

  /** Publish through the CLI with --json; returns the server's answer. */
  async function publish(type, data) {
    const r = ok(await kabar([...g, '--json', 'events', 'publish', '--type', type,
      '--data', JSON.stringify(data)]), 'publish');
    return parseJson(r, 'publish');
  }

  before(async () => {
    rcv = await startReceiver();
    rcv.always('/fail', { status: 500, body: 'boom' });
    k = await startKabard({
      apiKey: KEY,
      // A hung attempt (the FAILED_PRECONDITION test) ends after 2 s.
      env: { KABAR_RETRY_SCHEDULE: '0,1', KABAR_RETRY_WINDOW_S: '2', KABAR_TIMEOUT_MS: '2000' },
    });
    g = ['--server', k.baseUrl, '--api-key', KEY];
    const a = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/ok'), subscribed_events: ['batch.succeeded'] },
    });
    assert.equal(a.status, 200, a.text);
    whOk = a.json.id;
    const b = await k.request('POST', '/v1/webhooks', {
      body: { uri: rcv.url('/fail'), subscribed_events: ['batch.failed'] },
    });
    assert.equal(b.status, 200, b.text);
    whFail = b.json.id;
  });

  after(async () => {
    try {
      if (k) { try { await k.stop(); } finally { await k.cleanup(); } }
    } finally {
      if (rcv) await rcv.close();
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  let first; // message id of the first publish

  it('events publish: human output, and the receiver gets the event', async () => {
    const r = ok(await kabar([...g, 'events', 'publish', '--type', 'batch.succeeded',
      '--data', '{"id": "batch_1", "output_file_uri": "gs://b/o"}']), 'publish');
    const m = r.stdout.match(/^Published (msg_[0-9a-z]+) \(batch\.succeeded\) to 1 webhook\(s\)\.\n$/);
    assert.ok(m, `human output: ${r.stdout}`);
    first = m[1];
    assert.match(first, MSG_RE);
    const [req] = await rcv.waitForCount('/ok', 1);
    assert.equal(req.headers['webhook-id'], first);
    assert.equal(req.json.type, 'batch.succeeded');
    assert.deepEqual(req.json.data, { id: 'batch_1', output_file_uri: 'gs://b/o' });
  });

  it('events publish --json prints the server answer; --data-file and --data-stdin', async () => {
    const file = path.join(scratch, 'data.json');
    fs.writeFileSync(file, '{\n  "id": "batch_2"\n}\n');
    let r = ok(await kabar([...g, '--json', 'events', 'publish', '--type', 'batch.succeeded',
      '--data-file', file]), 'publish --data-file');
    const j = parseJson(r, 'publish --data-file');
    assert.match(j.id, MSG_RE);
    assert.equal(j.type, 'batch.succeeded');
    assert.equal(j.deliveries, 1);
    assert.equal(j.duplicate, false);

    r = ok(await kabar([...g, 'events', 'publish', '--type', 'batch.succeeded', '--data-stdin'],
      { input: '{"id": "batch_3"}' }), 'publish --data-stdin');
    assert.match(r.stdout, /^Published msg_[0-9a-z]+ \(batch\.succeeded\) to 1 webhook\(s\)\.\n$/);

    const reqs = await rcv.waitForCount('/ok', 3);
    assert.deepEqual(reqs.map((q) => q.json.data.id).sort(), ['batch_1', 'batch_2', 'batch_3']);
    assert.ok(reqs.some((q) => q.headers['webhook-id'] === j.id));
  });

  it('events publish to a type nobody subscribes to: 0 webhook(s)', async () => {
    const r = ok(await kabar([...g, 'events', 'publish', '--type', 'video.generated',
      '--data', '{"id": "v_1"}']), 'publish');
    assert.match(r.stdout, /^Published msg_[0-9a-z]+ \(video\.generated\) to 0 webhook\(s\)\.\n$/);
  });

  it('events publish usage errors exit 2 without a request', async () => {
    // A server that is not there: a usage error must not need one.
    const base = ['--server', 'http://127.0.0.1:1', '--api-key', KEY, 'events', 'publish'];
    assertUsage(await kabar([...base, '--data', '{"id": "x"}']), /kabar: events publish: missing --type/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded']),
      /missing --data, --data-file or --data-stdin/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded', '--data', '{"id": "x",}']),
      /--data is not valid JSON: .*\(line 1, column \d+\)/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded', '--data', '{"id": "x", "id": "y"}']),
      /--data is not valid JSON: .*duplicate/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded', '--data', '["x"]']),
      /--data must be a JSON object/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded', '--data', '{}', '--data-stdin']),
      /give only one of --data, --data-file and --data-stdin/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded', '--data-file',
      path.join(scratch, 'no-such-file.json')]), /cannot open .*no-such-file\.json/);
    assertUsage(await kabar([...base, '--type', 'batch.succeeded', '--data-stdin'], { input: 'nope' }),
      /standard input is not valid JSON/);
  });

  it('events publish: the server says no, exit 1 with STATUS: message', async () => {
    const base = [...g, 'events', 'publish'];
    let r = await kabar([...base, '--type', 'nope.nope', '--data', '{"id": "x"}']);
    assertCliError(r, 'INVALID_ARGUMENT', 'unknown event type "nope.nope"');
    assert.equal(r.stdout, '');
    r = await kabar([...base, '--type', 'batch.succeeded', '--data', '{"job": "x"}']);
    assertCliError(r, 'INVALID_ARGUMENT', 'data.id is required and must be a non-empty string ' +
      '(the id of the job the event is about)');
    // --json also prints the error body on stdout.
    r = await kabar([...g, '--json', ...base.slice(g.length), '--type', 'nope.nope', '--data', '{"id": "x"}']);
    assert.equal(r.code, 1);
    assert.equal(parseJson(r, 'error').error.status, 'INVALID_ARGUMENT');
  });

  it('deliveries list: table, --state, --json', async () => {
    await waitForState(whOk, first, 'succeeded');
    let r = ok(await kabar([...g, 'deliveries', 'list', '--webhook', whOk]), 'list');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ID\s+STATE\s+ATTEMPTS\s+EVENT\s+CREATED$/);
    assert.equal(lines.length, 4, `three deliveries and a header: ${r.stdout}`);
    const row = lines.slice(1).map((l) => l.split(/\s+/));
    for (const cols of row) {
      assert.match(cols[0], DLV_RE);
      assert.equal(cols[3], 'batch.succeeded');
      assert.match(cols[4], /^\d{4}-\d\d-\d\dT/);
    }
    const d = await deliveryOf(whOk, first);
    const mine = row.find((cols) => cols[0] === d.id);
    assert.ok(mine, `the first delivery is listed: ${r.stdout}`);
    assert.deepEqual(mine.slice(1, 3), ['succeeded', '1']);
    // The columns line up under their headings.
    for (const l of lines.slice(1)) {
      assert.equal(l.indexOf(' succeeded ') + 1, lines[0].indexOf('STATE'), r.stdout);
      assert.equal(l.indexOf(' batch.succeeded ') + 1, lines[0].indexOf('EVENT'), r.stdout);
    }

    r = ok(await kabar([...g, '--json', 'deliveries', 'list', '--webhook', whOk, '--state', 'succeeded']),
      'list --json');
    const j = parseJson(r, 'list --json');
    assert.equal(j.deliveries.length, 3);
    assert.ok(j.deliveries.every((x) => x.state === 'succeeded' && x.webhook_id === whOk));
    assert.equal(j.next_page_token, undefined);

    r = ok(await kabar([...g, 'deliveries', 'list', '--webhook', whOk, '--state', 'failed']), 'list failed');
    assert.equal(r.stdout, 'No deliveries.\n');
  });

  it('deliveries list pages: the next-page hint works, --all follows every page', async () => {
    let r = ok(await kabar([...g, 'deliveries', 'list', '--webhook', whOk, '--page-size', '2']), 'page 1');
    const m = r.stdout.match(/\nMore deliveries: kabar deliveries list --webhook (\S+) --page-size 2 --page-token (\S+)\n$/);
    assert.ok(m, `next-page hint: ${r.stdout}`);
    assert.equal(m[1], whOk);
    const page1 = [...r.stdout.matchAll(/^(dlv_\S+)/gm)].map((x) => x[1]);
    assert.equal(page1.length, 2);
    r = ok(await kabar([...g, 'deliveries', 'list', '--webhook', whOk, '--page-size', '2',
      '--page-token', m[2]]), 'page 2');
    const page2 = [...r.stdout.matchAll(/^(dlv_\S+)/gm)].map((x) => x[1]);
    assert.equal(page2.length, 1);
    assert.doesNotMatch(r.stdout, /More deliveries/);

    r = ok(await kabar([...g, '--json', 'deliveries', 'list', '--webhook', whOk, '--page-size', '1',
      '--all']), 'list --all --json');
    const all = parseJson(r, 'list --all').deliveries.map((x) => x.id);
    assert.deepEqual(all, [...page1, ...page2], 'newest first, the same order as the pages');

    r = ok(await kabar([...g, '--json', 'deliveries', 'list', '--webhook', whOk, '--page-size', '1']),
      'one page --json');
    const one = parseJson(r, 'one page');
    assert.equal(one.deliveries.length, 1);
    assert.equal(typeof one.next_page_token, 'string');
  });

  it('deliveries list errors', async () => {
    assertUsage(await kabar([...g, 'deliveries', 'list', '--webhook', '']), /kabar: deliveries list: --webhook is empty/);
    assertCliError(await kabar([...g, 'deliveries', 'list', '--status-class', '6xx']),
      'INVALID_ARGUMENT', 'status_class must be 2xx, 3xx, 4xx, 5xx or none');
    assertUsage(await kabar([...g, 'deliveries', 'list', '--webhook', whOk, '--page-size', 'ten']),
      /--page-size must be a number from 1 to 1000/);
    assertCliError(await kabar([...g, 'deliveries', 'list', '--webhook', whOk, '--state', 'lost']),
      'INVALID_ARGUMENT', 'state must be pending, succeeded or failed');
    // The project-wide log keeps a deleted webhook's history: an unknown
    // id is an empty list, not an error.
    const r = ok(await kabar([...g, 'deliveries', 'list', '--webhook', MISSING_WH]), 'unknown webhook');
    assert.equal(r.stdout, 'No deliveries.\n');
  });

  it('deliveries list without --webhook: the whole project, filtered on the server', async () => {
    let r = ok(await kabar([...g, '--json', 'deliveries', 'list', '--all']), 'project-wide');
    const all = parseJson(r, 'project-wide').deliveries;
    const hooks = new Set(all.map((d) => d.webhook_id));
    assert.ok(hooks.has(whOk), `deliveries to ${whOk} listed: ${[...hooks]}`);
    r = ok(await kabar([...g, '--json', 'deliveries', 'list', '--all', '--event-type', 'batch.succeeded',
      '--status-class', '2xx']), 'filtered');
    const some = parseJson(r, 'filtered').deliveries;
    assert.ok(some.length > 0 && some.length <= all.length);
    for (const d of some) {
      assert.equal(d.event_type, 'batch.succeeded');
      assert.equal(d.last_response_status, 200);
    }
    r = ok(await kabar([...g, 'deliveries', 'list', '--page-size', '1', '--event-type', 'batch.succeeded']), 'hint');
    assert.match(r.stdout, /\nMore deliveries: kabar deliveries list --event-type batch\.succeeded --page-size 1 --page-token \S+\n$/);
  });

  it('deliveries get: the delivery and one line per attempt', async () => {
    const d = await deliveryOf(whOk, first);
    let r = ok(await kabar([...g, 'deliveries', 'get', d.id]), 'get');
    assert.match(r.stdout, new RegExp(`^id: +${d.id}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^message: +${first}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^webhook: +${whOk}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^uri: +${rcv.url('/ok')}$`, 'm'));
    assert.match(r.stdout, /^event: +batch\.succeeded$/m);
    assert.match(r.stdout, /^state: +succeeded$/m);
    assert.match(r.stdout, /^attempts: +1$/m);
    assert.match(r.stdout, /^ {2}\d{4}-\d\d-\d\dT\S+Z {2}\d+\.\d ms {2}HTTP 200 {2}ok$/m);

    r = ok(await kabar([...g, '--json', 'deliveries', 'get', d.id]), 'get --json');
    const j = parseJson(r, 'get --json');
    assert.equal(j.id, d.id);
    assert.equal(j.attempts.length, 1);
    assert.equal(j.attempts[0].response_status, 200);
    assert.equal(j.attempts[0].response_excerpt, 'ok');

    assertCliError(await kabar([...g, 'deliveries', 'get', MISSING_DLV]),
      'NOT_FOUND', `delivery ${MISSING_DLV} not found`);
    assertUsage(await kabar([...g, 'deliveries', 'get']), /kabar: deliveries get: missing ID/);
  });

  it('deliveries get: a long, multi-line excerpt is one short line, its control characters shown as escapes', async () => {
    const body = 'line one\nline two\x1b[31m red ' + 'é'.repeat(60) + '\x07 the end';
    rcv.script('/ok', { status: 200, body, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    const j = await publish('batch.succeeded', { id: 'batch_excerpt' });
    const d = await waitForState(whOk, j.id, 'succeeded');
    const r = ok(await kabar([...g, 'deliveries', 'get', d.id]), 'get');
    const line = r.stdout.split('\n').find((l) => l.includes('HTTP 200'));
    assert.ok(line, r.stdout);
    const excerpt = line.replace(/^.*HTTP 200 {2}/, '');
    assert.ok(excerpt.startsWith('line one\\nline two\\x1b[31m red é'), `excerpt: ${JSON.stringify(excerpt)}`);
    assert.ok(excerpt.endsWith('...'), `shortened: ${JSON.stringify(excerpt)}`);
    // 80 bytes of the excerpt, "\n" and "\x1b" written out, and "...".
    assert.ok(Buffer.byteLength(excerpt) <= 87, `at most 80 bytes and "...": ${Buffer.byteLength(excerpt)}`);
    assert.doesNotMatch(r.stdout, /[\x00-\x09\x0b-\x1f\x7f]/, 'no control characters but newlines');
    assert.doesNotMatch(excerpt, /\uFFFD/, 'no broken UTF-8');
  });

  it('deliveries get: an excerpt ending in a newline shows it as \\n', async () => {
    rcv.script('/ok', { status: 200, body: 'ok\n', headers: { 'content-type': 'text/plain' } });
    const j = await publish('batch.succeeded', { id: 'batch_newline' });
    const d = await waitForState(whOk, j.id, 'succeeded');
    const r = ok(await kabar([...g, 'deliveries', 'get', d.id]), 'get');
    assert.match(r.stdout, /HTTP 200 {2}ok\\n$/m);
  });

  let failed; // the failed delivery to whFail

  it('a delivery that fails: get shows the 500s, retry sends it again', async () => {
    const j = await publish('batch.failed', { id: 'batch_f1' });
    assert.equal(j.deliveries, 1);
    failed = await waitForState(whFail, j.id, 'failed', 15_000);
    let r = ok(await kabar([...g, 'deliveries', 'get', failed.id]), 'get failed');
    assert.match(r.stdout, /^state: +failed$/m);
    const attempts = r.stdout.split('\n').filter((l) => l.includes('HTTP 500'));
    assert.ok(attempts.length >= 1, r.stdout);
    assert.ok(attempts.every((l) => / {2}HTTP 500 {2}boom$/.test(l)), r.stdout);

    const before = rcv.forPath('/fail').length;
    r = ok(await kabar([...g, 'deliveries', 'retry', failed.id]), 'retry');
    assert.equal(r.stdout, `Delivery ${failed.id} queued for another attempt.\n`);
    await rcv.waitForCount('/fail', before + 1);
    // Past the window, the manual retry fails again at once.
    await waitForState(whFail, j.id, 'failed');

    r = ok(await kabar([...g, '--json', 'deliveries', 'retry', failed.id]), 'retry --json');
    assert.deepEqual(parseJson(r, 'retry --json'), {});
    await rcv.waitForCount('/fail', before + 2);
    await waitForState(whFail, j.id, 'failed');

    assertCliError(await kabar([...g, 'deliveries', 'retry', MISSING_DLV]),
      'NOT_FOUND', `delivery ${MISSING_DLV} not found`);
    assertUsage(await kabar([...g, 'deliveries', 'retry']), /kabar: deliveries retry: missing ID/);
  });

  it('retry of a pending delivery is FAILED_PRECONDITION', async () => {
    // An endpoint that hangs keeps its delivery pending for the attempt.
    rcv.script('/fail', { hang: true });
    const before = rcv.forPath('/fail').length;
    const r0 = ok(await kabar([...g, 'deliveries', 'retry', failed.id]), 'retry');
    assert.match(r0.stdout, /queued for another attempt/);
    await rcv.waitForCount('/fail', before + 1);
    const r = await kabar([...g, 'deliveries', 'retry', failed.id]);
    assertCliError(r, 'FAILED_PRECONDITION', `delivery ${failed.id} is already pending`);
    rcv.clearScript('/fail');
  });

  it('webhooks recover re-queues the failed deliveries since a time', async () => {
    const j = await publish('batch.failed', { id: 'batch_f2' });
    await waitForState(whFail, j.id, 'failed', 15_000);
    const nFailed = async () => {
      const r = await k.request('GET', `/v1/webhooks/${whFail}/deliveries`, { query: { state: 'failed' } });
      return r.json.deliveries.length;
    };
    // The hung attempt of the previous test must have ended too.
    await waitFor(async () => (await nFailed()) === 2, 30_000, 'both deliveries failed');

    const before = rcv.forPath('/fail').length;
    let r = ok(await kabar([...g, 'webhooks', 'recover', whFail, '--since', '2000-01-01T00:00:00Z']),
      'recover');
    assert.equal(r.stdout, 'Re-queued 2 failed deliveries.\n');
    await rcv.waitForCount('/fail', before + 2);
    await waitFor(async () => (await nFailed()) === 2, 10_000, 'both failed again');

    // Nothing failed since a time in the future.
    r = ok(await kabar([...g, '--json', 'webhooks', 'recover', whFail, '--since', '2999-01-01T00:00:00Z']),
      'recover --json');
    assert.deepEqual(parseJson(r, 'recover --json'), { recovered: 0 });

    assertUsage(await kabar([...g, 'webhooks', 'recover', whFail]), /kabar: webhooks recover: missing --since/);
    assertUsage(await kabar([...g, 'webhooks', 'recover', '--since', '2000-01-01T00:00:00Z']),
      /kabar: webhooks recover: missing ID/);
    assertCliError(await kabar([...g, 'webhooks', 'recover', whFail, '--since', 'yesterday']),
      'INVALID_ARGUMENT', 'since is required and must be an RFC 3339 time, e.g. 2026-01-22T12:00:00Z');
    assertCliError(await kabar([...g, 'webhooks', 'recover', MISSING_WH, '--since', '2000-01-01T00:00:00Z']),
      'NOT_FOUND', `webhook ${MISSING_WH} not found`);
  });

  it('events publish --idempotency-key: a repeat publishes nothing', async () => {
    const args = [...g, 'events', 'publish', '--type', 'batch.succeeded', '--data', '{"id": "batch_idem"}',
      '--idempotency-key', 'idem-cli-1'];
    let r = ok(await kabar(args), 'publish with key');
    const m = r.stdout.match(/^Published (msg_[0-9a-z]+) \(batch\.succeeded\) to 1 webhook\(s\)\.\n$/);
    assert.ok(m, r.stdout);
    r = ok(await kabar(args), 'publish again');
    assert.equal(r.stdout, `Already published as ${m[1]} (same idempotency key).\n`);
    r = ok(await kabar([...g, '--json', ...args.slice(g.length)]), 'publish again --json');
    const j = parseJson(r, 'again --json');
    assert.equal(j.id, m[1]);
    assert.equal(j.duplicate, true);
    await rcv.waitFor(() => rcv.forPath('/ok').some((q) => q.json?.data?.id === 'batch_idem'), 5000, 'the event');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(rcv.forPath('/ok').filter((q) => q.json.data.id === 'batch_idem').length, 1,
      'the event was delivered once');
    assertUsage(await kabar([...args.slice(0, -1), 'a\r\nX-Evil: 1']), /--idempotency-key contains a control character/);
    assertUsage(await kabar([...args.slice(0, -1), 'k'.repeat(256)]), /--idempotency-key must be 1 to 255 characters/);
    assertUsage(await kabar([...args.slice(0, -1), '']), /--idempotency-key must be 1 to 255 characters/);
  });
});
