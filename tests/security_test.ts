/**
 * Who may do what, outside dev mode: operators create sessions with an API key or a JWT and
 * own them; one owner cannot reach another's sessions; the worker's link and endpoints want
 * the internal secret; bodies, creations and live sessions are limited.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { TEST_DATABASE_TARGETS } from "./support/test_databases.ts";
import { startTestSystem, type TestSystem } from "./support/test_system.ts";
import { ProtocolClient } from "./support/protocol_client.ts";
import { ApiKeyStore } from "../store/api_keys.ts";
import { SessionStore } from "../store/session_store.ts";
import { ManualClock } from "../lib/clock.ts";
import type { Database } from "../store/database.ts";

const WORKER_SECRET = "w0rker-Link-Secret-9f8e7d6c5b4a3210";
const JWT_SECRET = "jwt-Operator-Secret-0a1b2c3d4e5f6789";

/** A system outside dev mode, with `config` over the defaults. */
async function secureSystem(
  db: Database,
  config: Record<string, unknown> = {},
  clock = new ManualClock(Date.now()),
) {
  const jwtKeyFile = await Deno.makeTempFile();
  await Deno.writeTextFile(jwtKeyFile, JWT_SECRET);
  return await startTestSystem(db, {
    clock,
    config: {
      devMode: "false",
      workerSecret: WORKER_SECRET,
      jwtIssuer: "https://operator.example",
      jwtKeyFile,
      ...config,
    },
  });
}

/** Runs `body` against a fresh system outside dev mode on `target`'s database, then closes both. */
async function withSecureSystem(
  target: (typeof TEST_DATABASE_TARGETS)[number],
  config: Record<string, unknown>,
  body: (system: TestSystem, db: Database, clock: ManualClock) => Promise<void>,
): Promise<void> {
  const db = await target.open();
  const clock = new ManualClock(Date.now());
  const system = await secureSystem(db, config, clock);
  try {
    await body(system, db, clock);
  } finally {
    await system.close();
    await db.close();
  }
}

/** A key of owner `o` that may create sessions. */
async function creatorKey(db: Database): Promise<string> {
  return (await new ApiKeyStore(db).create({ name: "t", owner: "o", scopes: ["sessions:create"] }))
    .key;
}

