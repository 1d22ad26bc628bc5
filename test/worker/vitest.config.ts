import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineProject } from "vitest/config";

export default defineProject({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          DOCKIFY_API_TOKENS: "alice=alice-token,bob=bob-token",
          DOCKIFY_AGENT_TOKENS: "agent-token",
          DOCKIFY_SECRET_KEY: "test-secret-key-with-enough-entropy-0123456789",
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
