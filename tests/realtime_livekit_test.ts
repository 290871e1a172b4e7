import assert from "node:assert/strict";
import * as openai from "@livekit/agents-plugin-openai";
import { initializeLogger } from "@livekit/agents";
import { AudioFrame } from "@livekit/rtc-node";
import { mintRealtimeKey, speechAt, withRealtimeSystem } from "./support/realtime_system.ts";

Deno.test({
  name:
    "LiveKit Agents' OpenAI realtime plugin, unmodified (it speaks the beta dialect): speech in, the user's speech detected, generations with the model's audio out",
  // The plugin's socket and LiveKit's native bindings keep handles the sanitizers would flag.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    initializeLogger({ pretty: false, level: "warn" });
    await withRealtimeSystem(async (system) => {
      const secret = await mintRealtimeKey(system);
      const model = new openai.realtime.RealtimeModel({
        baseURL: `${system.url}/v1`,
        apiKey: secret.value,
        model: "reference",
      });
      const session = model.session();
      const errors: unknown[] = [];
      let speechStarted = 0;
      let generations = 0;
      let audioFrames = 0;
      session.on("error", (error: unknown) => errors.push(error));
      session.on("input_speech_started", () => speechStarted++);
      session.on("generation_created", async (generation: { messageStream: ReadableStream }) => {
        generations++;
        for await (const message of generation.messageStream) {
          for await (const _frame of message.audioStream) audioFrames++;
        }
      });
      const speech = speechAt(24_000, 3);
      for (let at = 0; at + 2400 <= speech.length; at += 2400) {
        session.pushAudio(new AudioFrame(speech.slice(at, at + 2400), 24_000, 1, 2400));
      }
      for (let waited = 0; audioFrames === 0; waited += 50) {
        assert.ok(waited < 15_000, `no audio: ${generations} generations, ${speechStarted} starts`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(errors, []);
      assert.ok(speechStarted > 0, "the plugin heard the user start speaking");
      assert.ok(generations > 0);
      await session.close();
    });
  },
});
