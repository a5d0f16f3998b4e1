// Hearth's web client: signing in and choosing the view from the address (#/...).
//   #/                 the characters and conversations
//   #/chat/ID          a conversation
//   #/character/ID     a character's card (#/character/new: a new one)
//   #/profile          the person's profile
// Once signed in, /api/events brings messages stored elsewhere (another device, or a
// character writing first) into the open chat, or as an unread badge in the list.

import { ApiError, api, get, hooks, report, session, setStatus } from './api.js';
import { $, moved, setZone, showView } from './dom.js';
import * as characters from './characters.js';
import * as chat from './chat.js';
import * as events from './events.js';
import * as profile from './profile.js';
import { setLanguage, t } from './i18n.js';

function showLogin() {
  session.me = null;
  events.disconnect();
  chat.leave();
  $('#nav').hidden = true;
  showView('login-view');
  $('#login-name').focus();
}

function signedIn(me) {
  session.me = me;
  setLanguage(me.language_set === false ? null : me.language); // unset: the browser's
  $('#nav').hidden = false;
  $('#me').textContent = me.display_name || me.name;
  // Without a password there is nothing to log back in with (single-user mode).
  $('#logout').hidden = !me.has_password;
  setZone(me.timezone);
  events.connect({ onMessage: arrived, onReconnect: () => chat.reload() });
}

/** A message stored somewhere: shown in the open chat, else counted as unread. */
async function arrived(message) {
  const shown = chat.receive(message);
  if (message.role !== 'assistant') return;
  if (!shown) characters.markUnread(message);
  if (profile.notifying() && (!shown || document.hidden)) {
    try {
      const conv = await get(`/api/conversations/${message.conversation_id}`);
      const who = await characters.character(conv.character_id);
      const note = new Notification(who.name, { body: message.content.slice(0, 200),
        tag: `hearth-${conv.id}`, icon: who.avatar_url });
      note.addEventListener('click', () => {
        window.focus();
        location.hash = `#/chat/${conv.id}`;
      });
    } catch { /* a notification is a courtesy: never an error to show */ }
  }
}

async function route() {
  if (!session.me) return;
  moved();
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  try {
    if (parts[0] === 'chat' && parts[1]) {
      await chat.open(Number(parts[1]));
    } else if (parts[0] === 'profile') {
      chat.leave();
      await profile.show();
    } else if (parts[0] === 'character' && parts[1]) {
      chat.leave();
      await characters.edit(parts[1] === 'new' ? null : Number(parts[1]));
    } else {
      chat.leave();
      await characters.home();
    }
  } catch (e) {
    report(e);
  }
}

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const alert = $('#login-error');
  alert.textContent = '';
  $('#login-submit').disabled = true;
  try {
    await api('POST', '/api/login', {
      name: $('#login-name').value.trim(),
      password: $('#login-password').value,
    });
    $('#login-password').value = '';
    signedIn(await get('/api/me')); // the whole profile (its time zone), not just the name
    await route();
  } catch (e) {
    alert.textContent = e instanceof ApiError ? e.message : String(e);
  } finally {
    $('#login-submit').disabled = false;
  }
});

$('#logout').addEventListener('click', async () => {
  try {
    await api('POST', '/api/logout');
  } catch (e) {
    report(e);
  }
  await start();
});

window.addEventListener('hashchange', route);
window.addEventListener('offline', () => setStatus(t('status.offline'), 'warn'));
window.addEventListener('online', () => setStatus(''));
hooks.unauthorized = () => {
  if (session.me) setStatus(t('status.session_ended'), 'warn');
  showLogin();
};

async function start() {
  setLanguage(null); // the browser's, until the profile says
  try {
    // Single-user mode (no owner yet, on loopback): /api/me answers without a login.
    signedIn(await get('/api/me'));
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) report(e);
    showLogin();
    return;
  }
  await route();
}

start();
