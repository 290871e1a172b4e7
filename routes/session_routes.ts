/**
 * Client-facing session endpoints: `POST /v1/sessions` creates a session and mints its token;
 * `POST /v1/sessions/:id/resume` renews it; `DELETE /v1/sessions/:id` deletes the session;
 * `GET /v1/sessions/:id/ws?token=...` is the session's WebSocket. Routes only parse,
 * authorize and hand over (routes/session_connections.ts runs the connections,
 * routes/http_refusals.ts answers refusals).
 *
 * @module
 */
import type { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSEvents } from "hono/ws";
import { z } from "zod";
import { EdgeSession } from "../edge/edge_session.ts";
import type { EdgeSessionOptions } from "../edge/edge_session_options.ts";
import type { Delegation } from "../edge/session_background.ts";
import { ERROR_CODES, ProtocolError } from "../protocol/error_codes.ts";
import type { SessionStore } from "../store/session_store.ts";
import type { OperatorAuth } from "../edge/operator_auth.ts";
import type { SessionAdmission } from "../edge/session_admission.ts";
import { admitCreation, clientAddress, refusal } from "./http_refusals.ts";
import { firstConnection, refuse, resumeConnection } from "./session_connections.ts";
import type { SessionTokens } from "../edge/session_tokens.ts";
import { isUuid } from "../lib/uuid_bytes.ts";
import type { Logger } from "../lib/logger.ts";
import type { SessionLeases } from "../store/session_leases.ts";
import type { CompactionStore, Summarizer } from "../store/compactions.ts";

/** Nothing yet; the owner comes from the credential, never from the body. */
const CreateSessionBody = z.object({}).strict();

/** What the session routes need. */
export interface SessionRouteDeps {
  /** Session rows. */
  sessions: SessionStore;
  /** Token minting and checking. */
  tokens: SessionTokens;
  /** Token lifetime, seconds. */
  tokenTtlSeconds: number;
  /** Region recorded on new sessions. */
  region: string;
  /** Model recorded on new sessions. */
  model: string;
  /** Live sessions of this edge by id. */
  live: Map<string, EdgeSession>;
  /** True once shutdown began: new connections are refused. */
  draining: () => boolean;
  /** Everything a session needs except its id, start time and first micro-turn. */
  sessionOptions: Omit<
    EdgeSessionOptions,
    | "sessionId"
    | "startedAtMs"
    | "firstMicroTurn"
    | "handOff"
    | "context"
    | "compact"
    | "delegation"
  >;
  /** This edge's session leases (a session runs on one edge at a time). */
  leases: SessionLeases;
  /** Compactions of long sessions, and who writes their summaries. */
  compactions: { store: CompactionStore; summarizer: Summarizer };
  /** Background tasks: the runner, their store, the model-triggered delegation cooldown. */
  background: Omit<Delegation, "conversation">;
  /** Operators' credentials: who may create sessions, and whose they are. */
  operators: OperatorAuth;
  /** Rate limits and live-session caps. */
  admission: SessionAdmission;
  /** A native-protocol connection silent this long is closed, ms (0: never). */
  clientIdleMs: number;
  /** Proxies in front of the edge whose `X-Forwarded-For` entries are trusted (0: none). */
  trustedProxyHops: number;
  /** Logger. */
  log: Logger;
}

