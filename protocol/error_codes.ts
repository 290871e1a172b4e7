/**
 * Error codes of protocol v1, shared by the client socket and the worker link. Each code has
 * a WebSocket close code when it ends the connection, or `null` when the connection goes on.
 * docs/protocol.md lists them with their meaning.
 *
 * @module
 */

/** Every error code, with the close code it ends a client connection with (null: non-fatal). */
export const ERROR_CODES = {
  /** A binary message that is not a valid RTP packet, or an undecodable Opus payload. */
  malformed_packet: null,
  /** A camera-frame message that does not parse, or whose JPEG does not decode. */
  malformed_video: null,
  /** An RTP packet whose payload type is not Opus (111). */
  unsupported_payload_type: null,
  /** A text message that is not JSON, or JSON that is not a known control message. */
  invalid_control: null,
  /** A binary message of a type this version does not know. */
  unknown_message_type: null,
  /** A background task could not be started (too many running, or none configured). */
  task_refused: null,
  /** A message larger than the limit (64 KiB by default). */
  message_too_big: 1009,
  /** Missing, forged or expired token. */
  unauthorized: 4401,
  /** The credential is valid but does not grant this (a key without the scope). */
  forbidden: 4403,
  /** No such session. */
  unknown_session: 4404,
  /** The client sent nothing for `CLIENT_IDLE_SECONDS`: its connection is closed (resume it). */
  idle_timeout: 4408,
  /** The session already has a live connection. */
  session_in_use: 4409,
  /** The session was closed and cannot take input. */
  session_closed: 4410,
  /** A newer connection resumed this session; this one is closed. */
  superseded: 4411,
  /** The session is not live on this edge, so it cannot be resumed here. */
  resume_unavailable: 4412,
  /** No worker could run the session. */
  worker_unavailable: 4503,
  /** Every worker that could run the session is full; retry after the error's `retryAfterSeconds`. */
  capacity: 1013,
  /** Too many attempts, or too many live sessions for this owner; retry after `retryAfterSeconds`. */
  rate_limited: 4429,
  /** The server is shutting down; reconnect later or elsewhere. */
  shutting_down: 1001,
  /** Anything unexpected on the server's side. */
  internal_error: 1011,
  // Worker-link only:
  /** Link bytes that do not decode. */
  malformed_frame: null,
  /** A session opened twice on a worker. */
  session_already_open: null,
  /** The worker has no free session slot. */
  capacity_exhausted: null,
  /** The model step failed. */
  step_failed: null,
} as const;

/** A protocol error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that carries its protocol code. */
export class ProtocolError extends Error {
  /** The protocol code. */
  readonly code: ErrorCode;
  /** When the client may try again, seconds (`capacity`). */
  readonly retryAfterSeconds?: number;
  /**
   * @param code protocol code
   * @param message human-readable detail
   * @param retryAfterSeconds when the client may try again
   */
  constructor(code: ErrorCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** The close code when this error ends a connection, or null when it does not. */
  get closeCode(): number | null {
    return ERROR_CODES[this.code];
  }
}

const BY_ERROR_NAME: Record<string, ErrorCode> = {
  MalformedRtpPacketError: "malformed_packet",
  OpusCodecError: "malformed_packet",
  MalformedVideoMessageError: "malformed_video",
  MalformedVideoFrameError: "malformed_video",
  MalformedLinkFrameError: "malformed_frame",
  UnknownWorkerSessionError: "unknown_session",
  SessionAlreadyOpenError: "session_already_open",
  NoFreeSlotError: "capacity_exhausted",
};

/** The protocol code for an error: its own if it has one, else by its class, else a step failure. */
export function errorCodeOf(error: unknown): ErrorCode {
  if (error instanceof ProtocolError) return error.code;
  if (error instanceof Error && error.name in BY_ERROR_NAME) return BY_ERROR_NAME[error.name];
  return "step_failed";
}
