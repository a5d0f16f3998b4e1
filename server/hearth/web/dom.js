// Small DOM helpers shared by the views.

import { locales } from './i18n.js';

export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * h('button', {class: 'edit', onclick}, 'Edit'): an element with attributes, event
 * handlers (on...), dataset entries (data-...) and children (strings become text).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// Times are shown in the person's profile zone (set by app.js from GET /api/me), not the
// browser's: a phone abroad, or a laptop set to UTC, still shows the person's own clock.
let zone; // an IANA name, or undefined: the browser's own

/** Use this IANA zone for every time shown from now on (an unknown one: the browser's). */
export function setZone(name) {
  try {
    zone = name ? new Intl.DateTimeFormat([], { timeZone: name }).resolvedOptions().timeZone
      : undefined;
  } catch {
    zone = undefined;
  }
}

export const deviceZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Format `date` in the person's zone. */
export const inZone = (date, options) =>
  new Intl.DateTimeFormat(locales(), { ...options, timeZone: zone }).format(date);

// YYYY-MM-DD of an instant in the person's zone (en-CA writes dates that way).
const dayOf = (date) => new Intl.DateTimeFormat('en-CA',
  { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);

/** A <time> stamp: the hour today, the date otherwise; the full date on hover. */
export function stamp(iso, { dateOnly = false } = {}) {
  const when = new Date(iso);
  let text;
  if (dateOnly) text = inZone(when, { dateStyle: 'medium' });
  else if (dayOf(when) === dayOf(new Date())) {
    text = inZone(when, { hour: '2-digit', minute: '2-digit' });
  } else text = inZone(when, { dateStyle: 'medium', timeStyle: 'short' });
  return h('time', { datetime: when.toISOString(),
    title: inZone(when, { dateStyle: 'full', timeStyle: 'long' }) }, text);
}

/** "YYYY-MM-DDTHH:MM" of an instant on the person's clock (for <input type=datetime-local>). */
export function zoneLocal(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit',
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The instant that the person's clock shows as "YYYY-MM-DDTHH:MM" (the reverse). */
export function fromZoneLocal(value) {
  const wall = Date.parse(`${value}Z`); // the wall time read as if it were UTC
  let guess = wall;
  // Twice: the zone's offset may differ either side of a daylight-saving change.
  for (let i = 0; i < 2; i++) guess = wall - (Date.parse(`${zoneLocal(new Date(guess))}Z`) - guess);
  return new Date(guess);
}

// Views fetch their data before they show, and the person can move on meanwhile: a view
// that began loading before the latest move is not shown, or a slow fetch would cover the
// view the person went to.
let moves = 0;

/** The address changed: views still loading for the old one will not show. */
export function moved() {
  moves += 1;
}

/** Where navigation stands; a view takes it before loading and hands it to showView. */
export const here = () => moves;

/** Show one view (a section of <main>) and hide the others, unless the person moved on
 * since `since`. Returns whether it showed. */
export function showView(id, since = moves) {
  if (since !== moves) return false;
  for (const view of document.querySelectorAll('main > .view')) view.hidden = view.id !== id;
  return true;
}

/**
 * A button that asks again before doing something that cannot be undone: the first
 * press turns it into "Sure? ..." for a few seconds, the second one acts. `question` may
 * be a function, for a button made before the page's language is known.
 */
export function confirmButton(button, question, action) {
  let label = button.textContent;
  let armed = null;
  button.addEventListener('click', async () => {
    if (!armed) {
      label = button.textContent; // in the page's language now
      button.textContent = typeof question === 'function' ? question() : question;
      button.classList.add('armed');
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
        button.classList.remove('armed');
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = label;
    button.classList.remove('armed');
    await action();
  });
  return button;
}

// IME composition (Korean, Japanese, Chinese): the Enter that completes a syllable is
// not a "send". Chromium and Firefox flag that keydown (isComposing); Safari reports
// keyCode 229 with isComposing false, so composition events are followed as well.
let composing = false;
document.addEventListener('compositionstart', () => { composing = true; }, true);
document.addEventListener('compositionend', () => { composing = false; }, true);
document.addEventListener('focusout', () => { composing = false; }, true); // never stuck on

/** This keydown belongs to an IME composition (its Enter must not act). */
export const inComposition = (event) => composing || event.isComposing || event.keyCode === 229;

/** This keydown is an Enter that means "act" (send, save), not the end of a syllable. */
export const isEnter = (event) => event.key === 'Enter' && !inComposition(event);

// An Enter in a form's input submits the form by itself (login, a new fact...): not
// while it completes a syllable.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && inComposition(event) && event.target.matches?.('form input')) {
    event.preventDefault();
  }
}, true);
