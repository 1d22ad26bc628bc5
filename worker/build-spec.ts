/**
 * What every build request names, however its context arrives: the image
 * (user, repository, tag, registry), labels, the registry password and an
 * idempotency key. Checked by the Docker reference grammar before anything
 * is stored.
 */
import { z } from "zod";
import { parseLabels } from "../shared/labels";
import type { Labels } from "../shared/labels";
import { checkPathComponent, checkRegistry, checkRepositoryPath, checkTag, DOCKER_HUB, type ImageName } from "../shared/reference";
import { ApiError, invalidField } from "./errors";

export interface BuildSpec {
  image: ImageName;
  userName: string;
  labels: Labels;
  idempotencyKey: string | null;
  password?: string;
}

export const PASSWORD_HEADER = "X-Registry-Password";
const IDEMPOTENCY_HEADER = "Idempotency-Key";
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function grammar(check: (value: string) => string | null) {
  return (value: string, ctx: z.RefinementCtx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };
}

const specFields = z.strictObject({
  user_name: z.string().superRefine(grammar(checkPathComponent)),
  repo: z.string().superRefine(grammar(checkRepositoryPath)),
  tag: z.string().default("latest").superRefine(grammar(checkTag)),
  registry: z.string().default(DOCKER_HUB).superRefine(grammar(checkRegistry)),
  password: z.string().max(4096, "must be at most 4096 characters").optional(),
  labels: z.string().default("").transform((text, ctx) => {
    const parsed = parseLabels(text);
    if ("labels" in parsed) return parsed.labels;
    ctx.addIssue({ code: "custom", message: parsed.error });
    return z.NEVER;
  }),
});

/** Adds one text field, refusing a field given twice (in the query and the form, say). */
export function addField(fields: Record<string, string>, key: string, value: string): void {
  if (key in fields) throw new ApiError(400, `${key} was given more than once`, key);
  fields[key] = value;
}

/** A client that retries with the same key gets the same job instead of a second build. */
function readIdempotencyKey(headers: Headers): string | null {
  const key = headers.get(IDEMPOTENCY_HEADER);
  if (key === null) return null;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, `${IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters`, IDEMPOTENCY_HEADER);
  }
  return key;
}

/** `accepted` names every field the endpoint takes, for the error about an unknown one. */
export function readBuildSpec(fields: Record<string, string>, headers: Headers, accepted: string): BuildSpec {
  const text = { ...fields };
  const headerPassword = headers.get(PASSWORD_HEADER);
  if (headerPassword !== null) {
    if ("password" in text) throw new ApiError(400, `password was given both as a field and in ${PASSWORD_HEADER}`, "password");
    text.password = headerPassword;
  }
  const parsed = specFields.safeParse(text);
  if (!parsed.success) throw invalidField(parsed.error.issues[0]!, accepted);
  const { user_name, repo, tag, registry, password, labels } = parsed.data;
  const path = `${user_name}/${repo}`;
  const pathProblem = checkRepositoryPath(path);
  if (pathProblem) throw new ApiError(400, `repo: ${user_name}/${repo} ${pathProblem}`, "repo");
  return {
    image: { registry, path, tag },
    userName: user_name,
    labels,
    idempotencyKey: readIdempotencyKey(headers),
    // The seed logged in only when a password was given; an empty one means none.
    password: password || undefined,
  };
}
