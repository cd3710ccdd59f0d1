/**
 * The TIMIT-sized stand-in: its speakers, its language (phone frequencies and durations against TIMIT's),
 * and a small corpus written by the same generator, checked on disk.
 */
import assert from "node:assert/strict";
import { fullSpeakers, fullUtterances } from "../lib/data/timit/full_timit.ts";
import { ensureMiniTimit } from "../lib/data/timit/mini_timit.ts";
import { parseTranscription } from "../lib/data/timit/phn.ts";
import { PHONES_61 } from "../lib/data/timit/phones.ts";
import { CORE_TEST_SPEAKERS, DEV_SPEAKERS } from "../lib/data/timit/speakers.ts";
import { RATE_RANGE } from "../lib/data/timit/standin_speech.ts";
import { TimitLanguage } from "../lib/data/timit/timit_language.ts";
import {
  TIMIT_PHONE_DURATION_MS,
  TIMIT_PHONES,
  TIMIT_SPEAKERS_BY_REGION,
} from "../lib/data/timit/timit_stats.ts";
import { readSphere } from "../lib/data/timit/sphere.ts";
import { Rng } from "../lib/rng.ts";

Deno.test("fullSpeakers() has TIMIT's speakers per region, part and sex, the core test and dev sets among them", () => {
  const spk = fullSpeakers(0);
  assert.equal(spk.length, 630);
  for (const [region, [tm, tf, sm, sf]] of Object.entries(TIMIT_SPEAKERS_BY_REGION)) {
    const n = (part: string, sex: string) =>
      spk.filter((s) => s.part === part && s.region === region.toUpperCase() && s.id[0] === sex).length;
    assert.deepEqual(
      [n("TRAIN", "M"), n("TRAIN", "F"), n("TEST", "M"), n("TEST", "F")],
      [tm, tf, sm, sf],
      region,
    );
  }
  const ids = spk.map((s) => s.id.toLowerCase());
  assert.equal(new Set(ids).size, 630, "IDs are unique");
  const test = new Set(spk.filter((s) => s.part === "TEST").map((s) => s.id.toLowerCase()));
  assert.ok([...CORE_TEST_SPEAKERS, ...DEV_SPEAKERS].every((s) => test.has(s)));
  assert.ok(spk.every((s) => /^[MF][A-Z]{3}[0-9]$/.test(s.id)));
  // A share keeps the core test set and a development-set speaker.
  const tenth = fullSpeakers(0, 0.1);
  const kept = new Set(tenth.map((s) => s.id.toLowerCase()));
  assert.ok([...CORE_TEST_SPEAKERS].every((s) => kept.has(s)));
  assert.ok([...DEV_SPEAKERS].some((s) => kept.has(s)));
  assert.equal(tenth.filter((s) => s.part === "TRAIN").length, 46);
});

Deno.test("the full stand-in's language has TIMIT's phone frequencies and durations", () => {
  // A whole TRAIN set's readings (462 speakers x 10), without audio.
  const [lo, hi] = RATE_RANGE;
  const lang = new TimitLanguage(new Rng("lang"), (lo + hi) / 2, (hi - lo) ** 2 / 12);
  const rng = new Rng("readings");
  const count = new Map<string, number>(), ms = new Map<string, number[]>();
  let tokens = 0, utterances = 0;
  for (let s = 0; s < 462; s++) {
    const voice = { rate: lo + (hi - lo) * rng.uniform() } as Parameters<TimitLanguage["duration"]>[1];
    const readings = [...lang.sa.map((x) => x.phones)];
    for (let i = 0; i < 8; i++) readings.push(lang.plan(lang.sentence(rng), rng));
    for (const r of readings) {
      utterances++;
      for (const { label } of r) {
        count.set(label, (count.get(label) ?? 0) + 1);
        ms.set(label, [...(ms.get(label) ?? []), lang.duration(label, voice, rng) / 16]);
        tokens++;
      }
    }
  }
  const timitTotal = Object.values(TIMIT_PHONES).reduce((n, v) => n + v[0], 0);
  let tvd = 0;
  for (const [label, [n]] of Object.entries(TIMIT_PHONES)) {
    tvd += Math.abs((count.get(label) ?? 0) / tokens - n / timitTotal) / 2;
  }
  // Measured: 0.013 (the SA sentences make eng, em, zh and ax-h as frequent as once a speaker).
  assert.ok(tvd < 0.02, `total variation distance from TIMIT's phone frequencies: ${tvd}`);
  assert.deepEqual([...count.keys()].sort(), [...PHONES_61].sort(), "every label, and only TIMIT's");
  const all = [...ms.values()].flat();
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const sd = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
  // Measured: 80.6 ms and 63.7 ms against TIMIT's 80.0 and 63.5; 3.05 s an utterance against 3.07.
  assert.ok(Math.abs(mean / TIMIT_PHONE_DURATION_MS.mean - 1) < 0.02, `mean ${mean} ms`);
  assert.ok(Math.abs(sd / TIMIT_PHONE_DURATION_MS.std - 1) < 0.03, `std ${sd} ms`);
  assert.ok(
    Math.abs(all.reduce((a, b) => a + b, 0) / utterances / 3065 - 1) < 0.03,
    "about 3 s an utterance",
  );
  for (const [label, [n, , timitMs]] of Object.entries(TIMIT_PHONES)) {
    if (n < 1000) continue;
    const m = ms.get(label)!.reduce((a, b) => a + b, 0) / ms.get(label)!.length;
    // Measured: within 3% for every label (b, the shortest, rounds to whole milliseconds).
    assert.ok(Math.abs(m / timitMs - 1) < 0.05, `${label}: ${m.toFixed(1)} ms against TIMIT's ${timitMs}`);
  }
});

