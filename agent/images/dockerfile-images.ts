/**
 * Every image a Dockerfile makes the builder fetch, read the way BuildKit's
 * Dockerfile frontend reads it: each `FROM` with the global `ARG`s and the
 * build's arguments expanded, `COPY --from=<image>` and
 * `RUN --mount=…,from=<image>`; stage names and `scratch` are not images. And
 * apart from them, the frontends its `# syntax=` directives name
 * (directives.ts), which are not images the build uses but code that runs it.
 *
 * This is a check before the build, not the build's own parser: where the two
 * could read a line differently, it errs on the side of naming more images
 * (every stage, reachable from the target or not), and the BuildKit builder
 * compares what its build actually resolved against what was checked here.
 */
import type { Platform } from "../../shared/protocol";
import { DEFAULT_ESCAPE, DockerfileError, escapeDirective, syntaxDirectives, type SyntaxDirective } from "./directives";

export { DockerfileError } from "./directives";

/** An image the Dockerfile names, as written once its variables are expanded. */
export interface NamedImage {
  reference: string;
  /** Where it is named, for messages: `FROM (line 3)`, `COPY --from (line 5)`. */
  where: string;
}

const SCRATCH = "scratch";

interface Instruction {
  keyword: string;
  /** The instruction's text after its keyword, continuation lines joined. */
  rest: string;
  line: number;
}

/**
 * Logical instructions: continuation lines joined, comment lines dropped. Heredoc bodies (`RUN <<EOF`) are read as
 * lines like any other on purpose: the Engine's built-in frontend has no heredocs, so skipping a "body" could hide a
 * real FROM from the check, while reading a body line as an instruction can only name an image too many.
 */
function readInstructions(lines: readonly string[], escape: string): Instruction[] {
  const instructions: Instruction[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = index + 1;
    let text = lines[index++]!.trimEnd();
    if (text.trim() === "" || text.trim().startsWith("#")) continue;
    while (text.endsWith(escape)) {
      text = text.slice(0, -escape.length);
      // Comment and empty lines inside a continuation are skipped, as BuildKit does.
      while (index < lines.length && (lines[index]!.trim() === "" || lines[index]!.trim().startsWith("#"))) index++;
      if (index >= lines.length) break;
      text += lines[index++]!.trimEnd();
    }
    const match = /^\s*(\S+)\s*(.*)$/s.exec(text);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), rest: match[2]!, line });
  }
  return instructions;
}

/** Splits on unquoted whitespace, removing the quotes. */
function words(text: string): string[] {
  const result: string[] = [];
  let current = "";
  let quote: string | undefined;
  let started = false;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/.test(char)) {
      if (started) result.push(current);
      current = "";
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (started) result.push(current);
  return result;
}

/** Expands `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:+alt}`, `${NAME+alt}`; unknown names are empty. */
export function expand(text: string, variables: ReadonlyMap<string, string>, escape = DEFAULT_ESCAPE): string {
  let result = "";
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char === escape && text[index + 1] === "$") {
      result += "$";
      index++;
      continue;
    }
    if (char !== "$") {
      result += char;
      continue;
    }
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}/.exec(text.slice(index));
    if (braced) {
      const [whole, name, operator, word = ""] = braced;
      const value = variables.get(name!);
      const set = value !== undefined && (operator?.startsWith(":") ? value !== "" : true);
      if (operator?.endsWith("-")) result += set ? value : expand(word, variables, escape);
      else if (operator?.endsWith("+")) result += set ? expand(word, variables, escape) : "";
      else result += value ?? "";
      index += whole.length - 1;
      continue;
    }
    const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(index));
    if (plain) {
      result += variables.get(plain[1]!) ?? "";
      index += plain[0].length - 1;
      continue;
    }
    result += char;
  }
  return result;
}

/** `ARG a=1 b` into names and defaults (undefined: no default). */
function argDeclarations(rest: string): Array<{ name: string; value: string | undefined }> {
  return words(rest).map((word) => {
    const equals = word.indexOf("=");
    return equals === -1 ? { name: word, value: undefined } : { name: word.slice(0, equals), value: word.slice(equals + 1) };
  });
}

/** The value of `--name=value` among an instruction's leading flags. */
function flagValues(rest: string, name: string): string[] {
  const values: string[] = [];
  for (const word of words(rest)) {
    if (!word.startsWith("--")) break;
    const prefix = `--${name}=`;
    if (word.toLowerCase().startsWith(prefix)) values.push(word.slice(prefix.length));
  }
  return values;
}

/** The arguments after an instruction's leading `--flag=value`s. */
function afterFlags(rest: string): string[] {
  const all = words(rest);
  const first = all.findIndex((word) => !word.startsWith("--"));
  return first === -1 ? [] : all.slice(first);
}

/** A field of a `--mount` value (`type=cache,target=/c,from=img`), e.g. its `from` or its `type`. */
function mountField(mount: string, name: string): string | undefined {
  for (const field of mount.split(",")) {
    const equals = field.indexOf("=");
    if (equals !== -1 && field.slice(0, equals).trim().toLowerCase() === name) return field.slice(equals + 1).trim();
  }
  return undefined;
}

