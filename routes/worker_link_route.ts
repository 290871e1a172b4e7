/**
 * The worker's end of the edge <-> worker link: a WebSocket at `/v1/link` carrying the binary
 * frames of protocol/worker_link.ts for many sessions. Sessions opened over a link close when
 * it drops. A session opened with `audio: "opus"` gets its output audio encoded here, on the
 * pool's threads (gpu-worker/output_encoder_pool.ts): its `output` carries the first frames'
 * payloads, an `audio_rest` frame the rest; a micro-turn the pool cannot take goes as PCM,
 * which the edge encodes.
 *
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSContext } from "hono/ws";
import {
  decodeLinkFrame,
  encodeLinkFrame,
  LINK_SESSION_ID,
  MalformedLinkFrameError,
  type MicroTurnOutput,
  type WorkerLinkFrame,
} from "../protocol/worker_link.ts";
import { type WorkerRuntime } from "../gpu-worker/worker_runtime.ts";
import { defaultEncodeThreads, OutputEncoderPool } from "../gpu-worker/output_encoder_pool.ts";
import { errorCodeOf } from "../protocol/error_codes.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { requireSharedSecret } from "./internal_auth.ts";
import { LINK_BATCHES_PARAMETER, LinkFrameBatcher } from "../protocol/link_batch.ts";

/** Sends a session event to the edge whose link opened the session. */
export type SessionNotifier = (sessionId: string, body: Record<string, unknown>) => void;

/**
 * What the link drives: the worker's session runtime (a benchmark of the edge alone may put a
 * scripted one in its place).
 */
export type LinkedRuntime = Pick<
  WorkerRuntime,
  "open" | "rebuild" | "replay" | "run" | "close" | "modelName"
>;

/**
 * The part of a {@linkcode LinkedRuntime} a scripted one that keeps no context has in common:
 * a session rebuilt or moved to it has nothing to rebuild and nothing to replay.
 */
