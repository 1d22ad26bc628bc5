/** Free TCP ports on the loopback address, asked of the OS, and telling when a child lost the race for one. */
import { createServer } from "node:net";

export const LOOPBACK = "127.0.0.1";

/**
 * A port that was free on 127.0.0.1 a moment ago: the OS picks it for a listener
 * on port 0, which we then close. Another process may take it before ours binds,
 * so starters that use it retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("the OS gave no port"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** True when a failed start was a lost race for the port, worth a retry on another one. */
export function lostPortRace(child: { output(): string }): boolean {
  return /address already in use|EADDRINUSE/i.test(child.output());
}
