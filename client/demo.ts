/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The demo page's logic, built only on the SDK: start/stop, microphone level, camera preview,
 * a transcript of the model's text with timestamps, typed text, and a network panel with a
 * plot of delay over time.
 *
 * @module
 */
import { type ClientStats, InteractionClient } from "./sdk/index.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const startButton = $<HTMLButtonElement>("start");
const stopButton = $<HTMLButtonElement>("stop");
const cameraToggle = $<HTMLInputElement>("camera");
const meter = $<HTMLDivElement>("meter-fill");
const transcript = $<HTMLOListElement>("transcript");
const statusBadge = $<HTMLSpanElement>("status");
const form = $<HTMLFormElement>("say");
const input = $<HTMLInputElement>("say-text");
const plot = $<HTMLCanvasElement>("plot");
const statsList = $<HTMLDListElement>("stats");
const tasks = $<HTMLDivElement>("tasks");
const delegateButton = $<HTMLButtonElement>("delegate");

let client: InteractionClient | undefined;
let line: HTMLLIElement | undefined;
let lastText = 0;
const history: { rtt: number; buffer: number }[] = [];

function addLine(who: "model" | "you", text: string): HTMLLIElement {
  const item = document.createElement("li");
  item.className = who;
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  const body = document.createElement("span");
  body.textContent = text;
  item.append(time, body);
  transcript.append(item);
  transcript.scrollTop = transcript.scrollHeight;
  return item;
}

function modelText(text: string): void {
  if (!text) return;
  // The model writes a byte per micro-turn: a new line after 3 s without text or a sentence
  // end, so the transcript reads in turns and a slow sentence stays on one line.
  const now = Date.now();
  if (!line || now - lastText > 3000 || /[.!?]\s*$/.test(line.lastChild!.textContent!)) {
    line = addLine("model", "");
    text = text.trimStart();
  }
  lastText = now;
  line.lastChild!.textContent += text;
}

