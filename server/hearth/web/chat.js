// A conversation: messages with streamed replies, swipes, edits and deletes, the "why"
// panel, the voice call (call.js, loaded only when a call starts), and messages stored
// elsewhere arriving live (events.js, through app.js).

import { ApiError, api, get, report, setStatus, stream } from './api.js';
import { $, confirmButton, h, isEnter, showView, stamp } from './dom.js';
import { character as getCharacter, markRead } from './characters.js';
import { t } from './i18n.js';
import * as memory from './memory.js';

const list = $('#messages');
const input = $('#composer-input');

let conv = null; // the open conversation
let who = null; // its character
let messages = []; // as stored, oldest first
let busy = false; // a typed reply is streaming
let abort = null;
let writing = null; // the element the streamed reply goes into
let opening = null; // {id, early: messages that arrived live} while a conversation loads

// ---- opening and drawing ----------------------------------------------------------

export async function open(id) {
  if (conv?.id !== id) leave();
  // Messages arriving live while this loads are kept aside, then merged by id.
  opening = { id, early: [] };
  const loading = opening;
  let opened;
  let character;
  let stored;
  let current = false; // still the conversation to show once loaded
  try {
    opened = await get(`/api/conversations/${id}`);
    [character, stored] = await Promise.all([
      getCharacter(opened.character_id), get(`/api/conversations/${id}/messages`)]);
  } finally {
    current = opening === loading;
    if (current) opening = null;
  }
  if (!current) return; // another view or conversation was opened meanwhile
  [conv, who, messages] = [opened, character, stored];
  for (const message of loading.early) store(message);
  showView('chat-view');
  $('#chat-title').textContent = who.name;
  $('#chat-avatar').src = who.avatar_url;
  document.title = `${who.name} · Hearth`;
  markRead(id);
  render();
  memory.open(conv, who);
  input.focus();
}

/**
 * A message stored somewhere (this tab, another device, the character writing first).
 * Returns whether it belongs to the open conversation. Messages are kept by id, so the
 * copy this tab's own stream brings is never drawn twice.
 */
export function receive(message) {
  if (opening?.id === message.conversation_id) {
    opening.early.push(message);
    return true;
  }
  if (!conv || message.conversation_id !== conv.id) return false;
  const known = messages.find((m) => m.id === message.id);
  if (known && same(known, message)) return true; // this tab's own, already drawn
  store(message);
  // While a reply streams, a voice turn runs or a message is being edited, drawing would
  // wipe what is being written; they redraw from `messages` when they finish.
  if (busy || turns.size || list.querySelector('.edit-text')) return true;
  render();
  if (!known && message.role === 'assistant') announce(message);
  setTimeout(() => memory.refresh(), 4000);
  return true;
}

const same = (a, b) => a.updated_at === b.updated_at && a.content === b.content
  && a.swipe_index === b.swipe_index && a.swipes.length === b.swipes.length
  && a.status === b.status;

/** Reload the open conversation's messages (after the live stream was down a while). */
export async function reload() {
  await resync();
  memory.refresh();
}

/** Leaving the chat view ends its call and any reply being written. */
export function leave() {
  stopCall();
  abort?.abort();
  conv = null;
  opening = null;
  clearTimeout(typingTimer);
  prepared = ''; // the next conversation has evaluated none of it
  document.title = 'Hearth';
}

function render() {
  const lastAssistant = messages.at(-1)?.role === 'assistant' ? messages.at(-1) : null;
  list.replaceChildren(...messages.map((m, i) => messageEl(m, {
    last: i === messages.length - 1,
    swipes: m === lastAssistant,
    regenerate: i === messages.length - 1 && (m.role === 'user' || i > 0),
  })));
  scrollDown();
}

const scrollDown = () => { list.scrollTop = list.scrollHeight; };

/** Text with *stage directions* in italics; never HTML. */
function formatted(text) {
  return text.split(/(\*[^*\n]+\*)/).filter(Boolean).map(
    (part) => (/^\*[^*]+\*$/.test(part) ? h('em', {}, part.slice(1, -1)) : part));
}

