// The memory panel: the facts a character keeps about the user (add, edit, delete), what
// the two share (days talked, milestones, plans: GET /api/conversations/ID/relationship,
// plans edited through /api/plans/ID) and the conversation's rolling summary.

import { ApiError, api, get, report } from './api.js';
import { $, confirmButton, fromZoneLocal, h, isEnter, stamp, zoneLocal } from './dom.js';
import { locales, t } from './i18n.js';

const panel = $('#memory');
const toggle = $('#toggle-memory');
let conv = null;
let who = null;

export function open(conversation, character) {
  conv = conversation;
  who = character;
  $('#memory-title').textContent = t('memory.keeps', { name: character.name });
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
      : [h('li', { class: 'muted' }, t('memory.no_facts', { name: who.name }))]));
    $('#summary').textContent = summary.text || t('memory.no_summary');
  } catch (e) { report(e); }
  await refreshTogether(id);
}

// ---- together: days talked, milestones, plans -------------------------------------

async function refreshTogether(id) {
  const section = $('#relationship');
  let rel;
  try {
    rel = await get(`/api/conversations/${id}/relationship`);
  } catch (e) {
    // A server without the relationship layer answers 404: the section stays hidden.
    if (!(e instanceof ApiError && e.status === 404)) report(e);
    section.hidden = true;
    return;
  }
  if (conv?.id !== id) return;
  section.hidden = false;
  const row = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
  $('#together').replaceChildren(
    ...row(t('together.known_since'),
      rel.known_since ? stamp(rel.known_since, { dateOnly: true }) : '—'),
    ...row(t('together.last_talk'), rel.last_talk ? stamp(rel.last_talk) : '—'),
    ...row(t('together.days_talked'), String(rel.days_talked)));
  $('#milestones').replaceChildren(...(rel.milestones.length
    ? rel.milestones.map((m) => h('li', { class: 'milestone', 'data-kind': m.kind },
      h('span', {}, m.label), ' ', h('time', { datetime: m.date }, calendarDay(m.date))))
    : [h('li', { class: 'muted' }, t('together.no_milestones'))]));
  $('#plans-upcoming').replaceChildren(...(rel.upcoming.length ? rel.upcoming.map(planEl)
    : [h('li', { class: 'muted' }, t('together.no_plans', { name: who.name }))]));
  $('#plans-past').replaceChildren(...(rel.past.length ? rel.past.map(planEl)
    : [h('li', { class: 'muted' }, t('together.none'))]));
}

