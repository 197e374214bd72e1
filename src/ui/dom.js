// SPDX-License-Identifier: Apache-2.0
// Building the page: every element is made with createElement and every
// piece of data goes in as text (textContent / text nodes), never as HTML,
// so whatever an event or a receiver's answer holds renders inert.

/** h('button', {class: 'x', onclick: f, 'aria-label': 'y'}, 'text', child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace el's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let idSeq = 0;
/** A labelled form field: {label, name, type, value, required, hint, options}. */
export function field({ label, name, type = 'text', value, required, hint, options, multiple, ...rest }) {
  const id = `f-${name}-${++idSeq}`;
  let input;
  if (options) {
    input = h('select', { id, name, multiple, ...rest },
      options.map((o) => {
        const [v, text] = Array.isArray(o) ? o : [o, o];
        const opt = h('option', { value: v }, text);
        if (multiple ? (value || []).includes(v) : v === value) opt.selected = true;
        return opt;
      }));
  } else if (type === 'textarea') {
    input = h('textarea', { id, name, required, rows: 6, ...rest });
    input.value = value ?? '';
  } else {
    input = h('input', { id, name, type, value, required, ...rest });
  }
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('small', { id: hintId, class: 'muted' }, hint) : null);
}

/** Event types as a group of labelled checkboxes. */
export function checkboxes(legend, name, all, checked = []) {
  return h('fieldset', { class: 'checks' }, h('legend', {}, legend),
    all.map((v) => h('label', {}, h('input', { type: 'checkbox', name, value: v, checked: checked.includes(v) }), ' ', v)));
}

/** The values of the checked boxes called name inside form. */
export function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

/** A time as the browser's local time, with the exact UTC value as its title. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

/** A state badge. */
export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${String(kind).replace(/[^a-z0-9_]/gi, '')}` }, text);
}

/** A table in a scrolling box: head is a list of labels, rows of cells. */
export function table(caption, head, rows, empty = 'Nothing yet.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', { role: 'table' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, head.map((c) => h('th', { scope: 'col', role: 'columnheader' }, c)))),
      h('tbody', { role: 'rowgroup' }, rows.map((r) => h('tr', { role: 'row' },
        r.map((c, i) => h('td', { role: 'cell', 'data-label': head[i] }, c)))))));
}
