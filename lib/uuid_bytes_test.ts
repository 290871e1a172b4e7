import assert from "node:assert/strict";
import { readUuid, writeUuid } from "./uuid_bytes.ts";

Deno.test("UUIDs round-trip through their 16 bytes, in either case, at any offset", () => {
  for (let k = 0; k < 500; k++) {
    const uuid = crypto.randomUUID();
    const bytes = new Uint8Array(21);
    writeUuid(k % 2 ? uuid.toUpperCase() : uuid, bytes, 5);
    const hex = uuid.replaceAll("-", "");
    for (let i = 0; i < 16; i++) {
      assert.equal(bytes[5 + i], parseInt(hex.slice(2 * i, 2 * i + 2), 16));
    }
    assert.equal(readUuid(bytes, 5), uuid);
  }
  assert.equal(readUuid(new Uint8Array(16).fill(255), 0), "ffffffff-ffff-ffff-ffff-ffffffffffff");
});

Deno.test("ids read again, and ids that share their first bytes (the key of the texts kept), read as their own text", () => {
  const first = "0123abcd-0000-4000-8000-000000000001";
  const twins = [
    first,
    "0123abcd-ffff-4fff-bfff-ffffffffffff",
    "4123abcd-0000-4000-8000-000000000001",
  ];
  const bytes = twins.map((uuid) => {
    const into = new Uint8Array(16);
    writeUuid(uuid, into, 0);
    return into;
  });
  for (let round = 0; round < 3; round++) {
    twins.forEach((uuid, i) => assert.equal(readUuid(bytes[i], 0), uuid));
  }
});

Deno.test("text that is not a UUID is refused", () => {
  for (const text of ["", "not-a-uuid", "0000000-0000-0000-0000-0000000000000", "g".repeat(36)]) {
    assert.throws(() => writeUuid(text, new Uint8Array(16), 0), TypeError);
  }
});
