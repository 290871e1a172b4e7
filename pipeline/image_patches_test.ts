import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import {
  cutPatches,
  decodeJpeg,
  jpegToPatches,
  MalformedVideoFrameError,
  resizeToGrid,
} from "./image_patches.ts";
import { PATCH_BYTES, PATCH_SIDE, PATCHES_PER_FRAME } from "../protocol/media_format.ts";

/** A JPEG whose 4x3 blocks have distinct colours, optionally with red bands left and right. */
function blocksJpeg(width: number, height: number, band = 0): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  const inner = width - 2 * band;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 4;
      data[at + 3] = 255;
      if (x < band || x >= width - band) {
        data[at] = 255;
        continue;
      }
      const block = Math.floor(((x - band) / inner) * 4) + 4 * Math.floor((y / height) * 3);
      [data[at], data[at + 1], data[at + 2]] = colour(block);
    }
  }
  return jpeg.encode({ data, width, height }, 90).data;
}

const colour = (block: number): [number, number, number] => [0, 20 * block, 240 - 20 * block];

/** Mean RGB of a patch's central 20x20 (away from JPEG and resize edge effects). */
function centreColour(patches: Uint8Array, p: number): number[] {
  const sum = [0, 0, 0];
  for (let y = 10; y < 30; y++) {
    for (let x = 10; x < 30; x++) {
      for (let c = 0; c < 3; c++) sum[c] += patches[p * PATCH_BYTES + (y * PATCH_SIDE + x) * 3 + c];
    }
  }
  return sum.map((v) => v / 400);
}

Deno.test("a 4:3 camera frame becomes twelve 40x40 patches, row-major, colours kept", () => {
  const patches = jpegToPatches(blocksJpeg(640, 480));
  assert.equal(patches.length, PATCHES_PER_FRAME * PATCH_BYTES);
  for (let p = 0; p < PATCHES_PER_FRAME; p++) {
    const [r, g, b] = centreColour(patches, p);
    const [er, eg, eb] = colour(p);
    assert.ok(
      Math.abs(r - er) < 12 && Math.abs(g - eg) < 12 && Math.abs(b - eb) < 12,
      `patch ${p}: ${[r, g, b]}`,
    );
  }
});

Deno.test("a wide frame is centre-cropped to 4:3, not squashed", () => {
  // 16:9: the central 4:3 region is 480 wide; 80 px bands on each side must not show.
  const patches = jpegToPatches(blocksJpeg(640, 360, 80));
  for (let p = 0; p < PATCHES_PER_FRAME; p++) {
    const [r] = centreColour(patches, p);
    assert.ok(r < 20, `patch ${p} shows the cropped band (red ${r})`);
  }
  const grid = resizeToGrid(decodeJpeg(blocksJpeg(64, 48)));
  assert.equal(cutPatches(grid).length, PATCHES_PER_FRAME * PATCH_BYTES, "upscaling works too");
});

Deno.test("bytes that are not a JPEG are refused with a typed error", () => {
  assert.throws(() => decodeJpeg(new Uint8Array([0xff, 0xd8, 1, 2, 3])), MalformedVideoFrameError);
  assert.throws(() => decodeJpeg(new Uint8Array(0)), MalformedVideoFrameError);
});