async function create(
  system: TestSystem,
  credential?: string,
  body?: unknown,
  forwardedFor?: string,
) {
  const headers: Record<string, string> = {};
  if (credential) headers.authorization = `Bearer ${credential}`;
  if (forwardedFor) headers["x-forwarded-for"] = forwardedFor;
  const response = await fetch(`${system.url}/v1/sessions`, {
    method: "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: await response.json(),
  };
}

for (const target of TEST_DATABASE_TARGETS) {
  Deno.test({
    name: `[${target.name}] operators' credentials create sessions and own them`,
    ignore: target.ignore,
    fn: () =>
      withSecureSystem(target, {}, async (system, db) => {
        const keys = new ApiKeyStore(db);
        const acme = await keys.create({ name: "t", owner: "acme", scopes: ["sessions:create"] });
        const deleteOnly = await keys.create({
          name: "t",
          owner: "acme",
          scopes: ["sessions:delete"],
        });
        assert.equal((await create(system)).status, 401);
        assert.equal((await create(system, "isk_0000000000000000_" + "0".repeat(64))).status, 401);
        assert.equal((await create(system, deleteOnly.key)).status, 403);
        const owned = await create(system, acme.key, { owner: "someone-else" });
        assert.equal(owned.status, 400);
        assert.match(owned.body.message, /owner comes from the credential/);
        const made = await create(system, acme.key);
        assert.equal(made.status, 201);
        assert.equal((await new SessionStore(db).get(made.body.sessionId))?.owner, "acme");
        // The session token opens the session.
        const client = await ProtocolClient.connect(
          system.url,
          made.body.sessionId,
          made.body.token,
        );
        await client.message("ready");
        client.close();
        // Revoked: refused from then on.
        assert.equal(await keys.revoke(acme.record.id), true);
        assert.equal((await create(system, acme.key)).status, 401);

        // JWTs from the operator's backend: owner from `sub`, grants from `scope`.
        const secret = new TextEncoder().encode(JWT_SECRET);
        const jwt = (claims: { aud?: string; exp?: number; scope?: string }) =>
          new SignJWT({ scope: claims.scope ?? "sessions:create" })
            .setProtectedHeader({ alg: "HS256" })
            .setIssuer("https://operator.example")
            .setAudience(claims.aud ?? "interaction-serving")
            .setSubject("user-42")
            .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 60)
            .sign(secret);
        const byJwt = await create(system, await jwt({}));
        assert.equal(byJwt.status, 201);
        assert.equal((await new SessionStore(db).get(byJwt.body.sessionId))?.owner, "user-42");
        assert.equal((await create(system, await jwt({ aud: "another-service" }))).status, 401);
        assert.equal(
          (await create(system, await jwt({ exp: Math.floor(Date.now() / 1000) - 60 }))).status,
          401,
        );
        assert.equal((await create(system, await jwt({ scope: "sessions:delete" }))).status, 403);
      }),
  });

  Deno.test({
    name: `[${target.name}] one owner cannot connect to, resume or delete another's session`,
    ignore: target.ignore,
    fn: () =>
      withSecureSystem(target, {}, async (system, db) => {
        const keys = new ApiKeyStore(db);
        const scopes = ["sessions:create", "sessions:delete"] as const;
        const a = await keys.create({ name: "a", owner: "owner-a", scopes });
        const b = await keys.create({ name: "b", owner: "owner-b", scopes });
        const sessionA = (await create(system, a.key)).body;
        const sessionB = (await create(system, b.key)).body;
        // A's token on B's session: the WebSocket, resume and delete refuse it.
        const intruder = await ProtocolClient.connect(
          system.url,
          sessionB.sessionId,
          sessionA.token,
        );
        assert.equal((await intruder.closedWith()).code, 4401);
        const resume = await fetch(`${system.url}/v1/sessions/${sessionB.sessionId}/resume`, {
          method: "POST",
          headers: { authorization: `Bearer ${sessionA.token}` },
        });
        assert.equal(resume.status, 401);
        await resume.body?.cancel();
        const remove = (session: string, credential: string) =>
          fetch(`${system.url}/v1/sessions/${session}`, {
            method: "DELETE",
            headers: { authorization: `Bearer ${credential}` },
          }).then(async (r) => (await r.body?.cancel(), r.status));
        assert.equal(await remove(sessionB.sessionId, sessionA.token), 401);
        // A's operator key sees no session of B's; B's deletes it.
        assert.equal(await remove(sessionB.sessionId, a.key), 404);
        assert.equal(await remove(sessionB.sessionId, b.key), 204);
        assert.equal(await remove(sessionA.sessionId, sessionA.token), 204);
      }),
  });

  Deno.test({
    name: `[${target.name}] the worker's link and endpoints refuse callers without the secret`,
    ignore: target.ignore,
    fn: () =>
      withSecureSystem(target, {}, async (system, db) => {
        const workerUrl = system.worker.url;
        const completions = (authorization?: string) =>
          fetch(`${workerUrl}/v1/chat/completions`, {
            method: "POST",
            headers: authorization ? { authorization, "content-type": "application/json" } : {},
            body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
          }).then(async (r) => (await r.body?.cancel(), r.status));
        assert.equal(await completions(), 401);
        assert.equal(await completions("Bearer not-the-secret-but-long-enough-0123"), 401);
        assert.equal(await completions(`Bearer ${WORKER_SECRET}`), 200);
        const link = await fetch(`${workerUrl}/v1/link`, { headers: { upgrade: "websocket" } });
        assert.equal(link.status, 401);
        await link.body?.cancel();
        // The edge presents it: a session runs.
        const session = (await create(system, await creatorKey(db))).body;
        const client = await ProtocolClient.connect(system.url, session.sessionId, session.token);
        await client.message("ready");
        client.close();
      }),
  });

  Deno.test({
    name: `[${target.name}] bodies, creations and live sessions are limited, with Retry-After`,
    ignore: target.ignore,
    fn: () =>
      withSecureSystem(target, {
        sessionCreatesPerMinute: 3,
        maxSessionsPerOwner: 1,
      }, async (system, db) => {
        const key = await creatorKey(db);
        const big = await fetch(`${system.url}/v1/sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}` },
          body: "x".repeat(300 * 1024),
        });
        assert.equal(big.status, 413);
        await big.body?.cancel();
        const first = await create(system, key);
        const second = await create(system, key);
        assert.equal(second.status, 201);
        const third = await create(system, key);
        assert.equal(third.status, 201);
        const limited = await create(system, key);
        assert.equal(limited.status, 429);
        assert.ok(Number(limited.retryAfter) >= 1);
        // One live session per owner: the second connection is refused, the first goes on.
        const one = await ProtocolClient.connect(
          system.url,
          first.body.sessionId,
          first.body.token,
        );
        await one.message("ready");
        const two = await ProtocolClient.connect(
          system.url,
          second.body.sessionId,
          second.body.token,
        );
        assert.equal((await two.closedWith()).code, 4429);
        assert.equal(one.closed, undefined);
        one.close();
      }),
  });

  Deno.test({
    name: `[${target.name}] a connection that goes quiet is closed; its session waits for a resume`,
    ignore: target.ignore,
    fn: () =>
      withSecureSystem(target, { clientIdleSeconds: 30 }, async (system, db, clock) => {
        const key = await creatorKey(db);
        const a = (await create(system, key)).body;
        const b = (await create(system, key)).body;
        const quiet = await ProtocolClient.connect(system.url, a.sessionId, a.token);
        const talking = await ProtocolClient.connect(system.url, b.sessionId, b.token);
        const ready = await quiet.message("ready");
        await talking.message("ready");
        clock.advance(20_000);
        talking.send(JSON.stringify({ type: "ping", t: 1 }));
        await talking.message("pong");
        clock.advance(15_000); // the quiet one: 35 s without a message; the other: 15 s
        assert.equal((await quiet.closedWith()).code, 4408);
        assert.ok(quiet.messages.some((m) => m.type === "error" && m.code === "idle_timeout"));
        assert.equal(talking.closed, undefined);
        // The session lives on (the resume window): the client comes back to it.
        const back = await ProtocolClient.resume(system.url, a.sessionId, ready.resumeToken);
        await back.message("ready");
        back.close();
        talking.close();
      }),
  });

  Deno.test({
    name: `[${target.name}] behind trusted proxies the limits are per client, not per proxy`,
    ignore: target.ignore,
    fn: () =>
      withSecureSystem(target, {
        sessionCreatesPerMinute: 1,
        trustedProxyHops: 1,
      }, async (system, db) => {
        const keys = new ApiKeyStore(db);
        const scopes = ["sessions:create"] as const;
        const a = (await keys.create({ name: "a", owner: "a", scopes })).key;
        const b = (await keys.create({ name: "b", owner: "b", scopes })).key;
        const c = (await keys.create({ name: "c", owner: "c", scopes })).key;
        // Two clients behind the same proxy: each has its own budget.
        assert.equal((await create(system, a, undefined, "198.51.100.7")).status, 201);
        assert.equal((await create(system, b, undefined, "203.0.113.9")).status, 201);
        // What a client writes left of the proxy's entry does not buy it another budget (a
        // fresh owner, so only the address's limit can refuse it).
        const spoofed = await create(system, c, undefined, "192.0.2.1, 198.51.100.7");
        assert.equal(spoofed.status, 429);
      }),
  });
}
