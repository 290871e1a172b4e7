/**
 * Estimates how long to wait for late audio, after libwebrtc NetEq's delay manager: each
 * packet's relative arrival delay (arrival minus media time, relative to the fastest packet
 * of the last `baseWindowMs`) enters a histogram whose older mass fades by a forgetting
 * factor, and the target delay is a high quantile of that histogram. Measuring against the
 * fastest recent packet rather than the first one makes the estimate follow clock drift
 * between sender and edge.
 *
 * The defaults were chosen with bench:jitter over its synthetic profiles and six recorded
 * cellular uplinks (bench/traces/), with 20 ms and 100 ms packets: a long memory (~40 s of
 * media, whatever the packetization) and a 5 s base window keep the target from chasing each
 * swing of a cellular link's delay, which a fixed delay does better; the 98th percentile trades
 * a little delay for fewer late frames. The target is a longest wait, not a delay every
 * micro-turn pays: a micro-turn whose audio is complete closes at once, so a target left high
 * after the network improved costs nothing until a packet is late.
 *
 * A mobile handover looks like one huge delay (a stall, then a burst): such isolated spikes
 * are counted but kept out of the histogram, so one stall does not inflate the delay for the
 * following seconds. Spikes that recur within `spikeMemoryMs` are the network's normal
 * behaviour and do enter it.
 *
 * Two bounds keep a conversation live through a long outage (recorded uplinks hold audio back
 * for 15 s and more, then drain the backlog for as long again): the base rises at most
 * `baseRiseMsPerS` (drift and path changes are slow; following the fastest packet of a
 * backlog would put every later deadline seconds behind), and the target is at most
 * `maxDelayMs` (audio later than that is concealed and delivered late instead of waited for).
 *
 * @module
 */

import { AUDIO_FRAME_MS } from "../protocol/media_format.ts";
import { SlidingMinimum } from "../lib/sliding_minimum.ts";

/** Tuning of {@linkcode ArrivalDelayEstimator}; every field has a default. */
export interface ArrivalDelayOptions {
  /** Fraction of packets the target delay should cover. Default 0.98. */
  quantile?: number;
  /**
   * Weight each older observation keeps per 20 ms of media that a new packet carries, so the
   * memory is the same whatever the packetization. Default 0.9995 (~40 s).
   */
  forgetFactor?: number;
  /** Histogram resolution in ms. Default 2. */
  bucketMs?: number;
  /** Largest target delay, in ms (the histogram's top bucket). Default 1000. */
  maxDelayMs?: number;
  /** Window over which the fastest packet defines zero delay, in ms. Default 5000. */
  baseWindowMs?: number;
  /**
   * Fastest the base may rise, ms per second of arrivals. The fastest packet of the window
   * rises with clock drift and path changes; after an outage it rises by the whole backlog,
   * and following it would put every later deadline that far behind. Default 10.
   */
  baseRiseMsPerS?: number;
  /** Target used until `warmupPackets` were seen, in ms. Default 60. */
  initialTargetMs?: number;
  /** Packets observed before the histogram decides. Default 25. */
  warmupPackets?: number;
  /** A delay this far above the target is a spike, in ms. Default 150. */
  spikeThresholdMs?: number;
  /** Spikes closer together than this are recurring and count, in ms. Default 20000. */
  spikeMemoryMs?: number;
  /**
   * How long after its start a spike may go on below its threshold, down to the target (the
   * burst that drains a stall), in ms. Default 500.
   */
  spikeDrainMs?: number;
  /**
   * How long a spike may last and still be kept out, in ms: delays that stay high longer are
   * the network's new behaviour (with the base's slow rise, a path that got slower) and enter
   * the histogram from then on. Default 3000.
   */
  spikeMaxMs?: number;
}

/** What the estimator has seen. */
export interface ArrivalDelayStats {
  /** Current target delay, ms. */
  targetDelayMs: number;
  /** Packets observed. */
  observed: number;
  /** Isolated delay spikes kept out of the histogram. */
  spikes: number;
}

/** Tracks arrival delay and proposes a target delay; see the module doc. */
export class ArrivalDelayEstimator {
  readonly #quantile: number;
  readonly #forget: number;
  readonly #bucketMs: number;
  readonly #baseRisePerMs: number;
  readonly #initialTargetMs: number;
  readonly #warmup: number;
  readonly #spikeThresholdMs: number;
  readonly #spikeMemoryMs: number;
  readonly #spikeDrainMs: number;
  readonly #spikeMaxMs: number;
  readonly #buckets: Float64Array;
  #weight = 1;
  #total = 0;
  #target: number;
  #observed = 0;
  #spikes = 0;
  /** The fastest packet's offset over the base window. */
  readonly #fastest: SlidingMinimum;
  #base: number;
  /** Arrival time at which the base was last set; -Infinity after a rebase. */
  #baseAtMs = -Infinity;
  #inSpike = false;
  #lastSpikeAtMs = -Infinity;
  /** Whether the spike in progress recurs and so enters the histogram. */
  #spikeCounts = false;

