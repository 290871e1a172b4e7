/**
 * UUID text <-> 16 bytes, for binary frames that carry session ids.
 *
 * @module
 */

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical 8-4-4-4-12 hex UUID. */
export function isUuid(text: string): boolean {
  return UUID_PATTERN.test(text);
}

/** Writes a UUID's 16 bytes at `offset`; throws `TypeError` for text that is not a UUID. */
export function writeUuid(uuid: string, into: Uint8Array, offset: number): void {
  if (!isUuid(uuid)) throw new TypeError(`not a UUID: ${JSON.stringify(uuid)}`);
  const hex = uuid.replaceAll("-", "");
  for (let i = 0; i < 16; i++) into[offset + i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
}

/** Reads 16 bytes at `offset` as lowercase UUID text. */
export function readUuid(from: Uint8Array, offset: number): string {
  let hex = "";
  for (let i = 0; i < 16; i++) hex += from[offset + i].toString(16).padStart(2, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}
