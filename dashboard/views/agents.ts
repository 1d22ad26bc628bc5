/** The agents of the tenant's pool and why its builds wait; refreshed while the page is open. */
import { api } from "../api";
import { formatDuration, formatTime, h } from "../dom";

const REFRESH_MS = 3000;

export function agentsView(main: HTMLElement, signal: AbortSignal): void {
  const agents = h("tbody");
  const queue = h("div", {});
  const heading = h("h1", {}, "Agents and queue");
  const status = h("p", { class: "status", role: "status" });
  main.replaceChildren(
    heading,
    h("h2", {}, "Queue"),
    queue,
    h("h2", {}, "Connected agents"),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...["Agent", "State", "Slots used", "Platform", "Builder", "Version", "Labels", "Last heartbeat"].map((title) => h("th", { scope: "col" }, title)))),
        agents,
      ),
    ),
    status,
  );
  const tick = async () => {
    if (signal.aborted) return;
    try {
      const [list, summary] = await Promise.all([api.agents(), api.queue()]);
      heading.textContent = `Agents and queue of pool ${list.pool}`;
      agents.replaceChildren(
        ...list.agents.map((agent) =>
          h(
            "tr",
            {},
            h("td", {}, agent.name),
            h("td", { class: "wrap" }, agent.paused_reason ? `${agent.state}: ${agent.paused_reason}` : agent.state),
            h("td", {}, `${agent.running} of ${agent.slots}`),
            h("td", {}, agent.platform ?? "—"),
            h("td", {}, agent.builder ?? "—"),
            h("td", {}, agent.version || "—"),
            h("td", {}, Object.entries(agent.labels).map(([key, value]) => `${key}=${value}`).join(", ") || "—"),
            h("td", {}, formatTime(agent.last_heartbeat_at)),
          ),
        ),
      );
      if (list.agents.length === 0) agents.replaceChildren(h("tr", {}, h("td", { colspan: "8" }, "No agent is connected to this pool.")));
      queue.replaceChildren(
        h(
          "p",
          {},
          summary.waiting === 0
            ? `None of your builds is waiting (${summary.pool_waiting} waiting in the pool).`
            : `${summary.waiting} of your builds waiting, the oldest for ${formatDuration((summary.oldest_wait_seconds ?? 0) * 1000)} (${summary.pool_waiting} waiting in the pool).`,
        ),
        h("ul", {}, ...summary.reasons.map((reason) => h("li", {}, `${reason.builds}: ${reason.reason}`))),
      );
      status.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      status.textContent = `Could not load: ${error instanceof Error ? error.message : String(error)}`;
    }
    setTimeout(() => void tick(), REFRESH_MS);
  };
  void tick();
}
