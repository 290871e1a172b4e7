import OpenAI from "openai";
import { OpenAIRealtimeWebSocket } from "openai/realtime/websocket";
import { startTestSystem } from "../tests/support/test_system.ts";
import { openDatabase } from "../store/database.ts";
import { migrate } from "../store/migrations.ts";
import { speechFixture } from "../tests/support/speech_fixture.ts";
import { Resampler, encodeFormat } from "../edge/realtime/audio_formats.ts";
import { systemClock } from "../lib/clock.ts";

const db = await openDatabase({ pgliteDataDir: "memory://" });
await migrate(db);
const system = await startTestSystem(db, { clock: systemClock, config: { tlsCertFile: "tests/fixtures/tls/server.pem", tlsKeyFile: "tests/fixtures/tls/server.key" } });
const secret = await (await fetch(`${system.url}/v1/realtime/client_secrets`, { method: "POST" })).json();
console.log("secret", secret.value.slice(0, 50));
const client = new OpenAI({ apiKey: secret.value, baseURL: `${system.url}/v1` });
const rt = new OpenAIRealtimeWebSocket({ model: "reference" }, client);
const events: string[] = [];
rt.on("event", (e: { type: string }) => { events.push(e.type); });
rt.on("error", (e: unknown) => console.log("ERR", e));
await new Promise((r) => rt.socket.addEventListener("open", r));
rt.send({ type: "session.update", session: { type: "realtime", audio: { input: { format: { type: "audio/pcm", rate: 24000 } } } } });
const pcm24 = new Resampler(16000, 24000).push(speechFixture().subarray(0, 16000 * 4));
const bytes = encodeFormat("audio/pcm", pcm24);
for (let at = 0; at < bytes.length; at += 4800) {
  let s = ""; for (const b of bytes.subarray(at, at + 4800)) s += String.fromCharCode(b);
  rt.send({ type: "input_audio_buffer.append", audio: btoa(s) });
  await new Promise((r) => setTimeout(r, 100));
}
await new Promise((r) => setTimeout(r, 3000));
const counts: Record<string, number> = {};
for (const e of events) counts[e] = (counts[e] ?? 0) + 1;
console.log(counts);
rt.close();
await system.close();
await db.close();
