/**
 * The Realtime protocol's beta dialect, for clients that still speak it (they connect with
 * `OpenAI-Beta: realtime=v1`, as LiveKit's OpenAI plugin does): the same conversation, with the
 * beta's event names (`response.audio.delta`, `response.audio_transcript.delta`,
 * `conversation.item.created`), its content part type `audio`, and its flat session object.
 * Events the beta lacks (`conversation.item.done`) are not sent.
 *
 * @module
 */

const RENAMED: Record<string, string> = {
  "response.output_audio.delta": "response.audio.delta",
  "response.output_audio.done": "response.audio.done",
  "response.output_audio_transcript.delta": "response.audio_transcript.delta",
  "response.output_audio_transcript.done": "response.audio_transcript.done",
  "response.output_text.delta": "response.text.delta",
  "response.output_text.done": "response.text.done",
  "conversation.item.added": "conversation.item.created",
};

const DROPPED = new Set(["conversation.item.done"]);

const BETA_FORMATS: Record<string, string> = {
  "audio/pcm": "pcm16",
  "audio/pcmu": "g711_ulaw",
  "audio/pcma": "g711_alaw",
};

/** A GA event as the beta dialect sends it, or undefined when the beta has no such event. */
export function toBeta(event: Record<string, unknown>): Record<string, unknown> | undefined {
  const type = String(event.type);
  if (DROPPED.has(type)) return undefined;
  const beta: Record<string, unknown> = { ...event, type: RENAMED[type] ?? type };
  if (beta.item) beta.item = betaItem(beta.item as Record<string, unknown>);
  if (beta.session) beta.session = betaSession(beta.session as Record<string, unknown>);
  const response = beta.response as { output?: Record<string, unknown>[] } | undefined;
  if (response?.output) {
    beta.response = {
      ...response,
      output: response.output.map(betaItem),
      modalities: ["audio", "text"],
    };
  }
  return beta;
}

function betaItem(item: Record<string, unknown>): Record<string, unknown> {
  const content = item.content as { type: string }[] | undefined;
  if (!content) return item;
  return {
    ...item,
    content: content.map((part) =>
      part.type === "output_audio" ? { ...part, type: "audio" } : part
    ),
  };
}

function betaSession(session: Record<string, unknown>): Record<string, unknown> {
  const audio = session.audio as {
    input: { format: { type: string }; turn_detection: unknown };
    output: { format: { type: string }; voice: string };
  };
  return {
    id: session.id,
    object: "realtime.session",
    model: session.model,
    modalities: ["audio", "text"],
    instructions: session.instructions,
    voice: audio.output.voice,
    input_audio_format: BETA_FORMATS[audio.input.format.type],
    output_audio_format: BETA_FORMATS[audio.output.format.type],
    input_audio_transcription: null,
    turn_detection: audio.input.turn_detection,
    tools: session.tools,
    tool_choice: session.tool_choice,
    temperature: 0.8,
    max_response_output_tokens: "inf",
  };
}
