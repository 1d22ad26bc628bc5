/**
 * The protobuf messages the agent speaks with the Engine's BuildKit, loaded
 * from the small .proto files beside this one (each names its upstream source):
 * the session's services (registry auth, secrets, health) as gRPC method
 * definitions for grpc-js, and the progress trace (`StatusResponse`).
 */
import { fileURLToPath } from "node:url";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import protobuf from "protobufjs";

const FILES = ["auth.proto", "secrets.proto", "health.proto", "status.proto"];
const root = protobuf.loadSync(FILES.map((file) => fileURLToPath(new URL(`./proto/${file}`, import.meta.url))));

export const StatusResponse = root.lookupType("moby.buildkit.v1.StatusResponse");

export interface CredentialsRequest {
  Host: string;
}
export interface CredentialsResponse {
  Username?: string;
  Secret?: string;
}
export interface GetSecretRequest {
  ID: string;
}
export interface GetSecretResponse {
  data: Uint8Array;
}
export interface HealthCheckResponse {
  /** grpc.health.v1 ServingStatus: 1 is SERVING. */
  status: number;
}
export const SERVING = 1;

/** A unary method of `service` in `root`, typed by the caller. */
function unary<Request, Response>(service: string, method: string): MethodDefinition<Request, Response> {
  const definition = root.lookupService(service).methods[method];
  if (!definition) throw new Error(`${service} has no method ${method}`);
  const requestType = root.lookupType(definition.resolvedRequestType?.fullName ?? definition.requestType);
  const responseType = root.lookupType(definition.resolvedResponseType?.fullName ?? definition.responseType);
  return {
    path: `/${service}/${method}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value) => Buffer.from(requestType.encode(requestType.fromObject(value as object)).finish()),
    requestDeserialize: (bytes) => requestType.toObject(requestType.decode(bytes), { defaults: true }) as Request,
    responseSerialize: (value) => Buffer.from(responseType.encode(responseType.fromObject(value as object)).finish()),
    responseDeserialize: (bytes) => responseType.toObject(responseType.decode(bytes), { defaults: true }) as Response,
  };
}

/**
 * Only the methods the agent answers: a method left out is UNIMPLEMENTED, which is what BuildKit expects of a client
 * without a token authority (GetTokenAuthority, then it asks Credentials and fetches tokens itself).
 */
export const AuthService = {
  Credentials: unary<CredentialsRequest, CredentialsResponse>("moby.filesync.v1.Auth", "Credentials"),
} satisfies ServiceDefinition;

export const SecretsService = {
  GetSecret: unary<GetSecretRequest, GetSecretResponse>("moby.buildkit.secrets.v1.Secrets", "GetSecret"),
} satisfies ServiceDefinition;

export const HealthService = {
  Check: unary<{ service: string }, HealthCheckResponse>("grpc.health.v1.Health", "Check"),
} satisfies ServiceDefinition;
