/**
 * Configuration, parsed and validated in one place: command-line flags (`--role=edge`) win
 * over environment variables (`ROLE=edge`), which win over defaults. README.md has the table.
 *
 * @module
 */
import { z } from "zod";

const Port = z.coerce.number().int().min(0).max(65535);

/** The configuration schema; every field documents its default. */
export const ConfigSchema = z.object({
  /** Which parts this process runs. */
  role: z.enum(["all", "edge", "worker"]).default("all"),
  /** Interface to listen on. */
  host: z.string().default("127.0.0.1"),
  /** Port of this process's main server (the edge in `all`/`edge`, the worker in `worker`). */
  port: Port.default(8000),
  /** Port of the in-process worker in role `all`. */
  workerPort: Port.default(8001),
  /** The edge's worker link URL; in role `all`, derived from the in-process worker. */
  workerUrl: z.string().url().optional(),
  /** A real Postgres (`postgres://...`); unset selects embedded PGlite. */
  databaseUrl: z.string().optional(),
  /** PGlite data directory (`memory://` for a throwaway database). */
  pgliteDir: z.string().default(".data/pglite"),
  /**
   * Dev mode: sessions without an operator credential (owner `dev`), no rate limits or session
   * caps, random secrets where unset; only on a loopback host. `deno task start` turns it on.
   */
  devMode: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /**
   * HMAC secret for session tokens; every edge of a deployment needs the same one. Required
   * outside dev mode: at least 32 characters, not a repeated pattern.
   */
  tokenSecret: z.string().min(16).optional(),
  /**
   * Shared secret of the internal links: the worker refuses a link or an HTTP call without it,
   * edges present it. Required outside dev mode (role `all` makes one up when unset).
   */
  workerSecret: z.string().min(16).optional(),
  /** Operators' JWTs: required issuer (unset: JWTs are not accepted, API keys only). */
  jwtIssuer: z.string().default(""),
  /** Operators' JWTs: required audience. */
  jwtAudience: z.string().default("interaction-serving"),
  /** Operators' JWTs: a file holding the PEM public key (RS256, ES256, EdDSA) or an HS256 secret. */
  jwtKeyFile: z.string().default(""),
  /** Live sessions one edge holds at most; more are answered 503 with Retry-After (0: no cap). */
  maxLiveSessions: z.coerce.number().int().nonnegative().default(1000),
  /** Live sessions of one owner on one edge at most; more are answered 429 (0: no cap). */
  maxSessionsPerOwner: z.coerce.number().int().nonnegative().default(100),
  /** Session creations per minute per client IP, and per owner (0: no limit). */
  sessionCreatesPerMinute: z.coerce.number().int().nonnegative().default(60),
  /**
   * Proxies in front of the edge (load balancer, ingress) whose `X-Forwarded-For` entries are
   * trusted for per-client limits; 0: the TCP peer is the client.
   */
  trustedProxyHops: z.coerce.number().int().nonnegative().default(0),
  /** A native-protocol client connection silent this long is closed, seconds (0: never). */
  clientIdleSeconds: z.coerce.number().nonnegative().default(30),
  /** WebSocket connection attempts per minute per client IP (0: no limit). */
  connectsPerMinute: z.coerce.number().int().nonnegative().default(120),
  /**
   * PEM certificate chain and key files: the edge then serves HTTPS and WSS itself (the Realtime
   * API's clients connect over `wss:` only). Unset: plain HTTP, for TLS at a proxy in front.
   */
  tlsCertFile: z.string().optional(),
  /** The private key for `tlsCertFile`. */
  tlsKeyFile: z.string().optional(),
  /** Lifetime of minted session tokens, seconds. */
  tokenTtlSeconds: z.coerce.number().int().positive().default(3600),
  /** Region of this edge or worker: recorded on sessions, placed in first. */
  region: z.string().default("local"),
  /** Regions an edge spills new sessions over to when its own is full, comma-separated, in order. */
  regionSpillover: z.string().default(""),
  /** A worker's identity in the pool's registry. Default host:port. */
  workerId: z.string().default(""),
  /** The link URL a worker announces to edges. Default the one it listens on. */
  workerLinkUrl: z.string().default(""),
  /** Seconds between a pooled worker's heartbeats; an announcement lives three of them. */
  workerHeartbeatSeconds: z.coerce.number().positive().default(2),
  /** An ONNX interaction model file; unset serves the built-in model that `model` names. */
  modelPath: z.string().optional(),
  /**
   * The built-in model when no MODEL_PATH is given: `reference` (random weights built from a
   * seed, for tests and benchmarks) or `trained` (models/interaction-trained.onnx, what
   * `deno task start` serves).
   */
  model: z.enum(["reference", "trained"]).default("reference"),
  /** Size of the built-in reference model. */
  modelSize: z.enum(["tiny", "base"]).default("tiny"),
  /** Sessions without a micro-turn for this long are reclaimed by the worker, seconds. */
  sessionIdleSeconds: z.coerce.number().positive().default(60),
  /** onnxruntime execution provider. */
  executionProvider: z.enum(["cpu", "webgpu", "cuda"]).default("cpu"),
  /**
   * The ONNX Runtime library the worker opens; unset, the one npm onnxruntime-node ships. CUDA
   * needs a library of the same version with `libonnxruntime_providers_cuda.so` beside it.
   */
  ortLibrary: z.string().optional(),
  /** Sessions a worker holds at most. */
  workerCapacity: z.coerce.number().int().positive().default(64),
  /**
   * Threads a worker encodes output audio on (Opus, for edges that ask); unset, half the
   * host's cores, 1 to 8; 0 sends PCM, for the edge to encode.
   */
  outputEncodeThreads: z.coerce.number().int().nonnegative().optional(),
  /** Micro-turns per model step at most; unset, the worker's capacity. */
  maxBatch: z.coerce.number().int().positive().optional(),
  /** Largest client message, bytes. */
  maxMessageBytes: z.coerce.number().int().positive().default(64 * 1024),
  /** Queued bytes on a client socket above which output audio is skipped. */
  maxBufferedBytes: z.coerce.number().int().positive().default(256 * 1024),
  /** This edge's identity for session leases; a restarted edge keeps its leases. Default host:port. */
  edgeId: z.string().default(""),
  /** How long an edge's lease on a live session lasts without renewal, seconds. */
  leaseSeconds: z.coerce.number().positive().default(15),
  /** Sessions inactive for longer than this are deleted with their data, days (0: never). */
  retentionMaxAgeDays: z.coerce.number().nonnegative().default(0),
  /** Events kept per session at most; only compacted ones are removed (0: unlimited). */
  retentionMaxEvents: z.coerce.number().int().nonnegative().default(0),
  /** How long a session whose connection dropped waits for the client to resume, seconds. */
  resumeWindowSeconds: z.coerce.number().positive().default(30),
  /** OpenAI-compatible base URL of the background model. Default: the worker's own endpoint. */
  backgroundUrl: z.string().default(""),
  /** Model name asked of the background endpoint. */
  backgroundModel: z.string().default("reference-background-lm"),
  /** Bearer key for the background endpoint, when it wants one. */
  backgroundApiKey: z.string().default(""),
  /** Longest a background task may run, seconds. */
  backgroundTimeoutSeconds: z.coerce.number().positive().default(60),
  /**
   * Least time between two delegations the model's control head asks for, seconds; 0 turns
   * model-triggered delegation off (the default: the reference model is untrained, its control
   * head's choices are noise). Clients can always delegate.
   */
  delegateCooldownSeconds: z.coerce.number().nonnegative().default(0),
  /** MCP servers for background tools, JSON: [{"name", "command", "args"} | {"name", "url"}]. */
  mcpServers: z.string().default("[]"),
  /**
   * Seconds between returns of freed native memory to the system (glibc's `malloc_trim`, on
   * Linux with FFI allowed; 0: never). Without them a process stays at its peak resident size.
   */
  nativeMemoryTrimSeconds: z.coerce.number().nonnegative().default(30),
  /** Log level. */
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

/** Validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** Raised for configuration that does not validate; the message lists every problem. */
export class ConfigError extends Error {
  /** @param problems one line per invalid setting */
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Environment variable for each setting. */
const ENV_NAMES: Record<keyof Config, string> = {
  role: "ROLE",
  host: "HOST",
  port: "PORT",
  workerPort: "WORKER_PORT",
  workerUrl: "WORKER_URL",
  databaseUrl: "DATABASE_URL",
  pgliteDir: "PGLITE_DIR",
  devMode: "DEV_MODE",
  tokenSecret: "TOKEN_SECRET",
  workerSecret: "WORKER_SECRET",
  jwtIssuer: "JWT_ISSUER",
  jwtAudience: "JWT_AUDIENCE",
  jwtKeyFile: "JWT_KEY_FILE",
  maxLiveSessions: "MAX_LIVE_SESSIONS",
  maxSessionsPerOwner: "MAX_SESSIONS_PER_OWNER",
  sessionCreatesPerMinute: "SESSION_CREATES_PER_MINUTE",
  connectsPerMinute: "CONNECTS_PER_MINUTE",
  clientIdleSeconds: "CLIENT_IDLE_SECONDS",
  trustedProxyHops: "TRUSTED_PROXY_HOPS",
  tokenTtlSeconds: "TOKEN_TTL_SECONDS",
  tlsCertFile: "TLS_CERT_FILE",
  tlsKeyFile: "TLS_KEY_FILE",
  region: "REGION",
  modelPath: "MODEL_PATH",
  model: "MODEL",
  executionProvider: "ORT_EP",
  ortLibrary: "ORT_LIBRARY",
  modelSize: "MODEL_SIZE",
  sessionIdleSeconds: "SESSION_IDLE_SECONDS",
  workerCapacity: "WORKER_CAPACITY",
  maxBatch: "MAX_BATCH",
  outputEncodeThreads: "OUTPUT_ENCODE_THREADS",
  maxMessageBytes: "MAX_MESSAGE_BYTES",
  maxBufferedBytes: "MAX_BUFFERED_BYTES",
  resumeWindowSeconds: "RESUME_WINDOW_SECONDS",
  edgeId: "EDGE_ID",
  retentionMaxAgeDays: "RETENTION_MAX_AGE_DAYS",
  retentionMaxEvents: "RETENTION_MAX_EVENTS",
  leaseSeconds: "LEASE_SECONDS",
  regionSpillover: "REGION_SPILLOVER",
  workerId: "WORKER_ID",
  workerLinkUrl: "WORKER_LINK_URL",
  workerHeartbeatSeconds: "WORKER_HEARTBEAT_SECONDS",
  backgroundUrl: "BACKGROUND_URL",
  backgroundModel: "BACKGROUND_MODEL",
  backgroundApiKey: "BACKGROUND_API_KEY",
  backgroundTimeoutSeconds: "BACKGROUND_TIMEOUT_SECONDS",
  delegateCooldownSeconds: "DELEGATE_COOLDOWN_SECONDS",
  mcpServers: "MCP_SERVERS",
  nativeMemoryTrimSeconds: "NATIVE_MEMORY_TRIM_SECONDS",
  logLevel: "LOG_LEVEL",
};

/** The flag for a setting: `workerPort` is `--worker-port`. */
function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Reads configuration from flags (`--name=value`) and an environment lookup.
 * Throws {@linkcode ConfigError} listing every invalid or unknown setting.
 */
export function loadConfig(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Config {
  const raw: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const value = env(name);
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const byFlag = new Map(Object.keys(ENV_NAMES).map((key) => [flagName(key), key]));
  for (const arg of args) {
    const match = /^--([a-z-]+)=(.*)$/.exec(arg);
    const key = match && byFlag.get(match[1]);
    if (!key) problems.push(`unknown argument ${arg} (flags look like --role=edge)`);
    else raw[key] = match[2];
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]) as keyof Config;
      problems.push(`${ENV_NAMES[key] ?? key} / --${flagName(key)}: ${issue.message}`);
    }
  }
  if (parsed.success) problems.push(...secretProblems(parsed.data));
  if (problems.length) throw new ConfigError(problems);
  return parsed.data!;
}

const LOOPBACK_HOSTS = ["127.0.0.1", "::1", "localhost"];

/** Whether `secret` is too weak to sign tokens or guard links: short, or a repeated pattern. */
export function isWeakSecret(secret: string): boolean {
  return secret.length < 32 || new Set(secret).size < 10;
}

/** What dev mode and the secrets' rules refuse in a parsed configuration. */
function secretProblems(config: Config): string[] {
  const problems: string[] = [];
  if (config.devMode) {
    if (!LOOPBACK_HOSTS.includes(config.host)) {
      problems.push(`DEV_MODE / --dev-mode: dev mode listens on loopback only, not ${config.host}`);
    }
    return problems;
  }
  const needs = (key: "tokenSecret" | "workerSecret", what: string) => {
    const value = config[key];
    const { env } = settingNames(key);
    if (!value) problems.push(`${env}: required outside dev mode (${what})`);
    else if (isWeakSecret(value)) {
      problems.push(`${env}: too weak (at least 32 characters, not a repeated pattern)`);
    }
  };
  if (config.role !== "worker") needs("tokenSecret", "every edge signs session tokens with it");
  if (config.role !== "all") needs("workerSecret", "the worker links are authenticated with it");
  else if (config.workerSecret && isWeakSecret(config.workerSecret)) {
    problems.push("WORKER_SECRET: too weak (at least 32 characters, not a repeated pattern)");
  }
  return problems;
}

/** The environment variable and flag names, for docs and messages. */
export function settingNames(key: keyof Config): { env: string; flag: string } {
  return { env: ENV_NAMES[key], flag: `--${flagName(key)}` };
}
