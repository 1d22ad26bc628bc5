import { describe, expect, it } from "vitest";
import { DockerfileError, escapeDirective, syntaxDirectives } from "./directives";

const frontends = (dockerfile: string) => syntaxDirectives(dockerfile).map(({ reference }) => reference);
const escapeOf = (dockerfile: string) => escapeDirective(dockerfile.split("\n"));

describe("syntaxDirectives", () => {
  it("reads BuildKit's forms: spaces, any case, options after the frontend", () => {
    expect(syntaxDirectives("# syntax=a/frontend:1\nFROM x\n")).toEqual([{ reference: "a/frontend:1", where: "# syntax (line 1)" }]);
    expect(frontends("#SYNTAX = a/frontend:1 // opts \r\nFROM x\n")).toEqual(["a/frontend:1"]);
    expect(frontends("FROM x\n")).toEqual([]);
  });

  it("reads past keys Engine 20.10 does not know, and sees every syntax directive (20.10 runs the last, newer ones the first)", () => {
    // BuildKit v0.8's DetectSyntax: any `# key=value` line continues the directives, and a repeated key keeps its last value.
    expect(frontends("# foo=bar\n# syntax=evil/frontend\nFROM x\n")).toEqual(["evil/frontend"]);
    expect(frontends("# syntax=good/frontend@sha256:abc\n# syntax=evil/frontend\nFROM x\n")).toEqual(["good/frontend@sha256:abc", "evil/frontend"]);
  });

  it("stops at the first line that is not a directive", () => {
    expect(frontends("FROM a\n# syntax=late/frontend\n")).toEqual([]);
    expect(frontends("# a comment\n# syntax=late/frontend\nFROM a\n")).toEqual([]);
    expect(frontends("\n# syntax=late/frontend\nFROM a\n")).toEqual([]);
  });

  it("sees what newer BuildKits read too: a byte-order mark, a #! line, // comments, Unicode spaces, the file as JSON", () => {
    expect(frontends("\uFEFF# syntax=a/bom\nFROM x\n")).toEqual(["a/bom"]);
    expect(frontends("#!/usr/bin/env buildctl\n# syntax=a/shebang\nFROM x\n")).toEqual(["a/shebang"]);
    expect(frontends("// syntax = a/slashes\nFROM x\n")).toEqual(["a/slashes"]);
    expect(frontends("#\u00a0syntax=a/nbsp\nFROM x\n")).toEqual(["a/nbsp"]);
    expect(frontends(' { "syntax": "a/json", "other": 1 } ')).toEqual(["a/json"]);
    // Go's JSON decoder matches a struct's field name without regard to case, ſ (long s) folding to s.
    expect(frontends('{"SYNTAX": "a/upper", "\u017Fyntax": "a/long-s"}')).toEqual(["a/upper", "a/long-s"]);
  });

  it("reads a directive line of a million spaces without backtracking over them (the test's timeout would end a quadratic read)", () => {
    const spaces = " ".repeat(1_000_000);
    const dockerfile = `# a=b${spaces}c${spaces}\n# syntax=x/${spaces}y\n# escape=\\${spaces}!\nFROM x\n`;
    expect(frontends(dockerfile)).toEqual(["x/"]);
    expect(escapeOf(dockerfile)).toBe("\\");
  });

  it("takes a value of nothing but spaces as a directive that names nothing, as Go does", () => {
    expect(frontends("# syntax=  \n# syntax=after/blank\nFROM x\n")).toEqual(["after/blank"]);
  });

  it("keeps a carriage return inside a line as Go's regexp does, so the lines after it are still read", () => {
    expect(frontends("# foo=a\rb\n# syntax=after/cr\nFROM x\n")).toEqual(["after/cr"]);
  });
});

describe("escapeDirective", () => {
  it("reads # escape= at the top, with leading spaces, and only there", () => {
    expect(escapeOf("FROM x\n")).toBe("\\");
    expect(escapeOf("  # escape=`\nFROM x\n")).toBe("`");
    expect(escapeOf("# syntax=a/b\n# escape=`\nFROM x\n")).toBe("`");
    expect(escapeOf("# comment\n# escape=`\nFROM x\n")).toBe("\\");
  });

  it("refuses what the Engine's parser refuses: a repeated directive, an escape other than \\ or `", () => {
    expect(() => escapeOf("# escape=`\n# escape=\\\nFROM x\n")).toThrow(new DockerfileError("line 2: only one escape parser directive can be used"));
    expect(() => escapeOf("# escape=x\nFROM x\n")).toThrow(/the escape directive must be \\ or `, not x/);
  });

  it("refuses directives that BuildKit versions read with different escape characters", () => {
    // Engine 20.10 stops at `check`, which newer BuildKits know.
    expect(() => escapeOf("# check=skip=all\n# escape=`\nFROM x\n")).toThrow(/read as escape \\ on some Engines and ` on others/);
    expect(escapeOf("# escape=`\n# check=skip=all\nFROM x\n")).toBe("`");
  });
});
