/**
 * Client-facing session endpoints: `POST /v1/sessions` creates a session and mints its token;
 * `GET /v1/sessions/:id/ws?token=...` is the session's WebSocket. Routes only parse,
 * authorize and hand over to an {@linkcode EdgeSession}; a refused connection is accepted,
 * told the error code, and closed with that code, so browsers can see why.
 *
 * @module
 */
import type { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSEvents } from "hono/ws";
import { z } from "zod";
import { EdgeSession } from "../edge/edge_session.ts";
import type { ClientSocket, EdgeSessionOptions } from "../edge/edge_session.ts";
import type { AudioCodec } from "../protocol/media_format.ts";
import type { ToolHost } from "../background/chat_runner.ts";
import type { Delegation } from "../edge/session_background.ts";
import { NoWorkerCapacityError } from "../edge/worker_links.ts";
import { ERROR_CODES, ProtocolError } from "../protocol/error_codes.ts";
import type { SessionRecord, SessionStore } from "../store/session_store.ts";
import type { OperatorAuth } from "../edge/operator_auth.ts";
import type { SessionAdmission } from "../edge/session_admission.ts";
import { ClientIdleWatch } from "../edge/client_idle_watch.ts";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getConnInfo } from "hono/deno";
import type { SessionTokens } from "../edge/session_tokens.ts";
import { isUuid } from "../lib/uuid_bytes.ts";
import type { Logger } from "../lib/logger.ts";
import type { SessionLeases } from "../store/session_leases.ts";
import { type CompactionStore, sessionContext, type Summarizer } from "../store/compactions.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";

/** Most context text a session is rebuilt from (the worker keeps what fits half its window). */
const MAX_CONTEXT_CHARS = 4096;

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
  /** Logger. */
  log: Logger;
}

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

/** Answers a refusal as JSON with its status, and Retry-After where it has one. */
export function refusal(c: Context, error: ProtocolError): Response {
  if (error.retryAfterSeconds !== undefined) {
    c.header("Retry-After", String(error.retryAfterSeconds));
  }
  return c.json({ code: error.code, message: error.message }, httpStatusOf(error.code));
}

/** The address a request came from. */
export function clientAddress(c: Context): string {
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
  deps.admission.create(clientAddress(c), operator.owner);
  return operator.owner;
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
        deps.admission.connect(clientAddress(c));
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
    }),
  );
}

/** The WebSocket a connection arrived on. */
export type RawSocket = WebSocket & { send(data: string | Uint8Array<ArrayBuffer>): void };

/**
 * How a connection meets its session: the native protocol (the socket is the session's
 * client socket), or an adapter that speaks another protocol to the client (the Realtime API).
 */
export interface ConnectionAdapter {
  /** How the client's audio reaches the session. */
  codec: AudioCodec;
  /** The socket the session writes to, for the client's `raw` socket. */
  socket(raw: RawSocket): ClientSocket;
  /** Hands a client message to the session, through the adapter. */
  receive(socket: ClientSocket, session: EdgeSession, data: string | ArrayBuffer): void;
  /** Told the session this connection serves (created, or resumed). */
  attached?(socket: ClientSocket, session: EdgeSession): void;
  /** Tools the client offers the background model through this socket. */
  tools?(socket: ClientSocket): ToolHost;
}

/** The native protocol: no adapter between the client and its session. */
const NATIVE: ConnectionAdapter = {
  codec: "opus",
  socket: (raw) => raw,
  receive: (_socket, session, data) => {
    if (typeof data === "string") session.receiveText(data);
    else session.receiveBinary(new Uint8Array(data));
  },
};

/** Forwards a connection's messages to its session while it is the session's current one. */
function relay(
  session: () => EdgeSession | undefined,
  socket: () => ClientSocket | undefined,
  adapter: ConnectionAdapter,
) {
  return {
    onMessage: (event: MessageEvent) => {
      const live = session();
      const current = socket();
      if (!live || !current || !live.isCurrent(current)) return;
      adapter.receive(current, live, event.data as string | ArrayBuffer);
    },
    onClose: () => {
      const current = socket();
      if (current) session()?.socketClosed(current);
    },
  };
}

