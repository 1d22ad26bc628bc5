/**
 * The API token of the signed-in user: in sessionStorage only (gone when the
 * tab closes), never in a URL, a cookie or localStorage. Every request sends
 * it as `Authorization: Bearer`.
 */
const KEY = "dockify.apiToken";

export function token(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signIn(value: string): void {
  sessionStorage.setItem(KEY, value);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
