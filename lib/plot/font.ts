/**
 * A 5x7 bitmap font for printable ASCII (32-126): the classic HD44780-style glyph table used by many
 * LCD libraries. Each glyph is 5 columns; each column a byte whose bit r (LSB = top) is row r.
 * Characters outside the table draw as '?'. Enough for titles, tick labels and legends without bundling
 * a font file and a rasteriser.
 */

// deno-fmt-ignore
const GLYPHS =
  "0000000000" + "00005f0000" + "0007000700" + "147f147f14" + "242a7f2a12" + "2313086462" + "3649552250" +
  "0005030000" + "001c224100" + "0041221c00" + "082a1c2a08" + "08083e0808" + "0050300000" + "0808080808" +
  "0060600000" + "2010080402" + "3e5149453e" + "00427f4000" + "4261514946" + "2141454b31" + "1814127f10" +
  "2745454539" + "3c4a494930" + "0171090503" + "3649494936" + "064949291e" + "0036360000" + "0056360000" +
  "0814224100" + "1414141414" + "0041221408" + "0201510906" + "324979413e" + "7e1111117e" + "7f49494936" +
  "3e41414122" + "7f4141221c" + "7f49494941" + "7f09090101" + "3e41415132" + "7f0808087f" + "00417f4100" +
  "2040413f01" + "7f08142241" + "7f40404040" + "7f0204027f" + "7f0408107f" + "3e4141413e" + "7f09090906" +
  "3e4151215e" + "7f09192946" + "4649494931" + "01017f0101" + "3f4040403f" + "1f2040201f" + "7f2018207f" +
  "6314081463" + "0304780403" + "6151494543" + "007f414100" + "0204081020" + "0041417f00" + "0402010204" +
  "4040404040" + "0001020400" + "2054545478" + "7f48444438" + "3844444420" + "384444487f" + "3854545418" +
  "087e090102" + "081454543c" + "7f08040478" + "00447d4000" + "2040443d00" + "007f102844" + "00417f4000" +
  "7c04180478" + "7c08040478" + "3844444438" + "7c14141408" + "081414187c" + "7c08040408" + "4854545420" +
  "043f444020" + "3c4040207c" + "1c2040201c" + "3c4030403c" + "4428102844" + "0c5050503c" + "4464544c44" +
  "0008364100" + "00007f0000" + "0041360800" + "0201020402";

/** Glyph width and height in pixels (before scaling); characters advance by `GLYPH_W + 1`. */
export const GLYPH_W = 5, GLYPH_H = 7;

/** Column bytes of the glyph for `ch` (5 numbers). */
export function glyph(ch: string): number[] {
  let code = ch.charCodeAt(0);
  if (!(code >= 32 && code <= 126)) code = 63;
  const off = (code - 32) * 10;
  return Array.from({ length: GLYPH_W }, (_, i) => parseInt(GLYPHS.slice(off + 2 * i, off + 2 * i + 2), 16));
}

/** Width in pixels of `text` drawn at `scale` (no trailing gap). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_W + 1) - 1) * scale;
}

/** Calls `plot(x, y)` for every lit pixel of `text` with its top-left corner at (x, y). */
export function rasterText(
  text: string,
  x: number,
  y: number,
  scale: number,
  plot: (px: number, py: number) => void,
): void {
  for (let k = 0; k < text.length; k++) {
    const cols = glyph(text[k]);
    const x0 = x + k * (GLYPH_W + 1) * scale;
    for (let c = 0; c < GLYPH_W; c++) {
      for (let r = 0; r < GLYPH_H; r++) {
        if (!((cols[c] >> r) & 1)) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) plot(x0 + c * scale + dx, y + r * scale + dy);
        }
      }
    }
  }
}
