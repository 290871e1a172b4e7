/**
 * Bytes as lowercase hex, and SHA-256 digests in that form (migration checksums, API-key hashes,
 * fuzz-crash file names).
 *
 * @module
 */

/** `bytes` as lowercase hex, two digits a byte. */
export function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The SHA-256 of `data` (text as UTF-8) as hex. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}
