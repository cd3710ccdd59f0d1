/**
 * A small RGB raster canvas and PNG output (encoded by fast-png), the base of every echoflow picture.
 *
 * Coordinates are pixels, origin top-left, x to the right, y down; drawing outside the canvas is clipped.
 * {@link writePng} writes atomically (temp file + rename), so a reader never sees a half-written image.
 */
import { encode } from "fast-png";
import { dirname, writeFileAtomic } from "../runner/run_dir.ts";
import { rasterText, textWidth } from "./font.ts";

/** An sRGB colour, components 0-255. */
export type RGB = readonly [number, number, number];

export const WHITE: RGB = [255, 255, 255];
export const BLACK: RGB = [0, 0, 0];
export const GREY: RGB = [160, 160, 160];
/** Distinguishable series colours (matplotlib's tab10). */
export const PALETTE: readonly RGB[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

export class Canvas {
  /** Row-major RGB bytes, `height * width * 3`. */
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: RGB = WHITE) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1)) {
      throw new Error(`Canvas: size must be positive integers, got ${width}x${height}`);
    }
    this.data = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** Sets one pixel (rounded coordinates; ignored outside the canvas). */
  set(x: number, y: number, c: RGB): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
  }

  /** The colour at (x, y). */
  get(x: number, y: number): RGB {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) {
      throw new Error(`Canvas.get: (${x}, ${y}) is outside ${this.width}x${this.height}`);
    }
    const i = (y * this.width + x) * 3;
    return [this.data[i], this.data[i + 1], this.data[i + 2]];
  }

  /** Fills the rectangle with top-left (x, y) and size w x h. */
  fillRect(x: number, y: number, w: number, h: number, c: RGB): void {
    const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w)), y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 3;
        this.data[i] = c[0];
        this.data[i + 1] = c[1];
        this.data[i + 2] = c[2];
      }
    }
  }

  /** A 1-pixel rectangle outline. */
  strokeRect(x: number, y: number, w: number, h: number, c: RGB): void {
    this.fillRect(x, y, w, 1, c);
    this.fillRect(x, y + h - 1, w, 1, c);
    this.fillRect(x, y, 1, h, c);
    this.fillRect(x + w - 1, y, 1, h, c);
  }

  /** A straight line of the given width (DDA: one step per pixel along the longer axis). */
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, width = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (width - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps, y = y0 + ((y1 - y0) * s) / steps;
      if (width <= 1) this.set(x, y, c);
      else this.fillRect(x - r, y - r, width, width, c);
    }
  }

  /** Draws `text` with its top-left corner at (x, y); `scale` magnifies the 5x7 font. */
  text(x: number, y: number, text: string, c: RGB = BLACK, scale = 1): void {
    rasterText(text, Math.round(x), Math.round(y), scale, (px, py) => this.set(px, py, c));
  }

  /** Draws `text` centred horizontally on `cx`. */
  textCentered(cx: number, y: number, text: string, c: RGB = BLACK, scale = 1): void {
    this.text(cx - textWidth(text, scale) / 2, y, text, c, scale);
  }

  /** Copies `src` with its top-left corner at (x, y). */
  blit(src: Canvas, x: number, y: number): void {
    for (let yy = 0; yy < src.height; yy++) {
      const ty = y + yy;
      if (ty < 0 || ty >= this.height) continue;
      for (let xx = 0; xx < src.width; xx++) {
        const tx = x + xx;
        if (tx < 0 || tx >= this.width) continue;
        const si = (yy * src.width + xx) * 3, ti = (ty * this.width + tx) * 3;
        this.data[ti] = src.data[si];
        this.data[ti + 1] = src.data[si + 1];
        this.data[ti + 2] = src.data[si + 2];
      }
    }
  }
}

/** The canvas as PNG bytes (8-bit RGB). */
export function encodePng(c: Canvas): Uint8Array {
  return encode({ width: c.width, height: c.height, data: c.data, channels: 3, depth: 8 });
}

/** Writes the canvas as a PNG at `path`, atomically (temp file + rename); creates the parent directory. */
export async function writePng(path: string, c: Canvas): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, encodePng(c));
}
