import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { startTestSystem, type TestSystem } from "./support/test_system.ts";
import type { Database } from "../store/database.ts";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { EventLog } from "../store/event_log.ts";
import {
  blockRms,
  correlation,
  SPEECH_FIXTURE_PATH,
  speechFixture,
} from "./support/speech_fixture.ts";
import type { EdgeSession } from "../edge/edge_session.ts";
import type { JitterStats } from "../pipeline/jitter_buffer.ts";
import type { ClientStats } from "../client/sdk/interaction_client.ts";
import { encodeWav } from "../lib/wav_file.ts";
import { OPUS_PAYLOAD_TYPE, SAMPLE_RATE_HZ } from "../protocol/media_format.ts";
import { parseRtpPacket, RTP_HEADER_BYTES } from "../pipeline/rtp_packet.ts";
import { isEmptyOpusPacket, OpusFrames } from "../pipeline/opus_packet.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const ARTIFACTS = new URL("./artifacts/", import.meta.url);
/** The demo page's client counters, as a page expression. */
const STATS = "demo.client?.stats";

/** Debian's Chromium, headless, with a fake microphone playing `audio` (looped) and a fake camera. */
function launchChromium(audio: string) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${audio}`,
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/**
 * A test of the demo page in Chromium against a whole test system; fails on any page error.
 * Skipped where Chromium is not installed.
 */
function chromiumTest(
  name: string,
  viewport: { width: number; height: number } | undefined,
  body: (context: { page: Page; system: TestSystem; db: Database }) => Promise<void>,
  { config, audio }: {
    config?: Record<string, unknown>;
    /** Writes the fake microphone's WAV file and returns its path; the speech fixture if absent. */
    audio?: () => Promise<string>;
  } = {},
): void {
  Deno.test({
    name,
    ignore: !hasChromium,
    // playwright-core's process pipes outlive the test's bookkeeping.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const db = await TEST_DATABASE_TARGETS[0].open();
      const system = await startTestSystem(db, { config });
      const browser = await launchChromium(audio ? await audio() : SPEECH_FIXTURE_PATH);
      try {
        const page = await browser.newPage(viewport ? { viewport } : {});
        const errors: string[] = [];
        page.on("pageerror", (error) => errors.push(String(error)));
        await body({ page, system, db });
        assert.deepEqual(errors, []);
      } finally {
        await browser.close();
        await system.close();
        await db.close();
      }
    },
  });
}

/** Makes the page keep a copy of every binary message it sends (before the page loads). */
async function recordUplink(page: Page): Promise<void> {
  await page.addInitScript(`(() => {
    const send = WebSocket.prototype.send;
    globalThis.__uplink = [];
    WebSocket.prototype.send = function (data) {
      if (data instanceof Uint8Array) globalThis.__uplink.push(Array.from(data));
      return send.call(this, data);
    };
  })()`);
}

/**
 * Checks the microphone's audio as the page sent it: wideband SILK (the SDK's speech setting,
 * client/sdk/microphone.ts) in 20 ms frames, its silences as empty frames, and on average
 * under 20 kbit/s with the RTP headers.
 */
async function assertUplinkAudio(page: Page): Promise<void> {
  const sent: number[][] = await page.evaluate("globalThis.__uplink");
  const packets = sent.map((bytes) => Uint8Array.from(bytes))
    .filter((bytes) => bytes.length >= RTP_HEADER_BYTES && (bytes[1] & 0x7f) === OPUS_PAYLOAD_TYPE)
    .map(parseRtpPacket);
  const frames = new OpusFrames();
  let empty = 0;
  let speech = 0;
  let bytes = 0;
  for (const packet of packets) {
    bytes += RTP_HEADER_BYTES + packet.payload.length;
    frames.read(packet.payload);
    for (let i = 0; i < frames.count; i++) {
      const frame = new Uint8Array(frames.frameLength(i));
      frames.writeFrame(i, frame, 0);
      if (isEmptyOpusPacket(frame)) {
        empty++;
        continue;
      }
      speech++;
      assert.equal(frame[0] >> 3, 9, `TOC configuration ${frame[0] >> 3}: SILK wideband 20 ms`);
    }
  }
  assert.ok(speech > 0 && empty > 0, `${speech} frames of sound, ${empty} of silence`);
  const kbits = (bytes * 8) / ((speech + empty) * 0.02) / 1000;
  assert.ok(kbits < 20, `${kbits.toFixed(1)} kbit/s`);
}

/**
 * Lets the last acknowledgements land, reads the page's counters, stops the client, waits for
 * the edge to end the session and stop, and reads what the session stored.
 */
async function stopAndRead(
  page: Page,
  system: TestSystem,
  db: Database,
  sessionId: string,
) {
  const session = system.edge.live.get(sessionId) as EdgeSession;
  const client: ClientStats = await page.evaluate(`(async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await demo.client.stop(); // sends the last frames, fewer than a packet, first
    return ${STATS};
  })()`);
  await session.ended;
  await system.close();
  const events = await new EventLog(db).read(sessionId);
  return {
    client,
    events,
    jitter: events.at(-1)!.payload.jitter as JitterStats,
    levels: events.filter((e) => e.kind === "micro_turn")
      .map((e) => (e.payload.input as { level: number }).level),
  };
}

chromiumTest(
  "in Chromium: the demo page talks with a fake microphone and camera, survives a cut, nothing said is lost",
  { width: 1200, height: 820 },
  async ({ page, system, db }) => {
    await recordUplink(page);
    await page.goto(system.url);
    await page.click("#start");
    // The edge hears speech, the model answers, the page decodes and plays its audio.
    await page.waitForFunction(
      `(s => s?.state === "live" && s.decodedFrames >= 30 && s.packetsSent >= 40)(${STATS})`,
      undefined,
      { timeout: 30_000 },
    );
    await page.fill("#say-text", "hello from the browser");
    await page.click("#say button");
    await page.waitForSelector("#transcript li.you");
    // A background task from the page: its card streams and ends succeeded.
    await page.fill("#say-text", "look this up for me");
    await page.click("#delegate");
    await page.waitForSelector('.task .badge[data-status="succeeded"]', { timeout: 20_000 });
    const sessionId: string = await page.evaluate("demo.client.sessionId");
    const session = system.edge.live.get(sessionId) as EdgeSession;

    // Cut the connection from the server side mid-utterance: the page reconnects by itself.
    session.disconnect("network cut (test)");
    await page.waitForFunction(
      `(s => s.reconnects >= 1 && s.state === "live")(${STATS})`,
      undefined,
      { timeout: 20_000 },
    );
    // Talk on a little, with the camera's frames flowing, then stop.
    // (The SDK sends 100 ms of audio a packet.)
    const sentAtResume: number = await page.evaluate(`${STATS}.packetsSent`);
    await page.waitForFunction(`${STATS}.packetsSent >= ${sentAtResume + 20}`, undefined, {
      timeout: 20_000,
    });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL("demo-session.png", ARTIFACTS).pathname });
    // At a phone's width the page reflows to one column: nothing overflows sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow: number = await page.evaluate(
      "document.documentElement.scrollWidth - innerWidth",
    );
    assert.ok(overflow <= 0, `${overflow} px of sideways overflow at 390 px`);
    // The message row's buttons keep their words on one line (they once wrapped a letter a line).
    const buttonHeights: number[] = await page.evaluate(
      `["#start", "#say button[type=submit]", "#delegate"]
        .map((s) => document.querySelector(s).getBoundingClientRect().height)`,
    );
    assert.ok(
      buttonHeights.every((h) => h <= buttonHeights[0] * 1.3),
      `button heights at 390 px: ${buttonHeights}`,
    );
    await page.screenshot({
      path: new URL("demo-phone.png", ARTIFACTS).pathname,
      fullPage: true,
    });
    const { client, events, jitter, levels } = await stopAndRead(page, system, db, sessionId);

    // Every packet the page sent reached the edge exactly once: what was in flight or captured
    // during the cut was replayed, and replays of packets it had were recognised.
    assert.equal(jitter.received, client.packetsSent);
    assert.equal(jitter.expired, 0);
    assert.equal(client.audioEncoder, "webcodecs");
    await assertUplinkAudio(page);
    assert.ok(events.some((e) => e.kind === "connection_lost"));
    assert.ok(events.some((e) => e.kind === "session_resumed"));
    assert.ok(
      events.some((e) => e.kind === "user_text" && e.payload.text === "hello from the browser"),
    );
    assert.ok(client.videoFramesSent >= 2, `${client.videoFramesSent} camera frames`);
    // The edge heard the fixture: its loudness tracks the WAV's, at some lag (it loops).
    // Chromium's fake microphone loops the file: its last partial block runs into the first.
    const wav = blockRms(speechFixture(), true);
    const looped = Array.from(
      { length: levels.length + wav.length },
      (_, i) => wav[i % wav.length],
    );
    let best = -1;
    for (let lag = 0; lag < wav.length; lag++) {
      best = Math.max(best, correlation(levels.slice(0, 30), looped.slice(lag, lag + 30)));
    }
    assert.ok(best > 0.6, `energy envelope correlation ${best.toFixed(2)}`);
  },
);

chromiumTest(
  "in Chromium: the WebAssembly Opus encoder (for browsers without WebCodecs Opus) carries the speech too",
  undefined,
  async ({ page, system, db }) => {
    await recordUplink(page);
    await page.goto(`${system.url}/?opus=wasm`);
    await page.uncheck("#camera");
    await page.click("#start");
    await page.waitForFunction(
      `(s => s?.state === "live" && s.packetsSent >= 30 && s.decodedFrames >= 20)(${STATS})`,
      undefined,
      { timeout: 30_000 },
    );
    const sessionId: string = await page.evaluate("demo.client.sessionId");
    const { client, jitter, levels } = await stopAndRead(page, system, db, sessionId);
    assert.equal(client.audioEncoder, "wasm");
    await assertUplinkAudio(page);
    assert.equal(jitter.received, client.packetsSent, "every wasm-encoded frame arrived");
    assert.ok(Math.max(...levels) > 1, "the edge decoded speech, not silence");
  },
);

/** The trained model's lines (train/speech_corpus.ts): what its transcript may say. */
const TRAINED_MODEL_LINES = [
  "Good question, let me think about it.",
  "I see. Tell me more about that.",
];

/** The speech fixture, then 4 s of silence: a person who speaks and waits for the answer. */
async function speakThenWait(): Promise<string> {
  const speech = speechFixture();
  const samples = new Int16Array(speech.length + 4 * SAMPLE_RATE_HZ);
  samples.set(speech);
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = new URL("speak-then-wait.wav", ARTIFACTS).pathname;
  await Deno.writeFile(path, encodeWav(samples, SAMPLE_RATE_HZ));
  return path;
}

chromiumTest(
  "in Chromium with the trained model: the demo reads like a conversation on a phone and on a desktop",
  { width: 390, height: 844 },
  async ({ page, system }) => {
    await page.goto(system.url);
    await page.click("#start");
    // The person speaks and waits; the model answers in words: its line, a byte per micro-turn.
    const modelLines = `[...document.querySelectorAll("#transcript li.model span")]
      .map((s) => s.textContent.trim()).filter((t) => t.length > 0)`;
    await page.waitForFunction(`${modelLines}.some((t) => t.length >= 12)`, undefined, {
      timeout: 40_000,
    });
    await page.fill("#say-text", "how are you today?");
    await page.click("#say button");
    await page.waitForSelector("#transcript li.you");
    await page.waitForTimeout(3_000);
    await page.screenshot({
      path: new URL("demo-trained-phone.png", ARTIFACTS).pathname,
      fullPage: true,
    });
    await page.setViewportSize({ width: 1200, height: 820 });
    await page.screenshot({ path: new URL("demo-trained-desktop.png", ARTIFACTS).pathname });
    const lines: string[] = await page.evaluate(modelLines);
    // Its transcript is its lines (whole, or cut off where it stopped), not random bytes. The
    // model writes a byte per micro-turn and gets some wrong ("aGout", or "GoodI see." when it
    // changes its mind between lines), so the test reads character trigrams: at least half of
    // the transcript's trigrams occur in its lines (random bytes: none).
    const spoken = lines.join(" ").replace(/\s+/g, " ");
    assert.ok(spoken.length >= 12, `model transcript: ${JSON.stringify(lines)}`);
    const known = TRAINED_MODEL_LINES.join(" ");
    const trigrams = Array.from({ length: spoken.length - 2 }, (_, i) => spoken.slice(i, i + 3));
    const inLines = trigrams.filter((t) => known.includes(t)).length;
    assert.ok(inLines >= 0.5 * trigrams.length, `model transcript: ${JSON.stringify(lines)}`);
    await page.evaluate("demo.client.stop()");
  },
  { config: { model: "trained" }, audio: speakThenWait },
);
