/**
 * Background runners behind one interface, and the one that speaks OpenAI-compatible chat
 * completions: streaming (server-sent events) with tool calls, so operators point it at vLLM,
 * SGLang, any hosted API, or the worker's own reference endpoint, by URL and key. Tool calls
 * go to a {@linkcode ToolHost} (MCP servers, background/mcp_tools.ts); their results go back to
 * the model until it answers in text. Cancellation and timeouts come in as an AbortSignal.
 *
 * @module
 */

/** A chat message in the OpenAI wire format. */
export interface ChatMessage {
  /** Who says it. */
  role: "system" | "user" | "assistant" | "tool";
  /** What is said (null for a message that only calls tools). */
  content: string | null;
  /** Tools the assistant calls. */
  tool_calls?: ToolCall[];
  /** For a tool message: the call it answers. */
  tool_call_id?: string;
}

/** A tool call the model made. */
export interface ToolCall {
  /** Call id. */
  id: string;
  /** Always "function". */
  type: "function";
  /** Which function, with JSON-encoded arguments. */
  function: { name: string; arguments: string };
}

/** A tool offered to the model. */
export interface ToolSpec {
  /** Always "function". */
  type: "function";
  /** Name, description and JSON-schema parameters. */
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** What a tool returned: text for the model, and optionally a small UI for the client. */
export interface ToolResult {
  /** Text the model reads. */
  text: string;
  /** A generated-UI description (JSON) the client renders as a card. */
  ui?: unknown;
}

/** Where tools live. */
export interface ToolHost {
  /** The tools on offer. */
  tools(): Promise<ToolSpec[]>;
  /** Calls one; rejects when it fails or `signal` aborts. */
  call(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<ToolResult>;
}

/**
 * Two tool hosts as one: `extra`'s tools are offered after `base`'s, and a call goes to whichever
 * offers the name (`extra` first: a session's own function shadows an edge tool of its name).
 */
export function combineToolHosts(base?: ToolHost, extra?: ToolHost): ToolHost | undefined {
  if (!base || !extra) return base ?? extra;
  return {
    tools: async () => [...await base.tools(), ...await extra.tools()],
    call: async (name, args, signal) => {
      const own = (await extra.tools()).some((tool) => tool.function.name === name);
      return await (own ? extra : base).call(name, args, signal);
    },
  };
}

/** Something a running task produced. */
export type RunnerUpdate =
  | { kind: "token"; text: string }
  | { kind: "tool_call"; name: string; arguments: string }
  | { kind: "tool_result"; name: string; text: string }
  | { kind: "ui"; ui: unknown };

/** Options of one run. */
export interface RunOptions {
  /** Aborts the run (cancellation, timeout). */
  signal: AbortSignal;
  /** Told of every update as it happens. */
  onUpdate: (update: RunnerUpdate) => void;
  /** Force a call to this tool first (OpenAI `tool_choice`). */
  toolChoice?: string;
  /** More tools for this run (a session's own, e.g. a Realtime client's functions). */
  tools?: ToolHost;
}

/** Runs a background request to a final text. */
export interface BackgroundRunner {
  /** Runs `messages` to the model's final answer. */
  run(messages: ChatMessage[], options: RunOptions): Promise<string>;
}

/** Raised when the chat-completions server answers with an error. */
export class ChatCompletionsError extends Error {
  /**
   * @param status HTTP status
   * @param detail the server's message
   */
  constructor(readonly status: number, detail: string) {
    super(`chat completions failed (${status}): ${detail}`);
    this.name = "ChatCompletionsError";
  }
}

/** Options of {@linkcode ChatCompletionsRunner}. */
export interface ChatCompletionsRunnerOptions {
  /** Base URL, e.g. `http://worker:8001/v1` or `https://api.example.com/v1`. */
  baseUrl: string;
  /** Bearer key, when the server wants one. */
  apiKey?: string;
  /** Model name to ask for. */
  model: string;
  /** Tools to offer. */
  tools?: ToolHost;
  /** Rounds of tool calls before the model must answer. Default 4. */
  maxToolRounds?: number;
  /** Longest answer, in tokens. Default 256. */
  maxTokens?: number;
}

/** The OpenAI-compatible runner; see the module doc. */
export class ChatCompletionsRunner implements BackgroundRunner {
  /** @param options server, model and tools */
  constructor(readonly options: ChatCompletionsRunnerOptions) {}

