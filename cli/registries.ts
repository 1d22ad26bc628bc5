/**
 * Which registries other than the push registry a build needs logins for:
 * those of the images its Dockerfile names (read as the agent reads it, with
 * the build's arguments) and of its other `-t` references. Only those logins
 * from the user's Docker config are sent, never the whole config.
 */
import { parseImageName } from "../agent/docker-name";
import { imagesInDockerfile } from "../agent/images/dockerfile-images";
import { registryKey } from "../shared/reference";
import type { Platform } from "../shared/protocol";
import type { DockerConfigLogins, RegistryLogin } from "./credentials";

/** `os/arch[/variant]` as a platform; this machine's when not given (only FROM lines that name $TARGETARCH differ by it). */
export function platformOf(text: string | undefined): Platform {
  const [os, architecture, variant] = (text ?? `linux/${process.arch === "x64" ? "amd64" : process.arch}`).split("/");
  return { os: os || "linux", architecture: architecture || "amd64", ...(variant ? { variant } : {}) };
}

/** Registry hosts the Dockerfile pulls from; none when it cannot be read (the agent then reports why). */
export function dockerfileRegistries(dockerfile: string, buildArgs: Readonly<Record<string, string>>, platform: Platform): string[] {
  let references: string[];
  try {
    references = imagesInDockerfile(dockerfile, buildArgs, platform).map((image) => image.reference);
  } catch {
    return [];
  }
  return references.flatMap((reference) => {
    try {
      return [parseImageName(reference).registry];
    } catch {
      return [];
    }
  });
}

/** Host → login from the Docker config, for each host but the push registry that has one. */
export function otherLogins(hosts: readonly string[], pushRegistry: string, dockerConfig: DockerConfigLogins): Map<string, RegistryLogin> {
  const logins = new Map<string, RegistryLogin>();
  for (const host of hosts) {
    const key = registryKey(host);
    if (key === registryKey(pushRegistry) || logins.has(key)) continue;
    const login = dockerConfig.for(host);
    if (login) logins.set(key, login);
  }
  return logins;
}
