import assert from "node:assert/strict";
import { type Corpus, loadUtterance, scanCorpus, selectSplit } from "../lib/data/timit/corpus.ts";
import { CorpusError } from "../lib/data/timit/errors.ts";
import { extractSegments } from "../lib/data/timit/features.ts";
import { makeProtocol } from "../lib/data/timit/protocol.ts";
import {
  checkNormStats,
  computeNormStats,
  denormalise,
  normalise,
  segmentFrames,
  sequences,
} from "../lib/data/timit/segment_set.ts";
import { classId } from "../lib/data/timit/phones.ts";
import { DEFAULT_SPLIT_OPTIONS } from "../lib/data/timit/speakers.ts";
import { Logger } from "../lib/runner/logger.ts";
import { exists } from "../lib/runner/run_dir.ts";
import { type Fixture, makeCorpus, N } from "./helpers/timit_fixture.ts";

const ECHOFLOW = makeProtocol("echoflow");
const STANDARD: Fixture["speakers"] = [
  ["train", "dr1", "mabc0"],
  ["train", "dr2", "fdef0"],
  ["train", "dr3", "mghi0"],
  ["train", "dr4", "mjkl0"],
  ["test", "dr1", "mdab0"], // core test
  ["test", "dr1", "faks0"], // development set
  ["test", "dr5", "mzzz9"], // neither
];

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "timit_corpus_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsCorpus(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CorpusError, `expected CorpusError, got ${e}`);
    for (const s of parts) assert.ok(e.message.includes(s), `"${e.message}" should mention "${s}"`);
    return true;
  });
}

Deno.test("scanCorpus() walks upper- and lower-case layouts, SPHERE and .WAV.wav audio", async (t) => {
  for (
    const [name, fx] of [
      ["upper case, SPHERE", { speakers: STANDARD }],
      ["lower case, RIFF .wav.wav", { lower: true, riff: true, speakers: STANDARD }],
    ] as const
  ) {
    await t.step(name, () =>
      withTemp(async (dir) => {
        await makeCorpus(dir, fx);
        const c = await scanCorpus(dir);
        assert.equal(c.utterances.length, 7 * 2, "SA sentences left out by default");
        assert.ok(c.utterances.every((u) => u.id !== "sa1" && u.speaker === u.speaker.toLowerCase()));
        assert.deepEqual(
          [...new Set(c.utterances.map((u) => `${u.part}/${u.dialect}/${u.speaker}`))].sort(),
          STANDARD.map(([p, d, s]) => `${p}/${d}/${s}`).sort(),
        );
        assert.equal((await scanCorpus(dir, { includeSA: true })).utterances.length, 21);
        const u = c.utterances[0];
        assert.ok(u.wrdPath && u.txtPath);
        const { audio, phones } = await loadUtterance(u);
        assert.equal(audio.samples.length, N);
        assert.deepEqual(phones.map((p) => p.label), ["h#", "aa", "q", "s", "h#"]);
      }));
  }
  await t.step("the corpus may sit one directory down (timit/TIMIT/TRAIN)", () =>
    withTemp(async (dir) => {
      await makeCorpus(`${dir}/TIMIT`, { speakers: STANDARD.slice(0, 1) });
      const c = await scanCorpus(dir);
      assert.equal(c.root, `${dir}/TIMIT`);
      assert.equal(c.utterances.length, 2);
    }));
});

