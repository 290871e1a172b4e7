/**
 * The interactivity benchmark's plot: response latency (smooth turn-taking) and stop latency
 * (user interruption) p50, with p90 whiskers for the response, by network and backend. Drawn
 * as SVG and rendered to PNG by Chromium (`CHROMIUM_PATH`, default Debian's); without a
 * Chromium only the SVG is written.
 *
 * @module
 */
import { chromium } from "playwright-core";
import type { DuplexRow } from "./duplex_eval.ts";
import { resultsDir } from "../bench/bench_support.ts";

const WIDTH = 900;
const HEIGHT = 420;
const MARGIN = { left: 60, right: 20, top: 50, bottom: 70 };
const COLORS = ["#2b6cb0", "#90cdf4", "#c05621", "#fbd38d", "#2f855a", "#9ae6b4"];

/** The chart as SVG text. */
export function duplexSvg(rows: DuplexRow[]): string {
  const networks = [...new Set(rows.map((r) => r.network))];
  const backends = [...new Set(rows.map((r) => r.backend))];
  const find = (task: string, network: string, backend: string) =>
    rows.find((r) => r.task === task && r.network === network && r.backend === backend);
  const series = backends.flatMap((backend) => [
    { label: `${backend}: response p50 (turn-taking)`, backend, task: "smooth_turn_taking" },
    { label: `${backend}: stop p50 (interruption)`, backend, task: "user_interruption" },
  ]);
  const value = (s: typeof series[number], network: string) => {
    const row = find(s.task, network, s.backend);
    return s.task === "smooth_turn_taking" ? row?.latency_p50_s : row?.stop_latency_p50_s;
  };
  const whisker = (s: typeof series[number], network: string) =>
    s.task === "smooth_turn_taking" ? find(s.task, network, s.backend)?.latency_p90_s : undefined;
  const top = Math.max(
    1,
    ...networks.flatMap((n) => series.map((s) => Math.max(value(s, n) ?? 0, whisker(s, n) ?? 0))),
  );
  const scale = Math.ceil(top * 2) / 2;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number) => MARGIN.top + plotH - (v / scale) * plotH;
  const group = plotW / Math.max(1, networks.length);
  const bar = (group * 0.8) / series.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">` +
    `Interactivity through the system: latency by network and backend (s)</text>`,
  ];
  for (let t = 0; t <= scale + 1e-9; t += 0.5) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(t)}" y2="${y(t)}" ` +
        `stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(1)}</text>`,
    );
  }
  networks.forEach((network, n) => {
    const x0 = MARGIN.left + n * group + group * 0.1;
    series.forEach((s, i) => {
      const v = value(s, network);
      if (v === undefined || v === null) return;
      const x = x0 + i * bar;
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${bar - 2}" height="${y(0) - y(v)}" ` +
          `fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${x + bar / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="10">` +
          `${v.toFixed(2)}</text>`,
      );
      const w = whisker(s, network);
      if (w !== undefined && w !== null) {
        parts.push(
          `<line x1="${x + bar / 2 - 1}" x2="${x + bar / 2 - 1}" y1="${y(v)}" y2="${y(w)}" ` +
            `stroke="black"/>`,
          `<line x1="${x + bar / 4}" x2="${x + (3 * bar) / 4 - 2}" y1="${y(w)}" y2="${y(w)}" ` +
            `stroke="black"/>`,
        );
      }
    });
    parts.push(
      `<text x="${x0 + group * 0.4}" y="${y(0) + 18}" text-anchor="middle">${network}</text>`,
    );
  });
  series.forEach((s, i) => {
    const x = MARGIN.left + (i % 2) * 330;
    const ly = HEIGHT - 38 + Math.floor(i / 2) * 16;
    parts.push(
      `<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${x + 18}" y="${ly}">${s.label}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * Writes the chart as `<name>.svg` and `<name>.png` in the results folder (`BENCH_RESULTS_DIR`
 * or bench/results/).
 */
export async function writeDuplexPlot(rows: DuplexRow[], pngName: string): Promise<void> {
  const svg = duplexSvg(rows);
  const base = `${resultsDir()}/${pngName.replace(/\.png$/, "")}`;
  await Deno.writeTextFile(`${base}.svg`, svg + "\n");
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  } catch (error) {
    console.warn(`no Chromium to render ${base}.png (${(error as Error).message.split("\n")[0]})`);
    return;
  }
  try {
    const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } });
    await page.setContent(`<body style="margin:0">${svg}</body>`);
    await page.screenshot({ path: `${base}.png` });
  } finally {
    await browser.close();
  }
}