  /** Runs `messages` to a final answer, calling tools as the model asks. */
  async run(messages: ChatMessage[], options: RunOptions): Promise<string> {
    const { maxToolRounds = 4 } = this.options;
    const tools = combineToolHosts(this.options.tools, options.tools);
    const specs = tools ? await tools.tools() : [];
    const conversation = [...messages];
    let toolChoice = options.toolChoice;
    for (let round = 0;; round++) {
      const { content, toolCalls } = await this.#complete(conversation, specs, {
        ...options,
        toolChoice: round < maxToolRounds ? toolChoice : undefined,
      });
      if (toolCalls.length === 0 || !tools || round >= maxToolRounds) return content;
      toolChoice = undefined;
      conversation.push({ role: "assistant", content: content || null, tool_calls: toolCalls });
      for (const call of toolCalls) {
        options.onUpdate({
          kind: "tool_call",
          name: call.function.name,
          arguments: call.function.arguments,
        });
        let args: Record<string, unknown> = {};
        try {
          args = JSON.parse(call.function.arguments || "{}");
        } catch { /* the tool sees no arguments; it will say what it missed */ }
        const result = await tools.call(call.function.name, args, options.signal);
        options.onUpdate({ kind: "tool_result", name: call.function.name, text: result.text });
        if (result.ui !== undefined) options.onUpdate({ kind: "ui", ui: result.ui });
        conversation.push({ role: "tool", tool_call_id: call.id, content: result.text });
      }
    }
  }

  /** One streamed completion: its text and the tool calls it made. */
  async #complete(
    messages: ChatMessage[],
    tools: ToolSpec[],
    options: RunOptions,
  ): Promise<{ content: string; toolCalls: ToolCall[] }> {
    const { baseUrl, apiKey, model, maxTokens = 256 } = this.options;
    const body: Record<string, unknown> = {
      model,
      messages,
      stream: true,
      max_tokens: maxTokens,
    };
    if (tools.length) body.tools = tools;
    if (options.toolChoice) {
      body.tool_choice = { type: "function", function: { name: options.toolChoice } };
    }
    const response = await fetch(`${baseUrl.replace(/\/$/, "")}/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal: options.signal,
    });
    if (!response.ok || !response.body) {
      throw new ChatCompletionsError(response.status, await response.text().catch(() => ""));
    }
    let content = "";
    const calls: ToolCall[] = [];
    for await (const data of serverSentEvents(response.body)) {
      if (data === "[DONE]") break;
      const delta = JSON.parse(data).choices?.[0]?.delta ?? {};
      if (typeof delta.content === "string" && delta.content) {
        content += delta.content;
        options.onUpdate({ kind: "token", text: delta.content });
      }
      for (const part of delta.tool_calls ?? []) {
        const call = calls[part.index ?? 0] ??= {
          id: "",
          type: "function",
          function: { name: "", arguments: "" },
        };
        if (part.id) call.id = part.id;
        if (part.function?.name) call.function.name += part.function.name;
        if (part.function?.arguments) call.function.arguments += part.function.arguments;
      }
    }
    return { content, toolCalls: calls.filter(Boolean) };
  }
}

/** The `data:` payloads of a server-sent-events stream. */
async function* serverSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  const decoder = new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>;
  for await (const text of body.pipeThrough(decoder)) {
    buffer += text;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart()).join("\n");
      if (data) yield data;
    }
  }
}
