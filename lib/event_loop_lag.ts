/**
 * How late the event loop runs what is due: a timer set every `intervalMs` reports how much
 * later than due it ran. Everything a process does waits behind whatever holds its one
 * JavaScript thread (a long task, a garbage collection, a burst of messages), so this lag is
 * the delay the process adds to every packet and timer at that moment: the first number to
 * read when a real-time path's latency tail grows.
 *
 * @module
 */

/** Default milliseconds between measurements: 100 a second, a few microseconds each. */
export const EVENT_LOOP_LAG_INTERVAL_MS = 10;

/**
 * Calls `onLag` with each measurement (ms late, never negative) until `signal` aborts. The
 * timer does not keep the process alive.
 */
export function watchEventLoopLag(
  onLag: (lagMs: number) => void,
  options: { signal: AbortSignal; intervalMs?: number },
): void {
  const intervalMs = options.intervalMs ?? EVENT_LOOP_LAG_INTERVAL_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const due = performance.now() + intervalMs;
    timer = setTimeout(() => {
      onLag(Math.max(0, performance.now() - due));
      if (!options.signal.aborted) arm();
    }, intervalMs);
    Deno.unrefTimer(timer);
  };
  if (options.signal.aborted) return;
  options.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  arm();
}
