import { createParser } from "eventsource-parser";
import { decodeLogStreamMessage, type LogStreamMessage } from "./api";

/**
 * The typed messages of a live log's Server-Sent Events body, as they arrive: one reader for every client (the CLI,
 * the harness), so each reads the stream the Worker writes the same way. Errors of the body (a connection that breaks
 * off, an abort) reach the caller, which knows what they mean to it.
 */
export async function* readLogStream(body: AsyncIterable<Uint8Array>): AsyncGenerator<LogStreamMessage> {
  const parsed: LogStreamMessage[] = [];
  const parser = createParser({ onEvent: (message) => parsed.push(decodeLogStreamMessage(message)) });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    yield* parsed.splice(0);
  }
}
