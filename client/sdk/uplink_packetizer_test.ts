import assert from "node:assert/strict";
import { UplinkPacketizer } from "./uplink_packetizer.ts";
import { OpusFrames } from "../../pipeline/opus_packet.ts";

/** A 20 ms frame of configuration `config` (9: SILK wideband; 31: CELT fullband), `n` its data. */
const frame = (n: number, config = 9) => Uint8Array.of(config << 3, n, n);

/** The frames' data bytes of a packet, in order. */
function contents(payload: Uint8Array): number[] {
  const frames = new OpusFrames().read(payload);
  return Array.from({ length: frames.count }, (_, i) => {
    const one = new Uint8Array(frames.frameLength(i));
    frames.writeFrame(i, one, 0);
    return one[1];
  });
}

Deno.test("frames go five to a packet on the stream's 100 ms boundaries, the rest when capture stops", () => {
  const uplink = new UplinkPacketizer();
  const sent: number[][] = [];
  for (let n = 0; n < 12; n++) {
    for (const packet of uplink.push(frame(n))) {
      assert.equal(packet.frames, contents(packet.payload).length);
      sent.push(contents(packet.payload));
    }
    // A packet goes the moment its last frame is taken: after frames 4 and 9.
    assert.equal(sent.length, Math.floor((n + 1) / 5));
  }
  assert.deepEqual(sent, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
  assert.deepEqual(contents(uplink.flush()!.payload), [10, 11]);
  assert.equal(uplink.flush(), undefined);
});

Deno.test("a frame of another configuration sends what was gathered first; the boundaries stay", () => {
  const uplink = new UplinkPacketizer();
  assert.deepEqual(uplink.push(frame(0)), []);
  assert.deepEqual(uplink.push(frame(1)), []);
  const [early] = uplink.push(frame(2, 31));
  assert.deepEqual(contents(early.payload), [0, 1]);
  assert.deepEqual(uplink.push(frame(3, 31)), []);
  const [onTime] = uplink.push(frame(4, 31));
  assert.deepEqual(contents(onTime.payload), [2, 3, 4]);
  assert.equal(onTime.frames, 3);
});

Deno.test("20 ms packets when asked for", () => {
  const uplink = new UplinkPacketizer(20);
  assert.deepEqual(uplink.push(frame(7)).map((p) => contents(p.payload)), [[7]]);
});