/** The platform arguments BuildKit defines in every Dockerfile's global scope. */
function platformArgs(platform: Platform): Map<string, string> {
  const { os, architecture, variant } = platform;
  const spelled = `${os}/${architecture}${variant ? `/${variant}` : ""}`;
  const args = new Map<string, string>();
  for (const prefix of ["BUILD", "TARGET"]) {
    args.set(`${prefix}PLATFORM`, spelled);
    args.set(`${prefix}OS`, os);
    args.set(`${prefix}ARCH`, architecture);
    args.set(`${prefix}VARIANT`, variant ?? "");
  }
  return args;
}

/** What the agent reads out of a Dockerfile before building it. */
export interface DockerfileReading {
  /** The images it names, each once, in order. */
  images: NamedImage[];
  /** The frontends its `# syntax=` directives name: none for the Engine's built-in Dockerfile frontend. */
  frontends: SyntaxDirective[];
  /** Some RUN step mounts a build secret (`--mount=type=secret`). */
  mountsSecrets: boolean;
}

/** The images `dockerfile` names (see readDockerfile). */
export function imagesInDockerfile(dockerfile: string, buildArgs: Readonly<Record<string, string>>, platform: Platform): NamedImage[] {
  return readDockerfile(dockerfile, buildArgs, platform).images;
}

/**
 * Reads `dockerfile`: the images it names, its frontends and whether it mounts secrets. `buildArgs` override the
 * defaults of the `ARG`s they name; `platform` is the build's target (the Engine's own unless the build asks for
 * another). Throws a DockerfileError naming the line when an image cannot be told (a `FROM` that expands to nothing)
 * or its directives are ones the Engine refuses.
 */
export function readDockerfile(dockerfile: string, buildArgs: Readonly<Record<string, string>>, platform: Platform): DockerfileReading {
  const lines = dockerfile.replace(/^\uFEFF/, "").split(/\r?\n/);
  const escape = escapeDirective(lines);
  const images: NamedImage[] = [];
  let mountsSecrets = false;
  const seen = new Set<string>();
  const add = (reference: string, where: string) => {
    if (seen.has(reference)) return;
    seen.add(reference);
    images.push({ reference, where });
  };

  // Directive lines are comments to the instructions' reader.
  const instructions = readInstructions(lines, escape);
  const globals = platformArgs(platform);
  // A FROM names only stages above it; COPY --from and RUN --mount may name any stage of the file. A stage name
  // cannot hold '/' or ':', so reading one as a stage never hides a private registry's image.
  const allStages = new Set(
    instructions.flatMap(({ keyword, rest }) => {
      const [, as, name] = afterFlags(rest);
      return keyword === "FROM" && as?.toLowerCase() === "as" && name ? [name.toLowerCase()] : [];
    }),
  );
  const stageTotal = instructions.filter(({ keyword }) => keyword === "FROM").length;
  const stages = new Set<string>();
  let stageCount = 0;
  let inStage = false;
  const isStage = (name: string) => stages.has(name.toLowerCase()) || (/^\d+$/.test(name) && Number(name) < stageCount);
  const isAnyStage = (name: string) => allStages.has(name.toLowerCase()) || (/^\d+$/.test(name) && Number(name) < stageTotal);
  const source = (name: string, where: string) => {
    const value = name.includes("$") ? expand(name, globals, escape) : name;
    if (value && !isAnyStage(value) && value.toLowerCase() !== SCRATCH) add(value, where);
  };

  for (const { keyword, rest, line } of instructions) {
    switch (keyword) {
      case "ARG":
        // Only the ARGs before the first FROM are in scope in FROM lines.
        if (inStage) break;
        for (const { name, value } of argDeclarations(rest)) {
          const given = Object.hasOwn(buildArgs, name) ? buildArgs[name] : undefined;
          const resolved = given ?? (value === undefined ? undefined : expand(value, globals, escape));
          if (resolved !== undefined) globals.set(name, resolved);
        }
        break;
      case "FROM": {
        inStage = true;
        const [image, as, name] = afterFlags(rest);
        const reference = expand(image ?? "", globals, escape);
        if (!reference) throw new DockerfileError(`FROM on line ${line} names no image once its variables are expanded`);
        if (!isStage(reference) && reference.toLowerCase() !== SCRATCH) add(reference, `FROM (line ${line})`);
        stageCount++;
        if (as?.toLowerCase() === "as" && name) stages.add(name.toLowerCase());
        break;
      }
      case "COPY":
        for (const from of flagValues(rest, "from")) source(from, `COPY --from (line ${line})`);
        break;
      case "RUN":
        for (const mount of flagValues(rest, "mount")) {
          const from = mountField(mount, "from");
          if (from) source(from, `RUN --mount (line ${line})`);
          if (mountField(mount, "type")?.toLowerCase() === "secret") mountsSecrets = true;
        }
        break;
    }
  }
  return { images, frontends: syntaxDirectives(dockerfile), mountsSecrets };
}
