/**
 * The V8 flags an edge process runs with; deploy/ sets them as `DENO_V8_FLAGS` on every edge
 * (systemd unit, Kubernetes manifest), and bench:sockets and bench:soak start their edge with
 * them.
 *
 * The young generation's semi-space is 8 MB, not V8's 16 MB. An edge's garbage is almost all
 * per packet and dies young, but what a scavenge copies grows with the time between scavenges:
 * at 100 sessions a 16 MB semi-space was scavenged every ~0.65 s for 11-16 ms (~2 MB kept), and
 * every session's packets waited behind it, so edges ran with 2 MB (scavenged every ~37 ms for
 * ~1.5 ms). Since packets carry 100 ms of audio, the pacer sends up to 100 ms a packet and the
 * event log writes five transactions a second, there is a quarter less garbage, and what a
 * micro-turn holds for its 200 ms (its output's frames in the pacer, its row in the event log)
 * outlived a 2 MB young generation and was promoted, so full collections came every ~3 s; 8 MB
 * lets it die young. Three rounds at 120 sessions (bench:sockets, 2/4/8 MB interleaved): p99
 * assembly lag 6.7-7.9 ms with 8 MB against 8.4-19.0 with 2 MB, overhead p99 12.6-14.8 against
 * 17.0-35.6 (bench/results/edge-sockets-profile.txt).
 *
 * Garbage is collected on the edge's own thread (`--single-threaded-gc`): an edge is one process
 * a core, so V8's helper threads could only take turns with it on that core, and the handing over
 * cost CPU. Eight pairs at 100 sessions (bench:sockets, interleaved): edge CPU 0.925x (pairwise
 * median), overhead p99 no worse in seven and lower in four.
 *
 * @module
 */

/** `DENO_V8_FLAGS` of an edge process. */
export const EDGE_V8_FLAGS = "--max-semi-space-size=8,--single-threaded-gc";
