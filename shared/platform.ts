/**
 * Platforms as a build asks for one (`platform=linux/arm64`) and as an agent
 * announces its Engine's (`os/arch[/variant]`, protocol.ts): the grammar, and
 * whether an agent builds what a build asks for.
 */

/** `os/arch[/variant]`, with the parts as protocol.ts's platformSchema bounds them. */
export const PLATFORM_TEXT = /^[a-z0-9]{1,32}\/[a-z0-9_]{1,32}(?:\/[a-z0-9]{1,16})?$/;

/**
 * Variants an architecture has when none is written: Docker (containerd's platforms package) normalizes
 * `linux/arm64` to `linux/arm64/v8` and `linux/arm` to `linux/arm/v7`, so each pair names one platform.
 */
const DEFAULT_VARIANTS: Readonly<Record<string, string>> = { arm64: "v8", arm: "v7" };

function normalize(text: string): string {
  const [os, architecture, variant] = text.split("/");
  const implied = variant ?? DEFAULT_VARIANTS[architecture!];
  return [os, architecture, ...(implied ? [implied] : [])].join("/");
}

/**
 * Whether an agent whose Engine builds `offered` builds `requested`. An agent too old to say what it builds (null)
 * builds nothing that names a platform: it could not be checked.
 */
export function platformMatches(requested: string | undefined, offered: string | null): boolean {
  if (requested === undefined) return true;
  return offered !== null && normalize(requested) === normalize(offered);
}
