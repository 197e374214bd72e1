// SPDX-License-Identifier: Apache-2.0
// The aud claim of dynamic webhooks' JWTs: the target URI by default, or
// the audience a project configures with KABAR_JWT_AUDIENCES
// ("project:audience,..."); a malformed setting stops kabard at start.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';

import * as jose from 'jose';

import { KABARD, cleanEnv, startKabard, tempDir } from './lib/kabard.mjs';
import { startReceiver } from './lib/receiver.mjs';

const KA = 'audience-alpha-key-0123456789';
const KB = 'audience-beta-key-01234567890';
const ALPHA_AUD = 'https://alpha.example/hooks:v1';

describe('JWT audience per project', () => {
  let k;
  let rcv;

  before(async () => {
    rcv = await startReceiver();
    k = await startKabard({
      apiKeys: `alpha:${KA},beta:${KB}`,
      env: { KABAR_JWT_AUDIENCES: `alpha:${ALPHA_AUD}` },
    });
  });
  after(async () => {
    await rcv.close();
    await k.cleanup();
  });

  async function publish(key, path) {
    const r = await k.request('POST', '/v1/events', {
      key,
      body: { type: 'batch.succeeded', data: { id: `batch_${path}` },
              webhook_config: { uris: [rcv.url(path)] } },
    });
    assert.equal(r.status, 200, r.text);
    await rcv.waitForCount(path, 1, 10_000);
    return rcv.forPath(path)[0];
  }

  it('a project with an audience gets it as aud; the others get the target URI', async () => {
    const jwks = jose.createRemoteJWKSet(new URL(`${k.baseUrl}/.well-known/jwks.json`));
    const a = await publish(KA, '/alpha');
    const { payload: pa } = await jose.jwtVerify(a.headers['webhook-signature'], jwks,
      { algorithms: ['RS256'], audience: ALPHA_AUD, issuer: k.baseUrl });
    assert.equal(pa.aud, ALPHA_AUD);
    await assert.rejects(jose.jwtVerify(a.headers['webhook-signature'], jwks,
      { algorithms: ['RS256'], audience: rcv.url('/alpha') }), /aud/);

    const b = await publish(KB, '/beta');
    const { payload: pb } = await jose.jwtVerify(b.headers['webhook-signature'], jwks,
      { algorithms: ['RS256'], audience: rcv.url('/beta'), issuer: k.baseUrl });
    assert.equal(pb.aud, rcv.url('/beta'));
  });
});

describe('a malformed KABAR_JWT_AUDIENCES', () => {
  for (const bad of ['alpha', 'alpha:', ':https://x.example']) {
    it(`"${bad}" stops kabard with a clear message`, async (t) => {
      const dir = tempDir('kabar-aud-');
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      const p = spawn(KABARD, ['--listen', '127.0.0.1:0', '--data-dir', dir], {
        env: cleanEnv({ KABAR_JWT_AUDIENCES: bad }), stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      p.stderr.setEncoding('utf8');
      p.stderr.on('data', (d) => { stderr += d; });
      const code = await new Promise((resolve) => p.on('close', resolve));
      assert.equal(code, 2);
      assert.match(stderr, /KABAR_JWT_AUDIENCES entries must be project:audience/);
    });
  }
});
