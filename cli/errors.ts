/**
 * A failure the CLI explains in one sentence and exits on: bad input, a
 * refused request, an unreachable Worker. Anything else is a bug and keeps
 * its stack.
 */
export class CliError extends Error {
  constructor(
    message: string,
    /** The process's exit code: 1 for a failure, 2 for a usage or configuration mistake. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** As shells report a process that SIGINT ended. */
export const EXIT_INTERRUPTED = 130;
