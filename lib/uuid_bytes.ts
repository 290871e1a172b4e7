/**
 * UUID text <-> 16 bytes, for binary frames that carry session ids. Both run for every frame
 * of the worker link, so they work on character codes: building the text from a string per
 * byte was 4 % of what an edge allocated.
 *
 * @module
 */

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where each byte's two hex digits go in the text (the dashes are at 8, 13, 18 and 23). */
const DIGIT_AT = Uint8Array.from(
  { length: 16 },
  (_, i) => 2 * i + (i >= 4 ? 1 : 0) + (i >= 6 ? 1 : 0) + (i >= 8 ? 1 : 0) + (i >= 10 ? 1 : 0),
);
const HEX_CODES = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** The text being read, as character codes, its dashes in place. */
const uuidCodes = Uint8Array.from("00000000-0000-0000-0000-000000000000", (c) => c.charCodeAt(0));

/** True for a canonical 8-4-4-4-12 hex UUID. */
export function isUuid(text: string): boolean {
  return UUID_PATTERN.test(text);
}

/** Writes a UUID's 16 bytes at `offset`; throws `TypeError` for text that is not a UUID. */
export function writeUuid(uuid: string, into: Uint8Array, offset: number): void {
  if (!isUuid(uuid)) throw new TypeError(`not a UUID: ${JSON.stringify(uuid)}`);
  for (let i = 0; i < 16; i++) {
    const at = DIGIT_AT[i];
    into[offset + i] = (hexValue(uuid.charCodeAt(at)) << 4) | hexValue(uuid.charCodeAt(at + 1));
  }
}

/**
 * Texts read lately, by their first bytes: a link carries the same few hundred session ids
 * thousands of times a second, and building each frame's text afresh was 3 % of what an edge
 * allocated. A key two ids share holds the newer one.
 */
const recentTexts = new Map<number, string>();
/** Texts kept at most; past it the map starts over. */
const MAX_RECENT_TEXTS = 4096;

/** Reads 16 bytes at `offset` as lowercase UUID text. */
export function readUuid(from: Uint8Array, offset: number): string {
  // 30 bits, so the key is a small integer for V8.
  const key = (from[offset] & 0x3f) << 24 | from[offset + 1] << 16 | from[offset + 2] << 8 |
    from[offset + 3];
  const known = recentTexts.get(key);
  if (known !== undefined && spells(known, from, offset)) return known;
  for (let i = 0; i < 16; i++) {
    const byte = from[offset + i];
    uuidCodes[DIGIT_AT[i]] = HEX_CODES[byte >> 4];
    uuidCodes[DIGIT_AT[i] + 1] = HEX_CODES[byte & 15];
  }
  const text = String.fromCharCode.apply(null, uuidCodes as unknown as number[]);
  if (recentTexts.size >= MAX_RECENT_TEXTS) recentTexts.clear();
  recentTexts.set(key, text);
  return text;
}

/** Whether `text` is the lowercase UUID text of the 16 bytes at `offset`. */
function spells(text: string, bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 16; i++) {
    const byte = bytes[offset + i];
    const at = DIGIT_AT[i];
    if (text.charCodeAt(at) !== HEX_CODES[byte >> 4]) return false;
    if (text.charCodeAt(at + 1) !== HEX_CODES[byte & 15]) return false;
  }
  return true;
}

/** The value of a hex digit's character code (the text is known to be hex). */
function hexValue(code: number): number {
  // '0'-'9' are 48-57; 'a'-'f' 97-102 and 'A'-'F' 65-70, whose low bits count from 1.
  return code <= 57 ? code - 48 : (code & 7) + 9;
}
