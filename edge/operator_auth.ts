/**
 * Who may create sessions: operators, by an API key (store/api_keys.ts) or a JWT their own
 * backend signed (verified with npm `jose`: issuer, audience, expiry; the owner is `sub`, the
 * grants are `scope`). The owner of a session always comes from the credential. In dev mode
 * (loopback only, announced at start) a request without a credential is the owner `dev`.
 *
 * @module
 */
import { importSPKI, jwtVerify } from "jose";
import { API_KEY_SCOPES, type ApiKeyScope, type ApiKeyStore, isApiKey } from "../store/api_keys.ts";
import { ProtocolError } from "../protocol/error_codes.ts";
import { bearerCredential } from "../lib/bearer_credential.ts";

/** An authenticated operator (or, in dev mode, the developer). */
export interface Operator {
  /** Whom sessions created by this credential belong to. */
  owner: string;
  /** What the credential grants. */
  scopes: readonly ApiKeyScope[];
  /** How it was authenticated. */
  via: "dev" | "api_key" | "jwt";
}

/** How operators' JWTs are checked. */
export interface JwtSettings {
  /** Required `iss`. */
  issuer: string;
  /** Required `aud`. */
  audience: string;
  /** A PEM public key (RS256, ES256, EdDSA) or an HS256 secret of at least 32 bytes. */
  key: string;
}

/** The owner of sessions created without a credential in dev mode. */
export const DEV_OWNER = "dev";

/** Authenticates operators' credentials. */
export class OperatorAuth {
  readonly #devMode: boolean;
  readonly #apiKeys: ApiKeyStore;
  readonly #jwt?: { settings: JwtSettings; key: Promise<CryptoKey | Uint8Array> };

  /**
   * @param options dev mode (no credential needed), the key store, and JWT settings if
   *   operators sign their own tokens
   */
  constructor(options: { devMode: boolean; apiKeys: ApiKeyStore; jwt?: JwtSettings }) {
    this.#devMode = options.devMode;
    this.#apiKeys = options.apiKeys;
    if (options.jwt) {
      const { key } = options.jwt;
      this.#jwt = {
        settings: options.jwt,
        key: key.includes("BEGIN PUBLIC KEY")
          ? importSPKI(key, detectAlgorithm(key))
          : Promise.resolve(new TextEncoder().encode(key)),
      };
    }
  }

  /**
   * The operator behind an `Authorization` header value, granted `scope`; throws
   * `ProtocolError` `unauthorized` (no or bad credential) or `forbidden` (no such grant).
   */
  async authenticate(authorization: string | undefined, scope: ApiKeyScope): Promise<Operator> {
    const credential = bearerCredential(authorization);
    let operator: Operator;
    if (!credential) {
      if (!this.#devMode) {
        throw new ProtocolError("unauthorized", "an operator API key or JWT is required");
      }
      operator = { owner: DEV_OWNER, scopes: API_KEY_SCOPES, via: "dev" };
    } else if (isApiKey(credential)) {
      const key = await this.#apiKeys.verify(credential);
      if (!key) throw new ProtocolError("unauthorized", "unknown or revoked API key");
      operator = { owner: key.owner, scopes: key.scopes, via: "api_key" };
    } else {
      operator = await this.#verifyJwt(credential);
    }
    if (!operator.scopes.includes(scope)) {
      throw new ProtocolError("forbidden", `the credential does not grant ${scope}`);
    }
    return operator;
  }

  async #verifyJwt(token: string): Promise<Operator> {
    if (!this.#jwt) throw new ProtocolError("unauthorized", "not an API key (JWTs not configured)");
    const { settings } = this.#jwt;
    let payload;
    try {
      ({ payload } = await jwtVerify(
        token,
        await this.#jwt.key,
        { issuer: settings.issuer, audience: settings.audience, requiredClaims: ["exp", "sub"] },
      ));
    } catch (error) {
      throw new ProtocolError("unauthorized", `JWT refused: ${(error as Error).message}`);
    }
    const granted = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
    return {
      owner: payload.sub!,
      scopes: API_KEY_SCOPES.filter((s) => granted.includes(s)),
      via: "jwt",
    };
  }
}

/** The JWS algorithm a PEM public key verifies (by its size and kind). */
function detectAlgorithm(pem: string): string {
  const bytes = atob(pem.replace(/-----[^-]+-----|\s/g, "")).length;
  if (bytes < 60) return "EdDSA"; // Ed25519 SPKI is 44 bytes
  if (bytes < 120) return "ES256"; // P-256 SPKI is 91 bytes
  return "RS256";
}
