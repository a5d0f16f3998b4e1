// The person's profile (GET/PATCH /api/me): the name characters call them, pronouns, a
// persona, their time zone and language, whether characters may write first; and, for
// this device only, whether a character's message shows a browser notification.

import { ApiError, api, get, report, session, setStatus } from './api.js';
import { $, deviceZone, h, here, setZone, showView } from './dom.js';
import { setLanguage, t } from './i18n.js';

const FIELDS = ['display_name', 'pronouns', 'persona', 'timezone', 'language'];
const LANGUAGES = [['en', 'English'], ['ko', '한국어'], ['ja', '日本語'], ['zh', '中文'],
  ['es', 'Español'], ['fr', 'Français'], ['de', 'Deutsch'], ['pt-BR', 'Português (Brasil)'],
  ['it', 'Italiano'], ['ru', 'Русский'], ['nl', 'Nederlands'], ['pl', 'Polski'],
  ['sv', 'Svenska'], ['tr', 'Türkçe'], ['uk', 'Українська'], ['ar', 'العربية'],
  ['hi', 'हिन्दी'], ['id', 'Bahasa Indonesia'], ['vi', 'Tiếng Việt'], ['th', 'ไทย']];
const NOTIFY_KEY = 'hearth.notify';

const form = $('#profile-form');
const zoneInput = $('#p-timezone');

/** The person has asked for notifications on this device, and the browser allows them. */
export const notifying = () => localStorage.getItem(NOTIFY_KEY) === 'on'
  && 'Notification' in window && Notification.permission === 'granted';

// The lists are filled once: every IANA zone the browser knows, and common languages.
function fillSuggestions() {
  if ($('#zones').childElementCount) return;
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [];
  $('#zones').replaceChildren(...zones.map((z) => h('option', { value: z })));
  $('#languages').replaceChildren(...LANGUAGES.map(([tag, name]) =>
    h('option', { value: tag }, name)));
}

function clearErrors() {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  $('#profile-error').textContent = '';
}

function zoneHint(fromDevice) {
  $('#p-timezone-hint').textContent = fromDevice
    ? t('profile.zone_from_device', { zone: deviceZone() }) : t('profile.zone_hint');
}

export async function show() {
  const since = here();
  const me = await get('/api/me');
  session.me = me;
  if (!showView('profile-view', since)) return;
  fillSuggestions();
  clearErrors();
  for (const name of FIELDS) form.elements[name].value = me[name] ?? '';
  // No zone kept yet ('' or an old server without the field): offer this device's.
  zoneInput.value = me.timezone || deviceZone();
  zoneHint(!me.timezone);
  form.elements.reach_out.checked = me.reach_out ?? true;
  notifyBox.checked = localStorage.getItem(NOTIFY_KEY) === 'on';
  notifyHint();
  form.elements.display_name.focus();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors();
  const body = Object.fromEntries(FIELDS.map((name) => [name, form.elements[name].value.trim()]));
  body.reach_out = form.elements.reach_out.checked;
  $('#save-profile').disabled = true;
  try {
    const me = await api('PATCH', '/api/me', body);
    session.me = me;
    setZone(me.timezone);
    $('#me').textContent = me.display_name || me.name;
    setLanguage(me.language_set === false ? null : me.language);
    zoneHint(false);
    setStatus(t('profile.saved'));
  } catch (e) {
    // A refusal names its field first ("timezone: ..."): show it there; nothing was saved.
    const field = e instanceof ApiError && e.status === 422
      ? [...FIELDS, 'reach_out'].find((name) => e.message.startsWith(name)) : null;
    if (field) {
      $(`#p-${field}-error`).textContent = e.message;
      form.elements[field].setAttribute('aria-invalid', 'true');
      form.elements[field].focus();
    } else if (e instanceof ApiError) {
      $('#profile-error').textContent = e.message;
    } else report(e);
  } finally {
    $('#save-profile').disabled = false;
  }
});

for (const name of [...FIELDS, 'reach_out']) {
  form.elements[name].addEventListener('input', () => {
    form.elements[name].removeAttribute('aria-invalid');
    $(`#p-${name}-error`).textContent = '';
  });
}

$('#use-device-zone').addEventListener('click', () => {
  zoneInput.value = deviceZone();
  zoneInput.dispatchEvent(new Event('input'));
  zoneHint(true);
});

// ---- notifications on this device -------------------------------------------------

const notifyBox = $('#p-notify');

function notifyHint() {
  let text = '';
  if (!('Notification' in window)) text = t('profile.notify_unsupported');
  else if (Notification.permission === 'denied') text = t('profile.notify_blocked');
  $('#p-notify-hint').textContent = text;
  notifyBox.disabled = !('Notification' in window);
}

// Permission is asked only here, when the person ticks the box: never on its own.
notifyBox.addEventListener('change', async () => {
  if (notifyBox.checked && 'Notification' in window && Notification.permission !== 'granted') {
    const answer = await Notification.requestPermission();
    if (answer !== 'granted') notifyBox.checked = false;
  }
  localStorage.setItem(NOTIFY_KEY, notifyBox.checked ? 'on' : 'off');
  notifyHint();
});
