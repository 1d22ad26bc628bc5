/**
 * `dockify status`, `logs`, `cancel` and `ls`: one request each (or the live
 * log), the answer as text or, with --json, as the API's own JSON (shapes in
 * shared/api.ts) on standard output.
 */
import { buildId } from "../../shared/api";
import { isFinal } from "../../shared/job";
import { DockifyClient } from "../client";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "../errors";
import { entryText, followLog } from "../follow";
import { loadSettings } from "../settings";
import { describeOutcome, listLines, statusLines } from "../views";

interface JsonOption {
  json: boolean;
}

function client(): DockifyClient {
  return new DockifyClient(loadSettings(process.env));
}

function checkId(id: string): string {
  if (!buildId.safeParse(id).success) throw new CliError(`${id} is not a build id (a UUID, as dockify build and dockify ls print them)`, EXIT_USAGE);
  return id;
}

function print(lines: string | readonly string[]): void {
  process.stdout.write(`${typeof lines === "string" ? lines : lines.join("\n")}\n`);
}

export async function statusCommand(id: string, options: JsonOption): Promise<void> {
  const build = await client().build(checkId(id));
  print(options.json ? JSON.stringify(build) : statusLines(build));
}

export async function logsCommand(id: string, options: JsonOption & { follow: boolean }): Promise<void> {
  const api = client();
  checkId(id);
  if (!options.follow) {
    const text = await api.logText(id);
    if (options.json) print(JSON.stringify({ id, lines: text === "" ? [] : text.replace(/\n$/, "").split("\n") }));
    else process.stdout.write(text);
    return;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  try {
    const end = await followLog(api, id, {
      onEntry: (message) => print(options.json ? JSON.stringify(message) : entryText(message)),
      onReconnect: (reason) => process.stderr.write(`(live log: ${reason}; reconnecting)\n`),
      signal: controller.signal,
    });
    if (end === undefined) return;
    const final = end.data;
    if (options.json) print(JSON.stringify(end));
    if (final.state !== "succeeded") {
      process.stderr.write(`${describeOutcome(final)}\n`);
      process.exitCode = EXIT_FAILURE;
    }
  } finally {
    process.off("SIGINT", stop);
  }
}

export async function cancelCommand(id: string, options: JsonOption): Promise<void> {
  const api = client();
  checkId(id);
  const { status, build } = await api.cancel(id);
  if (options.json) return print(JSON.stringify(build));
  print(status === 200 || isFinal(build.state) ? `build ${id} canceled` : `build ${id}: cancel sent; its agent is stopping it (dockify status ${id} shows when it has)`);
}

export async function listCommand(options: JsonOption & { limit: string; cursor?: string }): Promise<void> {
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new CliError("--limit must be a whole number from 1 to 100", EXIT_USAGE);
  const page = await client().list(limit, options.cursor);
  if (options.json) return print(JSON.stringify(page));
  print(listLines(page.builds));
  if (page.next_cursor !== null) process.stderr.write(`more: dockify ls --cursor ${page.next_cursor}\n`);
}
