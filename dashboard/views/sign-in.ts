/** The sign-in form: an API token, checked against the API before it is kept. */
import { h } from "../dom";
import { signIn, signOut } from "../session";

export function signInView(main: HTMLElement, onSignedIn: () => void): void {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-help" });
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error" });
  const form = h(
    "form",
    {
      class: "card sign-in",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        error.textContent = "";
        signIn(input.value.trim());
        const response = await fetch("/v1/builds?limit=1", { headers: { Authorization: `Bearer ${input.value.trim()}` }, cache: "no-store" });
        if (response.ok) return onSignedIn();
        signOut();
        error.textContent = response.status === 401 ? "That API token was refused." : `The API answered HTTP ${response.status}.`;
        input.focus();
      },
    },
    h("h1", {}, "Sign in to Dockify"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { id: "token-help", class: "help" }, "Kept in this tab only (sessionStorage), sent as a header, never in a URL."),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  main.replaceChildren(form);
  input.focus();
}
