// SPDX-License-Identifier: Apache-2.0
// The OpenAPI description (src/api/openapi.json) as a checker of real
// responses: request() in kabard.mjs passes every response it receives
// through checkResponse(), so each integration test also asserts that what
// kabard answered is what the document says - the document and the server
// cannot drift apart without a test failing. Responses are also counted per
// documented operation (coverage(), used by openapi.test.mjs).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
export const OPENAPI_PATH = path.resolve(here, '..', '..', '..', 'src', 'api', 'openapi.json');
export const doc = JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi');

const escape = (s) => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
// Literal paths first, so /v1/operations:claim is not read as an id.
const routes = Object.keys(doc.paths)
  .map((p) => ({
    path: p,
    templated: p.includes('{'),
    re: new RegExp('^' + p.split(/(\{[^}]+\})/).map((part) =>
      part.startsWith('{') ? '[^/:]+' : escape(part)).join('') + '$'),
  }))
  .sort((a, b) => a.templated - b.templated);

const validators = new Map();
function validator(pointer) {
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.getSchema(`openapi#${pointer}`);
    if (!v) throw new Error(`no schema at ${pointer}`);
    validators.set(pointer, v);
  }
  return v;
}
const ptr = (...parts) => parts.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');

const seen = new Map();
/** How many checked responses each documented "METHOD path status" got. */
export function coverage() { return seen; }

/** The documented path a request path falls under, or undefined. */
export function documentedPath(urlPath) {
  const p = urlPath.replace(/^\/v1beta\//, '/v1/');
  return routes.find((r) => r.re.test(p))?.path;
}

/**
 * Throw unless the response matches the document: its path and method are
 * documented (or it is a documented error: 404 for an unknown route, 405 for
 * a wrong method), its status is one of the operation's responses (or the
 * default, an Error), and a JSON body validates against that response's
 * schema.
 */
export function checkResponse(method, urlPath, status, contentType, text) {
  const dp = documentedPath(urlPath);
  const m = method.toLowerCase();
  let pointer;
  let content;
  if (dp && doc.paths[dp][m]) {
    const responses = doc.paths[dp][m].responses;
    const key = responses[String(status)] ? String(status) : 'default';
    let resp = responses[key];
    pointer = ptr('paths', dp, m, 'responses', key);
    if (resp.$ref) {
      pointer = resp.$ref.slice(1);
      resp = doc.components.responses[resp.$ref.split('/').pop()];
    }
    content = resp.content || {};
    const k = `${method.toUpperCase()} ${dp} ${status}`;
    seen.set(k, (seen.get(k) || 0) + 1);
  } else {
    // Not a documented operation: must be the 404/405 error of one.
    if (status !== 404 && status !== 405) {
      throw new Error(`OpenAPI: ${method} ${urlPath} answered ${status} but is not documented`);
    }
    pointer = '/components/responses/Error';
    content = doc.components.responses.Error.content;
  }
  const media = (contentType || '').split(';')[0].trim();
  if (!content[media]) {
    throw new Error(`OpenAPI: ${method} ${urlPath} ${status}: content type "${media}" is not ` +
                    `documented (${Object.keys(content).join(', ') || 'none'})`);
  }
  if (media !== 'application/json') return;
  let body;
  try { body = JSON.parse(text); } catch {
    throw new Error(`OpenAPI: ${method} ${urlPath} ${status}: body is not JSON: ${text.slice(0, 200)}`);
  }
  const v = validator(pointer + ptr('content', media, 'schema'));
  if (!v(body)) {
    throw new Error(`OpenAPI: ${method} ${urlPath} ${status} does not match the document: ` +
                    `${ajv.errorsText(v.errors)}\nbody: ${text.slice(0, 500)}`);
  }
}