function messageEl(m, { swipes = false, regenerate = false } = {}) {
  const assistant = m.role === 'assistant';
  const act = (cls, label, onclick, extra = {}) =>
    h('button', { type: 'button', class: cls, onclick, ...extra }, label);
  const el = h('li', { class: 'message', 'data-id': m.id, 'data-role': m.role,
    'data-status': m.status, 'data-initiated-by': m.initiated_by },
  h('div', { class: 'meta' },
    h('span', { class: 'who' }, assistant ? who.name : t('chat.you')), stamp(m.created_at),
    m.initiated_by === 'character' ? h('span', { class: 'badge first',
      title: t('chat.wrote_first_title', { name: who.name, reason: reason(m.reason?.kind) }) },
    t('chat.wrote_first')) : null,
    m.status === 'interrupted' ? h('span', { class: 'badge' }, t('chat.interrupted')) : null),
  h('div', { class: 'content' }, formatted(m.content)),
  h('div', { class: 'actions' },
    swipes ? [
      act('swipe-prev', '‹', () => swipe(m, -1),
        { 'aria-label': t('chat.swipe_prev'), disabled: m.swipe_index === 0 }),
      h('span', { class: 'swipe-count', 'aria-label': t('chat.swipe') },
        `${m.swipe_index + 1}/${m.swipes.length}`),
      act('swipe-next', '›', () => swipe(m, +1),
        { 'aria-label': t('chat.swipe_next'), disabled: m.swipe_index >= m.swipes.length - 1 }),
    ] : null,
    regenerate ? act('regenerate', t(assistant ? 'chat.regenerate' : 'chat.get_reply'),
      regenerateReply) : null,
    assistant ? act('why', t('chat.why'), () => why(m), { 'aria-haspopup': 'dialog' }) : null,
    act('edit', t('edit'), () => startEdit(el, m)),
    confirmButton(h('button', { type: 'button', class: 'delete' }, t('delete')), t('sure_delete'),
      () => removeMessage(m))));
  return el;
}

/** The reply being written: data-streaming="true" until the stored reply arrives. */
function streamingEl(replace = null) {
  const el = h('li', { class: 'message', 'data-role': 'assistant', 'data-streaming': 'true',
    'aria-busy': 'true' },
    h('div', { class: 'meta' }, h('span', { class: 'who' }, who.name),
      h('span', { class: 'muted' }, t('chat.writing'))),
    h('div', { class: 'content' }));
  if (replace) replace.replaceWith(el);
  else list.append(el);
  scrollDown();
  return el;
}

function appendText(el, text) {
  el.querySelector('.content').append(text);
  scrollDown();
}

// ---- typed turns ------------------------------------------------------------------

async function reply(path, body, onStart) {
  busy = true;
  $('#send').disabled = true;
  abort = new AbortController();
  let failure = null;
  try {
    await stream(path, body, (event, data) => {
      if (event === 'start') onStart(data);
      else if (event === 'delta') appendText(writing, data.text);
      else if (event === 'message') {
        store(data);
        announce(data);
      }
      else if (event === 'error') failure = new ApiError(500, data.error.code, data.error.message);
    }, abort.signal);
  } catch (e) {
    failure = e;
  } finally {
    busy = false;
    abort = null;
    $('#send').disabled = false;
  }
  if (failure) {
    report(failure.code === 'network'
      ? new ApiError(0, 'network', t('error.dropped_reloaded'))
      : failure);
    // Reload what the server kept (a reply cut short is stored as interrupted).
    if (conv) messages = await get(`/api/conversations/${conv.id}/messages`).catch(() => messages);
  }
  if (conv) render();
  setTimeout(() => memory.refresh(), 4000); // facts are written in the background
  return failure;
}

/** Say a finished reply to screen readers once (not token by token). */
function announce(message) {
  $('#announce').textContent = `${who.name}: ${message.content}`;
}

function store(message) {
  const i = messages.findIndex((m) => m.id === message.id);
  if (i >= 0) messages[i] = message;
  else {
    // In id order: a message from another device may arrive after a later one here.
    const after = messages.findIndex((m) => m.id > message.id);
    if (after < 0) messages.push(message);
    else messages.splice(after, 0, message);
  }
}

