/** Elements built from data: text is always set as text (never parsed as HTML). */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, '').toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

export function table(
  caption: string,
  head: string[],
  rows: (Child | Child[])[][],
  attrs: Attrs = {},
): HTMLTableElement {
  // Focusable: on a phone a wide table scrolls inside itself, and a keyboard must reach that scroll.
  return h(
    'table',
    { tabindex: 0, ...attrs },
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length
        ? rows.map((r) =>
            h(
              'tr',
              {},
              r.map((c) => h('td', {}, c)),
            ),
          )
        : h('tr', {}, h('td', { colspan: head.length }, 'None.')),
    ),
  );
}

/** Rates as everywhere else (terminal, reports): percent with one decimal. */
export { percent as pct, percentagePoints as pp } from '../../src/percent';
/** One locale for every date on every page: the browser's. */
export const LOCALE = typeof navigator !== 'undefined' && navigator.language ? navigator.language : 'en-GB';
export const when = (t: string | null | undefined): string =>
  t ? new Date(t).toLocaleString(LOCALE, { dateStyle: 'medium', timeStyle: 'short' }) : '—';
/** A day (charts' axes, days without a time): the same date style as `when`. */
export const dayOf = (t: string): string => new Date(t).toLocaleDateString(LOCALE, { dateStyle: 'medium' });
export const secs = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`;

/** A figure with its definition: shown on hover and focus, and read by screen readers. */
export function defined(label: string, definition: string): HTMLElement {
  return h('span', { class: 'defined', tabindex: 0, title: definition, 'aria-description': definition }, label);
}

export function announce(text: string): void {
  const s = document.getElementById('status');
  if (s) s.textContent = text;
}

/** A message at the top of the page, seen and read out (what became of a person's action); replaced by the next. */
export function flash(text: string, warning = false): void {
  const main = document.querySelector('main');
  if (!main) return;
  document.getElementById('flash')?.remove();
  main.prepend(h('p', { id: 'flash', role: 'status', class: warning ? 'flash warning' : 'flash' }, text));
}
