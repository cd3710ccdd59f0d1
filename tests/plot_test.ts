import assert from "node:assert/strict";
import { decode } from "fast-png";
import {
  Axes,
  Canvas,
  densityPlot,
  encodePng,
  formatTick,
  glyph,
  gridPoints,
  imageGrid,
  linePlot,
  matrixHeatmap,
  niceTicks,
  PALETTE,
  panels,
  type RGB,
  scatterPlot,
  TRAIN_GREY,
  trainingCurvePlot,
  viridis,
  WHITE,
  writePng,
} from "../lib/plot/mod.ts";

/** The canvas after a PNG round trip, so every assertion also checks the encoding. */
function viaPng(c: Canvas): Canvas {
  const img = decode(encodePng(c));
  assert.equal(img.channels, 3);
  assert.equal(img.depth, 8);
  const out = new Canvas(img.width, img.height);
  out.data.set(img.data as Uint8Array);
  return out;
}

Deno.test("encodePng() decodes to the same size and pixels", () => {
  const c = new Canvas(7, 5);
  c.fillRect(1, 1, 2, 3, [10, 20, 30]);
  c.set(6, 4, [255, 0, 0]);
  const d = viaPng(c);
  assert.deepEqual([d.width, d.height], [7, 5]);
  assert.deepEqual(d.get(1, 1), [10, 20, 30]);
  assert.deepEqual(d.get(2, 3), [10, 20, 30]);
  assert.deepEqual(d.get(3, 1), WHITE);
  assert.deepEqual(d.get(6, 4), [255, 0, 0]);
});

