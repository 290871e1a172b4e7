/**
 * Camera frames to model input: decode a JPEG (npm jpeg-js, pure JS), center-crop it to the
 * grid's 4:3 aspect, resize it to 160x120 by area averaging (every source pixel counts, so
 * downscaling does not alias), and cut the grid into twelve 40x40 RGB patches, row-major.
 *
 * @module
 */
import jpeg from "jpeg-js";
import {
  PATCH_BYTES,
  PATCH_SIDE,
  PATCHES_PER_FRAME,
  VIDEO_GRID_HEIGHT,
  VIDEO_GRID_WIDTH,
} from "../protocol/media_format.ts";

/** Raised for bytes that are not a JPEG the edge accepts. */
export class MalformedVideoFrameError extends Error {
  /** @param reason what was wrong */
  constructor(reason: string) {
    super(`malformed video frame: ${reason}`);
    this.name = "MalformedVideoFrameError";
  }
}

/** An RGB image, 3 bytes a pixel, row-major. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height * 3` bytes. */
  data: Uint8Array;
}

/** Largest camera frame accepted, in megapixels (a 1080p frame is 2.1). */
const MAX_MEGAPIXELS = 4;

/** Decodes a JPEG to RGB; throws {@linkcode MalformedVideoFrameError}. */
export function decodeJpeg(bytes: Uint8Array): RgbImage {
  try {
    const image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: MAX_MEGAPIXELS,
      maxMemoryUsageInMB: 128,
    });
    if (image.width === 0 || image.height === 0) throw new Error("empty image");
    return { width: image.width, height: image.height, data: image.data };
  } catch (error) {
    throw new MalformedVideoFrameError(error instanceof Error ? error.message : String(error));
  }
}

/** Center-crops `image` to the grid's aspect and area-averages it down (or up) to the grid. */
export function resizeToGrid(image: RgbImage): RgbImage {
  const aspect = VIDEO_GRID_WIDTH / VIDEO_GRID_HEIGHT;
  let cropWidth = image.width;
  let cropHeight = image.height;
  if (cropWidth / cropHeight > aspect) cropWidth = cropHeight * aspect;
  else cropHeight = cropWidth / aspect;
  const left = (image.width - cropWidth) / 2;
  const top = (image.height - cropHeight) / 2;
  const scaleX = cropWidth / VIDEO_GRID_WIDTH;
  const scaleY = cropHeight / VIDEO_GRID_HEIGHT;
  const out = new Uint8Array(VIDEO_GRID_WIDTH * VIDEO_GRID_HEIGHT * 3);
  for (let y = 0; y < VIDEO_GRID_HEIGHT; y++) {
    const y0 = top + y * scaleY;
    const rows = span(y0, y0 + scaleY, image.height);
    for (let x = 0; x < VIDEO_GRID_WIDTH; x++) {
      const x0 = left + x * scaleX;
      const cols = span(x0, x0 + scaleX, image.width);
      let r = 0, g = 0, b = 0, weight = 0;
      for (const [sy, wy] of rows) {
        for (const [sx, wx] of cols) {
          const w = wy * wx;
          const at = (sy * image.width + sx) * 3;
          r += image.data[at] * w;
          g += image.data[at + 1] * w;
          b += image.data[at + 2] * w;
          weight += w;
        }
      }
      const to = (y * VIDEO_GRID_WIDTH + x) * 3;
      out[to] = Math.round(r / weight);
      out[to + 1] = Math.round(g / weight);
      out[to + 2] = Math.round(b / weight);
    }
  }
  return { width: VIDEO_GRID_WIDTH, height: VIDEO_GRID_HEIGHT, data: out };
}

/** Source pixels covering [from, to) and how much of each is covered. */
function span(from: number, to: number, limit: number): [number, number][] {
  const pixels: [number, number][] = [];
  const first = Math.floor(from);
  const last = Math.min(limit - 1, Math.max(first, Math.ceil(to) - 1));
  for (let p = first; p <= last; p++) {
    const cover = Math.min(to, p + 1) - Math.max(from, p);
    pixels.push([Math.min(p, limit - 1), Math.max(cover, 1e-6)]);
  }
  return pixels;
}

/** Cuts a grid-sized image into its patches: `PATCHES_PER_FRAME * PATCH_BYTES` bytes. */
export function cutPatches(grid: RgbImage): Uint8Array {
  const across = VIDEO_GRID_WIDTH / PATCH_SIDE;
  const patches = new Uint8Array(PATCHES_PER_FRAME * PATCH_BYTES);
  for (let p = 0; p < PATCHES_PER_FRAME; p++) {
    const px = (p % across) * PATCH_SIDE;
    const py = Math.floor(p / across) * PATCH_SIDE;
    for (let row = 0; row < PATCH_SIDE; row++) {
      const from = ((py + row) * grid.width + px) * 3;
      patches.set(
        grid.data.subarray(from, from + PATCH_SIDE * 3),
        p * PATCH_BYTES + row * PATCH_SIDE * 3,
      );
    }
  }
  return patches;
}

/** JPEG bytes to the frame's patches. */
export function jpegToPatches(bytes: Uint8Array): Uint8Array {
  return cutPatches(resizeToGrid(decodeJpeg(bytes)));
}
