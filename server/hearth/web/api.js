// Talking to Hearth's HTTP API: JSON requests, SSE streams read from a POST, and the
// errors a household meets (busy server, dropped network, expired session) turned into
// clear messages in #status.

import { t } from './i18n.js';

const statusEl = () => document.getElementById('status');

/** Show a line in #status (role=status); an empty text hides it. */
export function setStatus(text, kind = 'info') {
  const el = statusEl();
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Who is signed in (GET /api/me), set by app.js. */
export const session = { me: null };

/** Show an error from the API (or anything else) in #status. */
export function report(error) {
  if (error && error.name === 'AbortError') return;
  console.error(error);
  const message = error instanceof ApiError ? error.message : t('error.generic', { error });
  setStatus(message.charAt(0).toUpperCase() + message.slice(1), 'error');
}

/** Called when the server says we are not signed in (set by app.js). */
export const hooks = { unauthorized: () => {} };

const MAX_BUSY_TRIES = 6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function errorOf(response) {
  let code = 'http_error';
  let message = t('error.http', { status: response.status });
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not JSON: keep the generic message */ }
  return new ApiError(response.status, code, message);
}

/** Wait until the server answers again, telling the user we are reconnecting. */
export async function waitForServer() {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10000)) {
    setStatus(t('status.reconnecting'), 'warn');
    await sleep(delay);
    try {
      const r = await fetch('/api/health', { cache: 'no-store' });
      if (r.ok) { setStatus(''); return; }
    } catch { /* still down */ }
  }
}

/**
 * fetch() with Hearth's rules: same-origin cookie, 503 retried after Retry-After
 * (nothing is stored on a 503), a dropped connection waited out. A GET is retried after
 * the network returns; anything else throws ApiError(0, 'network') so the caller can
 * reload what was stored instead of sending twice.
 */
export async function send(method, path, { json, form, signal } = {}) {
  const init = { method, credentials: 'same-origin', signal, headers: {} };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  } else if (form) {
    init.body = form;
  }
  for (let tries = 1; ; tries++) {
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      await waitForServer();
      if (method === 'GET') continue;
      throw new ApiError(0, 'network', t('error.dropped_retry'));
    }
    if (response.status === 503 && tries < MAX_BUSY_TRIES) {
      const wait = Number(response.headers.get('retry-after')) || 5;
      for (let left = wait; left > 0; left--) {
        setStatus(t('status.busy_retry', { left }), 'warn');
        await sleep(1000);
      }
      setStatus('');
      continue;
    }
    if (response.ok) return response;
    const error = await errorOf(response);
    if (response.status === 401) hooks.unauthorized(error);
    if (response.status === 503) {
      error.message = t('error.still_busy', { message: error.message });
    }
    throw error;
  }
}

/** A JSON request; resolves to the parsed body (null for 204). */
export async function api(method, path, json) {
  const response = await send(method, path, { json });
  return response.status === 204 ? null : response.json();
}

export const get = (path) => api('GET', path);

/**
 * POST `json` to `path` and read the Server-Sent Events of the answer as they come:
 * onEvent(name, data) for each event (start, delta, message, error).
 */
export async function stream(path, json, onEvent, signal) {
  const response = await send('POST', path, { json, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      await waitForServer();
      throw new ApiError(0, 'network', t('error.dropped_reply'));
    }
    if (chunk.done) break;
    buffer += chunk.value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      dispatch(block, onEvent);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(block, onEvent) {
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length) onEvent(name, JSON.parse(data.join('\n')));
}
