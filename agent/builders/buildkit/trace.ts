/**
 * BuildKit's progress as the Engine streams it: each `{"id":"moby.buildkit.trace","aux":"<base64>"}`
 * line (read by docker-stream.ts into `trace`) carries one protobuf `StatusResponse` (BuildKit v0.8's control.proto,
 * as vendored by Engine 20.10): vertexes (the build's steps) as they start and
 * finish, statuses (progress of pulls and exports) and the steps' own output.
 */
import { StatusResponse } from "./proto";

export interface Vertex {
  digest: string;
  name: string;
  cached: boolean;
  /** Milliseconds since the epoch, null until it started. */
  started: number | null;
  completed: number | null;
  error: string;
}

export interface VertexStatus {
  id: string;
  vertex: string;
  current: number;
  total: number;
  completed: number | null;
}

export interface VertexLog {
  vertex: string;
  /** 1: stdout, 2: stderr. */
  stream: number;
  timestamp: number | null;
  msg: Buffer;
}

export interface Trace {
  vertexes: Vertex[];
  statuses: VertexStatus[];
  logs: VertexLog[];
}

interface Timestamp {
  seconds?: number;
  nanos?: number;
}

function milliseconds(time: Timestamp | null | undefined): number | null {
  if (!time) return null;
  return Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
}

interface RawTrace {
  vertexes?: Array<{ digest?: string; name?: string; cached?: boolean; started?: Timestamp; completed?: Timestamp; error?: string }>;
  statuses?: Array<{ ID?: string; vertex?: string; current?: number; total?: number; completed?: Timestamp }>;
  logs?: Array<{ vertex?: string; stream?: number; timestamp?: Timestamp; msg?: Uint8Array }>;
}

/** Decodes one trace's `aux`; throws on bytes that are not a StatusResponse. */
export function decodeTrace(aux: string): Trace {
  const raw = StatusResponse.toObject(StatusResponse.decode(Buffer.from(aux, "base64")), { longs: Number, arrays: true }) as RawTrace;
  return {
    vertexes: (raw.vertexes ?? []).map((vertex) => ({
      digest: vertex.digest ?? "",
      name: vertex.name ?? "",
      cached: vertex.cached ?? false,
      started: milliseconds(vertex.started),
      completed: milliseconds(vertex.completed),
      error: vertex.error ?? "",
    })),
    statuses: (raw.statuses ?? []).map((status) => ({
      id: status.ID ?? "",
      vertex: status.vertex ?? "",
      current: status.current ?? 0,
      total: status.total ?? 0,
      completed: milliseconds(status.completed),
    })),
    logs: (raw.logs ?? []).map((log) => ({
      vertex: log.vertex ?? "",
      stream: log.stream ?? 0,
      timestamp: milliseconds(log.timestamp),
      msg: Buffer.from(log.msg ?? new Uint8Array()),
    })),
  };
}