Deno.test("bad corpus input is refused naming the file and line", async (t) => {
  const one: Fixture["speakers"] = [["train", "dr1", "mabc0"]];
  await t.step("a .PHN boundary past the end of the audio", () =>
    withTemp(async (dir) => {
      await makeCorpus(dir, { speakers: one });
      const phn = `${dir}/TRAIN/DR1/MABC0/SI10.PHN`;
      await Deno.writeTextFile(phn, `0 1000 h#\n1000 ${N + 1} aa\n`);
      const u = (await scanCorpus(dir)).utterances.find((x) => x.id === "si10")!;
      await rejectsCorpus(loadUtterance(u), `${phn}:2`, "past the end of the audio", `${N} samples`);
    }));
  await t.step("an unknown label", () =>
    withTemp(async (dir) => {
      await makeCorpus(dir, { speakers: one });
      const phn = `${dir}/TRAIN/DR1/MABC0/SX20.PHN`;
      await Deno.writeTextFile(phn, `0 1000 h#\n1000 2000 xx\n`);
      const u = (await scanCorpus(dir)).utterances.find((x) => x.id === "sx20")!;
      await rejectsCorpus(loadUtterance(u), `${phn}:2`, `"xx"`);
    }));
  await t.step("a malformed line", () =>
    withTemp(async (dir) => {
      await makeCorpus(dir, { speakers: one });
      const phn = `${dir}/TRAIN/DR1/MABC0/SX20.PHN`;
      await Deno.writeTextFile(phn, `0 1000 h#\n1000 2000\n`);
      const u = (await scanCorpus(dir)).utterances.find((x) => x.id === "sx20")!;
      await rejectsCorpus(loadUtterance(u), `${phn}:2`, "expected");
    }));
  await t.step("a missing .PHN", () =>
    withTemp(async (dir) => {
      await makeCorpus(dir, { speakers: one });
      await Deno.remove(`${dir}/TRAIN/DR1/MABC0/SI10.PHN`);
      await rejectsCorpus(scanCorpus(dir), `${dir}/TRAIN/DR1/MABC0/SI10.PHN`, "missing phone transcription");
    }));
  await t.step("a truncated SPHERE header", () =>
    withTemp(async (dir) => {
      await makeCorpus(dir, { speakers: one });
      const wav = `${dir}/TRAIN/DR1/MABC0/SI10.WAV`;
      await Deno.writeFile(wav, (await Deno.readFile(wav)).slice(0, 300));
      const u = (await scanCorpus(dir)).utterances.find((x) => x.id === "si10")!;
      await rejectsCorpus(loadUtterance(u), wav, "truncated SPHERE header");
    }));
  await t.step(
    "empty directories: the corpus root, a dialect region, a speaker",
    () =>
      withTemp(async (dir) => {
        await rejectsCorpus(scanCorpus(dir), dir, "empty directory");
        await Deno.mkdir(`${dir}/TRAIN/DR1`, { recursive: true });
        await rejectsCorpus(scanCorpus(dir), `${dir}/TRAIN/DR1`, "no speaker");
        await Deno.mkdir(`${dir}/TRAIN/DR1/MABC0`);
        await rejectsCorpus(scanCorpus(dir), `${dir}/TRAIN/DR1/MABC0`, "empty directory");
      }),
  );
});

Deno.test("skipBad turns bad files into counted warnings and keeps the good ones", () =>
  withTemp(async (dir) => {
    await makeCorpus(dir, { speakers: STANDARD.slice(0, 2) });
    const spk = `${dir}/TRAIN/DR1/MABC0`;
    await Deno.remove(`${spk}/SI10.PHN`); // structure problem: found while scanning
    await Deno.writeTextFile(`${spk}/SX20.PHN`, `0 1000 zz\n`); // content problem: found while extracting
    await Deno.mkdir(`${dir}/TRAIN/DR2/MEMP0`); // an empty speaker directory
    await assert.rejects(scanCorpus(dir), CorpusError);
    const c = await scanCorpus(dir, { skipBad: true });
    assert.equal(c.skipped.length, 2);
    assert.ok(
      c.skipped.some((s) => s.file.endsWith("SI10.PHN")) && c.skipped.some((s) => s.file.endsWith("MEMP0")),
    );
    assert.equal(c.utterances.length, 3);
    const lines: string[] = [];
    const log = new Logger({ err: (s) => lines.push(s), tty: false });
    await assert.rejects(
      extractSegments(c, c.utterances, ECHOFLOW, { cacheDir: null, label: "x" }),
      /zz/,
    );
    const e = await extractSegments(c, c.utterances, ECHOFLOW, {
      cacheDir: null,
      label: "x",
      skipBad: true,
      log,
    });
    assert.equal(e.skipped.length, 1);
    assert.ok(e.skipped[0].file.endsWith("SX20.PHN"));
    assert.equal(e.segments.utteranceIds.length, 2);
    assert.equal(lines.filter((l) => l.startsWith("warning: skipping")).length, 1);
  }));

