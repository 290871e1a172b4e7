/**
 * The credential of an `Authorization: Bearer <credential>` header.
 *
 * @module
 */

/** The credential of a `Bearer` authorization header; undefined for anything else. */
export function bearerCredential(header: string | undefined): string | undefined {
  return header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
}
