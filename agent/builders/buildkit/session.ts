/**
 * The BuildKit session one build runs with: `POST /session` on the Engine,
 * hijacked (`Upgrade: h2c`), after which the daemon is the gRPC *client* on
 * that connection and the agent serves it. What the agent serves:
 *
 * - `Auth.Credentials`, asked per registry host (`host:port` as in the image
 *   reference; Hub as `registry-1.docker.io`): that host's login of this build,
 *   or an empty answer (anonymous) for a host it has none for;
 * - `Secrets.GetSecret`, per `RUN --mount=type=secret,id=…`: the build's
 *   secret of that id, NOT_FOUND otherwise (BuildKit then mounts nothing,
 *   unless the mount says `required=true`);
 * - `grpc.health.v1.Health/Check`: the daemon calls it every second and drops
 *   the session on the first failed check (UNIMPLEMENTED included), after which
 *   the build fails with "no active session". dockerode's own session has no
 *   health service, which is why builds through it stall under load.
 *
 * A session is opened per build and closed once the build's stream has ended.
 * Its connection closing before that (`lost`) is the daemon dropping it or
 * the connection to the daemon breaking: the Engine's failure, never the
 * build's, and told by the connection itself rather than by the message the
 * build then fails with (which a build's own output could imitate).
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type Docker from "dockerode";
import type { Logins } from "../../logins";
import { AuthService, HealthService, SecretsService, SERVING } from "./proto";

const SESSION_NAME = "dockify-agent";
const METHODS = [AuthService, SecretsService, HealthService].flatMap((service) => Object.values(service).map((method) => method.path));

export interface SessionServices {
  logins: Logins;
  /** Secret id → value, for `RUN --mount=type=secret,id=…`. */
  secrets: ReadonlyMap<string, string>;
}

export class BuildSession {
  readonly #server: grpc.Server;
  readonly #socket: Socket;
  #closing = false;
  #lost = false;

  private constructor(
    readonly id: string,
    server: grpc.Server,
    socket: Socket,
  ) {
    this.#server = server;
    this.#socket = socket;
    socket.once("close", () => {
      if (!this.#closing) this.#lost = true;
    });
  }

  /** The session's connection closed before `close()`: the daemon dropped it, or the way to the daemon broke. */
  get lost(): boolean {
    return this.#lost;
  }

  /** Opens a session on the Engine and serves it until `close()`. */
  static async open(docker: Docker, services: SessionServices, signal: AbortSignal): Promise<BuildSession> {
    const id = randomUUID();
    const server = new grpc.Server();
    server.addService(AuthService, {
      Credentials: ({ request }: grpc.ServerUnaryCall<{ Host: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const login = services.logins.for(request.Host);
        callback(null, login ? { Username: login.username, Secret: login.password } : {});
      },
    });
    server.addService(SecretsService, {
      GetSecret: ({ request }: grpc.ServerUnaryCall<{ ID: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const value = services.secrets.get(request.ID);
        if (value === undefined) return callback({ code: grpc.status.NOT_FOUND, details: `secret ${request.ID} not found` });
        callback(null, { data: Buffer.from(value, "utf8") });
      },
    });
    server.addService(HealthService, {
      Check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: SERVING }),
    });
    const socket = await hijack(docker, id, signal);
    socket.setNoDelay(true);
    server.createConnectionInjector(grpc.ServerCredentials.createInsecure()).injectConnection(socket);
    return new BuildSession(id, server, socket);
  }

  /** Ends the session: the daemon sees the connection close. */
  close(): void {
    this.#closing = true;
    this.#server.forceShutdown();
    this.#socket.destroy();
  }
}

/** `POST /session` upgraded to a raw connection, through whatever transport dockerode is set up with (DOCKER_HOST). */
function hijack(docker: Docker, id: string, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: "/session",
        method: "POST",
        hijack: true,
        abortSignal: signal,
        headers: {
          Upgrade: "h2c",
          "X-Docker-Expose-Session-Uuid": id,
          "X-Docker-Expose-Session-Name": SESSION_NAME,
          "X-Docker-Expose-Session-Sharedkey": id,
          "X-Docker-Expose-Session-Grpc-Method": METHODS,
        },
        statusCodes: { 101: true, 200: true, 400: "bad parameter", 500: "server error" },
      },
      (error: unknown, socket: unknown) => (error ? reject(error) : resolve(socket as Socket)),
    );
  });
}
