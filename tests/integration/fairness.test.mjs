// SPDX-License-Identifier: Apache-2.0
// Fairness of the delivery queue (docs/delivery.md, "Concurrency"): one
// project's flood to an endpoint that never answers must not hold back
// another project's deliveries. Deterministic: project B's events must all
// arrive while project A's endpoint still holds every one of its slots (the
// attempt timeout is far longer than the test), so nothing here depends on
// how fast the machine is.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startKabard } from './lib/kabard.mjs';
import { startReceiver } from './lib/receiver.mjs';

const KEY_A = 'flood-key-0123456789abcdefABCDEFG';
const KEY_B = 'quiet-key-0123456789abcdefABCDEFG';
const CAP = 4;
const T = { timeout: 120_000 };

async function createHook(k, key, uri) {
  const r = await k.request('POST', '/v1/webhooks', {
    key, body: { uri, subscribed_events: ['batch.succeeded'] },
  });
  assert.equal(r.status, 200, `create webhook: ${r.status} ${r.text}`);
  return r.json;
}

async function publishMany(k, key, prefix, n) {
  const ids = [];
  for (let i = 0; i < n; i += 50) {
    const rs = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) =>
      k.request('POST', '/v1/events', {
        key, body: { type: 'batch.succeeded', data: { id: `${prefix}-${i + j}` } },
      })));
    for (const r of rs) {
      assert.equal(r.status, 200, `publish: ${r.status} ${r.text}`);
      ids.push(r.json.id);
    }
  }
  return ids;
}

describe('fairness', () => {
  it("a project flooding a hung endpoint does not hold back another project's events", T, async (t) => {
    const hung = await startReceiver();
    const ok = await startReceiver();
    hung.always('/hook', { hang: true });
    const k = await startKabard({
      apiKeys: `a:${KEY_A},b:${KEY_B}`,
      env: { KABAR_MAX_PER_ENDPOINT: String(CAP), KABAR_TIMEOUT_MS: '600000' },
    });
    t.after(async () => {
      await hung.close();
      await ok.close();
      await k.cleanup();
    });
    await createHook(k, KEY_A, hung.url('/hook'));
    await createHook(k, KEY_B, ok.url('/hook'));

    // A's flood: more than a claim takes at once, all due before B's.
    const flood = await publishMany(k, KEY_A, 'a', 600);
    await hung.waitForCount('/hook', CAP, 30_000);
    const quiet = await publishMany(k, KEY_B, 'b', 40);

    await ok.waitFor(() => new Set(ok.forPath('/hook').map((r) => r.headers['webhook-id'])).size
      === quiet.length, 60_000, "all of project B's events");
    const got = new Set(ok.forPath('/hook').map((r) => r.headers['webhook-id']));
    assert.deepEqual([...got].sort(), [...quiet].sort(), "B's endpoint got exactly B's events");

    // Meanwhile A's endpoint held its cap: exactly CAP attempts, none answered.
    assert.equal(hung.forPath('/hook').length, CAP, 'A: no more than its cap was sent');
    assert.equal(hung.hanging.size, CAP, 'A: every one of its attempts is still open');
    const sent = new Set(hung.forPath('/hook').map((r) => r.headers['webhook-id']));
    for (const id of sent) assert.ok(flood.includes(id), `A's endpoint got A's event ${id}`);
  });
});