Deno.test("fullUtterances(): SA1, SA2, 5 SX read by 7 speakers of the same part, 3 SI read once", () => {
  const spk = fullSpeakers(3, 0.2);
  const readers = new Map<string, Set<string>>(), si = new Set<string>();
  for (const { spk: s, list } of fullUtterances(3, spk)) {
    const names = list.map((u) => u.name);
    assert.deepEqual(names.slice(0, 2), ["SA1", "SA2"]);
    assert.equal(names.filter((n) => n.startsWith("SX")).length, 5);
    assert.equal(new Set(names).size, 10, `${s.id}: ten different sentences`);
    for (const n of names.filter((n) => n.startsWith("SX"))) {
      readers.set(n, (readers.get(n) ?? new Set()).add(`${s.part}/${s.id}`));
    }
    for (const n of names.filter((n) => n.startsWith("SI"))) {
      assert.ok(!si.has(n), `${n} read twice`);
      si.add(n);
    }
  }
  for (const [n, who] of readers) {
    assert.ok(who.size <= 7, `${n}: ${who.size} readers`);
    assert.equal(new Set([...who].map((w) => w.split("/")[0])).size, 1, `${n} is read in one part only`);
  }
  const full = [...readers.values()].filter((w) => w.size === 7).length;
  assert.ok(full >= readers.size - 2, "every SX text but the last of each part has 7 readers");
});

Deno.test({
  name: "a small corpus by the full generator: TIMIT's layout, all 61 labels, its speakers and sentences",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "full_timit_test_" });
    try {
      const r = await ensureMiniTimit(`${dir}/c`, { size: "full", fraction: 0.01, seed: 2 });
      const want = fullSpeakers(2, 0.01);
      assert.equal(r.utterances, 10 * want.length);
      const labels = new Set<string>();
      let utts = 0;
      for (const s of want) {
        const spkDir = `${dir}/c/${s.part}/${s.region}/${s.id}`;
        const files = [...Deno.readDirSync(spkDir)].map((e) => e.name).sort();
        assert.equal(files.length, 40, `${spkDir}: .WAV, .PHN, .WRD, .TXT of 10 sentences`);
        for (const f of files.filter((f) => f.endsWith(".PHN"))) {
          const base = f.slice(0, -4);
          assert.match(base, /^(SA[12]|SX\d+|SI\d+)$/);
          const phones = parseTranscription(await Deno.readTextFile(`${spkDir}/${f}`), f, "phn");
          const audio = readSphere(await Deno.readFile(`${spkDir}/${base}.WAV`), base);
          assert.equal(audio.sampleRate, 16000);
          assert.equal(phones[0].begin, 0);
          assert.equal(phones.at(-1)!.end, audio.samples.length, "the transcription covers the audio");
          assert.deepEqual([phones[0].label, phones.at(-1)!.label], ["h#", "h#"]);
          for (const p of phones) labels.add(p.label);
          utts++;
        }
      }
      assert.equal(utts, r.utterances);
      assert.deepEqual([...labels].sort(), [...PHONES_61].sort(), "all 61 TIMIT labels");
      const manifest = JSON.parse(await Deno.readTextFile(`${dir}/c/MINI_TIMIT.json`));
      assert.deepEqual([manifest.size, manifest.fraction, manifest.seed], ["full", 0.01, 2]);
      assert.equal(
        (await ensureMiniTimit(`${dir}/c`, { size: "full", fraction: 0.01, seed: 2 })).generated,
        false,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
