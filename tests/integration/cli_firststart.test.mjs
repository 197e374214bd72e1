// SPDX-License-Identifier: Apache-2.0
// kabard's first start on an address it cannot bind fails naming that
// address and creates nothing (no data directory, database, master key, API
// key or banner), so that the next start is still the first; and kabar,
// with no server to reach, says how to start one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const KABARD = path.join(process.env.KABAR_BIN_DIR ?? '../build', 'kabard');

test('a taken port: the error names the address, and nothing is created', async () => {
    const taken = createServer();
    await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = taken.address().port;
    const dir = mkdtempSync(path.join(tmpdir(), 'kabar-firststart-'));
    const dataDir = path.join(dir, 'data');
    try {
        const r = spawnSync(KABARD, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir],
                            { encoding: 'utf8', env: envWithout('KABAR_DATABASE_URL', 'KABAR_API_KEY', 'KABAR_MASTER_KEY') });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
        assert.doesNotMatch(r.stderr, /port 0/);
        assert.doesNotMatch(r.stdout + r.stderr, /kbr_|API key/);
        assert.equal(existsSync(dataDir), false, 'the data directory was created');
    } finally {
        taken.close();
        rmSync(dir, { recursive: true, force: true });
    }
});

function envWithout(...names) {
    const env = { ...process.env };
    for (const n of names)
        delete env[n];
    return env;
}

test('kabar, when no server answers, says how to start one', async () => {
    // A port that was free a moment ago: nothing listens on it.
    const s = createServer();
    await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = s.address().port;
    await new Promise((resolve) => s.close(resolve));
    const r = spawnSync(path.join(path.dirname(KABARD), 'kabar'),
                        ['--server', `http://127.0.0.1:${port}`, '--api-key', 'k', 'webhooks', 'list'],
                        { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}`));
    assert.match(r.stderr, /Is kabard running there\? Start it with 'make run'.*--server URL or KABAR_SERVER/);
});