// Why a character wrote without being asked (MessageOut.reason.kind).
const REASONS = ['follow_up', 'milestone', 'birthday', 'absence'];
const reason = (kind) => t(REASONS.includes(kind) ? `reason.${kind}` : 'reason.unasked');

// While the person types, the server evaluates the prompt their message would get, so
// the reply starts sooner: sent when typing pauses, one at a time, and only a head start
// (a failure is not shown; the message is sent as usual).
const TYPING_PAUSE_MS = 300;
let typingTimer = null;
let prepared = ''; // the text the server last evaluated, or is evaluating
let preparing = false;

function prepareSoon() {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(prepareDraft, TYPING_PAUSE_MS);
}

async function prepareDraft() {
  const content = input.value;
  if (!conv || busy || preparing || !content.trim() || content === prepared) return;
  [preparing, prepared] = [true, content];
  try {
    await fetch(`/api/conversations/${conv.id}/prepare`, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content }) });
  } catch { /* offline: the send will say so */ }
  preparing = false;
  if (input.value !== prepared) prepareSoon(); // typed on meanwhile
}

async function sendMessage() {
  const content = input.value;
  if (busy || !content.trim()) return;
  clearTimeout(typingTimer);
  prepared = '';
  input.value = '';
  const pending = h('li', { class: 'message', 'data-role': 'user', 'data-pending': 'true' },
    h('div', { class: 'meta' }, h('span', { class: 'who' }, t('chat.you'))),
    h('div', { class: 'content' }, content));
  list.append(pending);
  writing = streamingEl();
  let started = false;
  const failure = await reply(`/api/conversations/${conv.id}/messages`, { content, stream: true },
    ({ user_message: stored }) => {
      started = true;
      store(stored);
      pending.replaceWith(messageEl(stored));
    });
  // Refused before it was stored (too long, busy, offline...): give the text back.
  if (failure && !started && !messages.some((m) => m.role === 'user' && m.content === content)) {
    input.value = content;
  }
  input.focus();
}

async function regenerateReply() {
  if (busy) return;
  const last = messages.at(-1);
  const lastEl = list.lastElementChild;
  writing = streamingEl(last.role === 'assistant' ? lastEl : null);
  await reply(`/api/conversations/${conv.id}/regenerate`, { stream: true }, () => {});
}

async function swipe(m, step) {
  try {
    store(await api('PATCH', `/api/messages/${m.id}`, { swipe_index: m.swipe_index + step }));
    render();
    list.querySelector(step < 0 ? '.swipe-prev' : '.swipe-next')?.focus();
  } catch (e) { report(e); }
}

function startEdit(el, m) {
  const box = h('textarea', { class: 'edit-text', 'aria-label': t('chat.edit_label'), rows: 4 });
  box.value = m.content;
  const save = async () => {
    try {
      store(await api('PATCH', `/api/messages/${m.id}`, { content: box.value }));
      render();
    } catch (e) { report(e); }
  };
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') render();
    if (isEnter(event) && (event.ctrlKey || event.metaKey)) save();
  });
  el.querySelector('.content').replaceChildren(box,
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'save-edit primary', onclick: save }, t('save')),
      h('button', { type: 'button', class: 'cancel-edit', onclick: render }, t('cancel'))));
  box.focus();
}

async function removeMessage(m) {
  try {
    await api('DELETE', `/api/messages/${m.id}`);
    messages = messages.filter((x) => x.id !== m.id);
    render();
  } catch (e) { report(e); }
}

$('#composer').addEventListener('submit', (event) => {
  event.preventDefault();
  sendMessage();
});
input.addEventListener('input', prepareSoon);
input.addEventListener('keydown', (event) => {
  if (isEnter(event) && !event.shiftKey) {
    event.preventDefault();
    sendMessage();
  }
});
$('#new-conversation').addEventListener('click', async () => {
  try {
    const started = await api('POST', '/api/conversations', { character_id: conv.character_id });
    location.hash = `#/chat/${started.id}`;
  } catch (e) { report(e); }
});
$('#edit-character').addEventListener('click', () => {
  location.hash = `#/character/${conv.character_id}`;
});

