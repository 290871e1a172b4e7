/**
 * Context compaction for long sessions. When a session's context nears the model's window, the
 * older part of its history is replaced, for the model, by a compaction record: a summary,
 * pinned facts, and the recent window kept verbatim (the events after the record). The event
 * log itself stays append-only and complete; compactions are their own rows.
 *
 * The summary comes from a {@linkcode Summarizer}: the background model when one is configured,
 * else the deterministic {@linkcode ExtractiveSummarizer}. {@linkcode sessionContext} turns
 * the newest compaction plus the events after it into the text a worker prefills a session
 * with, so a session rebuilt anywhere, from the store alone, starts from the same state.
 *
 * @module
 */
import type { Queryable } from "./database.ts";
import type { StoredSessionEvent } from "./event_log.ts";

/** A stored compaction. */
export interface CompactionRecord {
  /** 0, 1, ... per session; the highest is in force. */
  id: number;
  /** Events up to this seq are covered by the summary. */
  coversToSeq: number;
  /** The last micro-turn covered. */
  coversToMicroTurn: number;
  /** What happened before, in a few lines. */
  summary: string;
  /** Facts to keep verbatim whatever else is summarized away. */
  pinnedFacts: string[];
  /** Which summarizer wrote it. */
  summarizer: string;
}

/** Writes summaries of a stretch of conversation. */
export interface Summarizer {
  /** Name recorded with the compaction. */
  readonly name: string;
  /** Summarizes `events`, carrying on from `previous` (the compaction in force, if any). */
  summarize(
    previous: CompactionRecord | undefined,
    events: StoredSessionEvent[],
  ): Promise<{ summary: string; pinnedFacts: string[] }>;
}

/** Lines of the conversation an event carries: who said what. */
export function conversationLines(events: StoredSessionEvent[]): string[] {
  const lines: string[] = [];
  let modelText = "";
  const flushModel = () => {
    if (modelText.trim()) lines.push(`model: ${modelText.trim()}`);
    modelText = "";
  };
  for (const event of events) {
    if (event.kind === "user_text") {
      flushModel();
      lines.push(`user: ${String(event.payload.text)}`);
    } else if (event.kind === "micro_turn") {
      const output = event.payload.output as { text?: string } | undefined;
      modelText += output?.text ?? "";
    } else if (event.kind === "background_result") {
      flushModel();
      lines.push(`background: ${String(event.payload.text ?? "")}`);
    }
  }
  flushModel();
  return lines;
}

/** Statements worth pinning: who the user is, what they want remembered. */
const PINNABLE =
  /\b(my name is|call me|i am|i'm|i live|i work|my \w+ is|remember|don't forget|always|never)\b/i;

/**
 * The deterministic fallback: keeps the previous summary, adds the first and last lines of the
 * newly covered stretch and how long it was, and pins every user statement that looks like a
 * fact about them or a request to remember something (at most `maxFacts`, newest kept).
 */
export class ExtractiveSummarizer implements Summarizer {
  /** Name recorded with its compactions. */
  readonly name = "extractive-v1";

  /**
   * @param maxSummaryChars bound on the summary's length
   * @param maxFacts bound on the pinned facts
   */
  constructor(readonly maxSummaryChars = 1200, readonly maxFacts = 20) {}

  /** Summarizes `events` after `previous`. */
  summarize(
    previous: CompactionRecord | undefined,
    events: StoredSessionEvent[],
  ): Promise<{ summary: string; pinnedFacts: string[] }> {
    const lines = conversationLines(events);
    const turns = events.filter((e) => e.kind === "micro_turn").length;
    const stretch = lines.length <= 4
      ? lines
      : [...lines.slice(0, 2), `(${lines.length - 4} more lines)`, ...lines.slice(-2)];
    const header = `${(turns * 0.2).toFixed(0)} s of conversation, ${lines.length} lines`;
    const parts = [previous?.summary, `${header}: ${stretch.join(" | ")}`].filter(Boolean);
    let summary = parts.join("\n");
    if (summary.length > this.maxSummaryChars) summary = summary.slice(-this.maxSummaryChars);
    const facts = [
      ...(previous?.pinnedFacts ?? []),
      ...lines.filter((l) => l.startsWith("user: ") && PINNABLE.test(l)).map((l) => l.slice(6)),
    ];
    const pinnedFacts = [...new Set(facts)].slice(-this.maxFacts);
    return Promise.resolve({ summary, pinnedFacts });
  }
}

