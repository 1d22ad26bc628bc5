/**
 * The harness moved to the top-level `harness/`. This file stays only because
 * `agent/job-runner.docker.test.ts` still imports it by this path and `agent/`
 * is edited on another branch; delete it once that import reads `../harness/docker.ts`.
 */
export * from "../../../harness/docker";
