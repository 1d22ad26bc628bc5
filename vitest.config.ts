import { defineConfig } from "vitest/config";

// One project per runtime, as Hono does: plain Node, workerd, and the end-to-end stack.
export default defineConfig({
  test: {
    projects: ["test/unit/vitest.config.ts", "test/worker/vitest.config.ts", "test/e2e/vitest.config.ts"],
  },
});