// ---- "why did she say that?" ------------------------------------------------------

async function why(m) {
  const dialog = $('#why');
  const body = $('#why-body');
  $('#why-title').textContent = t('why.title', { name: who.name });
  body.replaceChildren(h('p', { class: 'muted' }, t('why.building')));
  dialog.showModal();
  const index = messages.findIndex((x) => x.id === m.id);
  const asked = messages.slice(0, index).reverse().find((x) => x.role === 'user');
  if (!asked) {
    body.replaceChildren(h('p', {}, t('why.greeting')));
    return;
  }
  try {
    const ctx = await api('POST', `/api/conversations/${conv.id}/context`,
      { content: asked.content });
    body.replaceChildren(...windowView(ctx, asked));
  } catch (e) {
    body.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

function windowView(ctx, asked) {
  const dropped = ctx.turns_dropped ? t('why.dropped', { n: ctx.turns_dropped }) : '';
  const memories = ctx.memories.map((mem) => h('li', {},
    h('div', { class: 'meta' }, h('span', { class: 'badge' }, mem.kind), stamp(mem.said_at),
      mem.source_message_ids.length
        ? t('why.from_message', { ids: mem.source_message_ids.join(', ') }) : ''),
    h('div', {}, mem.text)));
  // The asked message sits inside the sentence: its words on either side of {message}.
  const [before, after] = t('why.intro').split('{message}');
  return [
    h('p', { class: 'muted' }, before,
      h('q', {}, asked.content.length > 80 ? `${asked.content.slice(0, 80)}…` : asked.content),
      after),
    h('p', {}, t('why.tokens', { used: ctx.prompt_tokens, n_ctx: ctx.n_ctx,
      reserve: ctx.reply_reserve, dropped })),
    h('table', { class: 'blocks' },
      h('caption', {}, t('why.blocks')),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('why.block')),
        h('th', { scope: 'col' }, t('why.tokens_col')),
        h('th', { scope: 'col' }, t('why.messages_col')))),
      h('tbody', {}, ctx.blocks.map((b) => h('tr', {}, h('td', {}, b.name),
        h('td', {}, String(b.tokens)), h('td', {}, String(b.message_ids.length)))))),
    h('h3', {}, t('why.memories')),
    memories.length ? h('ul', { class: 'memories' }, memories)
      : h('p', { class: 'muted' }, t('why.no_memories')),
    h('h3', {}, t('why.lorebook')),
    ctx.lorebook.length ? h('ul', {}, ctx.lorebook.map((name) => h('li', {}, name)))
      : h('p', { class: 'muted' }, t('why.no_lorebook')),
    h('details', {}, h('summary', {}, t('why.whole', { n: ctx.messages.length })),
      h('ol', { class: 'window' }, ctx.messages.map((x) => h('li', {},
        h('strong', {}, x.role), h('pre', {}, x.content))))),
  ];
}

// ---- the voice call ---------------------------------------------------------------

let call = null;
let pttHeld = false;
const turns = new Map(); // voice turn id -> {user, reply} elements
const statusEl = $('#call-status');

function callState(state) {
  const known = ['connecting', 'listening', 'hearing', 'thinking', 'speaking', 'reconnecting',
    'closed'];
  const text = known.includes(state)
    ? t(`call.${state}`, { name: who?.name ?? t('call.she') }) : state;
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  if (state === 'reconnecting') setStatus(t('call.reconnecting_status'), 'warn');
  else if (statusEl.dataset.was === 'reconnecting') setStatus('');
  statusEl.dataset.was = state;
}

