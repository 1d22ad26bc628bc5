/**
 * A job's registry logins, one per host: what the build may pull with and push
 * with. A host without a login gets none (anonymous), never another host's.
 * Docker Hub answers to several names (`docker.io` in references, BuildKit
 * asks for `registry-1.docker.io`, Docker's own login key is
 * `https://index.docker.io/v1/`): they are one host here.
 */
import type { Assignment, RegistryAuth } from "../shared/protocol";
import { registryKey } from "../shared/reference";

export class Logins {
  readonly #byHost: ReadonlyMap<string, RegistryAuth>;

  constructor(logins: readonly RegistryAuth[]) {
    // The first login for a host wins: the job's own `auth` comes first.
    const byHost = new Map<string, RegistryAuth>();
    for (const login of logins) {
      const key = registryKey(login.serveraddress);
      if (!byHost.has(key)) byHost.set(key, login);
    }
    this.#byHost = byHost;
  }

  /** The login for the registry of an image or for the host BuildKit asks about; undefined: anonymous. */
  for(host: string): RegistryAuth | undefined {
    return this.#byHost.get(registryKey(host));
  }

  get all(): RegistryAuth[] {
    return [...this.#byHost.values()];
  }
}

/** Every login a job carries: the one for its own registry first, then those for the registries it pulls from. */
export function jobLogins(assignment: Pick<Assignment, "auth" | "logins">): Logins {
  return new Logins([...(assignment.auth ? [assignment.auth] : []), ...assignment.logins]);
}
