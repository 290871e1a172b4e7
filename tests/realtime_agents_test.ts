import assert from "node:assert/strict";
import { RealtimeAgent, RealtimeSession } from "@openai/agents-realtime";
import { mintRealtimeKey, speechAt, withRealtimeSystem } from "./support/realtime_system.ts";
import { encodeFormat } from "../edge/realtime/audio_formats.ts";

Deno.test({
  name:
    "the OpenAI Agents SDK's RealtimeSession over its WebSocket transport, unmodified: connects with this edge's key, configures the session, streams speech and hears the model",
  // The SDK's `ws` socket keeps a timer after close that the sanitizer would flag.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withRealtimeSystem(async (system) => {
      const secret = await mintRealtimeKey(system);
      const agent = new RealtimeAgent({ name: "assistant", instructions: "Be brief." });
      const session = new RealtimeSession(agent, { transport: "websocket", model: "reference" });
      const errors: unknown[] = [];
      const seen = new Set<string>();
      let audioBytes = 0;
      session.on("error", (error) => errors.push(error));
      session.on("audio", (event) => audioBytes += event.data.byteLength);
      session.on("transport_event", (event: { type: string }) => seen.add(event.type));
      await session.connect({
        apiKey: secret.value,
        url: `${system.url.replace("https", "wss")}/v1/realtime?model=reference`,
      });
      const pcm = encodeFormat(
        "audio/pcm",
        speechAt(24_000, 3),
      );
      for (let at = 0; at < pcm.length; at += 4800) {
        session.sendAudio(pcm.slice(at, at + 4800).buffer);
      }
      for (let waited = 0; !seen.has("response.done"); waited += 50) {
        assert.ok(waited < 15_000, `no response.done; saw ${[...seen].join(", ")}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(errors, []);
      assert.ok(seen.has("session.updated"), "the SDK's session.update was accepted");
      assert.ok(seen.has("input_audio_buffer.speech_started"));
      assert.ok(audioBytes > 0, "the SDK played the model's audio");
      assert.ok(
        session.history.some((item) => item.type === "message" && item.role === "assistant"),
        "the SDK's history holds the model's response",
      );
      session.close();
    });
  },
});
