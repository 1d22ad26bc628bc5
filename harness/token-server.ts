/**
 * A registry token service, the scheme Docker Hub uses (`WWW-Authenticate:
 * Bearer realm=…,service=…,scope=…`): the registry sends clients here, and
 * this server hands out JWTs signed with a key whose certificate the registry
 * trusts. A user with the right password gets the actions it asks for;
 * anyone else gets a token with no access, which the registry then refuses.
 */
import { execFileSync } from "node:child_process";
import { randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { LOOPBACK } from "./ports";
import type { Users } from "./registry";

export const TOKEN_ISSUER = "dockify-test-issuer";
const TOKEN_SECONDS = 300;

export interface TokenServer {
  realm: string;
  service: string;
  /** The certificate the registry trusts (its `rootcertbundle`). */
  certPath: string;
  stop(): Promise<void>;
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** Starts the token service for `users`, with a fresh key and self-signed certificate in `dir`. */
export async function startTokenServer(dir: string, service: string, users: Users): Promise<TokenServer> {
  const keyPath = join(dir, "token-key.pem");
  const certPath = join(dir, "token-cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", `/CN=${TOKEN_ISSUER}`], {
    stdio: "ignore",
  });
  const key = readFileSync(keyPath);
  const der = Buffer.from(readFileSync(certPath, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://token");
    const authorization = request.headers.authorization ?? "";
    let subject = "";
    if (authorization.startsWith("Basic ")) {
      const [user = "", password = ""] = Buffer.from(authorization.slice(6), "base64").toString().split(/:(.*)/s);
      if (users[user] !== password) {
        response.writeHead(401, { "Content-Type": "application/json" });
        response.end(JSON.stringify({ details: "incorrect username or password" }));
        return;
      }
      subject = user;
    }
    const access = url.searchParams.getAll("scope").map((scope) => {
      const [type = "", name = "", actions = ""] = scope.split(":");
      return { type, name, actions: subject ? actions.split(",") : [] };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [der.toString("base64")] };
    const claims = { iss: TOKEN_ISSUER, sub: subject, aud: url.searchParams.get("service"), exp: now + TOKEN_SECONDS, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const data = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const token = `${data}.${base64url(sign("sha256", Buffer.from(data), key))}`;
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify({ token, access_token: token, expires_in: TOKEN_SECONDS }));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    realm: `http://${LOOPBACK}:${(server.address() as AddressInfo).port}/token`,
    service,
    certPath,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
