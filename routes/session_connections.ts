/**
 * A session's WebSocket connections: the first one claims the session (its lease) and starts
 * its {@linkcode EdgeSession}; a resume reattaches a live session; messages are relayed to the
 * session while the connection is its current one; native-protocol connections are watched for
 * going quiet; a refused connection is accepted, told why, and closed with the error's code.
 *
 * @module
 */
import type { WSEvents } from "hono/ws";
import { EdgeSession } from "../edge/edge_session.ts";
import type { ClientSocket } from "../edge/edge_session_options.ts";
import type { AudioCodec } from "../protocol/media_format.ts";
import { FRAMES_PER_MICRO_TURN } from "../protocol/media_format.ts";
import type { ToolHost } from "../background/chat_runner.ts";
import { NoWorkerCapacityError } from "../edge/worker_links.ts";
import { ERROR_CODES, ProtocolError } from "../protocol/error_codes.ts";
import type { SessionRecord } from "../store/session_store.ts";
import { ClientIdleWatch } from "../edge/client_idle_watch.ts";
import { sessionContext } from "../store/compactions.ts";
import type { SessionRouteDeps } from "./session_routes.ts";

/** Most context text a session is rebuilt from (the worker keeps what fits half its window). */
const MAX_CONTEXT_CHARS = 4096;

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
export function refuse(error: ProtocolError): WSEvents {
  return {
    onOpen: (_event, ws) => {
      ws.send(fatalError(error));
      ws.close(error.closeCode ?? ERROR_CODES.internal_error, error.code);
    },
  };
}
