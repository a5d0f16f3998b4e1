// The gallery of characters (pick, create, import a card) and a character's card editor.

import { api, get, report, send, session, setStatus } from './api.js';
import { $, confirmButton, h, here, showView, stamp } from './dom.js';
import { t } from './i18n.js';

const FIELDS = ['name', 'description', 'personality', 'scenario', 'first_mes', 'mes_example',
  'system_prompt'];

let voices = null; // GET /api/voices, asked once
const unread = new Map(); // conversation id -> ids of replies not seen yet (this tab)
let editing = null; // the character in the editor (null: a new one)

// ---- the gallery ------------------------------------------------------------------

export async function home() {
  const since = here();
  const [list, conversations] = await Promise.all([
    get('/api/characters'), get('/api/conversations')]);
  if (!showView('home-view', since)) return;
  const byId = new Map(list.map((c) => [c.id, c]));
  $('#characters').replaceChildren(...list.map((c) => h('li',
    { class: 'character', 'data-id': c.id },
    h('button', { type: 'button', class: 'pick', onclick: () => talkTo(c.id, conversations) },
      h('img', { src: c.avatar_url, alt: '', width: 120, height: 120, loading: 'lazy' }),
      h('span', { class: 'name' }, c.name)),
    h('a', { href: `#/character/${c.id}`, class: 'edit-card',
      'aria-label': t('home.edit_label', { name: c.name }) }, t('edit')))));
  const items = conversations.map((conv) => {
    const character = byId.get(conv.character_id);
    const remove = confirmButton(
      h('button', { type: 'button', class: 'delete',
        'aria-label': t('home.delete_chat_label', { title: conv.title }) }, t('delete')),
      t('sure_delete'), async () => {
        try {
          await api('DELETE', `/api/conversations/${conv.id}`);
          await home();
        } catch (e) { report(e); }
      });
    return h('li', { class: 'conversation', 'data-id': conv.id },
      h('a', { href: `#/chat/${conv.id}` },
        character ? h('img', { src: character.avatar_url, alt: '', width: 40, height: 40 }) : null,
        h('span', { class: 'title' }, conv.title), unreadBadge(conv.id), stamp(conv.updated_at)),
      remove);
  });
  $('#conversations').replaceChildren(...(items.length ? items
    : [h('li', { class: 'muted' }, t('home.no_conversations'))]));
}

function unreadBadge(id) {
  const count = unread.get(id)?.size || 0;
  return count ? h('span', { class: 'badge unread', 'aria-label': t('home.unread', { count }) },
    String(count)) : null;
}

/** A reply stored in a conversation that is not open: badge it in the list. */
export function markUnread(message) {
  const id = message.conversation_id;
  if (!unread.has(id)) unread.set(id, new Set());
  unread.get(id).add(message.id); // a set: a reply updated twice is still one
  const item = $(`#conversations .conversation[data-id="${id}"] a`);
  if (!item) {
    if (!$('#home-view').hidden) home().catch(report); // a new conversation: redraw the list
    return;
  }
  item.querySelector('.unread')?.remove();
  item.querySelector('.title').after(unreadBadge(id));
}

/** The conversation is open: nothing in it is unread. */
export function markRead(id) {
  unread.delete(id);
}

/** Open the latest conversation with a character, or start one. */
async function talkTo(characterId, conversations) {
  try {
    const existing = conversations.find((c) => c.character_id === characterId);
    const conv = existing || await api('POST', '/api/conversations', { character_id: characterId });
    location.hash = `#/chat/${conv.id}`;
  } catch (e) { report(e); }
}

async function importCard(file) {
  if (!file) return;
  const form = new FormData();
  form.append('file', file);
  setStatus(t('home.importing', { file: file.name }));
  try {
    const character = await (await send('POST', '/api/characters/import', { form })).json();
    setStatus(t('home.imported', { name: character.name }));
    await home();
    $(`#characters .character[data-id="${character.id}"] .pick`)?.focus();
  } catch (e) { report(e); }
}

$('#new-character').addEventListener('click', () => { location.hash = '#/character/new'; });
$('#import-file').addEventListener('change', async (event) => {
  await importCard(event.target.files[0]);
  event.target.value = '';
});
const dropZone = $('#home-view');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('dropping');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dropping'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dropping');
  importCard(event.dataTransfer.files[0]);
});

// ---- the editor -------------------------------------------------------------------

const form = $('#character-form');

/** Open the editor on a character (null: a new one). */
export async function edit(id) {
  const since = here();
  voices ??= await get('/api/voices');
  const loaded = id === null ? null : await get(`/api/characters/${id}`);
  if (!showView('editor-view', since)) return;
  editing = loaded;
  const data = editing ? editing.data : {};
  $('#editor-title').textContent = editing ? editing.name : t('home.new');
  $('#editor-error').textContent = '';
  for (const name of FIELDS) form.elements[name].value = data[name] || '';
  const voice = data.extensions?.hearth?.voice || {};
  fillVoices(voice.name || '');
  form.elements.speed.value = voice.speed ?? 1;
  $('#lorebook').replaceChildren(...(data.character_book?.entries || []).map(entryEl));
  // What the server turned off in this card (a lorebook regex that ran too long...).
  $('#card-warnings').replaceChildren(...(editing?.warnings || []).map((w) => h('li', {}, w)));
  const avatar = $('#editor-avatar');
  avatar.hidden = !editing;
  if (editing) avatar.src = `${editing.avatar_url}?v=${Date.parse(editing.updated_at)}`;
  for (const format of ['png', 'json']) {
    const link = $(format === 'png' ? '#export-character' : '#export-json');
    link.hidden = !editing;
    if (editing) link.href = `/api/characters/${editing.id}/export?format=${format}`;
  }
  $('#avatar-label').hidden = !editing;
  // Only the owner deletes a character (anyone may without accounts: single-user mode).
  const owner = session.me.role === 'owner' || !session.me.has_password;
  $('#delete-character').hidden = !editing || !owner;
  form.elements.name.focus();
}

