/**
 * The OpenAI Realtime API in front of the edge (docs/realtime-compat.md):
 * `POST /v1/realtime/client_secrets` mints a short-lived key for one new session, and
 * `GET /v1/realtime?model=...` is its WebSocket, authenticated as the Realtime clients send it:
 * `Authorization: Bearer <key>`, or in browsers the `openai-insecure-api-key.<key>` WebSocket
 * subprotocol (next to `realtime`). Keys are this system's credentials (`ek_` + the session id
 * + a session token), never OpenAI's. The session behind the socket is an ordinary edge session
 * whose client is a {@linkcode RealtimeBridge}; connecting again with the same key while it lives
 * resumes the conversation (docs/realtime-compat.md).
 *
 * @module
 */
import type { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSEvents } from "hono/ws";
import { z } from "zod";
import { RealtimeBridge } from "../edge/realtime/realtime_bridge.ts";
import { realtimeError } from "../edge/realtime/realtime_events.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import { isUuid } from "../lib/uuid_bytes.ts";
import { bearerCredential } from "../lib/bearer_credential.ts";
import type { SessionRouteDeps } from "./session_routes.ts";
import {
  type ConnectionAdapter,
  firstConnection,
  type RawSocket,
  resumeConnection,
} from "./session_connections.ts";
import { admitCreation, clientAddress, refusal } from "./http_refusals.ts";

/**
 * Largest Realtime client message, bytes: an append carries base64 audio, and clients send
 * chunks of up to seconds (1 MiB is ~16 s of pcm16 at 24 kHz). The native protocol's
 * `MAX_MESSAGE_BYTES` applies when it is larger.
 */
const REALTIME_MAX_MESSAGE_BYTES = 1 << 20;

/** Prefix of the keys this edge mints (the Realtime clients treat `ek_` keys as ephemeral). */
const KEY_PREFIX = "ek_";

const ClientSecretRequest = z.object({
  expires_after: z.object({
    anchor: z.literal("created_at").optional(),
    seconds: z.number().int().min(10).max(7200),
  }).optional(),
  session: z.object({}).passthrough().optional(),
}).strict();

/** Mounts the Realtime API routes. */
export function mountRealtimeRoutes(app: Hono, deps: SessionRouteDeps): void {
  /** The bridge of each live Realtime session of this edge: a reconnect takes its state over. */
  const bridges = new Map<string, RealtimeBridge>();
  app.post("/v1/realtime/client_secrets", async (c) => {
    let owner: string;
    try {
      owner = await admitCreation(deps, c);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return refusal(c, error, realtimeError(error.code, error.message));
    }
    let body: unknown = {};
    const text = await c.req.text();
    try {
      if (text.trim()) body = JSON.parse(text);
    } catch {
      return c.json(realtimeError("invalid_json", "body is not JSON"), 400);
    }
    const parsed = ClientSecretRequest.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return c.json(
        realtimeError("invalid_value", issue.message, null, issue.path.join(".") || null),
        400,
      );
    }
    const ttlSeconds = Math.min(
      parsed.data.expires_after?.seconds ?? 600,
      deps.tokenTtlSeconds,
    );
    const record = await deps.sessions.create({ owner, region: deps.region, model: deps.model });
    const { token, expiresAt } = await deps.tokens.mint(record.id, ttlSeconds);
    return c.json({
      value: `${KEY_PREFIX}${record.id}.${token}`,
      expires_at: Math.floor(expiresAt.getTime() / 1000),
      session: { type: "realtime", object: "realtime.session", id: record.id, model: deps.model },
    });
  });

  app.get(
    "/v1/realtime",
    upgradeWebSocket(async (c): Promise<WSEvents> => {
      const model = c.req.query("model") ?? deps.model;
      try {
        if (deps.draining()) throw new ProtocolError("shutting_down", "edge is shutting down");
        deps.admission.connect(clientAddress(c, deps.trustedProxyHops));
        const key = bearerCredential(c.req.header("authorization")) ??
          subprotocolKey(c.req.header("sec-websocket-protocol"));
        const { sessionId, token } = parseKey(key);
        const record = await deps.sessions.get(sessionId);
        if (!record) throw new ProtocolError("unknown_session", `no session ${sessionId}`);
        if (record.status === "closed") {
          throw new ProtocolError("session_closed", `session ${sessionId} is closed`);
        }
        await deps.tokens.verify(token, sessionId);
        const options = {
          sessionId,
          model,
          maxMessageBytes: Math.max(
            REALTIME_MAX_MESSAGE_BYTES,
            deps.sessionOptions.maxMessageBytes,
          ),
          clock: deps.sessionOptions.clock,
          dialect: /realtime=v1/.test(c.req.header("openai-beta") ?? "")
            ? "beta" as const
            : "ga" as const,
        };
        const adapter = (make: (raw: RawSocket) => RealtimeBridge): ConnectionAdapter => ({
          codec: "l16",
          socket: make,
          receive: (bridge, _session, data) => (bridge as RealtimeBridge).receive(data),
          tools: (bridge) => (bridge as RealtimeBridge).functions,
          attached: (socket, session) => {
            const bridge = socket as RealtimeBridge;
            bridge.attach(session);
            bridges.set(sessionId, bridge);
            session.ended.then(() => {
              if (bridges.get(sessionId) === bridge) bridges.delete(sessionId);
            });
          },
        });
        // The same key again while the session lives (its connection dropped, or another
        // replaces it): the conversation resumes on this connection.
        const previous = bridges.get(sessionId);
        if (deps.live.has(sessionId) && previous) {
          return await resumeConnection(
            deps,
            sessionId,
            undefined,
            adapter((raw) => new RealtimeBridge({ ...options, socket: raw }, previous)),
          );
        }
        if (deps.live.has(sessionId)) {
          throw new ProtocolError(
            "session_in_use",
            `session ${sessionId} already has a connection`,
          );
        }
        return await firstConnection(
          deps,
          record,
          adapter((raw) => new RealtimeBridge({ ...options, socket: raw })),
        );
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        return {
          onOpen: (_event, ws) => {
            ws.send(JSON.stringify(realtimeError(error.code, error.message)));
            ws.close(error.closeCode ?? 1008, error.code);
          },
        };
      }
    }),
  );
}

/** The key in a browser's `openai-insecure-api-key.<key>` subprotocol. */
function subprotocolKey(header: string | undefined): string | undefined {
  const prefix = "openai-insecure-api-key.";
  return header?.split(",").map((p) => p.trim()).find((p) => p.startsWith(prefix))
    ?.slice(prefix.length);
}

/** A key's session id and token; an `unauthorized` error for anything else. */
function parseKey(key: string | undefined): { sessionId: string; token: string } {
  if (!key) throw new ProtocolError("unauthorized", "no API key");
  if (!key.startsWith(KEY_PREFIX)) {
    throw new ProtocolError(
      "unauthorized",
      "not a key of this edge (mint one at POST /v1/realtime/client_secrets)",
    );
  }
  const dot = key.indexOf(".");
  const sessionId = key.slice(KEY_PREFIX.length, dot);
  if (dot < 0 || !isUuid(sessionId)) throw new ProtocolError("unauthorized", "malformed key");
  return { sessionId, token: key.slice(dot + 1) };
}
