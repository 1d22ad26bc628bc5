/**
 * Upload progress: on a terminal a bar (cli-progress) with bytes sent, the
 * rate and the time left; elsewhere (a CI log, a file) a plain line every few
 * seconds, since a redrawn bar is noise there. On
 * standard error, so standard output holds only what a build reports.
 */
import { SingleBar } from "cli-progress";
import { formatApproxByteSize } from "../shared/byte-size";

/** Plain lines: not more often than this. */
const PLAIN_INTERVAL_MS = 5_000;

export interface Progress {
  /** Bytes sent so far, of the total. */
  update(sent: number): void;
  /** The transfer is over (done or failed): the bar is closed. */
  stop(): void;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatApproxByteSize(Math.round(bytesPerSecond))}/s`;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const whole = Math.ceil(seconds);
  return whole >= 60 ? `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s` : `${whole}s`;
}

export function uploadProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  const started = now();
  const figures = (sent: number) => {
    const seconds = Math.max((now() - started) / 1000, 0.001);
    const rate = sent / seconds;
    return { sent: formatApproxByteSize(sent), size: formatApproxByteSize(total), rate: formatRate(rate), left: formatSeconds((total - sent) / rate) };
  };

  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% | {sent} of {size} | {rate} | ETA {left}`,
      barsize: 24,
      hideCursor: true,
      fps: 5,
    });
    bar.start(total, 0, figures(0));
    return {
      update: (sent) => bar.update(sent, figures(sent)),
      stop: () => bar.stop(),
    };
  }

  // The first plain line after an interval too: a transfer that takes less says nothing until its summary.
  let lastLine = started;
  let last = -1;
  const line = (sent: number) => {
    const { sent: done, size, rate, left } = figures(sent);
    const percent = total === 0 ? 100 : Math.floor((sent / total) * 100);
    stream.write(`${label}: ${done} of ${size} (${percent}%), ${rate}${sent < total ? `, about ${left} left` : ""}\n`);
    lastLine = now();
    last = sent;
  };
  return {
    update: (sent) => {
      if (now() - lastLine >= PLAIN_INTERVAL_MS && sent !== last) line(sent);
    },
    stop: () => undefined,
  };
}
