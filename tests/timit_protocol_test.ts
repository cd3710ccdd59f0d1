/**
 * The genhmm protocol's pieces: window-majority frame labels, min-max statistics, the per-class
 * validation split, and the split counts of a fixture corpus under both protocols.
 */
import assert from "node:assert/strict";
import { openTimit } from "../lib/data/timit/dataset.ts";
import type { AudioTransform } from "../lib/data/timit/features.ts";
import { makeProtocol, perClassSplit } from "../lib/data/timit/protocol.ts";
import { classId } from "../lib/data/timit/phones.ts";
import type { Interval } from "../lib/data/timit/phn.ts";
import {
  checkNormStats,
  computeNormStats,
  logScalePerFrame,
  normalise,
  type SegmentSet,
  subsetSegments,
} from "../lib/data/timit/segment_set.ts";
import { majoritySegments } from "../lib/data/timit/segments.ts";
import { makeCorpus } from "./helpers/timit_fixture.ts";

const phones = (...p: [number, number, string][]): Interval[] =>
  p.map(([begin, end, label], i) => ({ begin, end, label, line: i + 1 }));
const brief = (s: ReturnType<typeof majoritySegments>) => s.map((x) => `${x.label}@${x.start}+${x.length}`);

Deno.test("majoritySegments() labels each frame with the phone holding most of its window", async (t) => {
  // win 4, hop 2, 5 frames: windows [0,4) [2,6) [4,8) [6,10) [8,12); the transcription is stretched to 12.
  await t.step("majorities, and the last phone stretched to the frames' extent", () => {
    const s = majoritySegments(phones([0, 3, "h#"], [3, 9, "aa"], [9, 10, "s"]), 5, 4, 2);
    assert.deepEqual(brief(s), ["h#@0+1", "aa@1+3", "s@4+1"]);
    assert.deepEqual(s.map((x) => x.folded), ["sil", "aa", "s"]);
    assert.equal(s[1].classId, classId("aa"));
  });
  await t.step("a tie goes to the earlier phone", () => {
    assert.deepEqual(brief(majoritySegments(phones([0, 6, "aa"], [6, 12, "iy"]), 5, 4, 2)), [
      "aa@0+3",
      "iy@3+2",
    ]);
  });
  await t.step("the first phone is pulled back to sample 0", () => {
    assert.deepEqual(brief(majoritySegments(phones([3, 5, "h#"], [5, 12, "s"]), 5, 4, 2)), [
      "h#@0+2",
      "s@2+3",
    ]);
  });
  await t.step("runs are cut where the TIMIT label changes, before folding; q is dropped", () => {
    // Frame 4's window [8, 12) ties q with s: q wins, and its segment is dropped.
    const s = majoritySegments(phones([0, 4, "pcl"], [4, 8, "tcl"], [8, 10, "q"], [10, 12, "s"]), 5, 4, 2);
    assert.deepEqual(brief(s), ["pcl@0+2", "tcl@2+2"]);
    assert.deepEqual(s.map((x) => x.folded), ["sil", "sil"]);
  });
  await t.step("two adjacent phones with one label are one segment", () => {
    assert.deepEqual(brief(majoritySegments(phones([0, 5, "h#"], [5, 12, "h#"]), 5, 4, 2)), ["h#@0+5"]);
  });
  await t.step("samples no phone covers vote for nothing; a window of them belongs to no segment", () => {
    // A gap [4, 8): frame 2's window [4, 8) has no vote.
    const s = majoritySegments(phones([0, 4, "aa"], [8, 12, "s"]), 5, 4, 2);
    assert.deepEqual(brief(s), ["aa@0+2", "s@3+2"]);
  });
  await t.step("TIMIT geometry: a 500-sample q owns 3 frames, a 120-sample phone none", () => {
    const s = majoritySegments(
      phones([0, 1000, "h#"], [1000, 2500, "aa"], [2500, 3000, "q"], [3000, 3120, "t"], [3120, 4800, "s"]),
      28,
      400,
      160,
    );
    assert.deepEqual(brief(s), ["h#@0+6", "aa@6+9", "s@18+10"]);
  });
});

function setOf(rows: number[][], labels: number[], lengths: number[]): SegmentSet {
  const D = rows[0].length;
  const offsets = lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0));
  return {
    frameDim: D,
    frames: Float32Array.from(rows.flat()),
    offsets: Int32Array.from(offsets),
    lengths: Int32Array.from(lengths),
    labels: Int32Array.from(labels),
    utterance: new Int32Array(lengths.length),
    utteranceIds: ["u"],
  };
}

