// SPDX-License-Identifier: Apache-2.0
// Test helper: start a real kabard on a free port with a fresh temporary data
// directory, wait until /healthz answers, capture its output, and stop it with
// SIGTERM (asserting a clean exit). Also small HTTP helpers shared by the
// integration tests.

import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { checkResponse } from './openapi.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Directory holding the kabard and kabar binaries. */
export const BIN_DIR = path.resolve(
  process.env.KABAR_BIN_DIR || path.join(here, '..', '..', '..', 'build'));
export const KABARD = path.join(BIN_DIR, 'kabard');
export const KABAR = path.join(BIN_DIR, 'kabar');
/** kabard with a store that fails on demand (tests/fault/kabard_fault.c). */
export const KABARD_FAULT = path.join(BIN_DIR, 'tests', 'kabard_fault');

const READY_TIMEOUT_MS = 10_000;

/** Origins of the kabard processes of this test run: only their responses
 *  are held to the OpenAPI description (request() also talks to receivers
 *  such as `kabar listen`). */
const kabardOrigins = new Set();
const STOP_TIMEOUT_MS = 10_000;

/** A TCP port that was free a moment ago (listen on 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh, empty temporary directory. */
export function tempDir(prefix = 'kabar-it-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The environment of the test runner without any KABAR_* variable, so a
 *  developer's own settings never leak into a test. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KABAR_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Run bin to its end; resolves {code, signal, stdout, stderr}. input, when
 * given, goes to its stdin (else stdin is closed); it is killed after
 * timeoutMs.
 */
export function runProgram(bin, args, { cwd, env, input, timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(bin)) {
      reject(new Error(`${path.basename(bin)} binary not found at ${bin} (set KABAR_BIN_DIR)`));
      return;
    }
    const p = spawn(bin, args, {
      cwd,
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr']) {
      p[stream].setEncoding('utf8');
      p[stream].on('data', (d) => { out[stream] += d; });
    }
    if (input !== undefined) {
      p.stdin.on('error', () => {});
      p.stdin.end(input);
    }
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ...out });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The PostgreSQL pass of make test sets KABAR_TEST_DATABASE_URL (a server of
 * tests/pg/pg.sh). Then every data dir gets a database of its own, created on
 * first use and named after the dir, so each test server starts empty and a
 * restart on the same data dir finds its old database. Undefined otherwise
 * (kabard's default: SQLite in the data dir).
 */
export function testDatabaseUrl(dataDir) {
  const base = process.env.KABAR_TEST_DATABASE_URL;
  if (!base) return undefined;
  const name = `kabar_t_${crypto.createHash('sha256').update(dataDir).digest('hex').slice(0, 24)}`;
  try {
    execFileSync('psql', [base, '-qAtc', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
  } catch (e) {
    if (!/already exists/.test(String(e.stderr))) throw e;
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Drop the database testDatabaseUrl made (no server may be using it). */
export function dropTestDatabase(url) {
  const base = process.env.KABAR_TEST_DATABASE_URL;
  if (!base || !url) return;
  const name = new URL(url).pathname.slice(1);
  execFileSync('psql', [base, '-qAtc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`],
               { stdio: 'pipe' });
}

/** The whole database of k as text (pg_dump), or undefined on SQLite, where
 *  it is a file of the data dir. */
export function databaseDump(k) {
  if (!k.databaseUrl) return undefined;
  return execFileSync('pg_dump', [k.databaseUrl], { encoding: 'latin1', maxBuffer: 1 << 28 });
}

export class Kabard {
  /**
   * @param {object} [opts]
   * @param {string} [opts.dataDir]        reuse this data dir (restart); default: a fresh temp dir
   * @param {string} [opts.apiKey]         KABAR_API_KEY (default project)
   * @param {string} [opts.apiKeys]        KABAR_API_KEYS ("proj:key,proj:key")
   * @param {string} [opts.masterKey]      KABAR_MASTER_KEY
   * @param {boolean} [opts.allowPrivate]  pass --allow-private-targets (default true)
   * @param {string[]} [opts.args]         extra arguments
   * @param {object} [opts.env]            extra environment
   * @param {string} [opts.database]       --database URL (default: testDatabaseUrl)
   * @param {string} [opts.binary]         the program to run (default: KABARD)
   */
  constructor(opts = {}) {
    this.opts = { allowPrivate: true, ...opts };
    this.dataDir = opts.dataDir || tempDir('kabard-data-');
    this.ownsDataDir = !opts.dataDir;
    this.databaseUrl = opts.database ?? testDatabaseUrl(this.dataDir);
    this.apiKey = opts.apiKey;
    this.proc = null;
    this.port = 0;
    this.stdout = '';
    this.stderr = '';
    this.exit = null; // {code, signal} once exited
  }

  get baseUrl() { return `http://127.0.0.1:${this.port}`; }
  /** Captured stdout and stderr of every run of this instance. */
  get output() { return this.stdout + this.stderr; }

  async start() {
    let lastErr;
    // The free port may be taken between probing and binding: retry a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#startOnce(await freePort());
        return this;
      } catch (e) {
        lastErr = e;
        if (!e.retryable) break;
      }
    }
    throw lastErr;
  }

  async #startOnce(port) {
    const binary = this.opts.binary || KABARD;
    if (!fs.existsSync(binary)) {
      throw new Error(`kabard binary not found at ${binary} (set KABAR_BIN_DIR)`);
    }
    this.port = port;
    kabardOrigins.add(this.baseUrl);
    const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', this.dataDir];
    if (this.databaseUrl) args.push('--database', this.databaseUrl);
    if (this.opts.allowPrivate) args.push('--allow-private-targets');
    if (this.opts.args) args.push(...this.opts.args);
    const extra = { ...(this.opts.env || {}) };
    if (this.opts.apiKey !== undefined) extra.KABAR_API_KEY = this.opts.apiKey;
    if (this.opts.apiKeys !== undefined) extra.KABAR_API_KEYS = this.opts.apiKeys;
    if (this.opts.masterKey !== undefined) extra.KABAR_MASTER_KEY = this.opts.masterKey;

    const runStart = { out: this.stdout.length, err: this.stderr.length };
    this.exit = null;
    const proc = spawn(binary, args, {
      env: cleanEnv(extra),
      cwd: this.dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { this.stdout += d; });
    proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    proc.on('error', (e) => { this.spawnError = e; });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.spawnError) throw this.spawnError;
      if (this.exit) {
        const out = this.stdout.slice(runStart.out) + this.stderr.slice(runStart.err);
        const err = new Error(`kabard exited before ready (code ${this.exit.code}, signal ${this.exit.signal}):\n${out}`);
        err.retryable = /address already in use|EADDRINUSE|bind/i.test(out);
        throw err;
      }
      try {
        const res = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) {
          // The first-run key generation writes DIR/api-key: pick it up.
          if (this.opts.apiKey === undefined && this.opts.apiKeys === undefined) {
            const keyFile = path.join(this.dataDir, 'api-key');
            if (fs.existsSync(keyFile)) this.apiKey = fs.readFileSync(keyFile, 'utf8').trim();
          }
          return;
        }
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    proc.kill('SIGKILL');
    await this.exited;
    throw new Error(`kabard not ready on port ${port} within ${READY_TIMEOUT_MS} ms:\n${this.output}`);
  }

  /** SIGTERM; resolves with {code, signal}; throws unless it exits 0 within 10 s. */
  async stop() {
    if (!this.proc) return this.exit;
    const proc = this.proc;
    this.proc = null;
    if (!this.exit) proc.kill('SIGTERM');
    const timeout = sleep(STOP_TIMEOUT_MS).then(() => 'timeout');
    const r = await Promise.race([this.exited, timeout]);
    if (r === 'timeout') {
      proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`kabard did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
    }
    if (r.code !== 0 || r.signal !== null) {
      throw new Error(`kabard exited with code ${r.code}, signal ${r.signal} after SIGTERM; stderr:\n${this.stderr.slice(-4000)}`);
    }
    return r;
  }

  /** Stop (if running, without asserting) and delete the data dir we created. */
  async cleanup() {
    if (this.proc) {
      try { await this.stop(); } catch { /* already reported by the test that cares */ }
    }
    if (this.ownsDataDir) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
      if (!this.opts.database) dropTestDatabase(this.databaseUrl);
    }
  }

  /**
   * fetch() against this server. opts: method, body (object → JSON, string →
   * sent as is), key (default this.apiKey; null → no key), query (object),
   * headers. Returns {status, headers, text, json}.
   */
  async request(method, urlPath, opts = {}) {
    return request(this.baseUrl, method, urlPath, { key: this.apiKey, ...opts });
  }

  /** Every webhook of the key's project (all pages, page_size 1000). */
  async listAll(opts = {}) {
    const out = [];
    let token;
    for (let i = 0; i < 100; i++) {
      const query = { page_size: '1000' };
      if (token) query.page_token = token;
      const r = await this.request('GET', '/v1/webhooks', { ...opts, query });
      if (r.status !== 200) throw new Error(`list failed: ${r.status} ${r.text}`);
      out.push(...(r.json.webhooks || []));
      token = r.json.next_page_token;
      if (!token) return out;
    }
    throw new Error('list never ended');
  }

  /**
   * Run one SQL statement on this server's database, below the API (psql on
   * PostgreSQL, the sqlite3 shell on SQLite, which waits for kabard's write
   * lock); returns what it prints. For states no API call makes on demand,
   * such as a session past its end.
   */
  sql(statement) {
    const url = this.databaseUrl;
    if (url && /^postgres(ql)?:\/\//.test(url)) {
      return execFileSync('psql', [url, '-qAtc', statement], { encoding: 'utf8' }).trim();
    }
    const file = url ? url.replace(/^sqlite:/, '') : path.join(this.dataDir, 'kabar.db');
    return execFileSync('sqlite3', ['-cmd', '.timeout 10000', file, statement],
                        { encoding: 'utf8' }).trim();
  }

  /** Parsed `msg=request` log lines. */
  requestLog() {
    return parseLogfmtLines(this.stderr).filter((l) => l.msg === 'request');
  }
}

/** Start a kabard (see Kabard's constructor for options). */
export async function startKabard(opts = {}) {
  const k = new Kabard(opts);
  try {
    await k.start();
  } catch (e) {
    await k.cleanup();
    throw e;
  }
  return k;
}

export async function request(baseUrl, method, urlPath, opts = {}) {
  const url = new URL(urlPath, baseUrl);
  for (const [k, v] of Object.entries(opts.query || {})) url.searchParams.set(k, v);
  const headers = { ...(opts.headers || {}) };
  if (opts.key !== undefined && opts.key !== null) headers['x-goog-api-key'] = opts.key;
  let body;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' || opts.body instanceof Uint8Array
      ? opts.body : JSON.stringify(opts.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let json;
  try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
  // Every response of kabard a test sees is also held to the OpenAPI description.
  if (kabardOrigins.has(url.origin)) {
    checkResponse(method, url.pathname, res.status, res.headers.get('content-type'), text);
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * A raw HTTP request with node:http, for bodies fetch() cannot send the way we
 * want (huge, chunked). Resolves with the response even if the server stops
 * reading the request body early (EPIPE/ECONNRESET after the answer).
 */
export function rawRequest(baseUrl, method, urlPath, { headers = {}, body, chunked = false } = {}) {
  const url = new URL(urlPath, baseUrl);
  return new Promise((resolve, reject) => {
    let settled = false;
    const h = { ...headers };
    if (body !== undefined && !chunked) h['content-length'] = Buffer.byteLength(body);
    if (chunked) h['transfer-encoding'] = 'chunked';
    const req = http.request({
      host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: h,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        settled = true;
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        try {
          if (kabardOrigins.has(url.origin)) {
            checkResponse(method, url.pathname, res.statusCode, res.headers['content-type'], text);
          }
        } catch (e) { reject(e); return; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    });
    req.setTimeout(15_000, () => req.destroy(new Error('raw request timed out')));
    req.on('error', (e) => {
      // A server that answers 413 may close before reading everything; the
      // response handler still resolves if the answer arrived.
      setTimeout(() => { if (!settled) { settled = true; reject(e); } }, 500);
    });
    if (body !== undefined) {
      const buf = Buffer.from(body);
      if (chunked) {
        const CH = 64 * 1024;
        for (let i = 0; i < buf.length; i += CH) req.write(buf.subarray(i, i + CH));
      } else {
        req.write(buf);
      }
    }
    req.end();
  });
}

/** Parse logfmt lines: key=value, key="quoted value". */
export function parseLogfmtLines(text) {
  const lines = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const rec = {};
    const re = /([A-Za-z0-9_.\-]+)=("((?:[^"\\]|\\.)*)"|\S*)/g;
    let m;
    while ((m = re.exec(line)) !== null) {
      rec[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
    }
    rec._line = line;
    lines.push(rec);
  }
  return lines;
}