/** Mounts the session routes. */
export function mountSessionRoutes(app: Hono, deps: SessionRouteDeps): void {
  app.post("/v1/sessions", async (c) => {
    let owner: string;
    try {
      owner = await admitCreation(deps, c);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return refusal(c, error);
    }
    let body: unknown = {};
    const text = await c.req.text();
    try {
      if (text.trim()) body = JSON.parse(text);
    } catch {
      return c.json({ code: "invalid_control", message: "body is not JSON" }, 400);
    }
    const parsed = CreateSessionBody.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message = issue.code === "unrecognized_keys" && issue.keys.includes("owner")
        ? "the owner comes from the credential, not the body"
        : issue.message;
      return c.json({ code: "invalid_control", message }, 400);
    }
    const record = await deps.sessions.create({
      owner,
      region: deps.region,
      model: deps.model,
    });
    const { token, expiresAt } = await deps.tokens.mint(record.id, deps.tokenTtlSeconds);
    return c.json({
      sessionId: record.id,
      token,
      expiresAt: expiresAt.toISOString(),
      websocketPath: `/v1/sessions/${record.id}/ws`,
    }, 201);
  });

  app.post("/v1/sessions/:id/resume", async (c) => {
    const sessionId = c.req.param("id");
    const token = bearerToken(c.req.header("authorization")) ?? c.req.query("token");
    try {
      const record = isUuid(sessionId) ? await deps.sessions.get(sessionId) : undefined;
      if (!record) throw new ProtocolError("unknown_session", `no session ${sessionId}`);
      await deps.tokens.verify(token, sessionId, "connect").catch(() =>
        deps.tokens.verify(token, sessionId, "resume")
      );
      if (record.status === "closed") {
        throw new ProtocolError("session_closed", `session ${sessionId} is closed`);
      }
      const fresh = await deps.tokens.mint(sessionId, deps.tokenTtlSeconds);
      const continuation = await deps.sessions.continuation(sessionId);
      const now = deps.sessionOptions.clock.now();
      return c.json({
        sessionId,
        token: fresh.token,
        expiresAt: fresh.expiresAt.toISOString(),
        websocketPath: `/v1/sessions/${sessionId}/ws`,
        nextMicroTurn: continuation.nextMicroTurn,
        lastActiveAt: record.lastActiveAt.toISOString(),
        awayMs: Math.max(0, now - record.lastActiveAt.getTime()),
        liveOnAnotherEdge: continuation.leasedBy !== null &&
          continuation.leasedBy !== deps.leases.edgeId &&
          continuation.leaseExpiresAt !== null && continuation.leaseExpiresAt.getTime() > now,
      });
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return refusal(c, error);
    }
  });

  app.delete("/v1/sessions/:id", async (c) => {
    const sessionId = c.req.param("id");
    const authorization = c.req.header("authorization");
    const token = bearerToken(authorization) ?? c.req.query("token");
    try {
      const record = isUuid(sessionId) ? await deps.sessions.get(sessionId) : undefined;
      // Another owner's session is answered as if it did not exist.
      const unknown = new ProtocolError("unknown_session", `no session ${sessionId}`);
      if (!record) throw unknown;
      if (token?.startsWith("v1.")) await deps.tokens.verify(token, sessionId);
      else {
        // The session's operator may delete it with its own credential.
        const operator = await deps.operators.authenticate(authorization, "sessions:delete");
        if (operator.owner !== record.owner) throw unknown;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return refusal(c, error);
    }
    const live = deps.live.get(sessionId);
    if (live instanceof EdgeSession) await live.end("session deleted", ERROR_CODES.session_closed);
    deps.sessionOptions.eventLog.forget(sessionId);
    await deps.sessions.delete(sessionId);
    return c.body(null, 204);
  });

  app.get(
    "/v1/sessions/:id/ws",
    upgradeWebSocket(async (c): Promise<WSEvents> => {
      const sessionId = c.req.param("id")!;
      const resumeToken = c.req.query("resume");
      try {
        if (deps.draining()) throw new ProtocolError("shutting_down", "edge is shutting down");
        deps.admission.connect(clientAddress(c, deps.trustedProxyHops));
        const record = isUuid(sessionId) ? await deps.sessions.get(sessionId) : undefined;
        if (!record) throw new ProtocolError("unknown_session", `no session ${sessionId}`);
        if (record.status === "closed") {
          throw new ProtocolError("session_closed", `session ${sessionId} is closed`);
        }
        if (resumeToken !== undefined) {
          await deps.tokens.verify(resumeToken, sessionId, "resume");
          const ack = Number(c.req.query("ack"));
          return await resumeConnection(deps, sessionId, Number.isInteger(ack) ? ack : undefined);
        }
        await deps.tokens.verify(c.req.query("token"), sessionId);
        // Checked and claimed with no await in between, so two racing connections cannot both win.
        if (deps.live.has(sessionId)) {
          throw new ProtocolError(
            "session_in_use",
            `session ${sessionId} already has a connection (resume it with its resume token)`,
          );
        }
        return await firstConnection(deps, record);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        return refuse(error);
      }
    }, nativeSocketOptions(deps)),
  );
}

/**
 * How native-protocol sockets are upgraded. With the edge's own idle watch on (`clientIdleMs`,
 * routes/session_connections.ts), Deno's idle timeout is off: Deno re-arms its timer on every
 * message received, a timer cancelled and created 50 times a second per session for a check
 * the watch already makes. With the watch off, Deno's ping-based timeout stays.
 */
function nativeSocketOptions(deps: SessionRouteDeps): Deno.UpgradeWebSocketOptions {
  return deps.clientIdleMs > 0 ? { idleTimeout: 0 } : {};
}

/** The token of an `Authorization: Bearer <token>` header. */
function bearerToken(header: string | undefined): string | undefined {
  return header?.replace(/^Bearer\s+/i, "");
}
