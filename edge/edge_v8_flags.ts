/**
 * The V8 flags an edge process runs with; deploy/ sets them as `DENO_V8_FLAGS` on every edge
 * (systemd unit, Kubernetes manifest), and bench:sockets and bench:soak start their edge with
 * them.
 *
 * The young generation's semi-space is 2 MB, not V8's 16 MB. An edge's garbage is almost all
 * per packet and dies young, but what a scavenge copies grows with the time between scavenges:
 * at 100 sessions a 16 MB semi-space was scavenged every ~0.65 s for 11-16 ms (~2 MB kept),
 * and every session's packets waited behind it; a 2 MB one is scavenged every ~37 ms for
 * ~1.5 ms (0.25 MB kept), for the same share of the core. 1 MB shortens the pause to ~1.1 ms
 * but spends about half as much time again collecting (bench/results/edge-sockets-profile.txt).
 *
 * Garbage is collected on the edge's own thread (`--single-threaded-gc`): an edge is one process
 * a core, so V8's helper threads could only take turns with it on that core, and the handing over
 * cost CPU. Eight pairs at 100 sessions (bench:sockets, interleaved): edge CPU 0.925x (pairwise
 * median), overhead p99 no worse in seven and lower in four.
 *
 * @module
 */

/** `DENO_V8_FLAGS` of an edge process. */
export const EDGE_V8_FLAGS = "--max-semi-space-size=2,--single-threaded-gc";
