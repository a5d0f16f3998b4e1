// #/me: the person's profile (GET/PATCH /api/me). A field the server refuses is named in
// its message, and then nothing was changed.

import { ApiError, api, session } from './api.js';
import { $, h, showView } from './dom.js';

const TEXT_FIELDS = ['display_name', 'pronouns', 'persona', 'timezone', 'language'];
let saved = () => {};

/** Called with the profile as stored after each save (app.js updates the header). */
export function onSaved(callback) {
  saved = callback;
}

export function show() {
  const me = session.me;
  for (const field of TEXT_FIELDS) $(`#p-${field}`).value = me[field] ?? '';
  $('#p-reach_out').checked = me.reach_out;
  $('#profile-error').textContent = '';
  const zones = $('#zones');
  if (!zones.childElementCount && Intl.supportedValuesOf) {
    zones.append(...Intl.supportedValuesOf('timeZone').map((z) => h('option', { value: z })));
  }
  showView('profile-view');
}

$('#profile-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#profile-error');
  error.textContent = '';
  const body = { reach_out: $('#p-reach_out').checked };
  for (const field of TEXT_FIELDS) body[field] = $(`#p-${field}`).value.trim();
  try {
    saved(await api('PATCH', '/api/me', body));
    error.textContent = 'Saved.';
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.message : String(e);
  }
});
