// Types `env` and `exports` from "cloudflare:workers" as this project's Worker.
import type { Env as DockifyEnv } from "../../worker/env";

declare global {
  namespace Cloudflare {
    interface Env extends DockifyEnv {}
    interface GlobalProps {
      mainModule: typeof import("../../worker/index");
    }
  }
}
