/**
 * The V8 inspector of a process started with `--inspect=HOST:PORT`, driven over the Chrome
 * DevTools Protocol: benchmarks ask it for a full garbage collection, to tell memory a process
 * still references from garbage V8 has not collected yet.
 *
 * @module
 */

/** Asks the process whose inspector listens at `inspectorUrl` for a full garbage collection. */
export async function collectGarbage(inspectorUrl: string): Promise<void> {
  const [target] = await (await fetch(`${inspectorUrl}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error(`no inspector at ${inspectorUrl}`));
  });
  let nextId = 0;
  const call = (method: string) =>
    new Promise<void>((resolve) => {
      const id = ++nextId;
      const answered = (event: MessageEvent) => {
        if (JSON.parse(event.data).id !== id) return;
        socket.removeEventListener("message", answered);
        resolve();
      };
      socket.addEventListener("message", answered);
      socket.send(JSON.stringify({ id, method }));
    });
  try {
    await call("HeapProfiler.enable");
    await call("HeapProfiler.collectGarbage");
  } finally {
    socket.close();
  }
}
