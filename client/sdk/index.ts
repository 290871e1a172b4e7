/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The browser SDK's public surface, served bundled at `/client/sdk.js`:
 *
 * ```js
 * import { InteractionClient } from "/client/sdk.js";
 * const client = new InteractionClient({ camera: true });
 * client.addEventListener("output", (e) => console.log(e.detail.text));
 * await client.start();
 * ```
 *
 * @module
 */
export {
  type ClientState,
  type ClientStats,
  InteractionClient,
  type InteractionClientOptions,
} from "./interaction_client.ts";
export { type OpusEncoderChoice, OpusUnsupportedError } from "./microphone.ts";
