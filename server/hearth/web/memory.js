// The memory panel: the facts a character keeps about the user (add, edit, delete) and
// the conversation's rolling summary.

import { api, get, report } from './api.js';
import { $, confirmButton, h, stamp } from './dom.js';

const panel = $('#memory');
const toggle = $('#toggle-memory');
let conv = null;
let who = null;

export function open(conversation, character) {
  conv = conversation;
  who = character;
  $('#memory-title').textContent = `What ${character.name} keeps about you`;
  refresh();
}

export async function refresh() {
  if (!conv) return;
  const { id, character_id: characterId } = conv;
  try {
    const [facts, summary] = await Promise.all([
      get(`/api/facts?character_id=${characterId}`), get(`/api/conversations/${id}/summary`)]);
    if (conv?.id !== id) return; // another conversation was opened meanwhile
    $('#facts').replaceChildren(...(facts.length ? facts.map(factEl)
      : [h('li', { class: 'muted' }, `${who.name} knows no facts about you yet.`)]));
    $('#summary').textContent = summary.text
      || 'No summary yet: one is written when older turns leave the window.';
  } catch (e) { report(e); }
}

function factEl(fact) {
  const li = h('li', { class: 'fact', 'data-id': fact.id },
    h('span', { class: 'fact-text' }, fact.text),
    h('div', { class: 'meta' }, 'since ', stamp(fact.said_at)),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'fact-edit', onclick: () => edit(li, fact),
        'aria-label': `Edit: ${fact.text}` }, 'Edit'),
      confirmButton(h('button', { type: 'button', class: 'fact-delete',
        'aria-label': `Delete: ${fact.text}` }, 'Delete'), 'Sure? Delete', async () => {
        try {
          await api('DELETE', `/api/facts/${fact.id}`);
          await refresh();
        } catch (e) { report(e); }
      })));
  return li;
}

function edit(li, fact) {
  const box = h('input', { class: 'fact-input', 'aria-label': 'The fact', maxlength: 1000 });
  box.value = fact.text;
  const save = async () => {
    try {
      await api('PATCH', `/api/facts/${fact.id}`, { text: box.value });
      await refresh();
    } catch (e) { report(e); }
  };
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') save();
    if (event.key === 'Escape') refresh();
  });
  li.querySelector('.fact-text').replaceWith(box);
  li.querySelector('.actions').replaceChildren(
    h('button', { type: 'button', class: 'fact-save primary', onclick: save }, 'Save'),
    h('button', { type: 'button', class: 'fact-cancel', onclick: refresh }, 'Cancel'));
  box.focus();
}

$('#fact-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('#fact-new').value.trim();
  if (!text || !conv) return;
  try {
    await api('POST', '/api/facts', { character_id: conv.character_id, text });
    $('#fact-new').value = '';
    await refresh();
  } catch (e) { report(e); }
});

$('#refresh-memory').addEventListener('click', refresh);

// On a wide screen the panel sits beside the chat; on a phone it opens below the bar.
const wide = matchMedia('(min-width: 60rem)');
const show = (open) => {
  panel.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
};
show(wide.matches);
$('#hide-memory').addEventListener('click', () => {
  show(false);
  toggle.focus();
});
toggle.addEventListener('click', () => {
  const open = !panel.classList.contains('open');
  show(open);
  if (open) panel.querySelector('button, input')?.focus();
});