Deno.test("min-max statistics map the training frames onto [0, 1]; a constant column stays as it is", () => {
  const set = setOf([[0, 1, -2], [0, 3, 4], [0, 2, 1]], [0, 1], [2, 1]);
  const st = computeNormStats(set, "minmax");
  assert.deepEqual(st, { method: "minmax", frameDim: 3, count: 3, offset: [0, 1, -2], scale: [1, 2, 6] });
  assert.deepEqual(Array.from(normalise(set, st).frames), [0, 0, 0, 0, 1, 1, 0, 0.5, 0.5]);
  const z = computeNormStats(set, "zscore");
  assert.equal(z.method, "zscore");
  assert.deepEqual(z.offset, [0, 2, 1]);
  assert.equal(z.scale[0], 1);
  assert.ok(Math.abs(z.scale[1] - Math.sqrt(2 / 3)) < 1e-12);
});

Deno.test("logScalePerFrame(): a normalised NLL per frame plus it is the NLL per frame of the features", () => {
  // A diagonal Gaussian fitted to the frames: its NLL in feature space, computed directly, against the NLL of
  // the z-scored frames under N(0, I) plus the offset (the z-scores of the fit are exactly those frames').
  const rows = [[1, 10, -3], [2, 14, -1], [4, 11, -2], [5, 17, -6]];
  const st = computeNormStats(setOf(rows, [0], [4]), "zscore");
  const nllFeatures =
    rows.flatMap((r) =>
      r.map((x, d) =>
        0.5 * ((x - st.offset[d]) / st.scale[d]) ** 2 + Math.log(st.scale[d]) + 0.5 * Math.log(2 * Math.PI)
      )
    ).reduce((a, b) => a + b, 0) / rows.length;
  const nllNormalised =
    rows.flatMap((r) =>
      r.map((x, d) => 0.5 * ((x - st.offset[d]) / st.scale[d]) ** 2 + 0.5 * Math.log(2 * Math.PI))
    ).reduce((a, b) => a + b, 0) / rows.length;
  assert.ok(Math.abs(nllNormalised + logScalePerFrame(st) - nllFeatures) < 1e-12);
  assert.ok(Math.abs(logScalePerFrame(st) - st.scale.reduce((s, v) => s + Math.log(v), 0)) < 1e-15);
  // A constant dimension (scale 1) adds nothing.
  assert.equal(logScalePerFrame({ ...st, scale: [1, 1, 1] }), 0);
});

Deno.test("checkNormStats() reads both methods and the statistics files written before min-max", () => {
  const st = computeNormStats(setOf([[1, 2], [3, 5]], [0], [2]), "minmax");
  assert.deepEqual(checkNormStats(JSON.parse(JSON.stringify(st))), st);
  const legacy = { frameDim: 2, count: 2, mean: [2, 3.5], std: [1, 1.5] };
  assert.deepEqual(checkNormStats(legacy), {
    method: "zscore",
    frameDim: 2,
    count: 2,
    offset: [2, 3.5],
    scale: [1, 1.5],
  });
  assert.throws(() => checkNormStats({ ...st, method: "median" }, "x.json"), /Bad x\.json.*minmax/);
  assert.throws(() => checkNormStats({ ...st, scale: [1, 0] }), /scale\[frameDim\] > 0/);
});

Deno.test("perClassSplit() holds out the same share of every class, seeded, disjoint and complete", () => {
  const labels = Int32Array.from([...Array(18).fill(0), ...Array(9).fill(1), ...Array(9).fill(2)]);
  labels.reverse(); // classes need not come in order
  const a = perClassSplit(labels, 0.2, 7);
  const count = (ids: number[], c: number) => ids.filter((i) => labels[i] === c).length;
  assert.deepEqual([0, 1, 2].map((c) => count(a.train, c)), [14, 7, 7], "floor(0.8 n) train");
  assert.deepEqual([0, 1, 2].map((c) => count(a.val, c)), [4, 2, 2]);
  assert.deepEqual([...a.train, ...a.val].sort((x, y) => x - y), [...labels.keys()]);
  assert.deepEqual(perClassSplit(labels, 0.2, 7), a, "the same seed, the same split");
  assert.notDeepEqual(perClassSplit(labels, 0.2, 8).val, a.val, "another seed, another split");
  assert.throws(() => perClassSplit(labels, 1, 0), /validation fraction must be in \(0, 1\), got 1/);
});

Deno.test("subsetSegments() copies the chosen segments back to back", () => {
  const set = setOf([[1], [2], [3], [4], [5], [6]], [0, 1, 2], [1, 2, 3]);
  const sub = subsetSegments(set, [2, 0]);
  assert.deepEqual(Array.from(sub.frames), [4, 5, 6, 1]);
  assert.deepEqual(Array.from(sub.offsets), [0, 3]);
  assert.deepEqual(Array.from(sub.lengths), [3, 1]);
  assert.deepEqual(Array.from(sub.labels), [2, 0]);
});

