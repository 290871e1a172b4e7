/**
 * Tools from MCP servers (Model Context Protocol, via the official `@modelcontextprotocol/sdk`):
 * the operator lists servers, each reached over stdio (a command to start) or streamable HTTP
 * (a URL); their tools are offered to the background runner as `server__tool` functions. A tool
 * result whose structured content carries `ui` (a small JSON UI description) is also sent to
 * the client, which renders it as a card.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { ToolHost, ToolResult, ToolSpec } from "./chat_runner.ts";

/** One MCP server the operator configured. */
export type McpServerConfig =
  | { name: string; command: string; args?: string[]; env?: Record<string, string> }
  | { name: string; url: string };

/** Raised for a tool name no configured server offers. */
export class UnknownToolError extends Error {
  /** @param name the name asked for */
  constructor(name: string) {
    super(`no MCP server offers a tool named ${name}`);
    this.name = "UnknownToolError";
  }
}

const SEPARATOR = "__";

/** Connected MCP servers as one {@linkcode ToolHost}. */
export class McpToolHost implements ToolHost {
  readonly #clients = new Map<string, Client>();

  private constructor() {}

  /** Connects to every configured server. */
  static async connect(servers: McpServerConfig[]): Promise<McpToolHost> {
    const host = new McpToolHost();
    try {
      for (const server of servers) {
        const client = new Client({ name: "interaction-serving", version: "1.0.0" });
        const transport = "url" in server
          ? new StreamableHTTPClientTransport(new URL(server.url))
          : new StdioClientTransport({
            command: server.command,
            args: server.args ?? [],
            env: { ...Deno.env.toObject(), ...server.env },
            stderr: "ignore",
          });
        await client.connect(transport);
        host.#clients.set(server.name, client);
      }
    } catch (error) {
      await host.close();
      throw error;
    }
    return host;
  }

  /** Every server's tools, named `server__tool`. */
  async tools(): Promise<ToolSpec[]> {
    const specs: ToolSpec[] = [];
    for (const [server, client] of this.#clients) {
      const { tools } = await client.listTools();
      for (const tool of tools) {
        specs.push({
          type: "function",
          function: {
            name: `${server}${SEPARATOR}${tool.name}`,
            description: tool.description,
            parameters: tool.inputSchema as Record<string, unknown>,
          },
        });
      }
    }
    return specs;
  }

  /** Calls `server__tool` with `args`; `signal` cancels it (the server is told). */
  async call(
    name: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<ToolResult> {
    const at = name.indexOf(SEPARATOR);
    const client = at > 0 ? this.#clients.get(name.slice(0, at)) : undefined;
    if (!client) throw new UnknownToolError(name);
    const result = await client.callTool(
      { name: name.slice(at + SEPARATOR.length), arguments: args },
      undefined,
      { signal, timeout: 24 * 3600_000 },
    );
    const content = (result.content ?? []) as { type: string; text?: string }[];
    const text = content.filter((c) => c.type === "text").map((c) => c.text).join("\n");
    const structured = result.structuredContent as { ui?: unknown } | undefined;
    return {
      text: result.isError ? `tool error: ${text}` : text,
      ui: structured?.ui,
    };
  }

  /** Disconnects from every server (stdio servers are stopped). */
  async close(): Promise<void> {
    for (const client of this.#clients.values()) await client.close().catch(() => {});
    this.#clients.clear();
  }
}

/**
 * A tool host still connecting: calls wait for it. A server that cannot be reached makes every
 * task that wants tools fail with that reason, instead of stopping the edge.
 */
export function deferredToolHost(connecting: Promise<ToolHost>): ToolHost & {
  close(): Promise<void>;
} {
  connecting.catch(() => {}); // reported through the tasks that need it
  return {
    tools: async () => await (await connecting).tools(),
    call: async (name, args, signal) => await (await connecting).call(name, args, signal),
    close: async () => {
      const host = await connecting.catch(() => undefined);
      if (host instanceof McpToolHost) await host.close();
    },
  };
}
