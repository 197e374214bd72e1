// SPDX-License-Identifier: Apache-2.0
// "kabar help", "kabar help GROUP" and "kabar help GROUP COMMAND" print what
// --help prints, without a server or a key; an unknown name is a usage error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const KABAR = path.join(process.env.KABAR_BIN_DIR ?? '../build', 'kabar');
const run = (args) => spawnSync(KABAR, args, { encoding: 'utf8', env: { PATH: process.env.PATH } });

test('kabar help is kabar --help, for everything, a group and one command', () => {
    let r = run(['help']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, run(['--help']).stdout);
    assert.match(r.stdout, /^ {2}help \[COMMAND \[SUBCOMMAND\]\]$/m);
    r = run(['help', 'webhooks']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, run(['webhooks', '--help']).stdout);
    r = run(['help', 'deliveries', 'list']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, run(['deliveries', 'list', '--help']).stdout);
    r = run(['help', 'verify']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: kabar verify .*--any-audience/m);
});

test('kabar help with an unknown name: exit 2 and the reason', () => {
    let r = run(['help', 'nope']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /kabar: help: unknown command 'nope'/);
    r = run(['help', 'webhooks', 'nope']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /kabar: help: unknown command 'webhooks nope'/);
});
