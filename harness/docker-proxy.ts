/**
 * A TCP proxy on loopback in front of the Docker Engine's socket, for tests
 * that need a connection between the agent and the Engine to break the way a
 * daemon or a network breaks it: `cut(pattern)` closes, on both sides at once,
 * every connection whose first request line matches (`POST /session` is the
 * BuildKit session a build runs with). Everything else passes untouched.
 */
import { connect, createServer, type Socket } from "node:net";
import Docker from "dockerode";
import { LOOPBACK } from "./ports";

const DOCKER_SOCKET = "/var/run/docker.sock";

export interface DockerProxy {
  /** A client of the Engine through the proxy. */
  docker: Docker;
  /** The first request line of every connection so far, e.g. `POST /session HTTP/1.1`. */
  requests(): string[];
  /** Closes the connections whose first request line matches; returns how many. */
  cut(pattern: RegExp): number;
  stop(): Promise<void>;
}

interface Proxied {
  requestLine: string;
  client: Socket;
  upstream: Socket;
}

export async function startDockerProxy(socketPath = DOCKER_SOCKET): Promise<DockerProxy> {
  const connections: Proxied[] = [];
  const server = createServer((client) => {
    const upstream = connect(socketPath);
    const proxied: Proxied = { requestLine: "", client, upstream };
    connections.push(proxied);
    client.once("data", (chunk: Buffer) => {
      proxied.requestLine = chunk.toString("latin1").split("\r\n", 1)[0]!;
    });
    // Either side ending or failing ends the other, as a broken connection would.
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0 }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no port");
  return {
    docker: new Docker({ host: LOOPBACK, port: address.port, protocol: "http" }),
    requests: () => connections.map(({ requestLine }) => requestLine),
    cut(pattern) {
      const matching = connections.filter(({ requestLine, client }) => pattern.test(requestLine) && !client.destroyed);
      for (const { client, upstream } of matching) {
        client.destroy();
        upstream.destroy();
      }
      return matching.length;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const { client, upstream } of connections) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
