/**
 * A Realtime client's functions, offered to the session's background model as tools. When the
 * background model calls one, the call goes to the client as the protocol defines it (a
 * response whose output item is a `function_call`, its arguments streamed), and the call waits
 * for the client's `function_call_output` item with the same `call_id`; that output is the
 * tool's result. Pending calls outlive a dropped connection: the client that resumes answers
 * them.
 *
 * @module
 */
import type { ToolHost, ToolResult, ToolSpec } from "../../background/chat_runner.ts";
import { newId } from "./realtime_ids.ts";

/** A function call on its way to the client. */
export interface FunctionCall {
  /** The function. */
  name: string;
  /** The call's id, which its output names. */
  callId: string;
  /** JSON-encoded arguments. */
  arguments: string;
}

/** Raised when a call names a function the client does not offer. */
export class UnknownFunctionError extends Error {
  /** @param name the function */
  constructor(name: string) {
    super(`the client offers no function ${name}`);
    this.name = "UnknownFunctionError";
  }
}

/** The client's functions as a tool host; see the module doc. */
export class ClientFunctions implements ToolHost {
  #specs: ToolSpec[] = [];
  readonly #pending = new Map<string, (result: ToolResult) => void>();
  /** Sends a call to the client: set by the connection serving the conversation now. */
  announce: (call: FunctionCall) => void = () => {};

  /** The functions the client declared (`session.update`'s `tools`), replacing earlier ones. */
  declare(tools: { type: string; name?: string; description?: string; parameters?: unknown }[]) {
    this.#specs = tools.filter((tool) => tool.type === "function" && tool.name).map((tool) => ({
      type: "function",
      function: {
        name: tool.name!,
        ...(tool.description ? { description: tool.description } : {}),
        parameters: (tool.parameters as Record<string, unknown> | undefined) ??
          { type: "object", properties: {} },
      },
    }));
  }

  /** The functions declared, as the protocol echoes them. */
  get declared(): Record<string, unknown>[] {
    return this.#specs.map((spec) => ({ type: "function", ...spec.function }));
  }

  /** The functions on offer. */
  tools(): Promise<ToolSpec[]> {
    return Promise.resolve(this.#specs);
  }

  /** Calls a function on the client; resolves with its output. */
  call(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<ToolResult> {
    if (!this.#specs.some((spec) => spec.function.name === name)) {
      return Promise.reject(new UnknownFunctionError(name));
    }
    signal.throwIfAborted();
    const callId = newId("call");
    return new Promise<ToolResult>((resolve, reject) => {
      const aborted = () => {
        this.#pending.delete(callId);
        reject(signal.reason);
      };
      signal.addEventListener("abort", aborted, { once: true });
      this.#pending.set(callId, (result) => {
        signal.removeEventListener("abort", aborted);
        resolve(result);
      });
      this.announce({ name, callId, arguments: JSON.stringify(args) });
    });
  }

  /** The client's output for a call; false when no call with that id waits. */
  deliver(callId: string, output: string): boolean {
    const resolve = this.#pending.get(callId);
    if (!resolve) return false;
    this.#pending.delete(callId);
    resolve({ text: output });
    return true;
  }
}
