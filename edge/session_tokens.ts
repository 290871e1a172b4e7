/**
 * Session tokens: `v1.<payload>.<signature>`, base64url, HMAC-SHA256 over the payload
 * `{"sid": session id, "exp": expiry in ms since the epoch}`. Minted by `POST /v1/sessions`,
 * checked on every connection.
 *
 * @module
 */
import { ProtocolError } from "../protocol/error_codes.ts";
import type { Clock } from "../lib/clock.ts";

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** What a token may be used for: opening a session's first connection, or resuming it. */
export type TokenPurpose = "connect" | "resume";

/** Mints and verifies session tokens with one secret. */
export class SessionTokens {
  #key: Promise<CryptoKey>;
  #clock: Clock;

  /**
   * @param secret the HMAC secret every edge of a deployment shares
   * @param clock the time expiry is judged by
   */
  constructor(secret: string, clock: Clock) {
    this.#clock = clock;
    this.#key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
  }

  /**
   * Mints a token for `sessionId` that expires `ttlSeconds` from now. A `resume` token lets a
   * client that lost its connection reattach to its live session; it opens nothing else.
   */
  async mint(
    sessionId: string,
    ttlSeconds: number,
    purpose: TokenPurpose = "connect",
  ): Promise<{ token: string; expiresAt: Date }> {
    const exp = this.#clock.now() + ttlSeconds * 1000;
    const claims = purpose === "connect"
      ? { sid: sessionId, exp }
      : { sid: sessionId, exp, use: purpose };
    const payload = base64url(encoder.encode(JSON.stringify(claims)));
    const signature = await crypto.subtle.sign("HMAC", await this.#key, encoder.encode(payload));
    return {
      token: `v1.${payload}.${base64url(new Uint8Array(signature))}`,
      expiresAt: new Date(exp),
    };
  }

  /** Checks a `purpose` token for `sessionId`; throws a `ProtocolError("unauthorized")` naming why. */
  async verify(
    token: string | undefined,
    sessionId: string,
    purpose: TokenPurpose = "connect",
  ): Promise<void> {
    if (!token) throw new ProtocolError("unauthorized", "no token");
    const [version, payload, signature, extra] = token.split(".");
    if (version !== "v1" || !payload || !signature || extra !== undefined) {
      throw new ProtocolError("unauthorized", "token is not a v1 session token");
    }
    let claims: { sid?: unknown; exp?: unknown; use?: unknown };
    try {
      const valid = await crypto.subtle.verify(
        "HMAC",
        await this.#key,
        fromBase64url(signature),
        encoder.encode(payload),
      );
      if (!valid) throw new ProtocolError("unauthorized", "token signature is invalid");
      claims = JSON.parse(new TextDecoder().decode(fromBase64url(payload)));
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      throw new ProtocolError("unauthorized", "token is not decodable");
    }
    if ((claims.use ?? "connect") !== purpose) {
      throw new ProtocolError("unauthorized", `token is not a ${purpose} token`);
    }
    if (claims.sid !== sessionId) {
      throw new ProtocolError("unauthorized", "token is for another session");
    }
    if (typeof claims.exp !== "number" || claims.exp <= this.#clock.now()) {
      throw new ProtocolError("unauthorized", "token expired");
    }
  }
}
