/**
 * A job's registry password inside the pool: opened only to hand it to the
 * agent in the assignment and to redact it from what agents send back (log
 * lines, errors, reasons). An agent's own redaction is not something to rely on.
 */
import { mapEntryText, renderEvent, type LogEntry } from "../../shared/build-log";
import { redactor } from "../../shared/redact";
import type { Env } from "../env";
import { open, UnreadableSecretError } from "../secrets";
import type { JobRecord } from "./records";

/** The job's registry password, undefined when it has none; throws UnreadableSecretError when no key opens it. */
export async function openPassword(env: Env, job: Pick<JobRecord, "id" | "sealedPassword">): Promise<string | undefined> {
  if (!job.sealedPassword) return undefined;
  return open([env.DOCKIFY_SECRET_KEY, env.DOCKIFY_SECRET_KEY_PREVIOUS], job.id, job.sealedPassword);
}

export interface Scrubber {
  text(value: string): string;
  entry(entry: LogEntry): LogEntry;
}

/** Redacts the job's password from what its agent sent; when the password cannot be opened, nothing the agent sent is kept. */
export async function scrubberFor(env: Env, job: JobRecord | null): Promise<Scrubber> {
  try {
    const password = job ? await openPassword(env, job) : undefined;
    const text = redactor([password]);
    return { text, entry: (entry) => mapEntryText(entry, text) };
  } catch {
    const withheld = { type: "withheld", reason: new UnreadableSecretError().message } as const;
    return { text: () => renderEvent(withheld), entry: () => ({ event: withheld }) };
  }
}
