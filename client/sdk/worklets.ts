/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The SDK's two AudioWorklet processors, as source text loaded through a Blob URL (a worklet
 * module must be its own script; keeping them here keeps the SDK one bundle).
 *
 * - `capture`: posts each render quantum of the microphone (mono Float32) to the main thread.
 * - `playout`: a small playout buffer for the model's audio: the main thread pushes decoded
 *   samples; the processor plays them, outputs silence when it runs dry (counting an
 *   underrun when the audio that comes next continues a talkspurt, not when it starts one
 *   after the model's silence), and reports how much audio it holds.
 *
 * @module
 */

const SOURCE = `
class CaptureProcessor extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("capture", CaptureProcessor);

class PlayoutProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunks = [];
    this.offset = 0;
    this.held = 0;
    this.underruns = 0;
    this.played = 0;
    this.ticks = 0;
    this.dry = false;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.chunks = [];
        this.held = 0;
        this.offset = 0;
        return;
      }
      const { samples, continues } = event.data;
      // Ran dry, then audio that continues the talkspurt came: it was late (an underrun).
      // Audio that starts a talkspurt after silence is no underrun.
      if (this.dry && continues) this.underruns++;
      this.dry = false;
      this.chunks.push(samples);
      this.held += samples.length;
    };
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    let filled = 0;
    while (filled < out.length && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const take = Math.min(out.length - filled, chunk.length - this.offset);
      out.set(chunk.subarray(this.offset, this.offset + take), filled);
      filled += take;
      this.offset += take;
      this.held -= take;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    if (filled > 0) this.played += filled;
    if (filled < out.length && this.played > 0) this.dry = true;
    if (++this.ticks % 50 === 0) {
      this.port.postMessage({ heldSamples: this.held, played: this.played, underruns: this.underruns });
    }
    return true;
  }
}
registerProcessor("playout", PlayoutProcessor);
`;

let moduleUrl: string | undefined;

/** Registers the processors on `context` (once per context). */
export async function loadWorklets(context: AudioContext): Promise<void> {
  moduleUrl ??= URL.createObjectURL(new Blob([SOURCE], { type: "text/javascript" }));
  await context.audioWorklet.addModule(moduleUrl);
}
