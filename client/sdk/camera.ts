/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Camera capture: getUserMedia video into an (optionally visible) video element, frames drawn
 * to a canvas and compressed to JPEG on demand.
 *
 * @module
 */

/** A running camera; stop it to release the device. */
export class Camera {
  readonly #stream: MediaStream;
  readonly #video: HTMLVideoElement;
  readonly #canvas: HTMLCanvasElement;

  private constructor(stream: MediaStream, video: HTMLVideoElement) {
    this.#stream = stream;
    this.#video = video;
    this.#canvas = document.createElement("canvas");
  }

  /** Asks for the camera; shows it in `preview` when given. */
  static async open(preview?: HTMLVideoElement): Promise<Camera> {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
    });
    const video = preview ?? document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.srcObject = stream;
    await video.play();
    return new Camera(stream, video);
  }

  /** The current frame as JPEG bytes (at most 640 px wide), or undefined before the first. */
  async capture(quality = 0.7): Promise<Uint8Array | undefined> {
    const { videoWidth, videoHeight } = this.#video;
    if (!videoWidth || !videoHeight) return undefined;
    const scale = Math.min(1, 640 / videoWidth);
    this.#canvas.width = Math.round(videoWidth * scale);
    this.#canvas.height = Math.round(videoHeight * scale);
    this.#canvas.getContext("2d")!.drawImage(
      this.#video,
      0,
      0,
      this.#canvas.width,
      this.#canvas.height,
    );
    const blob = await new Promise<Blob | null>((resolve) =>
      this.#canvas.toBlob(resolve, "image/jpeg", quality)
    );
    return blob ? new Uint8Array(await blob.arrayBuffer()) : undefined;
  }

  /** Stops capture and releases the device. */
  stop(): void {
    for (const track of this.#stream.getTracks()) track.stop();
    this.#video.srcObject = null;
  }
}
