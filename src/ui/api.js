// SPDX-License-Identifier: Apache-2.0
// The HTTP API as the dashboard uses it: same origin, the session cookie,
// and the session's CSRF token on every request that changes something.

let csrf = '';
export function setCsrf(token) { csrf = token || ''; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.status;
  }
}

export async function api(method, path, body, query) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-kabar-csrf'] = csrf;
  const res = await fetch(url, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : {}; } catch { json = {}; }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export const get = (path, query) => api('GET', path, undefined, query);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body, query) => api('PATCH', path, body, query);
export const del = (path) => api('DELETE', path);

export const CATALOG = [
  'batch.succeeded', 'batch.cancelled', 'batch.expired', 'batch.failed',
  'interaction.requires_action', 'interaction.completed', 'interaction.failed',
  'interaction.cancelled', 'video.generated',
];
