/**
 * Every image a build's Dockerfile names, checked at its registry with the
 * build's own login for that host before the Engine sees the build: an image
 * already on the host (pulled by another tenant's build, or digest-pinned and
 * served from the Engine's content store) never serves a build whose
 * credentials could not pull it. Whichever builder runs the build. A
 * `# syntax=` frontend must first be one the operator allows (frontends.ts),
 * and is then checked like an image: the Engine pulls it with the build's logins.
 */
import type { Platform } from "../../shared/protocol";
import { formatImageName, parseImageName, type ImageName } from "../docker-name";
import type { Logins } from "../logins";
import { readDockerfile } from "./dockerfile-images";
import { checkFrontends, type AllowedFrontends } from "./frontends";
import { checkPullable, ImageNotPullable } from "./registry-check";

/** The repositories a build was cleared to pull from; a builder that sees its build resolve another one stops it. */
export class CheckedRepositories {
  readonly #repositories: ReadonlySet<string>;

  constructor(images: readonly ImageName[]) {
    this.#repositories = new Set(images.map(repositoryOf));
  }

  /** True when `reference` (as the builder names it, e.g. `docker.io/library/busybox:latest`) was checked. */
  allows(reference: string): boolean {
    try {
      return this.#repositories.has(repositoryOf(parseImageName(reference)));
    } catch {
      return false;
    }
  }
}

function repositoryOf(image: ImageName): string {
  return `${image.registry}/${image.path}`;
}

export interface ImageCheck {
  dockerfile: string;
  buildArgs: Readonly<Record<string, string>>;
  /** The platform the build targets. */
  platform: Platform;
  /** The `# syntax=` frontends the agent's operator allows. */
  frontends: AllowedFrontends;
  logins: Logins;
  signal: AbortSignal;
  /** Told of each image once its registry said this build may pull it. */
  onAllowed: (reference: string) => void;
}

export interface CheckedDockerfile {
  checked: CheckedRepositories;
  /** Some RUN step mounts a build secret. */
  mountsSecrets: boolean;
}

/**
 * Refuses a frontend the operator does not allow, before asking any registry; then checks every image at once.
 * Rejects with the first refusal, naming the image and where the Dockerfile names it.
 */
export async function checkDockerfileImages(check: ImageCheck): Promise<CheckedDockerfile> {
  const { images: named, frontends, mountsSecrets } = readDockerfile(check.dockerfile, check.buildArgs, check.platform);
  checkFrontends(frontends, check.frontends);
  // Each reference once, where it is first named: a frontend may be named on several lines, and in a FROM too.
  const fetched = new Map<string, string>();
  for (const { reference, where } of [...frontends, ...named]) if (!fetched.has(reference)) fetched.set(reference, where);
  const images = [...fetched].map(([reference, where]) => {
    try {
      return { image: parseImageName(reference), where };
    } catch (error) {
      throw new ImageNotPullable(`${where}: ${(error as Error).message}`);
    }
  });
  await Promise.all(
    images.map(async ({ image, where }) => {
      try {
        await checkPullable({ image, login: check.logins.for(image.registry), signal: check.signal });
      } catch (error) {
        if (error instanceof ImageNotPullable) throw new ImageNotPullable(`${where}: ${error.message}`);
        throw error;
      }
      check.onAllowed(formatImageName(image));
    }),
  );
  return { checked: new CheckedRepositories(images.map(({ image }) => image)), mountsSecrets };
}
