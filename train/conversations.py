"""Two-party training conversations, laid out from train/make_dataset.ts's utterances in the
dMel domain, with the assistant's side written as labels per micro-turn.

The user (one voice per conversation) speaks turns of one to five sentences with short gaps,
sometimes stops mid-sentence to think (a fragment, a 0.5-2.6 s pause, then its completion),
sometimes types instead of speaking, sometimes cuts in while the assistant speaks; other voices
talk quietly in the background and a noise floor sits under everything. Mixing is in the dMel
domain: levels are log energy in 3.26 dB steps, so a voice attenuated by n steps is its codes
minus n, and the louder of two sources per bin stands for their sum.

What the assistant does (the behaviour to learn), decided on micro-turn boundaries because the
model decides once per micro-turn:
- silent while the user speaks, through gaps between sentences and through a fragment's pause;
- it answers once the user has been silent long enough at a micro-turn's end: 0.3 s after a
  question, 0.5 s after a statement (longer than any gap between the sentences
  of one turn), 2.8 s after an unfinished sentence nobody completes, 0.4 s
  after a typed message; the answer line after a question, the acknowledging line otherwise;
- when the user starts speaking while it speaks, it is silent from the micro-turn in which
  20 ms of that speech has arrived, and answers the cut-in when it ends;
- in a long turn (3 s of speech since the turn began or since its last backchannel) it says
  "mm hmm" in a gap between sentences, without stopping the user;
- its text is its line's bytes, one per micro-turn from when it starts speaking, cut off where
  its speech is.
"""

import gzip
import json
import math
import wave
from pathlib import Path

import numpy as np

FRAMES_PER_TURN = 20  # 10 ms dMel frames in a micro-turn
SAMPLES_PER_TURN = 3200
FRAME_SECONDS = 0.01

SILENT, SPEAK = 0, 1
ANSWER_AFTER = {"question": 0.3, "statement": 0.5, "completion": 0.5, "abandoned": 2.8, "typed": 0.4}
STOP_AFTER_FRAMES = 2  # 20 ms of the user's speech stops the assistant
BACKCHANNEL_AFTER_SPEECH = 3.0
TYPED_MESSAGES = [
    "hello there",
    "can you hear me?",
    "what time is it?",
    "tell me a story",
    "I am back",
    "how are you today?",
    "thanks, that helps",
    "one more question?",
]


class Corpus:
    """The utterances, noise floors and assistant lines of one data set folder."""

    def __init__(self, folder):
        folder = Path(folder)
        self.dmel = np.frombuffer(gzip.open(folder / "user_dmel.bin.gz").read(), np.uint8).reshape(-1, 80)
        self.clips = json.load(open(folder / "user_clips.json"))
        self.noise = np.frombuffer(gzip.open(folder / "noise_dmel.bin.gz").read(), np.uint8).reshape(-1, 80)
        self.floors = json.load(open(folder / "noise.json"))
        lines = json.load(open(folder / "assistant.json"))
        self.line_names = list(lines)
        self.line_text = [lines[n]["text"].encode() for n in self.line_names]
        audio = []
        for name in self.line_names:
            with wave.open(str(folder / f"assistant_{name}.wav")) as w:
                audio.append(np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768)
        self.line_audio = audio
        self.voices = {}
        for index, clip in enumerate(self.clips):
            self.voices.setdefault(clip["voice"], {}).setdefault(clip["kind"], []).append(index)
        self.any_voice = {}
        for index, clip in enumerate(self.clips):
            self.any_voice.setdefault(clip["kind"], []).append(index)
        self.voice_names = [v for v, kinds in self.voices.items() if {"statement", "question", "fragment"} <= set(kinds)]

    def codes(self, index):
        clip = self.clips[index]
        return self.dmel[clip["start"] : clip["start"] + clip["frames"]]

    def line(self, name):
        return self.line_names.index(name)


class Conversation:
    """One conversation being laid out: the user's dMel and typed bytes, the assistant's
    labels."""

    def __init__(self, corpus, rng, turns):
        self.c, self.rng, self.turns = corpus, rng, turns
        self.frames = turns * FRAMES_PER_TURN
        self.user = np.zeros((self.frames, 80), np.uint8)
        self.typed = np.zeros((turns, 32), np.int64)
        self.control = np.zeros(turns, np.int64)
        self.text = np.zeros(turns, np.int64)
        self.line = np.full(turns, -1, np.int64)
        self.offset = np.zeros(turns, np.int64)

    def mix(self, codes, at, shift=0):
        """Adds `codes` from frame `at` (louder source wins per bin); returns its end frame."""
        end = min(self.frames, at + len(codes))
        if end > at:
            part = codes[: end - at].astype(np.int16) - shift
            np.maximum(self.user[at:end], np.clip(part, 0, 15).astype(np.uint8), out=self.user[at:end])
        return at + len(codes)

    def say(self, line, first_turn, last_turn=None):
        """The assistant speaks `line` from micro-turn `first_turn` (to `last_turn`, exclusive,
        when cut off); its text runs a byte per micro-turn (cut off with its speech)."""
        samples = len(self.c.line_audio[line])
        length = math.ceil(samples / SAMPLES_PER_TURN)
        end = first_turn + length if last_turn is None else min(last_turn, first_turn + length)
        for k, turn in enumerate(range(first_turn, min(end, self.turns))):
            self.control[turn] = SPEAK
            self.line[turn] = line
            self.offset[turn] = k * SAMPLES_PER_TURN
        text = self.c.line_text[line]
        text_end = first_turn + len(text) if last_turn is None else min(last_turn, first_turn + len(text))
        for k, turn in enumerate(range(first_turn, min(text_end, self.turns))):
            self.text[turn] = text[k]
        return first_turn + length


