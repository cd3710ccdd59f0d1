import assert from "node:assert/strict";
import { loadUtterance, scanCorpus, selectSplit } from "../lib/data/timit/corpus.ts";
import { openTimit } from "../lib/data/timit/dataset.ts";
import { ensureMiniTimit, writeMiniTimit } from "../lib/data/timit/mini_timit.ts";
import { parseTranscription } from "../lib/data/timit/phn.ts";
import { foldPhone } from "../lib/data/timit/phones.ts";
import { labelNames } from "../lib/data/timit/segment_set.ts";
import { CORE_TEST_SPEAKERS, DEFAULT_SPLIT_OPTIONS, DEV_SPEAKERS } from "../lib/data/timit/speakers.ts";
import { parseSphereHeader } from "../lib/data/timit/sphere.ts";
import { Logger } from "../lib/runner/logger.ts";

const SMALL = { trainSpeakers: 3 };

/** Every file under `dir` (relative path -> SHA-256 hex), for comparing two generated corpora. */
async function digest(dir: string, rel = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(`${dir}${rel}`)) {
    const r = `${rel}/${e.name}`;
    if (e.isDirectory) { for (const [k, v] of await digest(dir, r)) out.set(k, v); }
    else {
      const h = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}${r}`));
      out.set(r, Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join(""));
    }
  }
  return out;
}

const tmp = await Deno.makeTempDir({ prefix: "mini_timit_test_" });
const a = `${tmp}/a`;
const t0 = performance.now();
const count = await writeMiniTimit(a, { seed: 5, ...SMALL });
const seconds = (performance.now() - t0) / 1000;

Deno.test("writeMiniTimit() is deterministic: same seed, identical bytes; other seed, other bytes", async () => {
  await writeMiniTimit(`${tmp}/b`, { seed: 5, ...SMALL });
  await writeMiniTimit(`${tmp}/c`, { seed: 6, ...SMALL });
  const [da, db, dc] = await Promise.all([digest(a), digest(`${tmp}/b`), digest(`${tmp}/c`)]);
  assert.equal(da.size, count * 4 + 1, "4 files per utterance and the manifest");
  assert.deepEqual(da, db);
  assert.notDeepEqual([...da.values()], [...dc.values()]);
  // 11 speakers x 10 utterances, generated quickly (seconds, not minutes, on a shared 2-core machine).
  assert.equal(count, 110);
  assert.ok(seconds < 20, `generation took ${seconds.toFixed(1)} s`);
});

Deno.test("mini_timit is in the TIMIT on-disk format and passes the corpus reader", async (t) => {
  const c = await scanCorpus(a, { includeSA: true });
  assert.equal(c.utterances.length, count);
  await t.step("layout: TRAIN/TEST, DR folders, F/M speaker IDs, SA/SI/SX names", () => {
    for (const u of c.utterances) {
      assert.match(
        u.audioPath,
        /\/(TRAIN|TEST)\/DR[1-8]\/[FM][A-Z]{3}[0-9]\/(SA[12]|SI[0-9]+|SX[0-9]+)\.WAV$/,
      );
    }
    const perSpeaker = new Map<string, string[]>();
    for (const u of c.utterances) perSpeaker.set(u.speaker, [...(perSpeaker.get(u.speaker) ?? []), u.id]);
    for (const ids of perSpeaker.values()) {
      assert.deepEqual(ids.map((i) => i.slice(0, 2)).sort(), [
        "sa",
        "sa",
        "si",
        "si",
        "si",
        "sx",
        "sx",
        "sx",
        "sx",
        "sx",
      ]);
    }
  });
  await t.step("SPHERE header: 1024 bytes, NIST_1A, TIMIT fields", async () => {
    const u = c.utterances[0];
    const bytes = await Deno.readFile(u.audioPath);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 16)), "NIST_1A\n   1024\n");
    const h = parseSphereHeader(bytes, u.audioPath);
    assert.equal(h.fields.get("utterance_id"), `${u.speaker.slice(1)}_${u.id}`);
    assert.equal(h.fields.get("sample_rate"), 16000);
    assert.equal(bytes.length, 1024 + 2 * (h.fields.get("sample_count") as number));
  });
  await t.step(
    "transcriptions tile the audio; words lie on phone boundaries; TXT spans the file",
    async () => {
      for (const u of c.utterances) {
        const { audio, phones } = await loadUtterance(u);
        assert.equal(phones[0].begin, 0);
        assert.equal(phones[phones.length - 1].end, audio.samples.length);
        for (let i = 1; i < phones.length; i++) assert.equal(phones[i].begin, phones[i - 1].end);
        const starts = new Set(phones.map((p) => p.begin)), ends = new Set(phones.map((p) => p.end));
        const words = parseTranscription(await Deno.readTextFile(u.wrdPath!), u.wrdPath!, "wrd");
        assert.ok(words.length >= 3);
        for (const w of words) assert.ok(starts.has(w.begin) && ends.has(w.end), `${u.wrdPath}:${w.line}`);
        const [txt] = parseTranscription(await Deno.readTextFile(u.txtPath!), u.txtPath!, "txt");
        assert.equal(txt.end, audio.samples.length);
        assert.equal(txt.label.split(" ").length, words.length);
      }
    },
  );
  await t.step("at least 8 distinct 39-class phones of several kinds", async () => {
    const folded = new Set<string>();
    for (const u of c.utterances) {
      for (const p of (await loadUtterance(u)).phones) folded.add(foldPhone(p.label) ?? "-");
    }
    for (const p of ["iy", "aa", "uw", "eh", "n", "m", "s", "sh", "t", "k", "sil"]) {
      assert.ok(folded.has(p), p);
    }
  });
  await t.step("test speakers are real core-test and development speakers; the splits find them", () => {
    const test = new Set(c.utterances.filter((u) => u.part === "test").map((u) => u.speaker));
    assert.ok([...test].some((s) => CORE_TEST_SPEAKERS.has(s)) && [...test].some((s) => DEV_SPEAKERS.has(s)));
    const train = c.utterances.filter((u) => u.part === "train").map((u) => u.speaker);
    assert.ok(train.every((s) => !CORE_TEST_SPEAKERS.has(s) && !DEV_SPEAKERS.has(s)));
    const speakers = (s: "val" | "test") =>
      new Set(selectSplit(c, s, DEFAULT_SPLIT_OPTIONS).map((u) => u.speaker));
    assert.ok([...speakers("test")].every((s) => CORE_TEST_SPEAKERS.has(s)));
    assert.ok([...speakers("val")].every((s) => DEV_SPEAKERS.has(s)));
  });
});

Deno.test("ensureMiniTimit() reuses a complete copy and refuses to replace a foreign directory", async () => {
  const dir = `${tmp}/ensure`;
  const first = await ensureMiniTimit(dir, { seed: 1, trainSpeakers: 1 });
  assert.equal(first.generated, true);
  const again = await ensureMiniTimit(dir, { seed: 1, trainSpeakers: 1 });
  assert.equal(again.generated, false);
  assert.equal(again.utterances, first.utterances);
  await Deno.mkdir(`${tmp}/foreign`);
  await assert.rejects(ensureMiniTimit(`${tmp}/foreign`, { seed: 1 }), /has no MINI_TIMIT.json/);
});

Deno.test("openTimit() on the stand-in: normalised segments of every split, loud stand-in notice", async () => {
  const lines: string[] = [];
  const log = new Logger({ err: (s) => lines.push(s), tty: false });
  const timit = await openTimit({ timitDir: null, standInDir: a, cacheDir: `${tmp}/cache`, log });
  assert.equal(timit.standIn, true);
  assert.ok(lines.some((l) => l.includes("SYNTHETIC STAND-IN") && l.includes("--timit_dir")));
  const train = await timit.load("train");
  const test = await timit.load("test");
  const val = await timit.load("val");
  assert.deepEqual(train.stats, test.stats);
  assert.equal(train.segments.frameDim, 39);
  assert.ok(new Set(labelNames(train.segments)).size >= 8);
  let m = 0;
  for (let i = 0; i < train.segments.frames.length; i += 39) m += train.segments.frames[i];
  assert.ok(
    Math.abs(m / (train.segments.frames.length / 39)) < 1e-3,
    "training frames have mean 0 after normalisation",
  );
  assert.ok(
    test.speakers.every((s) => CORE_TEST_SPEAKERS.has(s)) && val.speakers.every((s) => DEV_SPEAKERS.has(s)),
  );
  const reopened = await openTimit({ timitDir: a, cacheDir: `${tmp}/cache` });
  assert.equal(reopened.bundled, false);
  assert.equal(
    reopened.standIn,
    true,
    "a corpus echoflow made (MINI_TIMIT.json) is a stand-in wherever it lies",
  );
  assert.equal((await reopened.load("test")).cacheHit, true);
});

globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
