import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";

export default defineProject({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          DOCKIFY_API_TOKENS: "alice=alice-token,bob=bob-token,carol=carol-token,dave=dave-token,erin=erin-token",
          DOCKIFY_AGENT_TOKENS: "agent-token,gpu=gpu-token,dave-fleet=dave-agent-token",
          DOCKIFY_AGENT_TOKEN_LABELS: JSON.stringify({ gpu: { gpu: "true" }, "dave-fleet": { tenant: "dave" } }),
          // dave has a pool of his own (pools.test.ts); everyone else shares the default pool.
          DOCKIFY_POOLS: JSON.stringify({ dave: { agents: ["dave-fleet"], tenants: ["dave"] } }),
          DOCKIFY_SECRET_KEY: "test-secret-key-with-enough-entropy-0123456789",
          // Small enough for limits.test.ts to reach with the tenant carol; no other test comes near.
          DOCKIFY_TENANT_MAX_QUEUED: "20",
          DOCKIFY_TENANT_MAX_CONTEXT_BYTES: "25165824",
          DOCKIFY_MAX_REQUEST_BYTES: "8388608",
          DOCKIFY_MAX_DOCKERFILE_BYTES: "65536",
          DOCKIFY_MAX_FILES: "50",
          DOCKIFY_MAX_CONTEXT_ENTRIES: "50",
          DOCKIFY_METRICS_TOKEN: "metrics-token",
          // alice may name her own notify_url; bob's builds notify his default one. Nothing here leaves the machine:
          // names are resolved at a closed loopback port, and loopback receivers are allowed over http (platform.test.ts).
          DOCKIFY_WEBHOOKS: JSON.stringify({
            alice: { secret: "alice-webhook-secret-0123456789abcdef" },
            bob: { secret: "bob-webhook-secret-0123456789abcdef01", url: "https://hooks.bob.example/dockify" },
          }),
          DOCKIFY_WEBHOOK_ALLOW_HTTP_LOOPBACK: "true",
          DOCKIFY_WEBHOOK_DOH_URL: "http://127.0.0.1:9/dns-query",
          DOCKIFY_WEBHOOK_RETRY_SECONDS: "1",
          // Small enough for a gzip bomb of a few KiB to pass, large enough for uploads of a few 5 MiB parts.
          DOCKIFY_MAX_CONTEXT_BYTES: "16777216",
          // A stalled body is answered within a test's patience.
          DOCKIFY_BODY_IDLE_SECONDS: "1",
        },
      },
    }),
  ],
  test: {
    name: "worker",
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/worker/**/*.test.ts", "worker/**/*.test.ts"],
  },
});
