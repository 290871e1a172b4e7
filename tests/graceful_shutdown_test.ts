import assert from "node:assert/strict";
import { createSession, ProtocolClient, speechPackets } from "./support/protocol_client.ts";
import { readWav } from "../lib/wav_file.ts";
import { openDatabase } from "../store/database.ts";
import { EventLog } from "../store/event_log.ts";

const speech = readWav(Deno.readFileSync(new URL("./fixtures/speech_16k.wav", import.meta.url)))
  .samples;

Deno.test("SIGTERM finishes the open micro-turn, closes sockets with 1001, flushes events, exits 0", async () => {
  const dataDir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--port=0", "--worker-port=0", `--pglite-dir=${dataDir}`],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    // The edge prints its URL once it listens.
    let output = "";
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let url: string | undefined;
    while (!url) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`main.ts exited before listening:\n${output}`);
      output += value;
      url = /edge listening \{"url":"(http:[^"]+)"/.exec(output)?.[1];
    }
    const drain = (async () => {
      while (!(await reader.read()).done) { /* keep the pipe flowing */ }
    })();

    const { sessionId, token } = await createSession(url);
    const client = await ProtocolClient.connect(url, sessionId, token);
    await client.message("ready");
    // 25 frames: two whole micro-turns and half of a third.
    speechPackets(speech.subarray(16000, 16000 + 25 * 320)).forEach((p) => client.send(p));
    await client.message("output", (o) => o.index === 1);

    child.kill("SIGTERM");
    const closed = await client.message("closed");
    assert.equal(closed.microTurns, 3, "the half-filled micro-turn is finished, not dropped");
    assert.equal((await client.closedWith()).code, 1001);
    const status = await child.status;
    assert.equal(status.code, 0);
    await drain;

    const db = await openDatabase({ pgliteDataDir: dataDir });
    const events = await new EventLog(db).read(sessionId);
    await db.close();
    assert.deepEqual(
      events.map((e) => e.kind),
      ["session_opened", "micro_turn", "micro_turn", "micro_turn", "session_closed"],
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await Deno.remove(dataDir, { recursive: true });
  }
});
