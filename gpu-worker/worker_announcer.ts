/**
 * A worker's heartbeat in the pool's registry: it announces what it serves and how full it is
 * now, again every interval (a third of the registry's time to live, so two heartbeats can be
 * lost before it drops out), marks itself draining when told, and withdraws when it stops.
 *
 * @module
 */
import type { WorkerAnnouncement, WorkerRegistry } from "../store/worker_registry.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";

/** Keeps one worker's announcement fresh. */
export class WorkerAnnouncer {
  readonly #registry: WorkerRegistry;
  readonly #describe: () => Omit<WorkerAnnouncement, "draining">;
  readonly #clock: Clock;
  readonly #log: Logger;
  #draining = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> = Promise.resolve();
  #stopped = false;
  #changeQueued = false;

  /**
   * @param registry where the pool's workers are announced
   * @param describe the worker as it is now (called at every heartbeat)
   * @param clock time source for the announcement's expiry
   * @param log where failed heartbeats are reported
   */
  constructor(
    registry: WorkerRegistry,
    describe: () => Omit<WorkerAnnouncement, "draining">,
    clock: Clock,
    log: Logger,
  ) {
    this.#registry = registry;
    this.#describe = describe;
    this.#clock = clock;
    this.#log = log;
  }

  /** Announces now and then at every heartbeat. */
  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => this.#queueBeat(), this.#registry.heartbeatMs);
  }

  /**
   * Announces soon after the worker's sessions changed, so edges placing sessions read its
   * real free slots (a heartbeat's snapshot can land after an edge's reservation and undo it).
   */
  changed(): void {
    if (this.#stopped || this.#changeQueued) return;
    this.#changeQueued = true;
    this.#queueBeat(() => this.#changeQueued = false);
  }

  /** Beats after the beat under way: announcements land in the order they were taken. */
  #queueBeat(before: () => void = () => {}): void {
    this.#beating = this.#beating.then(() => {
      before();
      if (!this.#stopped) return this.beat();
    }).catch((error) => this.#log.warn("heartbeat failed", { error }));
  }

  /** Announces the worker as it is now. */
  async beat(): Promise<void> {
    await this.#registry.announce(
      { ...this.#describe(), draining: this.#draining },
      this.#clock.now(),
    );
  }

  /** Tells the pool to send no new sessions here (announced at once). */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.beat();
  }

  /** Stops heartbeating and removes the announcement. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#beating;
    await this.#registry.withdraw(this.#describe().id);
  }
}
