/**
 * One build: its record, a cancel button, its steps and attempts, its live
 * log (followed as it is written) and its webhook deliveries.
 */
import type { Build, LogStreamMessage, WebhookDelivery } from "../../shared/api";
import { renderEvent } from "../../shared/render-event";
import { api, ApiError } from "../api";
import { buildDuration, formatDuration, formatTime, h, stateBadge } from "../dom";
import { followLog } from "../live-log";

const REFRESH_MS = 2000;
const FINAL = new Set(["succeeded", "failed", "canceled"]);

interface Attempt {
  attempt: number;
  agent: string;
  outcome: string;
}

/** The build's options in a line, as a `docker build` command line would have them; `—` for a plain build. */
function describeOptions(options: Build["options"]): string {
  const parts = [
    ...(options.dockerfile === "Dockerfile" ? [] : [`-f ${options.dockerfile}`]),
    ...Object.entries(options.build_args).map(([key, value]) => `--build-arg ${key}=${value}`),
    ...(options.target ? [`--target ${options.target}`] : []),
    ...(options.no_cache ? ["--no-cache"] : []),
    ...(options.platform ? [`--platform ${options.platform}`] : []),
  ];
  return parts.join(" ") || "—";
}

function field(term: string, value: Node | string): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, value)];
}

export function buildView(main: HTMLElement, id: string, signal: AbortSignal): void {
  const summary = h("dl", { class: "record" });
  const heading = h("h1", {}, `Build ${id.slice(0, 8)}`);
  const cancelStatus = h("p", { role: "status", class: "status" });
  const cancel = h("button", { type: "button", class: "danger", onclick: () => void doCancel() }, "Cancel build");
  const steps = h("tbody");
  const attempts = h("ol", { class: "attempts" });
  const log = h("pre", { class: "log", role: "log", "aria-label": "Build log", tabindex: "0" });
  const logStatus = h("p", { class: "status", role: "status" }, "Connecting to the live log…");
  const deliveries = h("div", {});
  const attemptList: Attempt[] = [];
  let record: Build | null = null;

  const showRecord = (build: Build) => {
    record = build;
    heading.replaceChildren(`Build ${build.id.slice(0, 8)} `, stateBadge(build.state));
    summary.replaceChildren(
      ...field("Id", h("span", { class: "mono" }, build.id)),
      ...field("State", build.state),
      ...field("Image", build.image_reference),
      ...field("Digest", h("span", { class: "mono", "data-testid": "digest" }, build.digest ?? "—")),
      ...(build.options.also_push.length > 0
        ? field(
            "Also pushed",
            h("ul", {}, ...build.options.also_push.map((reference) => {
              const digest = build.pushed.find((pushed) => pushed.reference === reference)?.digest;
              return h("li", { class: "mono" }, digest ? `${reference}@${digest}` : reference);
            })),
          )
        : []),
      ...field("Options", describeOptions(build.options)),
      ...field("Attempt", String(build.attempt)),
      ...field("Submitted", formatTime(build.created_at)),
      ...field("Started", formatTime(build.started_at)),
      ...field("Finished", formatTime(build.finished_at)),
      ...field("Duration", buildDuration(build)),
      ...(build.waiting ? field("Waiting", build.waiting) : []),
      ...(build.error ? field(`Failed at ${build.step ?? "?"}`, build.error) : []),
      ...field("Labels", Object.entries(build.labels).map(([key, value]) => `${key}=${value}`).join(", ") || "—"),
      ...field("Notifies", build.notify_url ?? "—"),
    );
    cancel.hidden = FINAL.has(build.state);
    steps.replaceChildren(
      ...build.steps.map((step) =>
        h(
          "tr",
          {},
          h("td", { class: "wrap" }, step.name),
          h("td", {}, step.cached ? "cached" : step.error ? "failed" : "ran"),
          h("td", {}, step.duration_ms === null ? "—" : formatDuration(step.duration_ms)),
        ),
      ),
    );
    if (build.steps.length === 0) steps.replaceChildren(h("tr", {}, h("td", { colspan: "3" }, FINAL.has(build.state) ? "No steps were reported for this build." : "Steps are listed once the build has succeeded.")));
  };

  const showAttempts = () => {
    attempts.replaceChildren(...attemptList.map((entry) => h("li", {}, `Attempt ${entry.attempt} on ${entry.agent}: ${entry.outcome}`)));
    if (attemptList.length === 0) attempts.replaceChildren(h("li", {}, "Not assigned to an agent yet."));
  };

  const showDeliveries = (list: WebhookDelivery[]) => {
    if (list.length === 0) {
      deliveries.replaceChildren(h("p", {}, record?.notify_url ? "The webhook is sent when the build ends." : "This build notifies no URL."));
      return;
    }
    deliveries.replaceChildren(
      ...list.map((delivery) =>
        h(
          "section",
          { class: "delivery" },
          h("h3", {}, `${delivery.event} → ${delivery.url}: ${delivery.state}`),
          h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ...["Attempt", "At", "Status", "Took", "Error"].map((title) => h("th", { scope: "col" }, title)))),
              h(
                "tbody",
                {},
                ...delivery.attempts.map((attempt) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, String(attempt.attempt)),
                    h("td", {}, formatTime(attempt.at)),
                    h("td", {}, attempt.status_code === null ? "no answer" : String(attempt.status_code)),
                    h("td", {}, formatDuration(attempt.duration_ms)),
                    h("td", { class: "wrap" }, attempt.error ?? "—"),
                  ),
                ),
              ),
            ),
          ),
          delivery.next_attempt_at ? h("p", {}, `Next attempt ${formatTime(delivery.next_attempt_at)}`) : null,
        ),
      ),
    );
  };

  const onMessage = (message: LogStreamMessage) => {
    switch (message.event) {
      case "line":
        log.append(`${message.data}\n`);
        break;
      case "event": {
        log.append(h("span", { class: "dockify" }, `${renderEvent(message.data)}\n`));
        const event = message.data;
        if (event.type === "assigned") attemptList.push({ attempt: event.attempt, agent: event.agent, outcome: "running" });
        const current = attemptList.at(-1);
        if (current && event.type === "lease-expired") current.outcome = "the agent stopped responding";
        if (current && event.type === "refused") current.outcome = `given back (${event.reason})`;
        showAttempts();
        break;
      }
      case "end": {
        showRecord(message.data);
        const last = attemptList.at(-1);
        if (last && last.outcome === "running") last.outcome = message.data.state;
        showAttempts();
        logStatus.textContent = `The build ended: ${message.data.state}.`;
        break;
      }
      case "cutoff":
        logStatus.textContent = "Catching up…";
        break;
    }
    // Follow the end of the log unless the reader scrolled up.
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  };

  const doCancel = async () => {
    cancel.disabled = true;
    try {
      const { status, body } = await api.cancel(id);
      showRecord(body);
      cancelStatus.textContent = status === 202 ? "Its agent was told to stop; it ends canceled within seconds." : "Canceled.";
    } catch (error) {
      cancelStatus.textContent = error instanceof ApiError ? error.message : String(error);
    } finally {
      cancel.disabled = false;
    }
  };

  main.replaceChildren(
    h("p", {}, h("a", { href: "#/builds" }, "← All builds")),
    heading,
    h("div", { class: "actions" }, cancel, cancelStatus),
    summary,
    h("h2", {}, "Steps"),
    h("div", { class: "table-scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ...["Step", "Result", "Took"].map((title) => h("th", { scope: "col" }, title)))), steps)),
    h("h2", {}, "Attempts"),
    attempts,
    h("h2", {}, "Log"),
    logStatus,
    log,
    h("h2", {}, "Webhook deliveries"),
    deliveries,
  );
  showAttempts();

  const refresh = async () => {
    if (signal.aborted) return;
    try {
      showRecord(await api.build(id));
      showDeliveries((await api.deliveries(id)).deliveries);
    } catch (error) {
      cancelStatus.textContent = error instanceof ApiError && error.status === 404 ? "No such build." : `Could not load the build: ${String(error)}`;
      return;
    }
    // Until the build has ended and its deliveries are settled, the record and deliveries move on.
    setTimeout(() => void refresh(), REFRESH_MS);
  };
  void refresh();
  void followLog(id, onMessage, signal).then(() => {
    if (!signal.aborted && !FINAL.has(record?.state ?? "")) logStatus.textContent = "The live log stopped.";
  });
  logStatus.textContent = "Following the live log.";
}
