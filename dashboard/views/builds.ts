/** The tenant's builds, newest first, with filters; refreshed while the page is open. */
import type { Build } from "../../shared/api";
import { api } from "../api";
import { buildDuration, formatTime, h, shortDigest, stateBadge } from "../dom";

const REFRESH_MS = 3000;
const STATE_FILTERS = {
  all: () => true,
  running: (build: Build) => ["queued", "assigned", "building", "pushing"].includes(build.state),
  succeeded: (build: Build) => build.state === "succeeded",
  failed: (build: Build) => build.state === "failed",
  canceled: (build: Build) => build.state === "canceled",
} as const;

export function buildsView(main: HTMLElement, signal: AbortSignal): void {
  let builds: Build[] = [];
  let nextCursor: string | null = null;
  const state = h(
    "select",
    { id: "state-filter", name: "state" },
    ...Object.keys(STATE_FILTERS).map((value) => h("option", { value }, value === "running" ? "waiting or running" : value)),
  );
  const search = h("input", { id: "image-filter", name: "image", type: "search", placeholder: "e.g. alice/web" });
  const body = h("tbody");
  const status = h("p", { class: "status", role: "status" });
  const more = h("button", { type: "button", class: "secondary", onclick: () => void loadMore() }, "Load more");

  const render = () => {
    const matches = builds.filter(STATE_FILTERS[state.value as keyof typeof STATE_FILTERS]).filter((build) => build.image_reference.includes(search.value.trim()));
    body.replaceChildren(
      ...matches.map((build) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/builds/${build.id}` }, build.id.slice(0, 8))),
          h("td", {}, stateBadge(build.state)),
          h("td", { class: "wrap" }, build.image_reference),
          h("td", { class: "mono" }, h("span", { title: build.digest ?? "" }, shortDigest(build.digest))),
          h("td", {}, buildDuration(build)),
          h("td", {}, formatTime(build.created_at)),
        ),
      ),
    );
    status.textContent = matches.length === 0 ? (builds.length === 0 ? "No builds yet." : "No build matches the filters.") : `${matches.length} of ${builds.length} loaded build(s).`;
    more.hidden = nextCursor === null;
  };

  let loaded = false;
  const refresh = async () => {
    const page = await api.builds();
    // The first page, fresh; builds loaded further down keep their place after it.
    const fresh = new Set(page.builds.map((build) => build.id));
    builds = [...page.builds, ...builds.filter((build) => !fresh.has(build.id))];
    if (!loaded) nextCursor = page.next_cursor;
    loaded = true;
    render();
  };
  const loadMore = async () => {
    if (nextCursor === null) return;
    const page = await api.builds(nextCursor);
    builds = [...builds, ...page.builds.filter((build) => !builds.some((known) => known.id === build.id))];
    nextCursor = page.next_cursor;
    render();
  };

  state.addEventListener("change", render);
  search.addEventListener("input", render);
  main.replaceChildren(
    h("h1", {}, "Builds"),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (event: Event) => event.preventDefault() },
      h("div", {}, h("label", { for: "state-filter" }, "State"), state),
      h("div", {}, h("label", { for: "image-filter" }, "Image contains"), search),
    ),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, "Your builds, newest first"),
        h(
          "thead",
          {},
          h("tr", {}, ...["Build", "State", "Image", "Digest", "Duration", "Submitted"].map((title) => h("th", { scope: "col" }, title))),
        ),
        body,
      ),
    ),
    status,
    more,
  );
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await refresh();
    } catch (error) {
      status.textContent = `Could not load builds: ${error instanceof Error ? error.message : String(error)}`;
    }
    setTimeout(() => void tick(), REFRESH_MS);
  };
  void tick();
}