function showStats(stats: ClientStats): void {
  const rows: [string, string][] = [
    ["Round trip", `${stats.roundTripMs.toFixed(0)} ms`],
    ["Edge jitter target", `${stats.jitterMs.toFixed(0)} ms`],
    ["Edge buffer", `${stats.edgeBufferMs.toFixed(0)} ms`],
    ["Playout buffer", `${stats.playoutBufferMs.toFixed(0)} ms`],
    ["Sent / unacked", `${stats.packetsSent} / ${stats.packetsUnacked}`],
    ["Late / concealed", `${stats.lateFrames} / ${stats.concealedFrames}`],
    ["Reconnects", String(stats.reconnects)],
    ["Model frames decoded", String(stats.decodedFrames)],
    ["Camera", `${stats.videoFramesSent} frames, every ${Math.round(stats.videoIntervalMs)} ms`],
  ];
  statsList.replaceChildren(
    ...rows.flatMap(([name, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }),
  );
  history.push({ rtt: stats.roundTripMs, buffer: stats.edgeBufferMs + stats.playoutBufferMs });
  if (history.length > 120) history.shift();
  drawPlot();
}

function drawPlot(): void {
  const context = plot.getContext("2d")!;
  const { width, height } = plot;
  context.clearRect(0, 0, width, height);
  const max = Math.max(100, ...history.map((h) => Math.max(h.rtt, h.buffer)));
  const series: [keyof (typeof history)[number], string][] = [
    ["rtt", "#2f6fde"],
    ["buffer", "#d9822b"],
  ];
  for (const [key, colour] of series) {
    context.strokeStyle = colour;
    context.lineWidth = 2;
    context.beginPath();
    history.forEach((point, i) => {
      const x = (i / 119) * width;
      const y = height - (point[key] / max) * (height - 8) - 4;
      if (i === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    context.stroke();
  }
  context.fillStyle = "#5b6478";
  context.font = "11px system-ui";
  context.fillText(`${max.toFixed(0)} ms`, 4, 12);
}

/** One card per background task: request, status, streamed text, tool calls, generated UI. */
interface TaskMessage {
  id: string;
  status: string;
  request?: string;
  text?: string;
  update?: { kind: string; text?: string; name?: string; ui?: unknown };
}

function taskCard(message: TaskMessage): void {
  let card = document.getElementById(`task-${message.id}`);
  if (!card) {
    card = document.createElement("article");
    card.id = `task-${message.id}`;
    card.className = "task";
    card.innerHTML =
      `<header><b></b><span class="badge"></span><button class="cancel">Cancel</button></header>
      <p class="stream"></p><div class="ui"></div>`;
    (card.querySelector(".cancel") as HTMLButtonElement).onclick = () =>
      client?.cancelTask(message.id);
    tasks.prepend(card);
  }
  const title = card.querySelector("b")!;
  if (message.request) title.textContent = message.request;
  const badge = card.querySelector(".badge") as HTMLElement;
  badge.textContent = message.status;
  badge.dataset.status = message.status;
  const stream = card.querySelector(".stream")!;
  const update = message.update;
  if (update?.kind === "token") stream.textContent += update.text ?? "";
  if (update?.kind === "tool_call") stream.textContent += `⚙ ${update.name}… `;
  if (update?.kind === "tool_result") stream.textContent += `→ ${update.text} `;
  if (update?.kind === "ui") renderUi(card.querySelector(".ui") as HTMLElement, update.ui);
  if (message.text && message.status !== "running") {
    stream.textContent = message.text;
    (card.querySelector(".cancel") as HTMLElement).hidden = true;
  }
}

/** Renders a small generated-UI description: `{ title?, text?, items?: string[], fields? }`. */
function renderUi(target: HTMLElement, ui: unknown): void {
  const spec = (typeof ui === "object" && ui !== null ? ui : { text: String(ui) }) as {
    title?: string;
    text?: string;
    items?: unknown[];
    fields?: { label: string; value: unknown }[];
  };
  const parts: HTMLElement[] = [];
  if (spec.title) {
    parts.push(Object.assign(document.createElement("h3"), { textContent: spec.title }));
  }
  if (spec.text) parts.push(Object.assign(document.createElement("p"), { textContent: spec.text }));
  if (spec.items?.length) {
    const list = document.createElement("ul");
    for (const item of spec.items) {
      list.append(Object.assign(document.createElement("li"), { textContent: String(item) }));
    }
    parts.push(list);
  }
  for (const field of spec.fields ?? []) {
    parts.push(
      Object.assign(document.createElement("p"), { textContent: `${field.label}: ${field.value}` }),
    );
  }
  target.replaceChildren(...parts);
}

startButton.onclick = async () => {
  startButton.disabled = true;
  client = new InteractionClient({
    camera: cameraToggle.checked,
    preview: $<HTMLVideoElement>("preview"),
    // `?opus=wasm` forces the WebAssembly encoder (for browsers without WebCodecs Opus).
    opusEncoder: new URLSearchParams(location.search).get("opus") === "wasm" ? "wasm" : "auto",
  });
  client.addEventListener("state", (e) => {
    const state = (e as CustomEvent).detail as string;
    statusBadge.textContent = state;
    statusBadge.dataset.state = state;
  });
  client.addEventListener("level", (e) => {
    const level = (e as CustomEvent<number>).detail;
    meter.style.width = `${Math.min(100, Math.sqrt(level) * 160)}%`;
  });
  client.addEventListener("output", (e) => modelText((e as CustomEvent).detail.text));
  client.addEventListener("stats", (e) => showStats((e as CustomEvent<ClientStats>).detail));
  client.addEventListener("task", (e) => taskCard((e as CustomEvent<TaskMessage>).detail));
  client.addEventListener("error", (e) => {
    const { code, message } = (e as CustomEvent).detail;
    addLine("model", `⚠ ${code}: ${message}`).classList.add("error");
  });
  try {
    await client.start();
    stopButton.disabled = false;
    input.disabled = false;
    delegateButton.disabled = false;
  } catch (error) {
    addLine("model", `⚠ ${error instanceof Error ? error.message : error}`).classList.add("error");
    startButton.disabled = false;
  }
};

stopButton.onclick = async () => {
  stopButton.disabled = true;
  input.disabled = true;
  delegateButton.disabled = true;
  await client?.stop();
  startButton.disabled = false;
};

form.onsubmit = (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || !client) return;
  client.sendText(text);
  addLine("you", text);
  input.value = "";
};

delegateButton.onclick = () => {
  const text = input.value.trim();
  if (!text || !client) return;
  client.delegate(text);
  addLine("you", `(in the background) ${text}`);
  input.value = "";
};

// For tests and the curious: the page's client.
Object.assign(globalThis, {
  demo: {
    get client() {
      return client;
    },
  },
});
