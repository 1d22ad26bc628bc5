/**
 * Sizes as the Docker CLI's `--memory` writes them: whole numbers with an
 * optional binary unit, so an operator can copy a value from `docker run -m`.
 */

const SIZE = /^(\d+)([kmg])?$/i;

/** Largest first, so formatting picks the largest unit that divides evenly. */
const UNITS = [
  { suffix: "g", name: "GiB", bytes: 1024 ** 3 },
  { suffix: "m", name: "MiB", bytes: 1024 ** 2 },
  { suffix: "k", name: "KiB", bytes: 1024 },
] as const;

/** `512m`, `2g`, `65536k` or plain bytes into bytes; undefined when the text is not a size. */
export function parseByteSize(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (!match) return undefined;
  const suffix = match[2]?.toLowerCase();
  const bytes = Number(match[1]) * (UNITS.find((unit) => unit.suffix === suffix)?.bytes ?? 1);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The largest whole binary unit, for log lines: `16 MiB`, `2 GiB`, `1000 bytes`. */
export function formatByteSize(bytes: number): string {
  const unit = UNITS.find((candidate) => bytes % candidate.bytes === 0);
  return unit ? `${bytes / unit.bytes} ${unit.name}` : `${bytes} bytes`;
}

/** A size to one decimal in the largest binary unit it reaches, for what is measured rather than set: `77.6 GiB`, `512 bytes`. */
export function formatApproxByteSize(bytes: number): string {
  for (const unit of [{ name: "TiB", bytes: 1024 ** 4 }, ...UNITS]) {
    if (bytes >= unit.bytes) return `${(bytes / unit.bytes).toFixed(1)} ${unit.name}`;
  }
  return `${bytes} bytes`;
}
