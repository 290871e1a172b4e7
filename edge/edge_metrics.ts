/**
 * The edge's Prometheus metrics.
 *
 * @module
 */
import promClient, { type Registry } from "prom-client";

/** Creates the edge's metrics in `registry`. */
export function createEdgeMetrics(registry: Registry) {
  const registers = [registry];
  return {
    /** Client sessions connected now. */
    sessions: new promClient.Gauge({
      name: "edge_sessions",
      help: "Client sessions connected to this edge",
      registers,
    }),
    /** Micro-turns sent to workers. */
    microTurns: new promClient.Counter({
      name: "edge_micro_turns_total",
      help: "Micro-turns assembled and sent to a worker",
      registers,
    }),
    /** From a micro-turn closing at the edge to its output arriving back. */
    roundTrip: new promClient.Histogram({
      name: "edge_micro_turn_round_trip_seconds",
      help: "Micro-turn close at the edge to its output back from the worker",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 1],
      registers,
    }),
    /** Protocol errors sent to clients, by code. */
    clientErrors: new promClient.Counter({
      name: "edge_client_errors_total",
      help: "Protocol errors reported to clients",
      labelNames: ["code"] as const,
      registers,
    }),
    /** Output audio frames not sent because the client's socket was backed up. */
    droppedOutputFrames: new promClient.Counter({
      name: "edge_output_frames_dropped_total",
      help:
        "Output audio frames dropped: stale (output faster than playback), socket backed up, or late (payload not in from the worker)",
      registers,
    }),
    /**
     * Micro-turns whose output audio came from the worker as PCM for a client that takes Opus:
     * the edge encoded it (a worker that does not encode, or whose encoder threads were full).
     */
    outputEncodedAtEdge: new promClient.Counter({
      name: "edge_output_encoded_micro_turns_total",
      help: "Micro-turns whose output audio came as PCM for an Opus client: the edge encodes it",
      registers,
    }),
    resumes: new promClient.Counter({
      name: "edge_session_resumes_total",
      help: "Sessions reattached to a new connection after a lost one",
      registers,
    }),
  };
}

/** The edge's metrics. */
export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>;

/**
 * The pool's headroom as this edge sees it, per region, read from the workers' announcements at
 * every scrape: free session slots and workers taking sessions (live, not draining, speaking the
 * edge's contract). The scale-out signal: a region whose free slots run low needs workers.
 */
export function registerPoolHeadroom(
  registry: Registry,
  liveWorkers: () => Promise<{ region: string; freeSlots: number }[]>,
): void {
  /** A per-region gauge summing `value` over the workers at each scrape. */
  const perRegion = (name: string, help: string, value: (w: { freeSlots: number }) => number) =>
    new promClient.Gauge({
      name,
      help,
      labelNames: ["region"] as const,
      registers: [registry],
      async collect() {
        const workers = await liveWorkers();
        this.reset();
        for (const w of workers) this.inc({ region: w.region }, value(w));
      },
    });
  perRegion(
    "edge_pool_free_slots",
    "Free session slots of the pool's workers taking sessions, by region",
    (w) => w.freeSlots,
  );
  perRegion("edge_pool_workers", "The pool's workers taking sessions, by region", () => 1);
}