def first_turn_ending_after(frame):
    """The first micro-turn whose end is at or after `frame`."""
    return max(0, math.ceil(frame / FRAMES_PER_TURN) - 1)


def compose(corpus, rng, turns=150):
    """One conversation of `turns` micro-turns: dict of numpy arrays (see Conversation)."""
    conv = Conversation(corpus, rng, turns)
    voice = corpus.voices[corpus.voice_names[rng.integers(len(corpus.voice_names))]]
    def pick(kind):
        pool = voice.get(kind) or corpus.any_voice[kind]
        return pool[rng.integers(len(pool))]

    if rng.random() < 0.6:
        floor = corpus.floors[rng.integers(len(corpus.floors))]
        noise = corpus.noise[floor["start"] : floor["start"] + floor["frames"]]
        reps = math.ceil(conv.frames / len(noise))
        conv.mix(np.tile(noise, (reps, 1))[: conv.frames], 0)
    if rng.random() < 0.3:
        for _ in range(rng.integers(1, 4)):
            other = rng.integers(len(corpus.clips))
            conv.mix(corpus.codes(other), int(rng.integers(conv.frames)), shift=int(rng.integers(4, 9)))

    t = int(rng.uniform(0.2, 1.5) / FRAME_SECONDS)
    cut_in = None  # a cut-in already laid out: (its end frame, its kind)
    while t < conv.frames - 50:
        if cut_in:
            turn_end, kind = cut_in
            cut_in = None
        elif rng.random() < 0.08:
            # A typed message: its bytes in one micro-turn, no audio.
            message = TYPED_MESSAGES[rng.integers(len(TYPED_MESSAGES))].encode()
            turn = first_turn_ending_after(t)
            conv.typed[turn, : len(message)] = list(message)
            turn_end = (turn + 1) * FRAMES_PER_TURN
            kind = "typed-question" if message.endswith(b"?") else "typed"
        else:
            sentences = rng.choice([1, 2, 3, 4, 5], p=[0.35, 0.25, 0.2, 0.1, 0.1])
            spoken = 0.0
            since_backchannel = 0.0
            kind = "statement"
            for i in range(sentences):
                last = i == sentences - 1
                if i > 0:
                    gap = rng.uniform(0.15, 0.4) if sentences < 4 else rng.uniform(0.25, 0.45)
                    gap_frames = int(gap / FRAME_SECONDS)
                    if since_backchannel >= BACKCHANNEL_AFTER_SPEECH and gap >= 0.25 and rng.random() < 0.8:
                        first = first_turn_ending_after(t + int(0.2 / FRAME_SECONDS))
                        if first < turns and conv.control[first] == SILENT:
                            conv.say(corpus.line("backchannel"), first)
                            since_backchannel = 0.0
                    t += gap_frames
                if rng.random() < 0.25:
                    fragment = pick("fragment")
                    start = t
                    t = conv.mix(corpus.codes(fragment), t)
                    if last and rng.random() < 0.15:
                        kind = "abandoned"
                        break
                    t += int(rng.uniform(0.5, 2.6) / FRAME_SECONDS)
                    completion = corpus.clips[fragment]["completion"]
                    t = conv.mix(corpus.codes(completion), t)
                    kind = "completion"
                    duration = (t - start) * FRAME_SECONDS
                else:
                    kind = "question" if last and rng.random() < 0.5 else "statement"
                    clip = pick(kind)
                    start = t
                    t = conv.mix(corpus.codes(clip), t)
                    duration = (t - start) * FRAME_SECONDS
                spoken += duration
                since_backchannel += duration
                if t >= conv.frames:
                    break
            turn_end = t
        if turn_end >= conv.frames:
            break
        wait = ANSWER_AFTER["typed" if kind.startswith("typed") else kind]
        first = first_turn_ending_after(turn_end + int(wait / FRAME_SECONDS))
        if first >= turns:
            break
        line = corpus.line("answer" if kind in ("question", "typed-question") else "acknowledge")
        length = math.ceil(len(corpus.line_audio[line]) / SAMPLES_PER_TURN)
        if rng.random() < 0.35:
            # The user cuts in while the assistant speaks (heard from the end of `first`).
            heard = (first + 1) * FRAMES_PER_TURN
            u = heard + int(rng.uniform(0.1, length * 0.2 - 0.2) / FRAME_SECONDS)
            interruption = pick("interruption")
            end = conv.mix(corpus.codes(interruption), u)
            conv.say(line, first, first_turn_ending_after(u + STOP_AFTER_FRAMES))
            text = corpus.clips[interruption]["text"]
            cut_in = (end, "question" if text.endswith("?") else "statement")
            t = end
        else:
            conv.say(line, first)
            t = (first + length) * FRAMES_PER_TURN + int(rng.uniform(0.2, 3.0) / FRAME_SECONDS)
    return {
        "codes": conv.user.reshape(turns, FRAMES_PER_TURN, 80),
        "typed": conv.typed,
        "control": conv.control,
        "text": conv.text,
        "line": conv.line,
        "offset": conv.offset,
    }