  /**
   * @param initialBaseMs the offset (arrival minus media time) assumed before any packet
   * @param options tuning
   */
  constructor(initialBaseMs: number, options: ArrivalDelayOptions = {}) {
    this.#quantile = options.quantile ?? 0.98;
    this.#forget = options.forgetFactor ?? 0.9995;
    this.#bucketMs = options.bucketMs ?? 2;
    this.#fastest = new SlidingMinimum(options.baseWindowMs ?? 5000);
    this.#baseRisePerMs = (options.baseRiseMsPerS ?? 10) / 1000;
    this.#initialTargetMs = options.initialTargetMs ?? 60;
    this.#warmup = options.warmupPackets ?? 25;
    this.#spikeThresholdMs = options.spikeThresholdMs ?? 150;
    this.#spikeMemoryMs = options.spikeMemoryMs ?? 20_000;
    this.#spikeDrainMs = options.spikeDrainMs ?? 500;
    this.#spikeMaxMs = options.spikeMaxMs ?? 3000;
    this.#buckets = new Float64Array(Math.ceil((options.maxDelayMs ?? 1000) / this.#bucketMs));
    this.#target = this.#initialTargetMs;
    this.#base = initialBaseMs;
  }

  /** Offset of the fastest recent packet: arrival minus media time, ms. */
  get baseMs(): number {
    return this.#base;
  }

  /** Current target delay above the base, ms. */
  get targetDelayMs(): number {
    return this.#target;
  }

  /** Counters. */
  get stats(): ArrivalDelayStats {
    return { targetDelayMs: this.#target, observed: this.#observed, spikes: this.#spikes };
  }

  /** Starts the base afresh at `offsetMs` (the sender's media clock was re-anchored). */
  rebase(offsetMs: number): void {
    this.#base = offsetMs;
    this.#baseAtMs = -Infinity;
    this.#fastest.clear();
  }

  /**
   * Records one packet whose media ends at `mediaEndMs`, lasts `mediaMs` (20 ms unless given)
   * and arrived at `arrivalMs`.
   */
  observe(mediaEndMs: number, arrivalMs: number, mediaMs = AUDIO_FRAME_MS): void {
    const offset = arrivalMs - mediaEndMs;
    this.#base = Math.min(
      this.#fastest.push(arrivalMs, offset),
      this.#base + (arrivalMs - this.#baseAtMs) * this.#baseRisePerMs,
    );
    this.#baseAtMs = arrivalMs;
    this.#observed++;

    const delay = offset - this.#base;
    // A spike starts `spikeThresholdMs` above the target and, for up to `spikeDrainMs`, lasts
    // until the delay is back within the target: the burst that drains a stall is part of it.
    // A network that stays slower ends it there, and its next spike recurs and counts.
    const draining = this.#inSpike && arrivalMs - this.#lastSpikeAtMs < this.#spikeDrainMs;
    const spike = this.#observed > this.#warmup &&
      delay > this.#target + (draining ? 0 : this.#spikeThresholdMs);
    if (!spike) {
      this.#inSpike = false;
    } else if (!this.#inSpike) {
      this.#inSpike = true;
      this.#spikeCounts = arrivalMs - this.#lastSpikeAtMs < this.#spikeMemoryMs;
      this.#lastSpikeAtMs = arrivalMs;
      if (!this.#spikeCounts) this.#spikes++;
    } else if (arrivalMs - this.#lastSpikeAtMs > this.#spikeMaxMs) {
      this.#spikeCounts = true;
    }
    if (spike && !this.#spikeCounts) return;
    this.#add(delay, mediaMs);
  }

  #add(delay: number, mediaMs: number): void {
    this.#weight /= this.#forget ** (mediaMs / AUDIO_FRAME_MS);
    if (this.#weight > 1e200) {
      for (let i = 0; i < this.#buckets.length; i++) this.#buckets[i] /= this.#weight;
      this.#total /= this.#weight;
      this.#weight = 1;
    }
    const bucket = Math.min(
      this.#buckets.length - 1,
      Math.max(0, Math.floor(delay / this.#bucketMs)),
    );
    this.#buckets[bucket] += this.#weight;
    this.#total += this.#weight;
    if (this.#observed < this.#warmup) return;
    const wanted = this.#quantile * this.#total;
    let sum = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      sum += this.#buckets[i];
      if (sum >= wanted) {
        this.#target = (i + 1) * this.#bucketMs;
        return;
      }
    }
  }
}