Deno.test("selectSplit() implements the core test, dev50, seeded and full test splits", () =>
  withTemp(async (dir) => {
    await makeCorpus(dir, { speakers: STANDARD });
    const c = await scanCorpus(dir);
    const who = (split: "train" | "val" | "test", o = {}) =>
      [...new Set(selectSplit(c, split, { ...DEFAULT_SPLIT_OPTIONS, ...o }).map((u) => u.speaker))].sort();
    assert.deepEqual(who("train"), ["fdef0", "mabc0", "mghi0", "mjkl0"]);
    assert.deepEqual(who("val"), ["faks0"]);
    assert.deepEqual(who("test"), ["mdab0"]);
    assert.deepEqual(
      who("test", { fullTest: true }),
      ["mdab0", "mzzz9"],
      "dev speakers stay out of the test set",
    );
    const seeded = { valSet: "seeded", valFraction: 0.25, seed: 3 };
    const val = who("val", seeded), train = who("train", seeded);
    assert.equal(val.length, 1);
    assert.equal(train.length, 3);
    assert.ok(!train.includes(val[0]) && ["fdef0", "mabc0", "mghi0", "mjkl0"].includes(val[0]));
    assert.deepEqual(who("val", seeded), val, "same seed, same split");
    const others = new Set([0, 1, 2, 4, 5, 6, 7, 8].map((seed) => who("val", { ...seeded, seed })[0]));
    assert.ok(others.size > 1, "the seed changes the split");
    assert.deepEqual(who("test", { ...seeded, fullTest: true }), ["faks0", "mdab0", "mzzz9"]);
    const noCore: Corpus = { ...c, utterances: c.utterances.filter((u) => u.speaker !== "mdab0") };
    assert.throws(
      () => selectSplit(noCore, "test", DEFAULT_SPLIT_OPTIONS),
      /none of the 24 core-test speakers/,
    );
  }));

