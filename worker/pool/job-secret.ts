/**
 * A job's secrets inside the pool: its registry password, and its other
 * registries' logins and build secrets (sealed together as its credentials).
 * Opened only to hand them to the agent in the assignment and to redact them
 * from what agents send back (log lines, errors, reasons). An agent's own
 * redaction is not something to rely on.
 */
import { mapEntryText, renderEvent, type LogEntry } from "../../shared/build-log";
import type { RegistryAuth } from "../../shared/protocol";
import { isFinal } from "../../shared/job";
import { redactor } from "../../shared/redact";
import type { Env } from "../env";
import { open, seal, UnreadableSecretError } from "../secrets";
import type { JobRecord } from "./records";

/** What a job's sealed credentials hold: logins as the assignment carries them, and the build secrets. */
export interface JobCredentials {
  logins: RegistryAuth[];
  secrets: { id: string; value: string }[];
}

const NO_CREDENTIALS: JobCredentials = { logins: [], secrets: [] };

/** Bound as the additional data besides the job id, so the credentials never open as the password, nor the reverse. */
function credentialsData(jobId: string): string {
  return `${jobId}/credentials`;
}

/** Seals the credentials of a new job; null when it has none. */
export async function sealCredentials(env: Env, jobId: string, credentials: JobCredentials): Promise<ArrayBuffer | null> {
  if (credentials.logins.length === 0 && credentials.secrets.length === 0) return null;
  return seal(env.DOCKIFY_SECRET_KEY, credentialsData(jobId), JSON.stringify(credentials));
}

/** The job's registry password, undefined when it has none; throws UnreadableSecretError when no key opens it. */
export async function openPassword(env: Env, job: Pick<JobRecord, "id" | "sealedPassword">): Promise<string | undefined> {
  if (!job.sealedPassword) return undefined;
  return open([env.DOCKIFY_SECRET_KEY, env.DOCKIFY_SECRET_KEY_PREVIOUS], job.id, job.sealedPassword);
}

/** The job's logins and build secrets (none when it has none); throws UnreadableSecretError when no key opens them. */
export async function openCredentials(env: Env, job: Pick<JobRecord, "id" | "sealedCredentials">): Promise<JobCredentials> {
  if (!job.sealedCredentials) return NO_CREDENTIALS;
  const text = await open([env.DOCKIFY_SECRET_KEY, env.DOCKIFY_SECRET_KEY_PREVIOUS], credentialsData(job.id), job.sealedCredentials);
  return JSON.parse(text) as JobCredentials;
}

export interface Scrubber {
  text(value: string): string;
  entry(entry: LogEntry): LogEntry;
}

/** Redacts the job's secrets from what its agent sent; when they cannot be opened, nothing the agent sent is kept. */
export async function scrubberFor(env: Env, job: Pick<JobRecord, "id" | "sealedPassword" | "sealedCredentials"> | null): Promise<Scrubber> {
  try {
    const password = job ? await openPassword(env, job) : undefined;
    const { logins, secrets } = job ? await openCredentials(env, job) : NO_CREDENTIALS;
    const text = redactor([password, ...logins.map((login) => login.password), ...secrets.map((secret) => secret.value)]);
    return { text, entry: (entry) => mapEntryText(entry, text) };
  } catch {
    const withheld = { type: "withheld", reason: new UnreadableSecretError().message } as const;
    return { text: () => renderEvent(withheld), entry: () => ({ event: withheld }) };
  }
}

/**
 * At most this many jobs' scrubbers are kept: a big one (256 secret lines in several encodings) holds a few MB, and a
 * pool's running jobs past this many only cost opening their secrets again.
 */
export const MAX_CACHED_SCRUBBERS = 16;

/**
 * The scrubbers of running jobs, kept between the messages of a job: opening its secrets (decrypting them) and
 * working out their forms is done once per attempt, not for every log batch. Dropped when the job ends (the secret is
 * wiped then too), and the least recently used one first past MAX_CACHED_SCRUBBERS.
 */
export class Scrubbers {
  private readonly cache = new Map<string, { attempt: number; scrubber: Promise<Scrubber> }>();

  constructor(private readonly env: Env) {}

  for(job: Pick<JobRecord, "id" | "attempt" | "state" | "sealedPassword" | "sealedCredentials"> | null): Promise<Scrubber> {
    // An ended job's secrets are wiped; a late message about it is not worth keeping a scrubber for.
    if (!job || isFinal(job.state)) return scrubberFor(this.env, job);
    const cached = this.cache.get(job.id);
    this.cache.delete(job.id);
    const scrubber = cached && cached.attempt === job.attempt ? cached.scrubber : scrubberFor(this.env, job);
    this.cache.set(job.id, { attempt: job.attempt, scrubber });
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= MAX_CACHED_SCRUBBERS) break;
      this.cache.delete(oldest);
    }
    return scrubber;
  }

  drop(jobId: string): void {
    this.cache.delete(jobId);
  }

  get size(): number {
    return this.cache.size;
  }
}
