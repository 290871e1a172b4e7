/**
 * The internal links' shared secret as Hono middleware: a request to a worker's guarded routes
 * (its link, its OpenAI-compatible endpoint) must carry `Authorization: Bearer <secret>`, or is
 * answered 401 before anything else runs (a WebSocket upgrade included).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { constantTimeEqual } from "../lib/constant_time.ts";
import { bearerCredential } from "../lib/bearer_credential.ts";

/** Refuses requests without the shared `secret`; lets everything through when it is unset. */
export function requireSharedSecret(secret: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (secret) {
      const presented = bearerCredential(c.req.header("authorization")) ?? "";
      if (!constantTimeEqual(presented, secret)) {
        return c.json(
          {
            code: "unauthorized",
            message: "the internal link's shared secret is missing or wrong",
          },
          401,
        );
      }
    }
    await next();
  };
}
