import { fileURLToPath } from "node:url";
import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "unit",
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["shared/**/*.test.ts", "agent/**/*.test.ts", "cli/**/*.test.ts", "harness/**/*.test.ts", "test/unit/**/*.test.ts"],
    environment: "node",
  },
});
