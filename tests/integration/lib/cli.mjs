// SPDX-License-Identifier: Apache-2.0
// Test helper: checks of a kabar run ({code, signal, stdout, stderr}, as
// runProgram resolves it) shared by the CLI's integration tests.

import assert from 'node:assert/strict';

/** A run, for assertion messages. */
export const show = (r) => `exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** The run exited 0 with nothing on stderr; returns it. */
export function ok(r, what) {
  assert.equal(r.code, 0, `${what}: ${show(r)}`);
  assert.equal(r.stderr, '', `${what}: nothing on stderr`);
  return r;
}

/** The run's stdout as JSON. */
export function parseJson(r, what) {
  try {
    return JSON.parse(r.stdout);
  } catch {
    return assert.fail(`${what}: stdout is not JSON: ${r.stdout}`);
  }
}

/** A usage error: exit 2, pattern and the usage line on stderr. */
export function assertUsage(r, pattern) {
  assert.equal(r.code, 2, `usage error expected: ${show(r)}`);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.match(r.stderr, pattern);
  assert.match(r.stderr, /^usage: kabar /m, 'the usage line follows');
}
