/**
 * A mutex per key, as a chain of promises: each holder of a key starts once
 * the holder before it is done. The agent holds the image reference it tags
 * and pushes with it, so two jobs of this process never share that tag.
 */
export class KeyedLock {
  /** The end of each key's queue: settles once every holder queued so far is done. Gone once nobody holds the key. */
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Runs `task` once every earlier holder of `key` is done, and lets the next one go when it settles.
   * An abort while waiting rejects with the signal's reason without running `task`.
   */
  async run<T>(key: string, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release = (): void => {};
    const done = new Promise<void>((resolve) => (release = resolve));
    // The next holder waits for this one and, should this one give up waiting, still for the ones before it.
    const tail = previous.then(() => done);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    try {
      await untilSettledOrAborted(previous, signal);
      return await task();
    } finally {
      release();
    }
  }
}

/** Waits for `previous` (which never rejects), unless the signal aborts first. */
function untilSettledOrAborted(previous: Promise<void>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    void previous.then(() => {
      // A job that waited and then ran must not keep a listener on its signal for the rest of its life.
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