/**
 * A session's first connection: claims the session (its lease), creates and starts its edge
 * session. Throws a `ProtocolError` when the session is live elsewhere.
 */
export async function firstConnection(
  deps: SessionRouteDeps,
  record: Pick<SessionRecord, "id" | "owner" | "createdAt">,
  adapter: ConnectionAdapter = NATIVE,
): Promise<WSEvents> {
  const sessionId = record.id;
  const startedAtMs = record.createdAt.getTime();
  // Caps first (this edge's live sessions, the owner's): a refused session claims nothing.
  const leave = deps.admission.enter(record.owner ?? "", deps.live.size);
  const claim = {} as EdgeSession;
  deps.live.set(sessionId, claim);
  const { eventLog, clock } = deps.sessionOptions;
  let firstMicroTurn: number;
  let context: string;
  try {
    // The session may be live on another edge (its lease not lapsed): exactly one edge wins.
    if (!await deps.leases.claim(sessionId, clock.now())) {
      throw new ProtocolError("session_in_use", `session ${sessionId} is live on another edge`);
    }
    // A session that ran before (on any edge, before any restart) continues its numbering,
    // and its worker rebuilds its context from the store.
    firstMicroTurn = (await eventLog.open(sessionId)).nextMicroTurn;
    context = (await sessionContext(deps.compactions.store, sessionId, MAX_CONTEXT_CHARS)).text;
  } catch (error) {
    deps.live.delete(sessionId);
    leave();
    throw error;
  }
  const releaseAll = () => {
    eventLog.release(sessionId);
    deps.leases.release(sessionId).catch((error) =>
      deps.log.warn("lease release failed", { sessionId, error })
    );
  };
  const { token: resumeToken } = await deps.tokens.mint(sessionId, deps.tokenTtlSeconds, "resume");
  let session: EdgeSession | undefined;
  let raw: RawSocket | undefined;
  let client: ClientSocket | undefined;
  /** The conversation so far from the store, its events flushed first. */
  const conversation = async () => {
    await eventLog.flush();
    return (await sessionContext(deps.compactions.store, sessionId, MAX_CONTEXT_CHARS)).text;
  };
  return withIdleWatch(deps, adapter, () => client, {
    onOpen: (_event, ws) => {
      raw = ws.raw as RawSocket;
      raw.binaryType = "arraybuffer";
      client = adapter.socket(raw);
      const started = new EdgeSession({
        ...deps.sessionOptions,
        codec: adapter.codec,
        tools: adapter.tools?.(client),
        sessionId,
        startedAtMs,
        firstMicroTurn,
        // Events durable before the lease goes: the next edge continues where this one ended.
        handOff: async () => {
          await eventLog.flush();
          await deps.leases.release(sessionId);
        },
        context,
        rebuildContext: conversation,
        compact: async (window) => {
          const { store, summarizer } = deps.compactions;
          // Keep the last quarter of the window verbatim; summarize the rest.
          const keep = Math.max(1, Math.floor(window / FRAMES_PER_MICRO_TURN / 4));
          const record = await store.compact(sessionId, summarizer, keep);
          if (!record) return undefined;
          const rebuilt = await sessionContext(store, sessionId, MAX_CONTEXT_CHARS);
          return { compactionId: record.id, context: rebuilt.text };
        },
        delegation: { ...deps.background, conversation },
      });
      session = started;
      deps.live.set(sessionId, started);
      adapter.attached?.(client, started);
      started.ended.then(() => {
        if (deps.live.get(sessionId) === started) deps.live.delete(sessionId);
        leave();
      });
      started.start(client, resumeToken).catch((error) => {
        const failure = error instanceof ProtocolError
          ? error
          : error instanceof NoWorkerCapacityError
          ? new ProtocolError("capacity", error.message, error.retryAfterSeconds)
          : new ProtocolError("internal_error", String(error));
        // A full pool is an expected answer, not a fault.
        const level = failure.code === "capacity" ? "warn" : "error";
        deps.log[level]("session start failed", { sessionId, error });
        started.discard(error);
        deps.leases.release(sessionId).catch(() => {});
        client?.send(fatalError(failure));
        client?.close(failure.closeCode ?? ERROR_CODES.internal_error, failure.code);
        session = undefined;
      });
    },
    ...relay(() => session, () => client, adapter),
    onClose: () => {
      if (!session) {
        if (deps.live.get(sessionId) === claim) {
          deps.live.delete(sessionId);
          releaseAll();
          leave();
        }
        return;
      }
      if (client) session.socketClosed(client);
    },
  });
}

