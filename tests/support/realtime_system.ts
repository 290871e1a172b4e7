/**
 * What the Realtime API tests share: the system over HTTPS/WSS (the official clients connect
 * over `wss:` only; `deno task test` trusts the test CA), a key minted the way a client's server
 * would, and the speech fixture at the protocol's 24 kHz.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestSystem, type TestSystem } from "./test_system.ts";
import { speechFixture } from "./speech_fixture.ts";
import { ManualClock } from "../../lib/clock.ts";
import { Resampler } from "../../edge/realtime/audio_formats.ts";
import type { Database } from "../../store/database.ts";
import { TEST_DATABASE_TARGETS } from "./test_databases.ts";

/** Edge and worker over TLS with the test certificate, their clock manual. */
function startRealtimeSystem(db: Database): Promise<TestSystem> {
  return startTestSystem(db, {
    clock: new ManualClock(Date.now()),
    config: {
      tlsCertFile: "tests/fixtures/tls/server.pem",
      tlsKeyFile: "tests/fixtures/tls/server.key",
    },
  });
}

/**
 * Runs `body` against a Realtime system on a fresh database (the first test target); closes
 * both afterwards, whatever happens (closing a system twice is harmless).
 */
export async function withRealtimeSystem(
  body: (system: TestSystem, db: Database) => Promise<void>,
): Promise<void> {
  const db = await TEST_DATABASE_TARGETS[0].open();
  const system = await startRealtimeSystem(db);
  try {
    await body(system, db);
  } finally {
    await system.close();
    await db.close();
  }
}

/** A key for a new Realtime session, from `POST /v1/realtime/client_secrets`. */
export async function mintRealtimeKey(
  system: TestSystem,
): Promise<{ value: string; session: { id: string } }> {
  const minted = await fetch(`${system.url}/v1/realtime/client_secrets`, {
    method: "POST",
    body: JSON.stringify({ expires_after: { anchor: "created_at", seconds: 600 } }),
  });
  assert.equal(minted.status, 200);
  const secret = await minted.json();
  assert.match(secret.value, /^ek_/);
  return secret;
}

/** The speech fixture's first `seconds`, at `rateHz` (24 kHz: the protocol's pcm16). */
export function speechAt(rateHz: number, seconds: number): Int16Array {
  return new Resampler(16_000, rateHz).push(speechFixture().subarray(0, 16_000 * seconds));
}
