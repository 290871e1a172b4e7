import assert from "node:assert/strict";
import { ClientFunctions, type FunctionCall, UnknownFunctionError } from "./client_functions.ts";
import { combineToolHosts, type ToolHost } from "../../background/chat_runner.ts";

Deno.test("client functions: a call waits for the client's output with its call id; unknown functions and aborted calls fail; an edge tool of the same name is shadowed", async () => {
  const functions = new ClientFunctions();
  const announced: FunctionCall[] = [];
  functions.announce = (call) => announced.push(call);
  functions.declare([
    { type: "function", name: "lookup", parameters: { type: "object", properties: {} } },
    { type: "mcp" }, // not a function: not offered
  ]);
  assert.deepEqual((await functions.tools()).map((t) => t.function.name), ["lookup"]);

  const result = functions.call("lookup", { q: "x" }, new AbortController().signal);
  assert.equal(announced[0].name, "lookup");
  assert.equal(announced[0].arguments, '{"q":"x"}');
  assert.equal(functions.deliver("call_other", "no"), false);
  assert.equal(functions.deliver(announced[0].callId, "found"), true);
  assert.deepEqual(await result, { text: "found" });
  assert.equal(functions.deliver(announced[0].callId, "again"), false, "answered once");

  await assert.rejects(
    functions.call("nope", {}, new AbortController().signal),
    UnknownFunctionError,
  );
  const controller = new AbortController();
  const pending = functions.call("lookup", {}, controller.signal);
  controller.abort(new Error("task cancelled"));
  await assert.rejects(pending, /task cancelled/);
  assert.equal(functions.deliver(announced[1].callId, "late"), false);

  const edge: ToolHost = {
    tools: () =>
      Promise.resolve([{ type: "function", function: { name: "lookup", parameters: {} } }, {
        type: "function",
        function: { name: "edge_only", parameters: {} },
      }]),
    call: (name) => Promise.resolve({ text: `edge ${name}` }),
  };
  const both = combineToolHosts(edge, functions)!;
  assert.deepEqual((await both.tools()).map((t) => t.function.name), [
    "lookup",
    "edge_only",
    "lookup",
  ]);
  assert.deepEqual(await both.call("edge_only", {}, new AbortController().signal), {
    text: "edge edge_only",
  });
  const shadowed = both.call("lookup", {}, new AbortController().signal);
  await new Promise((resolve) => setTimeout(resolve, 0)); // the host looks the name up first
  assert.equal(announced.length, 3);
  functions.deliver(announced[2].callId, "client's");
  assert.deepEqual(await shadowed, { text: "client's" });
});
