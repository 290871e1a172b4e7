/**
 * Ids of Realtime protocol objects (events, items, responses, calls), as OpenAI's look:
 * a prefix, `_`, and 22 random characters.
 *
 * @module
 */

/** A new id with `prefix` (`event`, `item`, `resp`, `call`). */
export function newId(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 22)}`;
}
