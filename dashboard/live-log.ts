/**
 * A build's live log in the browser. `EventSource` cannot send an
 * Authorization header, and the API token must never go in a URL, so this
 * reads the same Server-Sent Events stream the CLI reads with `fetch()`
 * (streaming, with the header) and parses it with eventsource-parser. A
 * dropped connection is resumed with `Last-Event-ID`, as EventSource would.
 */
import { createParser } from "eventsource-parser";
import type { Build, LogStreamCutoff, LogStreamMessage } from "../shared/api";
import type { BuildEvent } from "../shared/build-log";
import { authHeaders } from "./api";

const RETRY_MS = 1000;

/** A raw SSE message as the typed message shared/api.ts describes (decoded here without the schema). */
function decode(message: { id?: string; event?: string; data: string }): LogStreamMessage {
  const id = Number(message.id);
  switch (message.event) {
    case "line":
      return { event: "line", id, data: message.data };
    case "event":
      return { event: "event", id, data: JSON.parse(message.data) as BuildEvent };
    case "end":
      return { event: "end", id, data: JSON.parse(message.data) as Build };
    default:
      return { event: "cutoff", id, data: JSON.parse(message.data) as LogStreamCutoff };
  }
}

/** Follows the log until the build ends (`end`) or `signal` aborts; reconnects after a drop or a cutoff. */
export async function followLog(buildId: string, onMessage: (message: LogStreamMessage) => void, signal: AbortSignal): Promise<void> {
  let lastId: number | null = null;
  while (!signal.aborted) {
    let ended = false;
    try {
      const headers = authHeaders({ Accept: "text/event-stream", ...(lastId === null ? {} : { "Last-Event-ID": String(lastId) }) });
      const response = await fetch(`/v1/builds/${encodeURIComponent(buildId)}/logs`, { headers, signal, cache: "no-store" });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const parser = createParser({
        onEvent: (raw) => {
          const message = decode(raw);
          if (message.event === "line" || message.event === "event") lastId = message.id;
          if (message.event === "end") ended = true;
          onMessage(message);
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch (error) {
      if (signal.aborted) return;
      console.warn("live log interrupted, resuming", error);
    }
    if (ended) return;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}
