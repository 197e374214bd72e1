// SPDX-License-Identifier: Apache-2.0
// Test helper: a real HTTP receiver for webhook deliveries (node:http on
// 127.0.0.1, a free port). It records every request and answers from a
// programmable script.
//
//   const rcv = await startReceiver();
//   rcv.url('/a')                         -> 'http://127.0.0.1:PORT/a'
//   rcv.script('/a', [{status: 500}, {status: 500}, {status: 200}])
//                                         queue: one response per request, in order
//   rcv.script('/a', {status: 410})       a single queued response
//   rcv.always('/a', {status: 500})       the response once the queue is empty
//                                         (null: back to the default)
//   rcv.requests / rcv.forPath('/a')      [{method, url, path, headers, body (Buffer),
//                                           text, json, time (ms, arrival), endTime
//                                           (body read), answerTime (answered), response}]
//   await rcv.waitFor(() => cond, 5000, 'what')   poll until cond is truthy
//   await rcv.waitForCount('/a', 3, 5000)
//   await rcv.close()
//
// A response: {status = 200, headers = {}, body = 'ok', delayMs = 0,
// hang = false}, or a function (req) => response called when the request
// arrives. hang never answers (the connection stays open until the
// client gives up or the receiver closes); delayMs answers after a delay.

import http from 'node:http';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const DEFAULT_RESPONSE = Object.freeze({ status: 200 });

export class Receiver {
  constructor() {
    this.requests = [];
    this.queues = new Map();   // path -> [response, ...]
    this.sticky = new Map();   // path -> response once the queue is empty
    this.defaultResponse = DEFAULT_RESPONSE;
    this.hanging = new Set();  // responses we never answer (closed on close())
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.port = 0;
    this.closed = false;
  }

  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = this.server.address().port;
    return this;
  }

  get baseUrl() { return `http://127.0.0.1:${this.port}`; }

  url(path = '/hook') { return `${this.baseUrl}${path}`; }

  /** Queue responses for path (array or a single response). */
  script(path, responses) {
    const list = Array.isArray(responses) ? responses : [responses];
    const q = this.queues.get(path) || [];
    q.push(...list);
    this.queues.set(path, q);
    return this;
  }

  /** The response for path once its queue is empty (null: the default 200). */
  always(path, response) {
    if (response === null || response === undefined) this.sticky.delete(path);
    else this.sticky.set(path, response);
    return this;
  }

  /** Drop the queued responses of path (or of every path). */
  clearScript(path) {
    if (path === undefined) this.queues.clear();
    else this.queues.delete(path);
    return this;
  }

  /** Requests to path (pathname without the query). */
  forPath(path) { return this.requests.filter((r) => r.path === path); }

  #next(path) {
    const q = this.queues.get(path);
    if (q && q.length) return q.shift();
    if (this.sticky.has(path)) return this.sticky.get(path);
    return this.defaultResponse;
  }

  #handle(req, res) {
    const time = Date.now();
    const chunks = [];
    const path = new URL(req.url, 'http://x').pathname;
    // Decide the response when the request arrives, so the order of the
    // queue follows the order of arrival.
    let spec = this.#next(path);
    if (typeof spec === 'function') spec = spec(req);
    const response = { ...DEFAULT_RESPONSE, ...spec };
    let cutOff = false;  // the client went away before we answered
    res.on('close', () => { if (!res.writableFinished) cutOff = true; });
    req.on('data', (d) => chunks.push(d));
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      const rec = {
        method: req.method,
        url: req.url,
        path,
        headers: { ...req.headers },
        rawHeaders: [...req.rawHeaders],
        httpVersion: req.httpVersion,
        body,
        text,
        json,
        time,
        endTime: Date.now(),
        response,
      };
      this.requests.push(rec);
      if (response.hang) {
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
      }
      if (response.delayMs) await sleep(response.delayMs);
      if (this.closed || cutOff || res.destroyed || !res.socket || res.socket.destroyed) return;
      res.on('finish', () => { rec.answerTime = Date.now(); });
      const body2 = response.body !== undefined ? response.body : (response.status >= 200 && response.status < 300 ? 'ok' : `status ${response.status}`);
      const headers = { 'content-type': 'text/plain', ...(response.headers || {}) };
      try {
        res.writeHead(response.status, headers);
        res.end(body2);
      } catch { /* client went away */ }
    });
  }

  /** Poll predicate (sync or async) every 25 ms until truthy; returns its value. */
  async waitFor(predicate, timeoutMs = 5000, what = 'condition') {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await predicate();
      if (v) return v;
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ` +
          `(receiver has ${this.requests.length} requests: ` +
          `${JSON.stringify(summary(this.requests.slice(-10)))})`);
      }
      await sleep(25);
    }
  }

  /** Wait until path has received at least n requests; returns them. */
  async waitForCount(path, n, timeoutMs = 5000) {
    await this.waitFor(() => this.forPath(path).length >= n, timeoutMs,
      `${n} request(s) to ${path}`);
    return this.forPath(path);
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const res of this.hanging) {
      try { res.destroy(); } catch { /* ignore */ }
    }
    this.hanging.clear();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function summary(reqs) {
  return reqs.map((r) => ({ path: r.path, id: r.headers['webhook-id'], status: r.response.status }));
}

/** Start a receiver on a free port of 127.0.0.1. */
export async function startReceiver() {
  return new Receiver().listen();
}

/** Poll predicate (sync or async) until truthy; returns its value. */
export async function waitFor(predicate, timeoutMs = 5000, what = 'condition', intervalMs = 25) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await predicate();
    if (last) return last;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
