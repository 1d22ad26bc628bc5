/**
 * The dashboard: sign in with an API token, then the tenant's builds, one
 * build with its live log, and the pool's agents and queue. Routes are in the
 * URL's fragment (`#/builds/<id>`), never the token. Each view stops its
 * refreshes and its live log when the user leaves it.
 */
import { whenUnauthorized } from "./api";
import { h } from "./dom";
import { signOut, token } from "./session";
import { agentsView } from "./views/agents";
import { buildView } from "./views/build";
import { buildsView } from "./views/builds";
import { signInView } from "./views/sign-in";

const main = document.getElementById("main") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;
let leaving = new AbortController();

function link(href: string, text: string, current: boolean): HTMLElement {
  return h("li", {}, h("a", { href, "aria-current": current ? "page" : undefined }, text));
}

function route(): void {
  leaving.abort();
  leaving = new AbortController();
  if (token() === null) {
    nav.replaceChildren();
    signInView(main, () => {
      if (location.hash === "" || location.hash === "#/") location.hash = "#/builds";
      else route();
    });
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/builds";
  const build = /^\/builds\/([0-9a-f-]{36})$/.exec(path);
  nav.replaceChildren(
    h(
      "ul",
      {},
      link("#/builds", "Builds", path.startsWith("/builds")),
      link("#/agents", "Agents and queue", path === "/agents"),
      h("li", {}, h("button", { type: "button", class: "link", onclick: () => (signOut(), route()) }, "Sign out")),
    ),
  );
  if (build) buildView(main, build[1]!, leaving.signal);
  else if (path === "/agents") agentsView(main, leaving.signal);
  else buildsView(main, leaving.signal);
  main.focus({ preventScroll: true });
}

whenUnauthorized(route);
window.addEventListener("hashchange", route);
route();
