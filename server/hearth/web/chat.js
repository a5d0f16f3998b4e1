// A conversation: messages with streamed replies, swipes, edits and deletes, the "why"
// panel, the voice call (call.js, loaded only when a call starts), and messages stored
// elsewhere arriving live (events.js, through app.js).

import { ApiError, api, get, report, setStatus, stream } from './api.js';
import { $, confirmButton, h, showView, stamp } from './dom.js';
import { character as getCharacter, markRead } from './characters.js';
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
    h('span', { class: 'who' }, assistant ? who.name : 'You'), stamp(m.created_at),
    m.initiated_by === 'character' ? h('span', { class: 'badge first',
      title: `${who.name} wrote first, ${REASONS[m.reason?.kind] || 'unasked'}` },
    'wrote first') : null,
    m.status === 'interrupted' ? h('span', { class: 'badge' }, 'interrupted') : null),
  h('div', { class: 'content' }, formatted(m.content)),
  h('div', { class: 'actions' },
    swipes ? [
      act('swipe-prev', '‹', () => swipe(m, -1),
        { 'aria-label': 'Previous alternative', disabled: m.swipe_index === 0 }),
      h('span', { class: 'swipe-count', 'aria-label': 'Alternative' },
        `${m.swipe_index + 1}/${m.swipes.length}`),
      act('swipe-next', '›', () => swipe(m, +1),
        { 'aria-label': 'Next alternative', disabled: m.swipe_index >= m.swipes.length - 1 }),
    ] : null,
    regenerate
      ? act('regenerate', assistant ? 'Regenerate' : 'Get a reply', regenerateReply) : null,
    assistant ? act('why', 'Why?', () => why(m), { 'aria-haspopup': 'dialog' }) : null,
    act('edit', 'Edit', () => startEdit(el, m)),
    confirmButton(h('button', { type: 'button', class: 'delete' }, 'Delete'), 'Sure? Delete',
      () => removeMessage(m))));
  return el;
}

/** The reply being written: data-streaming="true" until the stored reply arrives. */
function streamingEl(replace = null) {
  const el = h('li', { class: 'message', 'data-role': 'assistant', 'data-streaming': 'true',
    'aria-busy': 'true' },
    h('div', { class: 'meta' }, h('span', { class: 'who' }, who.name),
      h('span', { class: 'muted' }, 'writing…')),
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
      ? new ApiError(0, 'network', 'the connection dropped; the conversation was reloaded '
        + 'from the server (a message that did not arrive is back in the box)')
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
const REASONS = {
  follow_up: 'following up on something you planned',
  milestone: 'for a milestone of yours together',
  birthday: 'for a birthday',
  absence: 'after a quiet spell',
};

async function sendMessage() {
  const content = input.value;
  if (busy || !content.trim()) return;
  input.value = '';
  const pending = h('li', { class: 'message', 'data-role': 'user', 'data-pending': 'true' },
    h('div', { class: 'meta' }, h('span', { class: 'who' }, 'You')),
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
  const box = h('textarea', { class: 'edit-text', 'aria-label': 'Edit the message', rows: 4 });
  box.value = m.content;
  const save = async () => {
    try {
      store(await api('PATCH', `/api/messages/${m.id}`, { content: box.value }));
      render();
    } catch (e) { report(e); }
  };
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') render();
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) save();
  });
  el.querySelector('.content').replaceChildren(box,
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'save-edit primary', onclick: save }, 'Save'),
      h('button', { type: 'button', class: 'cancel-edit', onclick: render }, 'Cancel')));
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
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
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
  $('#why-title').textContent = `Why did ${who.name} say that?`;
  body.replaceChildren(h('p', { class: 'muted' }, 'Building the window…'));
  dialog.showModal();
  const index = messages.findIndex((x) => x.id === m.id);
  const asked = messages.slice(0, index).reverse().find((x) => x.role === 'user');
  if (!asked) {
    body.replaceChildren(h('p', {}, 'This is a greeting from the character\'s card: no window '
      + 'was built for it.'));
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
  const dropped = ctx.turns_dropped ? `; ${ctx.turns_dropped} older turns left the window` : '';
  const memories = ctx.memories.map((mem) => h('li', {},
    h('div', { class: 'meta' }, h('span', { class: 'badge' }, mem.kind), stamp(mem.said_at),
      mem.source_message_ids.length ? ` · from message ${mem.source_message_ids.join(', ')}` : ''),
    h('div', {}, mem.text)));
  return [
    h('p', { class: 'muted' }, 'The window as the model would see it for your message ',
      h('q', {}, asked.content.length > 80 ? `${asked.content.slice(0, 80)}…` : asked.content),
      ', built now from what is stored (nothing is saved or generated).'),
    h('p', {}, `${ctx.prompt_tokens} of ${ctx.n_ctx} tokens used, ${ctx.reply_reserve} kept for `
      + `the reply${dropped}.`),
    h('table', { class: 'blocks' },
      h('caption', {}, 'Blocks'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Block'),
        h('th', { scope: 'col' }, 'Tokens'), h('th', { scope: 'col' }, 'Messages'))),
      h('tbody', {}, ctx.blocks.map((b) => h('tr', {}, h('td', {}, b.name),
        h('td', {}, String(b.tokens)), h('td', {}, String(b.message_ids.length)))))),
    h('h3', {}, 'Recalled memories'),
    memories.length ? h('ul', { class: 'memories' }, memories)
      : h('p', { class: 'muted' }, 'None this turn.'),
    h('h3', {}, 'Lorebook entries'),
    ctx.lorebook.length ? h('ul', {}, ctx.lorebook.map((name) => h('li', {}, name)))
      : h('p', { class: 'muted' }, 'None triggered.'),
    h('details', {}, h('summary', {}, `The whole window (${ctx.messages.length} messages)`),
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
  const text = {
    connecting: 'Connecting…', listening: 'Listening', hearing: 'You are speaking',
    thinking: `${who?.name ?? 'She'} is thinking`, speaking: `${who?.name ?? 'She'} is speaking`,
    reconnecting: 'Connection lost, reconnecting…', closed: 'Not in a call',
  }[state] || state;
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  if (state === 'reconnecting') setStatus('Connection lost, reconnecting the call…', 'warn');
  else if (statusEl.dataset.was === 'reconnecting') setStatus('');
  statusEl.dataset.was = state;
}

async function startCall(pushToTalk) {
  if (call) return call;
  let Call;
  try {
    ({ Call } = await import('./call.js'));
  } catch (e) {
    setStatus('Voice calls are not available in this build (call.js did not load).', 'error');
    return null;
  }
  const starting = new Call({ conversationId: conv.id, onEvent: onCallEvent });
  call = starting;
  $('#call').setAttribute('aria-pressed', 'true');
  $('#call').textContent = 'End call';
  try {
    await starting.start({ pushToTalk });
  } catch (e) {
    stopCall();
    if (e.name === 'NotAllowedError') {
      setStatus('Microphone denied: allow the microphone for this site in the browser '
        + '(the icon by the address), then start the call again; or type instead.', 'error');
    } else {
      setStatus(`The call could not start: ${e.message}`, 'error');
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
  $('#call').textContent = 'Start call';
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
          h('div', { class: 'meta' }, h('span', { class: 'who' }, 'You (spoken)')),
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
      setStatus(event.message || 'The call reported an error.', 'error');
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