/** Reads and writes compactions. */
export class CompactionStore {
  /** @param db the database */
  constructor(private readonly db: Queryable) {}

  /** The compaction in force for a session, if any. */
  async latest(sessionId: string): Promise<CompactionRecord | undefined> {
    const [row] = await this.db.query<CompactionRecord>(
      `select id::int, covers_to_seq::int as "coversToSeq",
        covers_to_micro_turn::int as "coversToMicroTurn", summary,
        pinned_facts as "pinnedFacts", summarizer
       from session_compactions where session_id = $1 order by id desc limit 1`,
      [sessionId],
    );
    return row;
  }

  /** Events after the compaction in force (or all), in order. */
  async eventsAfter(sessionId: string, seq: number): Promise<StoredSessionEvent[]> {
    return await this.db.query<StoredSessionEvent>(
      `select seq, kind, micro_turn as "microTurn", media_time_ms as "mediaTimeMs",
        wall_time as "wallTime", payload
       from session_events where session_id = $1 and seq > $2 order by seq`,
      [sessionId, seq],
    );
  }

  /**
   * Compacts a session: everything but its last `keepMicroTurns` micro-turns (and what came
   * with them) is summarized into a new compaction record. Returns it, or undefined when there
   * is nothing old enough to compact.
   */
  async compact(
    sessionId: string,
    summarizer: Summarizer,
    keepMicroTurns: number,
  ): Promise<CompactionRecord | undefined> {
    const previous = await this.latest(sessionId);
    const events = await this.eventsAfter(sessionId, previous?.coversToSeq ?? -1);
    const turns = events.filter((e) => e.kind === "micro_turn");
    if (turns.length <= keepMicroTurns) return undefined;
    const lastCovered = turns[turns.length - keepMicroTurns - 1];
    const covered = events.filter((e) => e.seq <= lastCovered.seq);
    const { summary, pinnedFacts } = await summarizer.summarize(previous, covered);
    const record: CompactionRecord = {
      id: (previous?.id ?? -1) + 1,
      coversToSeq: lastCovered.seq,
      coversToMicroTurn: lastCovered.microTurn!,
      summary,
      pinnedFacts,
      summarizer: summarizer.name,
    };
    // The primary key (session, id) makes two concurrent compactions of one session resolve to
    // one winner; the loser's insert fails and it retries against the new record next time.
    await this.db.query(
      `insert into session_compactions
        (session_id, id, covers_to_seq, covers_to_micro_turn, summary, pinned_facts, summarizer)
       values ($1, $2, $3, $4, $5, ($6::text)::jsonb, $7)`,
      [
        sessionId,
        record.id,
        record.coversToSeq,
        record.coversToMicroTurn,
        summary,
        JSON.stringify(pinnedFacts),
        record.summarizer,
      ],
    );
    return record;
  }
}

/**
 * The context a worker rebuilds a session from: the compaction in force (summary and pinned
 * facts) and the conversation after it, as text, newest last, cut to `maxChars` from the
 * front (the most recent context wins).
 */
export async function sessionContext(
  store: CompactionStore,
  sessionId: string,
  maxChars: number,
): Promise<{ compaction: CompactionRecord | undefined; text: string }> {
  const compaction = await store.latest(sessionId);
  const events = await store.eventsAfter(sessionId, compaction?.coversToSeq ?? -1);
  const parts = [
    compaction ? `summary: ${compaction.summary}` : "",
    compaction?.pinnedFacts.length ? `facts: ${compaction.pinnedFacts.join("; ")}` : "",
    ...conversationLines(events),
  ].filter(Boolean);
  let text = parts.join("\n");
  if (text.length > maxChars) text = text.slice(text.length - maxChars);
  return { compaction, text };
}