// A fixture corpus: every utterance has 4800 samples (28 frames) and the phones h# aa q s h#, which give
// 4 segments under either labelling (q dropped): sil, aa, s, sil.
const tmp = await Deno.makeTempDir({ prefix: "timit_protocol_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
await makeCorpus(`${tmp}/corpus`, {
  speakers: [
    ["train", "dr1", "mabc0"],
    ["train", "dr2", "fdef0"],
    ["train", "dr3", "mghi0"],
    ["test", "dr1", "mdab0"], // core test
    ["test", "dr1", "faks0"], // development set
    ["test", "dr2", "mxyz0"], // neither
  ],
  utterances: ["sa1", "sa2", "si10", "sx20"],
});

Deno.test("split counts of a fixture corpus under the genhmm and echoflow protocols", async (t) => {
  await t.step("genhmm: all of TRAIN with SA, 80/20 per class; all of TEST with SA; min-max", async () => {
    const timit = await openTimit({
      timitDir: `${tmp}/corpus`,
      protocol: makeProtocol("genhmm", { frameDim: 40, kaldi: { dither: 0 } }),
      split: { seed: 3 },
      cacheDir: `${tmp}/cache`,
    });
    const [train, val, test] = [await timit.load("train"), await timit.load("val"), await timit.load("test")];
    // TRAIN: 3 speakers x 4 utterances x 4 segments = 48: sil 24, aa 12, s 12.
    const per = (s: typeof train, c: string) => s.segments.labels.filter((l) => l === classId(c)).length;
    assert.deepEqual(["sil", "aa", "s"].map((c) => per(train, c)), [19, 9, 9]);
    assert.deepEqual(["sil", "aa", "s"].map((c) => per(val, c)), [5, 3, 3]);
    assert.equal(test.segments.lengths.length, 3 * 4 * 4, "every TEST speaker, SA sentences included");
    assert.equal(test.numUtterances, 12);
    assert.ok(test.segments.utteranceIds.some((u) => u.endsWith("/sa1")));
    assert.equal(train.stats.method, "minmax");
    const frames = (s: typeof train) => s.segments.lengths.reduce((a, b) => a + b, 0);
    assert.equal(frames(train) + frames(val), 3 * 4 * 25, "28 frames an utterance, 3 of them q's");
    assert.equal(train.stats.count, frames(train) + frames(val), "statistics of all TRAIN frames");
    // Over train and val together every feature spans [0, 1]; the zero column stays 0.
    const D = 40, lo = new Array(D).fill(Infinity), hi = new Array(D).fill(-Infinity);
    for (const s of [train, val]) {
      s.segments.frames.forEach((v, i) => {
        lo[i % D] = Math.min(lo[i % D], v);
        hi[i % D] = Math.max(hi[i % D], v);
      });
    }
    assert.deepEqual([lo[0], hi[0]], [0, 0]);
    for (let d = 1; d < D; d++) {
      assert.ok(Math.abs(lo[d]) < 1e-6 && Math.abs(hi[d] - 1) < 1e-6, `dim ${d}: [${lo[d]}, ${hi[d]}]`);
    }
  });
  await t.step("echoflow: SA left out, dev50 validation, core test; z-scores", async () => {
    const timit = await openTimit({ timitDir: `${tmp}/corpus`, cacheDir: `${tmp}/cache` });
    const [train, val, test] = [await timit.load("train"), await timit.load("val"), await timit.load("test")];
    assert.equal(train.segments.lengths.length, 3 * 2 * 4);
    assert.deepEqual(val.speakers, ["faks0"]);
    assert.deepEqual(test.speakers, ["mdab0"]);
    assert.equal(train.stats.method, "zscore");
  });
});

Deno.test("loadTest() caches changed test audio apart from the clean test set and by what changed it", async () => {
  const timit = await openTimit({
    timitDir: `${tmp}/corpus`,
    protocol: makeProtocol("genhmm", { kaldi: { dither: 0 } }),
    cacheDir: `${tmp}/noisecache`,
  });
  let applied = 0;
  const gain = (g: number): AudioTransform => ({
    label: `gain_${g}`,
    key: { gain: g },
    apply: (samples) => {
      applied++;
      return Promise.resolve(Float32Array.from(samples, (v, i) => g * v + ((i * 7919) % 13)));
    },
  });
  const clean = await timit.load("test");
  const first = await timit.loadTest(gain(0.5));
  assert.equal(first.cacheHit, false);
  assert.equal(applied, 12, "every test utterance changed once");
  assert.notDeepEqual(first.segments.frames, clean.segments.frames);
  assert.deepEqual(first.stats, clean.stats, "normalised with the clean training statistics");
  const again = await timit.loadTest(gain(0.5));
  assert.equal(again.cacheHit, true);
  assert.equal(applied, 12, "a cache hit changes no audio");
  assert.deepEqual(again.segments.frames, first.segments.frames);
  const other = await timit.loadTest(gain(0.25));
  assert.equal(other.cacheHit, false, "another transform, another cache file");
  const reopened = await openTimit({
    timitDir: `${tmp}/corpus`,
    protocol: makeProtocol("genhmm", { kaldi: { dither: 0 } }),
    cacheDir: `${tmp}/noisecache`,
  });
  const cleanAgain = await reopened.load("test");
  assert.equal(cleanAgain.cacheHit, true, "the clean test set keeps its own cache");
  assert.deepEqual(cleanAgain.segments.frames, clean.segments.frames);
});
