// Small DOM helpers shared by the views.

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

/** The person's time zone (their profile's, set by app.js); times are shown in it. */
export const clock = { zone: undefined };

const zoned = (options = {}) => ({ ...options, timeZone: clock.zone });
const dayOf = (d) => d.toLocaleDateString('en-CA', zoned());
const sameDay = (a, b) => dayOf(a) === dayOf(b);

/** A <time> stamp: the hour today, the date otherwise; the full date on hover. */
export function stamp(iso) {
  const when = new Date(iso);
  const text = sameDay(when, new Date())
    ? when.toLocaleTimeString([], zoned({ hour: '2-digit', minute: '2-digit' }))
    : when.toLocaleString([], zoned({ dateStyle: 'medium', timeStyle: 'short' }));
  return h('time', { datetime: when.toISOString(), title: when.toLocaleString([], zoned()) },
    text);
}

/** Show one view (a section of <main>) and hide the others. */
export function showView(id) {
  for (const view of document.querySelectorAll('main > .view')) view.hidden = view.id !== id;
}

/**
 * A button that asks again before doing something that cannot be undone: the first
 * press turns it into "Sure? ..." for a few seconds, the second one acts.
 */
export function confirmButton(button, question, action) {
  const label = button.textContent;
  let armed = null;
  button.addEventListener('click', async () => {
    if (!armed) {
      button.textContent = question;
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