async function startCall(pushToTalk) {
  if (call) return call;
  let Call;
  try {
    ({ Call } = await import('./call.js'));
  } catch (e) {
    setStatus(t('call.unavailable'), 'error');
    return null;
  }
  const starting = new Call({ conversationId: conv.id, onEvent: onCallEvent });
  call = starting;
  $('#call').setAttribute('aria-pressed', 'true');
  $('#call').textContent = t('call.end');
  try {
    await starting.start({ pushToTalk });
  } catch (e) {
    stopCall();
    if (e.name === 'NotAllowedError') {
      setStatus(t('call.denied'), 'error');
    } else {
      setStatus(t('call.failed', { message: e.message }), 'error');
    }
    return null;
  }
  return starting;
}

function stopCall() {
  if (!call) return;
  const ending = call;
  call = null;
  ending.stop();
  if (turns.size) {
    turns.clear();
    resync();
  }
  $('#call').setAttribute('aria-pressed', 'false');
  $('#call').textContent = t('call.start');
  callState('closed');
}

function onCallEvent(event) {
  if (!conv) return;
  const turn = turns.get(event.turn) || {};
  switch (event.type) {
    case 'state':
      callState(event.state);
      // A turn cut off with the socket never finishes: show what the server kept.
      if ((event.state === 'reconnecting' || event.state === 'closed') && turns.size) {
        turns.clear();
        resync();
      }
      break;
    case 'played':
      statusEl.dataset.playedMs = String(Math.round(event.ms));
      break;
    case 'transcript':
      if (event.text) {
        turn.user = h('li', { class: 'message', 'data-role': 'user', 'data-pending': 'true' },
          h('div', { class: 'meta' }, h('span', { class: 'who' }, t('chat.you_spoken'))),
          h('div', { class: 'content' }, event.text));
        list.append(turn.user);
        turns.set(event.turn, turn);
        scrollDown();
      }
      break;
    case 'turn_started':
      turn.user?.setAttribute('data-id', event.user_message_id);
      turn.reply = streamingEl();
      turns.set(event.turn, turn);
      break;
    case 'reply_delta':
      if (turn.reply) appendText(turn.reply, event.text);
      break;
    case 'turn_finished':
      if (event.timings?.voice_to_voice_ms != null) {
        $('#call-latency').textContent = `${Math.round(event.timings.voice_to_voice_ms)} ms`;
      }
      finishTurn(event.turn);
      break;
    case 'interrupted':
      finishTurn(event.turn);
      break;
    case 'error':
      setStatus(event.message || t('call.error'), 'error');
      break;
    default:
      break;
  }
}

/** A voice turn is over: the stored messages replace what was drawn while it ran. */
function finishTurn(turnId) {
  turns.delete(turnId);
  resync();
  setTimeout(() => memory.refresh(), 4000);
}

async function resync() {
  if (!conv) return;
  const id = conv.id;
  try {
    const stored = await get(`/api/conversations/${id}/messages`);
    if (conv?.id !== id) return;
    messages = stored;
  } catch (e) { report(e); }
  // Redraw only between turns, so nothing being written is wiped.
  if (!turns.size && !busy && conv) render();
}

$('#call').addEventListener('click', () => (call ? stopCall() : startCall(false)));

async function pressTalk() {
  if (pttHeld) return;
  pttHeld = true;
  $('#ptt').setAttribute('aria-pressed', 'true');
  const active = await startCall(true);
  if (active && pttHeld) active.pressTalk();
}

function releaseTalk() {
  if (!pttHeld) return;
  pttHeld = false;
  $('#ptt').setAttribute('aria-pressed', 'false');
  call?.releaseTalk();
}

const ptt = $('#ptt');
ptt.addEventListener('pointerdown', (event) => {
  ptt.setPointerCapture?.(event.pointerId);
  pressTalk();
});
for (const name of ['pointerup', 'pointercancel', 'blur']) ptt.addEventListener(name, releaseTalk);
ptt.addEventListener('keydown', (event) => {
  if ((event.key === ' ' || event.key === 'Enter') && !event.repeat) {
    event.preventDefault();
    pressTalk();
  }
});
ptt.addEventListener('keyup', (event) => {
  if (event.key === ' ' || event.key === 'Enter') releaseTalk();
});
ptt.addEventListener('contextmenu', (event) => event.preventDefault()); // long press on phones
