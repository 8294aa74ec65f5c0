/**
 * The pages' DOM helpers. Everything shown is set as text (never HTML): answers, records and log
 * entries are untrusted input, and a detail string must not become markup.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Readonly<Record<string, string | number | boolean | undefined>>;

/** An element with attributes (`class`, `data-*`, `hidden`, ...) and text or element children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** The element with this id, of this type; throws when the page lacks it (a page/script mismatch). */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return el;
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** A thrown value as one line. */
export function messageOf(e: unknown): string {
  const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? `${(e as { code: string }).code}: ` : '';
  return `${code}${e instanceof Error ? e.message : String(e)}`;
}

/** GET a same-origin path relative to the page; the body as text, or an Error naming the status. */
export async function getText(path: string, accept = 'application/json'): Promise<string> {
  const url = new URL(path, document.baseURI);
  const res = await fetch(url, { headers: { accept } });
  const text = await res.text();
  if (!res.ok) {
    let detail = '';
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.message === 'string') detail = `: ${typeof body.error.code === 'string' ? `${body.error.code} ` : ''}${body.error.message}`;
    } catch {
      // not an error document
    }
    throw new Error(`GET ${url.pathname} answered HTTP ${res.status}${detail}`);
  }
  return text;
}

export async function getJson(path: string): Promise<unknown> {
  return JSON.parse(await getText(path)) as unknown;
}

/** WebCrypto exists only in a secure context (https, or http://localhost). */
export function requireWebCrypto(where: HTMLElement): boolean {
  // In an insecure context `crypto.subtle` is undefined, whatever the DOM typings say.
  if (globalThis.isSecureContext && typeof (globalThis.crypto as { subtle?: unknown } | undefined)?.subtle === 'object') return true;
  append(
    where,
    h('p', { class: 'error', role: 'alert' }, 'This page verifies with WebCrypto, which browsers offer only in a secure context: open the gateway over https://, or at http://localhost / 127.0.0.1.'),
  );
  return false;
}

export function isObject(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as short display text: strings as they are, anything else as JSON. */
export function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
