/**
 * How an edge reaches the workers that run its sessions. A new session asks for a link with
 * {@linkcode WorkerLinks.place}: either the one configured worker (`WORKER_URL`, and the
 * single-process `task start`), or a worker chosen from the pool's registry (the edge's region
 * first, least loaded; edge/worker_placement.ts). The edge keeps one multiplexed link per worker
 * it uses, opened on first use and reconnected on the next session after a drop.
 *
 * @module
 */
import { WorkerLinkClient } from "./worker_link_client.ts";
import { chooseWorker, NoWorkerCapacityError, type PlacementRequest } from "./worker_placement.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import type { RegisteredWorker, WorkerRegistry } from "../store/worker_registry.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";

export { NoWorkerCapacityError };

/**
 * Opens a new session on a worker of `workers`. In a pool, when the chosen worker refuses it
 * (full since it last announced itself, or unreachable: killed and not yet expired), the next is
 * tried, until one takes it or `NoWorkerCapacityError` says none has room. Returns the link that
 * took it; with one configured worker, its refusal is the answer. `excluded` workers (the one a
 * session is moving away from) are not tried.
 */
export async function openOnWorker(
  workers: WorkerLinks,
  open: (link: WorkerLinkClient) => Promise<void>,
  excluded: ReadonlySet<WorkerLinkClient> = new Set(),
): Promise<WorkerLinkClient> {
  const refused = new Set(excluded);
  for (;;) {
    const link = await workers.place(refused);
    try {
      await open(link);
      return link;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      const full = error.code === "capacity_exhausted";
      if (!workers.pooled || !(full || error.code === "worker_unavailable")) {
        throw full ? new NoWorkerCapacityError(error.message, 1) : error;
      }
      refused.add(link);
    }
  }
}

/** Where new sessions get their worker link. */
export interface WorkerLinks {
  /**
   * The link for a new session, other than the `excluded` ones (workers that just refused it).
   * Throws `NoWorkerCapacityError` (with a retry-after) when no worker can take it.
   */
  place(excluded?: ReadonlySet<WorkerLinkClient>): Promise<WorkerLinkClient>;
  /** Whether there are other workers to try when one refuses a session. */
  readonly pooled: boolean;
  /** Links open now, and links held. */
  status(): { connected: number; links: number };
  /** Closes every link. */
  close(): void;
}

/** Every session on one configured worker. */
export class SingleWorkerLinks implements WorkerLinks {
  readonly #link: WorkerLinkClient;

  /**
   * @param url the worker's link endpoint
   * @param log where link events go
   * @param secret the internal links' shared secret
   */
  constructor(url: string, log: Logger, secret?: string) {
    this.#link = new WorkerLinkClient(url, log, secret);
  }

  /** There is no other worker. */
  readonly pooled = false;

  /** The one link. */
  place(): Promise<WorkerLinkClient> {
    return Promise.resolve(this.#link);
  }

  /** Whether the one link is open. */
  status(): { connected: number; links: number } {
    return { connected: this.#link.connected ? 1 : 0, links: 1 };
  }

  /** Disconnects it. */
  close(): void {
    this.#link.disconnect();
  }
}

/** Options of {@linkcode PooledWorkerLinks}. */
export interface PooledWorkerLinksOptions {
  /** The pool's registry. */
  registry: WorkerRegistry;
  /** Contract, region, spill-over order and retry-after of this edge's sessions. */
  placement: PlacementRequest;
  /** Time source (the registry's expiry is read against it). */
  clock: Clock;
  /** Where link events go. */
  log: Logger;
  /** The internal links' shared secret. */
  secret?: string;
}

/** Sessions placed on the pool's workers through the registry. */
export class PooledWorkerLinks implements WorkerLinks {
  readonly #options: PooledWorkerLinksOptions;
  readonly #links = new Map<string, WorkerLinkClient>();
  #reading: Promise<RegisteredWorker[]> | undefined;

  /** @param options registry, placement and clock */
  constructor(options: PooledWorkerLinksOptions) {
    this.#options = options;
  }

  /** Other workers are tried when one refuses. */
  readonly pooled = true;

  /**
   * Chooses a worker for a new session and returns the link to it. The choice is made from a
   * fresh read of the registry and its slot reserved there, so edges placing at the same time
   * see each other's placements (a worker whose last slot another edge took is passed over).
   */
  async place(excluded?: ReadonlySet<WorkerLinkClient>): Promise<WorkerLinkClient> {
    const full = new Set<string>();
    for (;;) {
      const workers = (await this.#workers()).filter((w) => {
        const link = this.#links.get(w.linkUrl);
        return !full.has(w.id) && (!link || !excluded?.has(link));
      });
      const chosen = chooseWorker(workers, this.#options.placement);
      // Placements sharing this read count against it until the next one.
      chosen.freeSlots--;
      if (!await this.#options.registry.reserve(chosen.id)) {
        full.add(chosen.id);
        continue;
      }
      let link = this.#links.get(chosen.linkUrl);
      if (!link) {
        link = new WorkerLinkClient(
          chosen.linkUrl,
          this.#options.log.child(chosen.id),
          this.#options.secret,
        );
        this.#links.set(chosen.linkUrl, link);
      }
      return link;
    }
  }

  /** Links open now, and links held. */
  status(): { connected: number; links: number } {
    const links = [...this.#links.values()];
    return { connected: links.filter((link) => link.connected).length, links: links.length };
  }

  /** Disconnects every link. */
  close(): void {
    for (const link of this.#links.values()) link.disconnect();
  }

  /** The registry's live workers: one read, shared by the placements waiting for it. */
  #workers(): Promise<RegisteredWorker[]> {
    this.#reading ??= this.#options.registry.live(this.#options.clock.now())
      .finally(() => this.#reading = undefined);
    return this.#reading;
  }
}