function fillVoices(current) {
  const select = form.elements.voice;
  const fallback = voices.find((v) => v.default);
  const options = [h('option', { value: '' }, fallback
    ? t('editor.default_voice_named', { name: fallback.name }) : t('editor.default_voice'))];
  for (const v of voices) options.push(h('option', { value: v.name }, `${v.name} (${v.language})`));
  if (current && !voices.some((v) => v.name === current)) {
    options.push(h('option', { value: current }, t('editor.voice_missing', { name: current })));
  }
  select.replaceChildren(...options);
  select.value = current;
}

/** One lorebook entry; the entry's other fields (order, decorators...) ride along. */
function entryEl(entry = { keys: [], content: '', enabled: true }) {
  const n = crypto.randomUUID().slice(0, 8);
  const li = h('li', { class: 'entry' },
    h('label', { for: `keys-${n}` }, t('editor.keys')),
    h('input', { id: `keys-${n}`, class: 'entry-keys', value: (entry.keys || []).join(', ') }),
    h('label', { for: `content-${n}` }, t('editor.content')),
    h('textarea', { id: `content-${n}`, class: 'entry-content', rows: 3 }),
    h('div', { class: 'row' },
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', class: 'entry-enabled', checked: entry.enabled !== false }),
        t('editor.enabled')),
      h('button', { type: 'button', class: 'remove-entry', onclick: () => li.remove() },
        t('editor.remove_entry'))));
  li.querySelector('.entry-content').value = entry.content || '';
  li.entry = entry;
  return li;
}

function book() {
  const entries = [...$('#lorebook').children].map((li) => ({
    ...li.entry,
    keys: li.querySelector('.entry-keys').value.split(',').map((k) => k.trim()).filter(Boolean),
    content: li.querySelector('.entry-content').value,
    enabled: li.querySelector('.entry-enabled').checked,
  }));
  const before = editing?.data.character_book;
  if (!entries.length && !before) return null;
  return { ...(before || {}), entries };
}

function cardFields() {
  const fields = Object.fromEntries(FIELDS.map((name) => [name, form.elements[name].value]));
  const name = form.elements.voice.value;
  const speed = Number(form.elements.speed.value) || 1;
  const before = editing?.data.extensions?.hearth?.voice || {};
  if (name === (before.name || '') && speed === (before.speed ?? 1)) {
    return { ...fields, character_book: book() }; // the voice is left as it was
  }
  // `extensions` is merge-patched by the server: this changes the voice and nothing else.
  const voice = name || speed !== 1 ? { speed, name: name || null } : null;
  return { ...fields, character_book: book(), extensions: { hearth: { voice } } };
}

$('#add-entry').addEventListener('click', () => {
  const li = entryEl();
  $('#lorebook').append(li);
  li.querySelector('input').focus();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  $('#editor-error').textContent = '';
  try {
    const fields = cardFields();
    const saved = editing
      ? await api('PATCH', `/api/characters/${editing.id}`, fields)
      : await api('POST', '/api/characters', fields);
    setStatus(t('editor.saved', { name: saved.name }));
    if (editing) await edit(saved.id);
    else location.hash = `#/character/${saved.id}`;
  } catch (e) {
    $('#editor-error').textContent = e.message;
  }
});

$('#avatar-file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  event.target.value = '';
  if (!file || !editing) return;
  const picture = new FormData();
  picture.append('file', file);
  try {
    await send('PUT', `/api/characters/${editing.id}/avatar`, { form: picture });
    await edit(editing.id);
  } catch (e) { report(e); }
});

$('#hear-voice').addEventListener('click', async () => {
  const name = form.elements.voice.value || voices.find((v) => v.default)?.name;
  if (!name) return setStatus(t('editor.no_voice'), 'error');
  const speed = Number(form.elements.speed.value) || 1;
  const button = $('#hear-voice');
  button.disabled = true;
  try {
    const path = `/api/voices/${encodeURIComponent(name)}/preview?speed=${speed}`;
    const response = await send('GET', path);
    const audio = $('#voice-preview');
    if (audio.src) URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(await response.blob());
    await audio.play();
  } catch (e) {
    report(e);
  } finally {
    button.disabled = false;
  }
});

confirmButton($('#delete-character'), () => t('editor.sure_delete'), async () => {
  try {
    await api('DELETE', `/api/characters/${editing.id}`);
    setStatus(t('editor.deleted', { name: editing.name }));
    location.hash = '#/';
  } catch (e) { report(e); }
});

/** A character by id, for the chat view (asked each time: cards change). */
export const character = (id) => get(`/api/characters/${id}`);
