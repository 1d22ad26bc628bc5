/**
 * The agent token read from a file (DOCKIFY_AGENT_TOKEN_FILE), so it need not
 * sit in a unit file or the environment of every process the operator runs.
 *
 * A file every user of the host can read is refused, as ssh refuses such a
 * private key: anyone on the host could take the token. A file its group can
 * read is taken with a warning: that is how a root-owned secret is usually
 * shared with one service (`root:dockify-agent`, mode 0640), but the group
 * had better hold only the agent's user.
 */
import { readFileSync, statSync } from "node:fs";
import { describeError } from "./errors";

const OTHERS_READ = 0o004;
const GROUP_READ = 0o040;

export type TokenFileRead = { token: string; warning?: string } | { error: string };

export function readTokenFile(path: string): TokenFileRead {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, "utf8");
  } catch (error) {
    return { error: `cannot read ${path}: ${describeError(error)}` };
  }
  const octal = (mode & 0o777).toString(8).padStart(3, "0");
  if (mode & OTHERS_READ) {
    return { error: `${path} is readable by every user of this host (mode ${octal}): chmod 600 it (or 640, with a group only the agent's user is in)` };
  }
  // One line, as `echo TOKEN > file` or an editor writes it: the final line break is not part of the token.
  const token = text.replace(/\r?\n$/, "");
  if (token === "") return { error: `${path} is empty: put the agent token in it` };
  if (/[\s]/.test(token)) return { error: `${path} must hold the token alone, on one line, without spaces` };
  const warning = mode & GROUP_READ ? `${path} is readable by its group (mode ${octal}): make sure only the agent's user is in that group` : undefined;
  return warning ? { token, warning } : { token };
}
