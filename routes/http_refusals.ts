/**
 * How the session routes answer over HTTP: who is creating a session (the operator's credential,
 * then the creation rate limits), the status of each refusal, with `Retry-After` where it has one.
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getConnInfo } from "hono/deno";
import type { ProtocolError } from "../protocol/error_codes.ts";
import type { SessionRouteDeps } from "./session_routes.ts";

/** The HTTP status of each refusal. */
export function httpStatusOf(code: ProtocolError["code"]): ContentfulStatusCode {
  switch (code) {
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "unknown_session":
      return 404;
    case "session_closed":
      return 410;
    case "rate_limited":
      return 429;
    case "capacity":
    case "shutting_down":
    case "worker_unavailable":
      return 503;
    default:
      return 400;
  }
}

/**
 * Answers a refusal as JSON (`body`, default `{code, message}`) with its status, and Retry-After
 * where it has one.
 */
export function refusal(
  c: Context,
  error: ProtocolError,
  body: object = { code: error.code, message: error.message },
): Response {
  if (error.retryAfterSeconds !== undefined) {
    c.header("Retry-After", String(error.retryAfterSeconds));
  }
  return c.json(body, httpStatusOf(error.code));
}

/**
 * The address a request came from: the TCP peer's, or, behind `proxyHops` trusted proxies, the
 * address the outermost of them saw (that many entries from the end of `X-Forwarded-For`; what
 * a client writes further left is not trusted).
 */
export function clientAddress(c: Context, proxyHops = 0): string {
  if (proxyHops > 0) {
    const hops = (c.req.header("x-forwarded-for") ?? "").split(",").map((a) => a.trim())
      .filter(Boolean);
    if (hops.length >= proxyHops) return hops[hops.length - proxyHops];
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Authenticates the operator creating a session and applies the creation rate limits: the
 * owner the new session belongs to. Throws `ProtocolError`.
 */
export async function admitCreation(deps: SessionRouteDeps, c: Context): Promise<string> {
  const operator = await deps.operators.authenticate(
    c.req.header("authorization"),
    "sessions:create",
  );
  deps.admission.create(clientAddress(c, deps.trustedProxyHops), operator.owner);
  return operator.owner;
}
