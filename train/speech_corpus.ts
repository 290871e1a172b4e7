/**
 * The words of the training conversations: sentences built from templates, so thousands of
 * distinct utterances come from a few lists. None of them is one of the interactivity
 * benchmark's own sentences (eval/duplex_sample_generator.ts): the model is judged on speech it
 * never heard.
 *
 * - statements end a thought with a period;
 * - questions end with a question mark (espeak-ng gives them a question's intonation);
 * - fragments stop where a speaker pauses to think (on "to", "that", "is", "could", ...), and
 *   have a completion that finishes the sentence after the pause;
 * - interruptions are short cut-ins ("Wait a second.");
 * - the assistant's lines are what the trained model says.
 *
 * @module
 */

const SUBJECTS = [
  "My friend",
  "The neighbors",
  "Our teacher",
  "My brother",
  "The kids",
  "My boss",
  "The doctor",
  "A woman at work",
  "My grandmother",
  "The new student",
  "We",
  "They",
  "I",
  "My cousin",
  "The man next door",
  "Our coach",
];

/** Verb phrases, past tense and base form side by side. */
const ACTIONS: [string, string][] = [
  ["found a cheap flight", "find a cheap flight"],
  ["painted the kitchen", "paint the kitchen"],
  ["lost the car keys", "lose the car keys"],
  ["fixed the old bicycle", "fix the old bicycle"],
  ["baked a chocolate cake", "bake a chocolate cake"],
  ["watched a very long movie", "watch a very long movie"],
  ["cleaned the whole garage", "clean the whole garage"],
  ["visited the city zoo", "visit the city zoo"],
  ["read a book about history", "read a book about history"],
  ["bought a blue winter jacket", "buy a blue winter jacket"],
  ["missed the last bus home", "catch the last bus home"],
  ["planted a lemon tree", "plant a lemon tree"],
  ["wrote a letter to the mayor", "write a letter to the mayor"],
  ["called the bank twice", "call the bank"],
  ["ordered a huge pizza", "order a huge pizza"],
  ["moved the piano upstairs", "move the piano upstairs"],
  ["sold the old sofa", "sell the old sofa"],
  ["started a running club", "start a running club"],
  ["forgot the birthday party", "remember the birthday party"],
  ["repaired the kitchen sink", "repair the kitchen sink"],
];

const TIMES = [
  "yesterday",
  "last week",
  "this afternoon",
  "on Sunday",
  "after dinner",
  "before work",
  "in the morning",
  "two days ago",
  "",
];

const QUESTION_OPENINGS = [
  "Do you know how to",
  "Can you help me",
  "What is the best way to",
  "Where can I learn to",
  "How often should I",
  "Why is it so hard to",
  "Is it a good idea to",
  "Could you tell me how to",
  "When is the right time to",
  "Should I",
];

const QUESTION_ACTIONS = [
  "bake bread at home",
  "learn to swim",
  "save more money",
  "fix a flat tire",
  "grow herbs indoors",
  "train a puppy",
  "write a good resume",
  "study for exams",
  "paint a small room",
  "plan a cheap trip",
  "sleep better",
  "cook fresh fish",
];

/** Openings that leave a sentence unfinished, each with the kind of ending it takes. */
const FRAGMENT_OPENINGS: [string, "base" | "past" | "noun"][] = [
  ["wanted to", "base"],
  ["was going to", "base"],
  ["is planning to", "base"],
  ["was trying to", "base"],
  ["said that we", "past"],
  ["told me that they", "past"],
  ["thinks that I", "past"],
  ["could", "base"],
  ["should", "base"],
  ["would", "base"],
];

const FRAGMENT_FRAMES: [string, "base" | "past" | "noun"][] = [
  ["The thing I need is", "noun"],
  ["What I really want is", "noun"],
  ["The best part was", "noun"],
  ["The problem with the plan is", "noun"],
  ["So yesterday we went to the", "noun"],
  ["I think that maybe we could", "base"],
  ["Honestly, the reason is that", "past"],
  ["And then after that we", "past"],
];

const NOUN_ENDINGS = [
  "a quiet place to work.",
  "the little market by the river.",
  "a bit more time.",
  "the view from the top.",
  "that nobody had a map.",
  "a new pair of shoes.",
];

const INTERRUPTIONS = [
  "Wait a second.",
  "Hold on, one thing.",
  "No, no, that is not it.",
  "Sorry, let me stop you there.",
  "Hang on, I have a question.",
  "Excuse me, quick question.",
  "Stop, that is enough.",
  "Sorry, what did you say?",
  "Wait, can you repeat that?",
];

/** What the user says, with how it ends a turn. */
export interface UserLine {
  /** Text spoken. */
  text: string;
  /** How it ends: a statement, a question, a fragment (to be continued) or its completion. */
  kind: "statement" | "question" | "fragment" | "completion" | "interruption";
  /** For a fragment: its completion's index in the same list. */
  completion?: number;
}

/** Builds the user's lines: `count` of each kind, reproducibly from `random`. */
export function userLines(count: number, random: () => number): UserLine[] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const lines: UserLine[] = [];
  const lower = (s: string) => s === "I" ? s : s.toLowerCase();
  for (let i = 0; i < count; i++) {
    const [past] = pick(ACTIONS);
    const time = pick(TIMES);
    lines.push({ text: `${pick(SUBJECTS)} ${past}${time ? " " + time : ""}.`, kind: "statement" });
    lines.push({ text: `${pick(QUESTION_OPENINGS)} ${pick(QUESTION_ACTIONS)}?`, kind: "question" });
    const [opening, ending] = random() < 0.6
      ? ((o) => [`${pick(SUBJECTS)} ${o[0]}`, o[1]] as const)(pick(FRAGMENT_OPENINGS))
      : pick(FRAGMENT_FRAMES);
    const [action, base] = pick(ACTIONS);
    const completion = ending === "noun"
      ? pick(NOUN_ENDINGS)
      : `${ending === "base" ? base : action} ${pick(TIMES) || "soon"}.`;
    lines.push({ text: opening, kind: "fragment", completion: lines.length + 1 });
    lines.push({ text: completion.replace(/^\w/, (c) => lower(c)), kind: "completion" });
    if (i % 3 === 0) lines.push({ text: pick(INTERRUPTIONS), kind: "interruption" });
  }
  return lines;
}

/** The assistant's lines: what it answers to a question, to a statement, and its backchannel. */
export const ASSISTANT_LINES = {
  answer: "Good question, let me think about it.",
  acknowledge: "I see. Tell me more about that.",
  backchannel: "Mm hmm.",
} as const;
