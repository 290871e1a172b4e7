/**
 * An OpenAI-compatible `POST /v1/chat/completions` on the worker, serving the reference
 * background model, with streaming (server-sent events) and tool calls, so operators can point
 * the background runner at this or at vLLM, SGLang or a hosted API alike.
 *
 * The reference model is untrained, so tool use follows the request: when `tool_choice` names
 * a function and the conversation does not yet end with that tool's result, the answer is a
 * call to it whose string arguments carry the last user message; otherwise the model writes.
 *
 * @module
 */
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { BackgroundLm } from "../gpu-worker/background_lm_runtime.ts";

const Message = z.object({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string().nullable().optional(),
  tool_calls: z.array(z.unknown()).optional(),
  tool_call_id: z.string().optional(),
});
const Tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string(),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});
const ChatRequest = z.object({
  model: z.string().optional(),
  messages: z.array(Message).min(1),
  stream: z.boolean().optional(),
  max_tokens: z.number().int().positive().max(1024).optional(),
  tools: z.array(Tool).optional(),
  tool_choice: z.union([
    z.enum(["auto", "none", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
  ]).optional(),
});

/** Mounts `/v1/chat/completions`. */
export function mountChatCompletions(app: Hono, lm: BackgroundLm, modelName: string): void {
  app.post("/v1/chat/completions", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: { message: "body is not JSON", type: "invalid_request_error" } }, 400);
    }
    const parsed = ChatRequest.safeParse(body);
    if (!parsed.success) {
      return c.json({
        error: { message: parsed.error.issues[0].message, type: "invalid_request_error" },
      }, 400);
    }
    const request = parsed.data;
    const id = `chatcmpl-${crypto.randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const envelope = (object: string, choice: Record<string, unknown>) => ({
      id,
      object,
      created,
      model: modelName,
      choices: [{ index: 0, ...choice }],
    });
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      envelope("chat.completion.chunk", { delta, finish_reason: finish });
    const toolCall = forcedToolCall(request);
    const prompt = request.messages.map((m) => `${m.role}: ${m.content ?? ""}`).join("\n") +
      "\nassistant: ";
    const maxBytes = request.max_tokens ?? 48;

    if (!request.stream) {
      if (toolCall) {
        return c.json(envelope("chat.completion", {
          message: { role: "assistant", content: null, tool_calls: [toolCall] },
          finish_reason: "tool_calls",
        }));
      }
      let text = "";
      for await (const piece of lm.generate(prompt, maxBytes)) text += piece;
      return c.json(envelope("chat.completion", {
        message: { role: "assistant", content: text },
        finish_reason: "stop",
      }));
    }
    return streamSSE(c, async (stream) => {
      // A client that goes away (a cancelled task) stops the generation.
      const gone = new AbortController();
      stream.onAbort(() => gone.abort());
      if (toolCall) {
        await stream.writeSSE({
          data: JSON.stringify(
            chunk({ role: "assistant", tool_calls: [{ index: 0, ...toolCall }] }, null),
          ),
        });
        await stream.writeSSE({ data: JSON.stringify(chunk({}, "tool_calls")) });
      } else {
        await stream.writeSSE({
          data: JSON.stringify(chunk({ role: "assistant", content: "" }, null)),
        });
        for await (const piece of lm.generate(prompt, maxBytes, gone.signal)) {
          await stream.writeSSE({ data: JSON.stringify(chunk({ content: piece }, null)) });
        }
        await stream.writeSSE({ data: JSON.stringify(chunk({}, "stop")) });
      }
      await stream.writeSSE({ data: "[DONE]" });
    });
  });
}

/** The tool call `tool_choice` asks for, unless its result is already the last message. */
function forcedToolCall(request: z.infer<typeof ChatRequest>) {
  const choice = request.tool_choice;
  if (!choice || typeof choice === "string") return undefined;
  if (request.messages.at(-1)?.role === "tool") return undefined;
  const tool = request.tools?.find((t) => t.function.name === choice.function.name);
  if (!tool) return undefined;
  const lastUser = request.messages.findLast((m) => m.role === "user")?.content ?? "";
  const properties = (tool.function.parameters?.properties ?? {}) as Record<
    string,
    { type?: string }
  >;
  const required = (tool.function.parameters?.required ?? Object.keys(properties)) as string[];
  const args = Object.fromEntries(
    required.filter((name) => properties[name]?.type !== "number").map((name) => [name, lastUser]),
  );
  return {
    id: `call_${crypto.randomUUID().slice(0, 8)}`,
    type: "function" as const,
    function: { name: tool.function.name, arguments: JSON.stringify(args) },
  };
}
