/**
 * What one worker step's outputs cost the edge before the last session's `output` message can
 * go out. A worker steps all its sessions at once, so their outputs reach the edge together;
 * the edge handles them one after another on its one thread. Encoding a micro-turn's ten Opus
 * frames as its output arrives (`encode_at_arrival`, the edge before the pacer encoded each
 * frame as it sends it) makes every later session wait for every earlier one's encode;
 * assigning the frames' RTP headers only (`encode_when_sent`, pipeline/egress_packetizer.ts's
 * `frames`) leaves the encodes to the pacer, one frame per session every 20 ms. Half the
 * sessions speak (the speech fixture), half are silent, as in bench:sockets. The two forms take
 * turns round by round; medians.
 *
 *   deno run -A bench/egress_burst_bench.ts [--sessions=100] [--rounds=40]
 *
 * Writes bench/results/egress-burst.json.
 *
 * @module
 */
import { machineDescription, numberFlag, quantile, writeResult } from "./bench_support.ts";
import { loopSamples, speechFixture } from "../tests/support/speech_fixture.ts";
import { EgressPacketizer } from "../pipeline/egress_packetizer.ts";
import { SAMPLES_PER_MICRO_TURN } from "../protocol/media_format.ts";

const sessions = numberFlag("sessions", 100);
const rounds = numberFlag("rounds", 40);

const speech = loopSamples(speechFixture(), rounds * SAMPLES_PER_MICRO_TURN);
const packetizers = Array.from({ length: sessions }, () => new EgressPacketizer());

/** Milliseconds until every session's output of round `r` is handled by `form`. */
function burst(form: "encode_at_arrival" | "encode_when_sent", r: number): number {
  const audio = speech.subarray(r * SAMPLES_PER_MICRO_TURN, (r + 1) * SAMPLES_PER_MICRO_TURN);
  const started = performance.now();
  for (let s = 0; s < sessions; s++) {
    const silent = s % 2 === 1;
    if (form === "encode_at_arrival") packetizers[s].packetize(audio, silent);
    else packetizers[s].frames(audio, silent);
  }
  return performance.now() - started;
}

const times = { encode_at_arrival: [] as number[], encode_when_sent: [] as number[] };
for (let r = 0; r < rounds; r++) {
  times.encode_at_arrival.push(burst("encode_at_arrival", r));
  times.encode_when_sent.push(burst("encode_when_sent", r));
}
for (const packetizer of packetizers) packetizer.close();

const warm = (list: number[]) => list.slice(5).sort((a, b) => a - b);
const median = (list: number[]) => Number(quantile(warm(list), 0.5).toFixed(3));
const atArrival = median(times.encode_at_arrival);
const whenSent = median(times.encode_when_sent);
const result = {
  machine: machineDescription(),
  sessions,
  speaking: Math.ceil(sessions / 2),
  rounds,
  last_output_after_ms: { encode_at_arrival: atArrival, encode_when_sent: whenSent },
  encode_when_sent_over_at_arrival: Number((whenSent / atArrival).toFixed(4)),
};
console.log(JSON.stringify(result));
await writeResult("egress-burst.json", result);
