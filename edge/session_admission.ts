/**
 * Who gets in, how often: per-IP and per-owner rate limits on creating sessions, per-IP limits
 * on connection attempts (token buckets refilled by the minute), and caps on live sessions per
 * edge (answered `capacity`, HTTP 503) and per owner (`rate_limited`, HTTP 429), each with
 * the seconds to wait.
 *
 * @module
 */
import { ProtocolError } from "../protocol/error_codes.ts";
import type { Clock } from "../lib/clock.ts";

/** Limits; 0 turns one off. */
export interface AdmissionLimits {
  /** Live sessions on this edge at most. */
  maxLiveSessions: number;
  /** Live sessions of one owner on this edge at most. */
  maxSessionsPerOwner: number;
  /** Session creations per minute per IP, and per owner. */
  sessionCreatesPerMinute: number;
  /** Connection attempts per minute per IP. */
  connectsPerMinute: number;
}

/** Buckets kept at most; past this, full ones are forgotten. */
const MAX_BUCKETS = 100_000;

/** A token bucket per key: `perMinute` tokens, refilled evenly over the minute. */
export class RateLimiter {
  readonly #perMinute: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  /**
   * @param perMinute attempts a key may make per minute (and at once); 0: unlimited
   * @param clock time source
   */
  constructor(perMinute: number, clock: Clock) {
    this.#perMinute = perMinute;
    this.#clock = clock;
  }

  /** Takes one token for `key`; throws `rate_limited` with the wait when there is none. */
  take(key: string, what: string): void {
    if (this.#perMinute === 0) return;
    const now = this.#clock.now();
    const perMs = this.#perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: this.#perMinute, atMs: now };
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + (now - bucket.atMs) * perMs);
    bucket.atMs = now;
    if (bucket.tokens < 1) {
      throw new ProtocolError(
        "rate_limited",
        `too many ${what}; at most ${this.#perMinute} a minute`,
        Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
      );
    }
    bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > MAX_BUCKETS) this.#forgetFull(now, perMs);
  }

  #forgetFull(now: number, perMs: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.atMs) * perMs >= this.#perMinute) this.#buckets.delete(key);
    }
  }
}

/** The edge's admission: rate limits and live-session caps. */
export class SessionAdmission {
  readonly #limits: AdmissionLimits;
  readonly #createsByIp: RateLimiter;
  readonly #createsByOwner: RateLimiter;
  readonly #connectsByIp: RateLimiter;
  readonly #perOwner = new Map<string, number>();

  /**
   * @param limits the limits (0 turns one off)
   * @param clock time source of the rate limits
   */
  constructor(limits: AdmissionLimits, clock: Clock) {
    this.#limits = limits;
    this.#createsByIp = new RateLimiter(limits.sessionCreatesPerMinute, clock);
    this.#createsByOwner = new RateLimiter(limits.sessionCreatesPerMinute, clock);
    this.#connectsByIp = new RateLimiter(limits.connectsPerMinute, clock);
  }

  /** A session creation from `ip` by `owner`; throws `rate_limited` past the limits. */
  create(ip: string, owner: string): void {
    this.#createsByIp.take(ip, "sessions created from this address");
    this.#createsByOwner.take(owner, "sessions created by this owner");
  }

  /** A connection attempt from `ip`; throws `rate_limited` past the limit. */
  connect(ip: string): void {
    this.#connectsByIp.take(ip, "connection attempts from this address");
  }

  /**
   * Admits a live session of `owner` when this edge holds `liveNow`; throws `capacity` (edge
   * full) or `rate_limited` (owner at its cap). Returns its release (idempotent).
   */
  enter(owner: string, liveNow: number): () => void {
    const { maxLiveSessions, maxSessionsPerOwner } = this.#limits;
    if (maxLiveSessions && liveNow >= maxLiveSessions) {
      throw new ProtocolError("capacity", `this edge holds its ${maxLiveSessions} sessions`, 5);
    }
    const count = this.#perOwner.get(owner) ?? 0;
    if (maxSessionsPerOwner && count >= maxSessionsPerOwner) {
      throw new ProtocolError(
        "rate_limited",
        `owner has ${count} live sessions here, the most allowed`,
        5,
      );
    }
    this.#perOwner.set(owner, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#perOwner.get(owner) ?? 1) - 1;
      if (left > 0) this.#perOwner.set(owner, left);
      else this.#perOwner.delete(owner);
    };
  }
}
