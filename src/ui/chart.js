// SPDX-License-Identifier: Apache-2.0
// Small SVG charts drawn with DOM calls (no library, no innerHTML): a line
// chart of one or more series over the same x axis, and a bar list.

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * lineChart({title, series: [{label, cls, values: [number|null]}], xLabels, unit})
 * Returns a <figure> with the chart and a text summary for screen readers.
 */
export function lineChart({ title, series, xLabels, unit = '' }) {
  // On a phone the chart is drawn at the card's width (the page's padding
  // and the card's are 58 px), so its text is not scaled down to a blur.
  const W = innerWidth < 640 ? Math.max(260, innerWidth - 58) : 600;
  const H = 180, L = 44, R = 8, T = 10, B = 22;
  const all = series.flatMap((x) => x.values).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...all) * 1.1;
  const n = xLabels.length;
  const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' },
      v >= 100 ? v.toFixed(0) : v.toFixed(1)));
  }
  [0, Math.floor((n - 1) / 2), n - 1].forEach((i) => {
    if (xLabels[i]) svg.append(s('text', { x: x(i), y: H - 6, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle' }, xLabels[i]));
  });
  for (const ser of series) {
    let d = '';
    ser.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d && ser.values[i - 1] !== null && ser.values[i - 1] !== undefined ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    svg.append(s('path', { d, class: `line ${ser.cls}` }));
    // A dot per value, so a lone bucket with data shows too.
    ser.values.forEach((v, i) => {
      if (v !== null && v !== undefined && v > 0) svg.append(s('circle', { cx: x(i), cy: y(v), r: 3, class: `dot ${ser.cls}` }));
    });
  }
  const legend = document.createElement('figcaption');
  legend.append(title);
  for (const ser of series) {
    const last = [...ser.values].reverse().find((v) => v !== null && v !== undefined);
    const item = document.createElement('span');
    item.className = `legend ${ser.cls}`;
    item.textContent = `${ser.label}: ${last === undefined ? '—' : `${Number(last).toFixed(2)}${unit}`}`;
    legend.append(' ', item);
  }
  const fig = document.createElement('figure');
  fig.className = 'card chart-card';
  fig.append(legend, svg);
  return fig;
}

/** barList({title, items: [{label, value (0..1), text}]}) */
export function barList({ title, items, empty }) {
  const fig = document.createElement('figure');
  fig.className = 'card chart-card';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  fig.append(cap);
  if (!items.length) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = empty;
    fig.append(p);
    return fig;
  }
  const ul = document.createElement('ul');
  ul.className = 'bars';
  for (const it of items) {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.className = 'bar-label';
    label.textContent = it.label;
    const meter = document.createElement('meter');
    meter.min = 0; meter.max = 1; meter.low = 0.9; meter.optimum = 1; meter.high = 0.99;
    meter.value = it.value;
    meter.setAttribute('aria-label', `${it.label} success rate`);
    const val = document.createElement('span');
    val.className = 'bar-value';
    val.textContent = it.text;
    li.append(label, meter, val);
    ul.append(li);
  }
  fig.append(ul);
  return fig;
}