/** A reconnect with a resume token: reattaches the live session to this connection. */
export async function resumeConnection(
  deps: SessionRouteDeps,
  sessionId: string,
  clientAck: number | undefined,
  adapter: ConnectionAdapter = NATIVE,
): Promise<WSEvents> {
  const live = deps.live.get(sessionId);
  if (!(live instanceof EdgeSession) || live.isEnding) {
    throw new ProtocolError(
      "resume_unavailable",
      `session ${sessionId} is not live on this edge; open it again`,
    );
  }
  const { token: resumeToken } = await deps.tokens.mint(sessionId, deps.tokenTtlSeconds, "resume");
  let client: ClientSocket | undefined;
  return withIdleWatch(deps, adapter, () => client, {
    onOpen: (_event, ws) => {
      const raw = ws.raw as RawSocket;
      raw.binaryType = "arraybuffer";
      client = adapter.socket(raw);
      try {
        live.resume(client, resumeToken, clientAck);
        adapter.attached?.(client, live);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        client.send(fatalError(error));
        client.close(error.closeCode ?? ERROR_CODES.internal_error, error.code);
      }
    },
    ...relay(() => live, () => client, adapter),
  });
}

/**
 * `events` of a native-protocol connection, watched: one that sends nothing for
 * `clientIdleMs` (the SDK pings every 2 s) is told `idle_timeout` and closed; its session
 * waits for a resume as after any dropped connection. (Realtime API clients may be quiet
 * while their user types; their connections are not watched.)
 */
function withIdleWatch(
  deps: SessionRouteDeps,
  adapter: ConnectionAdapter,
  socket: () => ClientSocket | undefined,
  events: WSEvents,
): WSEvents {
  if (adapter !== NATIVE) return events;
  const watch = new ClientIdleWatch(deps.clientIdleMs, deps.sessionOptions.clock, () => {
    const error = new ProtocolError(
      "idle_timeout",
      `no message from the client for ${deps.clientIdleMs / 1000} s`,
    );
    socket()?.send(fatalError(error));
    socket()?.close(error.closeCode ?? ERROR_CODES.internal_error, error.code);
  });
  return {
    ...events,
    onOpen: (event, ws) => {
      events.onOpen?.(event, ws);
      watch.start();
    },
    onMessage: (event, ws) => {
      watch.touch();
      events.onMessage?.(event, ws);
    },
    onClose: (event, ws) => {
      watch.stop();
      events.onClose?.(event, ws);
    },
  };
}
/** The token of an `Authorization: Bearer <token>` header. */
function bearerToken(header: string | undefined): string | undefined {
  return header?.replace(/^Bearer\s+/i, "");
}

/** The `error` message that ends a connection (with when to retry, where there is one). */
function fatalError(error: ProtocolError): string {
  return JSON.stringify({
    type: "error",
    code: error.code,
    message: error.message,
    fatal: true,
    ...(error.retryAfterSeconds === undefined
      ? {}
      : { retryAfterSeconds: error.retryAfterSeconds }),
  });
}

/** Events for a connection that is accepted only to be told why it is refused. */
function refuse(error: ProtocolError): WSEvents {
  return {
    onOpen: (_event, ws) => {
      ws.send(fatalError(error));
      ws.close(error.closeCode ?? ERROR_CODES.internal_error, error.code);
    },
  };
}
