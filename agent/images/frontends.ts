/**
 * Which `# syntax=` frontends a build may run. A frontend is arbitrary code
 * that writes the build graph itself: it can ask BuildKit for any image in the
 * Engine's store ("prefer local", under a step name of its choosing, which
 * neither the registry check nor the builder's trace cross-check would see),
 * and mount any cache id, ignoring the namespace the agent sets per tenant.
 * So only the frontends the agent's operator names run
 * (DOCKIFY_AGENT_FRONTENDS), each pinned by digest so that the code that was
 * vetted is the code that runs; by default none does. The Engine's built-in
 * Dockerfile frontend already has `RUN --mount` (cache, secret, bind).
 */
import { parseImageName, type ImageName } from "../docker-name";
import type { SyntaxDirective } from "./directives";

/** The one digest form an allowed frontend is pinned with. */
const PINNED_DIGEST = /^sha256:[0-9a-f]{64}$/;
const SETTING = "DOCKIFY_AGENT_FRONTENDS";

/** The build names a frontend this agent does not run; the message says which, where, and what to do. */
export class FrontendRefused extends Error {}

/** A frontend as a pin: repository and manifest digest. A tag written beside the digest is not what BuildKit pulls. */
function pin(image: ImageName): string | undefined {
  return image.digest !== undefined && PINNED_DIGEST.test(image.digest) ? `${image.registry}/${image.path}@${image.digest}` : undefined;
}

export class AllowedFrontends {
  /** No frontend at all: the default. */
  static readonly NONE = new AllowedFrontends([]);
  /** As the operator wrote them, for messages. */
  readonly references: readonly string[];
  readonly #pins: ReadonlySet<string>;

  private constructor(references: readonly string[]) {
    this.references = references;
    this.#pins = new Set(references.map((reference) => pin(parseImageName(reference))!));
  }

  /** The setting's value: image references separated by commas, each `name@sha256:<64 hex>`. Returns every problem. */
  static parse(text: string): AllowedFrontends | { errors: string[] } {
    const references = text
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean);
    const errors: string[] = [];
    for (const reference of references) {
      let image: ImageName;
      try {
        image = parseImageName(reference);
      } catch (error) {
        errors.push((error as Error).message);
        continue;
      }
      if (!pin(image)) errors.push(`"${reference}" is not pinned by digest: write it as name@sha256:<64 hex digits> (a tag can be moved to other code)`);
    }
    if (errors.length > 0) return { errors };
    return references.length > 0 ? new AllowedFrontends(references) : AllowedFrontends.NONE;
  }

  /** True when `reference` (as a `# syntax=` line names it) pins one of these frontends. */
  allows(reference: string): boolean {
    try {
      const pinned = pin(parseImageName(reference));
      return pinned !== undefined && this.#pins.has(pinned);
    } catch {
      return false;
    }
  }
}

/** Refuses a build that names any frontend not allowed; every one a BuildKit could run is among `frontends`. */
export function checkFrontends(frontends: readonly SyntaxDirective[], allowed: AllowedFrontends): void {
  const refused = frontends.find(({ reference }) => !allowed.allows(reference));
  if (!refused) return;
  const remedy =
    allowed.references.length > 0
      ? `or name a frontend this agent allows, by its digest: ${allowed.references.join(", ")}`
      : `or ask the agent's operator to allow that frontend, pinned by digest (${SETTING})`;
  throw new FrontendRefused(
    `${refused.where}: the frontend ${refused.reference} is not allowed on this agent: a # syntax= frontend is code that builds ` +
      "the image its own way, past the agent's checks of the images a build uses and of whose cache mounts it reads. " +
      `Remove the line (the Engine's built-in Dockerfile frontend has RUN --mount for cache, secret and bind mounts), ${remedy}`,
  );
}