Deno.test("writePng() writes a decodable file atomically, leaving no temp file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = new Canvas(3, 2, [1, 2, 3]);
    await writePng(`${dir}/sub/a.png`, c);
    const img = decode(await Deno.readFile(`${dir}/sub/a.png`));
    assert.deepEqual([img.width, img.height, ...img.data.slice(0, 3)], [3, 2, 1, 2, 3]);
    const names = [...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name);
    assert.deepEqual(names, ["a.png"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("text() draws the 5x7 glyphs", () => {
  assert.deepEqual(glyph("I"), [0x00, 0x41, 0x7f, 0x41, 0x00]);
  assert.deepEqual(glyph("\u00e9"), glyph("?"));
  const c = viaPng((() => {
    const c = new Canvas(12, 7);
    c.text(0, 0, "I-");
    return c;
  })());
  for (let r = 0; r < 7; r++) assert.deepEqual(c.get(2, r), [0, 0, 0], `row ${r} of the stem of "I"`);
  assert.deepEqual(c.get(0, 3), WHITE);
  // "-" is the second glyph (advance 6): its bar is row 3.
  assert.deepEqual(c.get(8, 3), [0, 0, 0]);
  assert.deepEqual(c.get(8, 2), WHITE);
});

Deno.test("niceTicks() and formatTick() give round labels", () => {
  assert.deepEqual(niceTicks(0, 1, 5).map(formatTick), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
  assert.deepEqual(niceTicks(-3.3, 7.9, 5), [-2, 0, 2, 4, 6]);
  assert.equal(formatTick(123456), "1.2e5");
});

Deno.test("scatterPlot() puts a point where the axes map it", () => {
  const range = { xMin: -1, xMax: 1, yMin: -1, yMax: 1 };
  const c = viaPng(scatterPlot([0.5, -0.5], { range, width: 200, height: 150 }));
  assert.deepEqual([c.width, c.height], [200, 150]);
  const ax = new Axes(new Canvas(200, 150), range);
  const [px, py] = [Math.round(ax.px(0.5)), Math.round(ax.py(-0.5))];
  assert.deepEqual(c.get(px, py), PALETTE[0]);
  assert.deepEqual(c.get(Math.round(ax.px(-0.5)), Math.round(ax.py(0.5))), WHITE);
});

Deno.test("densityPlot() colours low values dark, high values bright, y upwards", () => {
  const range = { xMin: 0, xMax: 1, yMin: 0, yMax: 1 };
  const g = gridPoints(range, 4, 4);
  assert.deepEqual([g[0], g[1], g[2 * 5], g[2 * 5 + 1]], [0.125, 0.125, 0.375, 0.375]);
  const values = Array.from({ length: 16 }, (_, k) => Math.floor(k / 4)); // = row j, i.e. y
  const c = viaPng(densityPlot(values, 4, 4, range, { width: 120, height: 120 }));
  const ax = new Axes(new Canvas(120, 120), range);
  assert.deepEqual(c.get(Math.round(ax.px(0.5)), Math.round(ax.py(0.95))), viridis(1));
  assert.deepEqual(c.get(Math.round(ax.px(0.5)), Math.round(ax.py(0.05))), viridis(0));
  assert.deepEqual(viridis(0), [0x44, 0x01, 0x54]);
  assert.deepEqual(viridis(1), [0xfd, 0xe7, 0x25]);
});

function count(c: Canvas, color: RGB): number {
  let n = 0;
  for (let i = 0; i < c.data.length; i += 3) {
    if (c.data[i] === color[0] && c.data[i + 1] === color[1] && c.data[i + 2] === color[2]) n++;
  }
  return n;
}

Deno.test("linePlot() draws each series in its colour", () => {
  const c = viaPng(linePlot([
    { name: "a", x: [0, 1, 2], y: [0, 1, 0] },
    { name: "b", x: [0, 2], y: [2, 2], color: [200, 0, 200] },
  ], { title: "t" }));
  assert.deepEqual([c.width, c.height], [480, 320]);
  assert.ok(count(c, PALETTE[0]) > 300, "series a is drawn");
  assert.ok(count(c, [200, 0, 200]) > 300, "series b is drawn");
  assert.throws(() => linePlot([{ name: "bad", x: [1], y: [1, 2] }]), /series "bad" has 1 x, 2 y/);
});

Deno.test("matrixHeatmap() lays cells out row-major with row 0 on top", () => {
  const c = viaPng(matrixHeatmap([0, 1, 2, 3], 2, 2, { cellWidth: 10, cellHeight: 10, annotate: false }));
  // No title and no labels: cells start at (4, 4).
  assert.deepEqual(c.get(9, 9), viridis(0));
  assert.deepEqual(c.get(19, 9), viridis(1 / 3));
  assert.deepEqual(c.get(9, 19), viridis(2 / 3));
  assert.deepEqual(c.get(19, 19), viridis(1));
  assert.throws(() => matrixHeatmap([1, 2, 3], 2, 2), /expected 2x2 = 4 values, got 3/);
  const labelled = matrixHeatmap([1, 0, 0, 1], 2, 2, {
    rowLabels: ["ab", "c"],
    colLabels: ["x", "y"],
    title: "T",
  });
  assert.ok(labelled.width > 2 * 32 && labelled.height > 2 * 32);
});

Deno.test("imageGrid() places images in rows with padding and scale", () => {
  // Two 1x2 grey images: [0, 1] and [1, 0]; scale 2, pad 1, 1 per row.
  const c = viaPng(imageGrid([0, 1, 1, 0], 2, 1, 2, { perRow: 1, scale: 2, pad: 1 }));
  assert.deepEqual([c.width, c.height], [1 + 4 + 1, 1 + 2 * (2 + 1)]);
  assert.deepEqual(c.get(1, 1), [0, 0, 0]);
  assert.deepEqual(c.get(3, 2), [255, 255, 255]);
  assert.deepEqual(c.get(1, 4), [255, 255, 255]);
  assert.deepEqual(c.get(4, 5), [0, 0, 0]);
});

Deno.test("panels() puts canvases side by side under their titles", () => {
  const red = new Canvas(10, 10, [255, 0, 0]), blue = new Canvas(10, 10, [0, 0, 255]);
  const c = viaPng(panels([{ canvas: red, title: "r" }, { canvas: blue, title: "b" }], { pad: 4 }));
  // Title row: 7 px glyphs + 6 px gap; cells of 10 px with 4 px padding.
  assert.deepEqual([c.width, c.height], [4 + 2 * 14, 4 + 13 + 10 + 4]);
  assert.deepEqual(c.get(4 + 5, 4 + 13 + 5), [255, 0, 0]);
  assert.deepEqual(c.get(18 + 5, 4 + 13 + 5), [0, 0, 255]);
});

Deno.test("trainingCurvePlot() reads train and eval records from metrics.jsonl", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const recs = [
      { kind: "train", step: 10, loss: 2 },
      { kind: "train", step: 20, loss: 1.5 },
      { kind: "eval", split: "val", step: 20, nll: 1.7 },
      { kind: "epoch", step: 20, train_loss: 1.8 },
      { kind: "epoch", step: 40, train_loss: 1.3 },
      { kind: "eval", split: "val", step: 40, nll: 1.4 },
    ];
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const c = await trainingCurvePlot(`${dir}/metrics.jsonl`);
    assert.ok(count(c, TRAIN_GREY) > 50, "train loss drawn");
    assert.ok(count(c, PALETTE[0]) > 50, "epoch mean train loss drawn");
    assert.ok(count(c, PALETTE[2]) > 50, "val NLL drawn");
    await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"kind": "train"}\n{oops\n');
    await assert.rejects(() => trainingCurvePlot(`${dir}/bad.jsonl`), /line 2/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