export abstract class StatelessLinkedRuntime {
  /** Nothing to rebuild: a rebuilt session starts afresh. */
  rebuild(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to replay into. */
  replay(): Promise<void> {
    return Promise.resolve();
  }
}

/** Options of {@linkcode mountWorkerLink}. */
export interface WorkerLinkOptions {
  /**
   * Threads encoding output audio for sessions that ask for Opus (default
   * {@linkcode defaultEncodeThreads}); 0 sends every session PCM.
   */
  encodeThreads?: number;
  /**
   * Told as each output is handed to its edge's link (to an edge that takes batches, it leaves
   * with the others of this turn of the event loop), with how long its first audio frames took
   * to encode here, queue included (undefined for an output whose session takes PCM).
   */
  onOutputSent?: (output: MicroTurnOutput, encodeMs: number | undefined) => void;
}

/**
 * Mounts `/v1/link` on the worker's app. Returns how to tell a session's edge about an event
 * (context full, idle reclaim), and how to close every link when the worker stops.
 */
export function mountWorkerLink(
  app: Hono,
  runtime: LinkedRuntime,
  log: Logger,
  options: WorkerLinkOptions = {},
): WorkerLinkRoute {
  const owners = new Map<string, WSContext>();
  const links = new Set<WSContext>();
  /** How each link's frames leave: in batches to an edge that asked for them. */
  const batchers = new Map<WSContext, LinkFrameBatcher>();
  const threads = options.encodeThreads ?? defaultEncodeThreads();
  const encoders = threads > 0 ? new OutputEncoderPool(threads) : undefined;
  encoders?.start();
  /** Sessions whose output audio is encoded here. */
  const opusSessions = new Set<string>();
  let lastPcmWarningAt = -Infinity;
  const send = (ws: WSContext, frame: WorkerLinkFrame) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const batcher = batchers.get(ws);
    if (batcher) batcher.push(encodeLinkFrame(frame));
    else ws.send(encodeLinkFrame(frame));
  };
  const sendOutput = (ws: WSContext, output: MicroTurnOutput) => {
    if (!encoders || !opusSessions.has(output.sessionId)) {
      send(ws, { type: "output", output });
      return options.onOutputSent?.(output, undefined);
    }
    const { sessionId, index } = output;
    const encodeStart = performance.now();
    const { head, rest } = encoders.encode(sessionId, output.audio, output.control === "silent");
    head.then(
      (opus) => {
        send(ws, { type: "output", output: { ...output, audio: NO_SAMPLES, opus } });
        options.onOutputSent?.(output, performance.now() - encodeStart);
        // Frames still owed follow; if they cannot, the edge drops them when they fall due.
        if (!opus.includes(null)) return;
        rest.then((payloads) => send(ws, { type: "audio_rest", sessionId, index, payloads }))
          .catch(() => {});
      },
      (error) => {
        // Once a second at most: a full pool refuses many micro-turns at once.
        if (performance.now() - lastPcmWarningAt > 1000) {
          lastPcmWarningAt = performance.now();
          log.warn("output sent as PCM", { sessionId, error: String(error) });
        }
        send(ws, { type: "output", output });
        options.onOutputSent?.(output, performance.now() - encodeStart);
      },
    );
  };
  const closeSession = (sessionId: string) => {
    runtime.close(sessionId);
    owners.delete(sessionId);
    if (opusSessions.delete(sessionId)) encoders?.release(sessionId);
  };
  app.get(
    "/v1/link",
    upgradeWebSocket((c) => {
      const batches = c.req.query(LINK_BATCHES_PARAMETER) === "1";
      const opened = new Set<string>();
      const fail = (ws: WSContext, sessionId: string, index: number, error: unknown) => {
        const code = errorCodeOf(error);
        send(ws, {
          type: "error",
          sessionId,
          index,
          body: { code, message: error instanceof Error ? error.message : String(error) },
        });
      };
      return {
        onOpen: (_event, ws) => {
          (ws.raw as WebSocket).binaryType = "arraybuffer";
          links.add(ws);
          if (batches) {
            batchers.set(
              ws,
              new LinkFrameBatcher((message) => {
                if (ws.readyState === WebSocket.OPEN) ws.send(message);
              }),
            );
          }
          log.info("edge link connected");
        },
        onMessage: (event, ws) => {
          if (!(event.data instanceof ArrayBuffer)) {
            return fail(ws, LINK_SESSION_ID, 0, new MalformedLinkFrameError("text message"));
          }
          let frame: WorkerLinkFrame;
          try {
            frame = decodeLinkFrame(new Uint8Array(event.data));
          } catch (error) {
            return fail(ws, LINK_SESSION_ID, 0, error);
          }
          switch (frame.type) {
            case "open": {
              const { sessionId, index, body } = frame;
              const context = typeof body.context === "string" ? body.context : "";
              let opening: Promise<void>;
              try {
                opening = runtime.open(sessionId, Number(body.startedAtMs) || Date.now(), context);
                opened.add(sessionId);
                owners.set(sessionId, ws);
                if (encoders && body.audio === "opus") {
                  opusSessions.add(sessionId);
                  encoders.open(sessionId);
                }
              } catch (error) {
                fail(ws, sessionId, index, error);
                return;
              }
              opening.then(
                () =>
                  send(ws, {
                    type: "opened",
                    sessionId,
                    index,
                    body: {
                      model: runtime.modelName,
                      audio: opusSessions.has(sessionId) ? "opus" : "pcm",
                    },
                  }),
                (error) => fail(ws, sessionId, index, error),
              );
              return;
            }
            case "rebuild": {
              const { sessionId, index, body } = frame;
              runtime.rebuild(sessionId, String(body.context ?? "")).catch((error) =>
                fail(ws, sessionId, index, error)
              );
              return;
            }
            case "replay":
              runtime.replay(frame.sessionId, frame.turns).catch((error) =>
                fail(ws, frame.sessionId, frame.turns[0]?.index ?? 0, error)
              );
              return;
            case "micro_turn":
              runtime.run(frame.turn).then(
                (output) => sendOutput(ws, output),
                (error) => fail(ws, frame.turn.sessionId, frame.turn.index, error),
              );
              return;
            case "close":
              closeSession(frame.sessionId);
              opened.delete(frame.sessionId);
              return;
            default:
              fail(
                ws,
                LINK_SESSION_ID,
                0,
                new MalformedLinkFrameError(`a worker does not accept ${frame.type} frames`),
              );
          }
        },
        onClose: (_event, ws) => {
          links.delete(ws);
          batchers.delete(ws);
          for (const sessionId of opened) closeSession(sessionId);
          log.info("edge link closed", { sessions: opened.size });
          opened.clear();
        },
      };
    }),
  );
  return {
    notify: (sessionId, body) => {
      const ws = owners.get(sessionId);
      if (ws) send(ws, { type: "event", sessionId, index: 0, body });
    },
    closeLinks: (reason) => {
      for (const ws of links) {
        batchers.get(ws)?.flush();
        ws.close(1001, reason);
      }
    },
    stopEncoding: () => encoders?.close(),
  };
}

const NO_SAMPLES = new Int16Array(0);

/** The worker link's handle for the worker. */
export interface WorkerLinkRoute {
  /** Tells a session's edge something about the session. */
  notify: SessionNotifier;
  /**
   * Closes every edge's link (the worker is stopping): the edges move their sessions elsewhere
   * in a pool, or end them.
   */
  closeLinks(reason: string): void;
  /** Ends the output encoder threads (the worker has stopped serving). */
  stopEncoding(): void;
}

/**
 * Serves `runtime`'s link alone on a free port of `hostname`: a worker without a model, for
 * benchmarks of the edge (bench/scripted_worker.ts) and the interactivity benchmark's scripted
 * policy (eval/turn_taking_policy.ts). With `secret`, links without it are refused.
 */
export function serveWorkerLink(
  runtime: LinkedRuntime,
  hostname = "127.0.0.1",
  secret?: string,
  options: WorkerLinkOptions = {},
): { linkUrl: string; close(): Promise<void> } {
  const app = new Hono();
  app.use("/v1/*", requireSharedSecret(secret));
  const route = mountWorkerLink(app, runtime, createLogger(runtime.modelName, "warn"), options);
  const server = Deno.serve({ hostname, port: 0, onListen: () => {} }, app.fetch);
  return {
    linkUrl: `ws://${hostname}:${server.addr.port}/v1/link`,
    close: () => server.shutdown().finally(() => route.stopEncoding()),
  };
}
