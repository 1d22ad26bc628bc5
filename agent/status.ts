/** The agent's own output: one timestamped line per event, for its operator. */
export function status(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}