// A calendar day (YYYY-MM-DD) is the same day everywhere: shown without any zone shift.
const calendarDay = (day) => new Intl.DateTimeFormat(locales(),
  { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${day}T00:00:00Z`));

const STATUSES = ['upcoming', 'done', 'cancelled'];
const statusName = (status) => (STATUSES.includes(status) ? t(`plan.${status}`) : status);

function planEl(plan) {
  const patch = async (changes) => {
    try {
      await api('PATCH', `/api/plans/${plan.id}`, changes);
      await refresh();
    } catch (e) { report(e); }
  };
  const li = h('li', { class: 'plan', 'data-id': plan.id, 'data-status': plan.status },
    h('span', { class: 'plan-text' }, plan.text),
    h('div', { class: 'meta' }, stamp(plan.due_at, { dateOnly: plan.all_day }),
      h('span', { class: 'badge plan-status' }, statusName(plan.status)),
      plan.followed_up ? h('span', { class: 'badge' }, t('plan.asked_about')) : null),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'plan-edit', onclick: () => editPlan(li, plan),
        'aria-label': t('edit_label', { text: plan.text }) }, t('edit')),
      plan.status === 'upcoming' ? [
        h('button', { type: 'button', class: 'plan-done', onclick: () => patch({ status: 'done' }),
          'aria-label': t('plan.done_label', { text: plan.text }) }, t('plan.done_button')),
        h('button', { type: 'button', class: 'plan-cancel',
          onclick: () => patch({ status: 'cancelled' }),
          'aria-label': t('plan.cancel_label', { text: plan.text }) }, t('plan.cancel_button')),
      ] : null,
      confirmButton(h('button', { type: 'button', class: 'plan-delete',
        'aria-label': t('delete_label', { text: plan.text }) }, t('delete')), t('sure_delete'),
      async () => {
        try {
          await api('DELETE', `/api/plans/${plan.id}`);
          await refresh();
        } catch (e) { report(e); }
      })));
  return li;
}

function editPlan(li, plan) {
  const text = h('input', { class: 'plan-input', 'aria-label': t('plan.label'), maxlength: 1000 });
  text.value = plan.text;
  // The date and time on the person's clock (their profile zone), sent back as an instant.
  const local = zoneLocal(new Date(plan.due_at));
  const allDay = h('input', { type: 'checkbox', class: 'plan-all-day' });
  allDay.checked = plan.all_day;
  const when = h('input', { class: 'plan-when', 'aria-label': t('plan.when') });
  const setKind = () => {
    const was = when.value || local;
    when.type = allDay.checked ? 'date' : 'datetime-local';
    when.value = allDay.checked ? was.slice(0, 10) : (was.length > 10 ? was : `${was}T09:00`);
  };
  allDay.addEventListener('change', setKind);
  setKind();
  const status = h('select', { class: 'plan-status-input', 'aria-label': t('plan.status') },
    STATUSES.map((value) => h('option', { value }, statusName(value))));
  status.value = plan.status;
  const save = async () => {
    if (!when.value) return when.focus();
    const due = fromZoneLocal(allDay.checked ? `${when.value}T00:00` : when.value);
    try {
      await api('PATCH', `/api/plans/${plan.id}`, { text: text.value, due_at: due.toISOString(),
        all_day: allDay.checked, status: status.value });
      await refresh();
    } catch (e) { report(e); }
  };
  li.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') refresh();
    if (isEnter(event) && event.target === text) save();
  });
  li.replaceChildren(text,
    h('div', { class: 'row' }, when, h('label', { class: 'check' }, allDay, t('plan.all_day')),
      status),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'plan-save primary', onclick: save }, t('save')),
      h('button', { type: 'button', class: 'plan-back', onclick: refresh }, t('back'))));
  text.focus();
}

function factEl(fact) {
  const li = h('li', { class: 'fact', 'data-id': fact.id },
    h('span', { class: 'fact-text' }, fact.text),
    h('div', { class: 'meta' }, t('memory.since'), stamp(fact.said_at)),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'fact-edit', onclick: () => edit(li, fact),
        'aria-label': t('edit_label', { text: fact.text }) }, t('edit')),
      confirmButton(h('button', { type: 'button', class: 'fact-delete',
        'aria-label': t('delete_label', { text: fact.text }) }, t('delete')), t('sure_delete'),
      async () => {
        try {
          await api('DELETE', `/api/facts/${fact.id}`);
          await refresh();
        } catch (e) { report(e); }
      })));
  return li;
}

function edit(li, fact) {
  const box = h('input', { class: 'fact-input', 'aria-label': t('memory.fact'), maxlength: 1000 });
  box.value = fact.text;
  const save = async () => {
    try {
      await api('PATCH', `/api/facts/${fact.id}`, { text: box.value });
      await refresh();
    } catch (e) { report(e); }
  };
  box.addEventListener('keydown', (event) => {
    if (isEnter(event)) save();
    if (event.key === 'Escape') refresh();
  });
  li.querySelector('.fact-text').replaceWith(box);
  li.querySelector('.actions').replaceChildren(
    h('button', { type: 'button', class: 'fact-save primary', onclick: save }, t('save')),
    h('button', { type: 'button', class: 'fact-cancel', onclick: refresh }, t('cancel')));
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