Deno.test("extractSegments() caches on disk: hit on the second call, miss when config or files change", () =>
  withTemp(async (dir) => {
    await makeCorpus(`${dir}/c`, { speakers: STANDARD.slice(0, 2) });
    const c = await scanCorpus(`${dir}/c`);
    const cacheDir = `${dir}/cache`;
    const lines: string[] = [];
    const log = new Logger({ err: (s) => lines.push(s), tty: false });
    const first = await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir, label: "train", log });
    assert.equal(first.cacheHit, false);
    assert.ok(lines.some((l) => l.startsWith("mfcc train 4/4")), "progress bar while computing");
    // 4 utterances x (h#, aa, s, h#): q is dropped.
    assert.equal(first.segments.lengths.length, 16);
    assert.deepEqual([...new Set(Array.from(first.segments.labels))].length, 3);
    const second = await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir, label: "train" });
    assert.equal(second.cacheHit, true);
    assert.equal(second.cacheFile, first.cacheFile);
    assert.deepEqual(second.segments.frames, first.segments.frames);
    assert.deepEqual(second.segments.lengths, first.segments.lengths);
    assert.deepEqual(second.segments.offsets, first.segments.offsets);
    assert.deepEqual(second.segments.labels, first.segments.labels);
    assert.deepEqual(second.segments.utteranceIds, first.segments.utteranceIds);
    assert.ok(
      [...Deno.readDirSync(cacheDir)].every((e) => !e.name.includes(".tmp-")),
      "no temporary files left",
    );
    const other = await extractSegments(
      c,
      c.utterances,
      makeProtocol("echoflow", { mfcc: { numFilters: 24 } }),
      {
        cacheDir,
        label: "train",
      },
    );
    assert.equal(other.cacheHit, false);
    await Deno.writeTextFile(c.utterances[0].phnPath, `0 3000 h#\n3000 ${N} aa\n`);
    const edited = await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir, label: "train" });
    assert.equal(edited.cacheHit, false);
    assert.equal(edited.segments.lengths.length, 14);
    await Deno.writeFile(edited.cacheFile!, new TextEncoder().encode("garbage"));
    const lines2: string[] = [];
    const log2 = new Logger({ err: (s) => lines2.push(s), tty: false });
    const again = await extractSegments(c, c.utterances, ECHOFLOW, {
      cacheDir,
      label: "train",
      log: log2,
    });
    assert.equal(again.cacheHit, false);
    assert.ok(lines2.some((l) => l.includes("ignoring unreadable feature cache")));
    // One flipped bit in the frames: the checksum catches it, the cache is rebuilt, the features are right.
    const bytes = await Deno.readFile(again.cacheFile!);
    bytes[bytes.length - 5] ^= 0x10;
    await Deno.writeFile(again.cacheFile!, bytes);
    const lines3: string[] = [];
    const log3 = new Logger({ err: (s) => lines3.push(s), tty: false });
    const rebuilt = await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir, label: "train", log: log3 });
    assert.equal(rebuilt.cacheHit, false);
    assert.ok(
      lines3.some((l) => /ignoring unreadable feature cache .* \(checksum \d+ does not match/.test(l)),
    );
    assert.deepEqual(rebuilt.segments.frames, edited.segments.frames);
    const fixed = await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir, label: "train" });
    assert.equal(fixed.cacheHit, true, "the rebuilt cache is read back");
    // A temporary left by a writer that died (no such process) is removed; a live writer's is not.
    const dead = `${edited.cacheFile}.tmp-2147483646-deadbeef`,
      live = `${edited.cacheFile}.tmp-${Deno.pid}-0000`;
    for (const f of [dead, live]) await Deno.writeTextFile(f, "partial");
    await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir, label: "train" });
    assert.ok(!exists(dead) && exists(live));
  }));

Deno.test("normalisation statistics whiten the training frames and survive JSON; sequences() by class", () =>
  withTemp(async (dir) => {
    await makeCorpus(dir, { speakers: STANDARD.slice(0, 2) });
    const c = await scanCorpus(dir);
    const { segments } = await extractSegments(c, c.utterances, ECHOFLOW, { cacheDir: null, label: "t" });
    const stats = checkNormStats(JSON.parse(JSON.stringify(computeNormStats(segments))));
    assert.equal(stats.count, segments.frames.length / 39);
    const z = normalise(segments, stats);
    for (let d = 0; d < 39; d++) {
      let m = 0, v = 0;
      for (let n = 0; n < stats.count; n++) m += z.frames[n * 39 + d] / stats.count;
      for (let n = 0; n < stats.count; n++) v += (z.frames[n * 39 + d] - m) ** 2 / stats.count;
      assert.ok(Math.abs(m) < 1e-4 && Math.abs(v - 1) < 1e-3, `dim ${d}: mean ${m}, var ${v}`);
    }
    const back = denormalise(segmentFrames(z, 3), stats);
    const orig = segmentFrames(segments, 3);
    for (let i = 0; i < orig.length; i++) {
      assert.ok(Math.abs(back[i] - orig[i]) < 1e-3 * (1 + Math.abs(orig[i])));
    }
    assert.throws(
      () => checkNormStats({ ...stats, scale: stats.scale.slice(1) }),
      /Bad normalisation statistics/,
    );
    const aa = sequences(z, classId("aa"));
    assert.equal(aa.length, 4);
    assert.equal(sequences(z).length, z.lengths.length);
    const second = z.labels.indexOf(classId("aa"), z.labels.indexOf(classId("aa")) + 1);
    assert.deepEqual(aa[1], segmentFrames(z, second));
    // 'aa' spans samples [1000, 2500): the centres 160 t + 200 in it are t = 5..14, 10 frames.
    assert.ok(aa.every((x) => x.length === 10 * 39));
  }));
