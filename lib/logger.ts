/**
 * Structured log lines: one line each, `time level role message {json fields}`, to stderr
 * for warnings and errors and stdout otherwise.
 *
 * @module
 */

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger bound to a component name. */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Normal operation. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something off that the process survives. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something failed. */
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger for a sub-component. */
  child(component: string): Logger;
}

/** Creates a logger printing lines at `level` and above. */
export function createLogger(component: string, level: LogLevel = "info"): Logger {
  const write = (at: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (SEVERITY[at] < SEVERITY[level]) return;
    const extra = fields ? ` ${JSON.stringify(fields, errorsAsText)}` : "";
    const line = `${new Date().toISOString()} ${at.padEnd(5)} ${component}: ${message}${extra}`;
    (SEVERITY[at] >= SEVERITY.warn ? console.error : console.log)(line);
  };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (name) => createLogger(`${component}/${name}`, level),
  };
}

function errorsAsText(_key: string, value: unknown): unknown {
  return value instanceof Error ? `${value.name}: ${value.message}` : value;
}
