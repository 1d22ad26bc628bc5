/**
 * Where the CLI remembers its unfinished chunked uploads, so that running the
 * same build again sends only the parts the Worker does not have: one JSON
 * file, `$XDG_STATE_HOME/dockify/uploads.json` (else
 * `~/.local/state/dockify/uploads.json`), mode 600, mapping a key to an upload
 * id. The key is a SHA-256 of the Worker's URL, the API token, and the
 * context's own SHA-256, size and part size: the same context sent to the
 * same tenant finds its upload, and the file holds neither token nor path.
 * Entries older than the Worker keeps an idle upload (a day, by default) are
 * dropped.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** An upload left this long is gone on the Worker anyway (DOCKIFY_UPLOAD_EXPIRY_SECONDS' default, a day, and a margin). */
const FORGET_AFTER_MS = 2 * 24 * 3600 * 1000;

interface Entry {
  id: string;
  saved_at: number;
}

export function uploadStatePath(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "dockify", "uploads.json");
}

export function resumeKey(parts: { url: string; token: string; sha256: string; size: number; partSize: number }): string {
  return createHash("sha256").update(JSON.stringify([parts.url, parts.token, parts.sha256, parts.size, parts.partSize])).digest("hex");
}

export class ResumeStore {
  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
  ) {}

  find(key: string): string | undefined {
    return this.#read()[key]?.id;
  }

  save(key: string, id: string): void {
    this.#update((entries) => {
      entries[key] = { id, saved_at: this.now() };
    });
  }

  forget(key: string): void {
    this.#update((entries) => {
      delete entries[key];
    });
  }

  #read(): Record<string, Entry> {
    try {
      const entries = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, Entry>;
      return Object.fromEntries(Object.entries(entries).filter(([, entry]) => this.now() - entry.saved_at < FORGET_AFTER_MS));
    } catch {
      // none yet, or unreadable: nothing to resume, which is never wrong
      return {};
    }
  }

  /** Best effort: a state file that cannot be written costs only the resume. */
  #update(change: (entries: Record<string, Entry>) => void): void {
    try {
      const entries = this.#read();
      change(entries);
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const temp = `${this.path}.${process.pid}`;
      writeFileSync(temp, JSON.stringify(entries), { mode: 0o600 });
      renameSync(temp, this.path);
    } catch {
      // see above
    }
  }
}
