/**
 * Building the page from data without innerHTML: every text goes in as a
 * text node, so nothing a build printed can become markup.
 */
type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | ((event: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** `1 h 2 min`, `3 min 4 s`, `5.6 s`. */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export function formatTime(iso: string | null): string {
  return iso === null ? "—" : new Date(iso).toLocaleString();
}

/** A build's time on an agent, or so far; from its submission while it never started. */
export function buildDuration(build: { created_at: string; started_at: string | null; finished_at: string | null }): string {
  const start = Date.parse(build.started_at ?? build.created_at);
  const end = build.finished_at === null ? Date.now() : Date.parse(build.finished_at);
  return build.started_at === null && build.finished_at !== null ? "—" : formatDuration(Math.max(0, end - start));
}

export function shortDigest(digest: string | null): string {
  return digest === null ? "—" : `${digest.slice(0, 19)}…`;
}

/** A state badge: the word itself carries the meaning; the colour only repeats it. */
export function stateBadge(state: string): HTMLElement {
  return h("span", { class: `badge state-${state}` }, state);
}
