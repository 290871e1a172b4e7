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

Deno.test("text that is not a UUID is refused", () => {
  for (const text of ["", "not-a-uuid", "0000000-0000-0000-0000-0000000000000", "g".repeat(36)]) {
    assert.throws(() => writeUuid(text, new Uint8Array(16), 0), TypeError);
  }
});
