import assert from "node:assert/strict";
import { readAudio } from "../lib/data/timit/corpus.ts";
import { CorpusError } from "../lib/data/timit/errors.ts";
import { parseSphereHeader, readSphere, writeSphere } from "../lib/data/timit/sphere.ts";
import { readWav, writeWav } from "../lib/data/timit/wav.ts";

const enc = new TextEncoder();

function someSamples(n: number): Int16Array {
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = ((i * 7919) % 65536) - 32768;
  x[0] = -32768;
  x[1] = 32767;
  return x;
}

/** A SPHERE file from header lines written by hand (padded to `size`) and raw sample bytes. */
function handMade(lines: string[], size: number, data: Uint8Array): Uint8Array {
  const text = `NIST_1A\n${String(size).padStart(7)}\n${lines.join("\n")}\nend_head\n`.padEnd(size, " ");
  const out = new Uint8Array(size + data.length);
  out.set(enc.encode(text));
  out.set(data, size);
  return out;
}

function assertCorpusError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CorpusError, `expected CorpusError, got ${e}`);
    for (const p of parts) assert.ok(e.message.includes(p), `"${e.message}" should mention "${p}"`);
    return true;
  });
}

Deno.test("writeSphere() and readSphere() round-trip samples in both byte orders", async (t) => {
  const x = someSamples(1001);
  for (const byteFormat of ["01", "10"] as const) {
    await t.step(`sample_byte_format ${byteFormat}`, () => {
      const bytes = writeSphere(x, { byteFormat, utteranceId: "dab0_sa1" });
      assert.equal(bytes.length, 1024 + 2 * x.length);
      const a = readSphere(bytes, "x.wav");
      assert.equal(a.sampleRate, 16000);
      assert.deepEqual(a.samples, x);
      const h = parseSphereHeader(bytes, "x.wav");
      assert.equal(h.headerSize, 1024);
      assert.equal(h.fields.get("utterance_id"), "dab0_sa1");
      assert.equal(h.fields.get("sample_count"), 1001);
      assert.equal(h.fields.get("sample_min"), -32768);
      assert.equal(h.fields.get("sample_max"), 32767);
      assert.equal(h.fields.get("sample_byte_format"), byteFormat);
    });
  }
});

Deno.test("readSphere() parses a TIMIT header written by hand, big-endian data and all field types", () => {
  // Samples 1, -2, 258 big-endian: 00 01, FF FE, 01 02.
  const data = new Uint8Array([0x00, 0x01, 0xff, 0xfe, 0x01, 0x02]);
  const bytes = handMade(
    [
      "database_id -s5 TIMIT",
      "database_version -s3 1.0",
      "utterance_id -s8 aks0_sa1",
      "channel_count -i 1",
      "sample_count -i 3",
      "sample_rate -i 8000",
      "sample_n_bytes -i 2",
      "sample_byte_format -s2 10",
      "sample_sig_bits -i 16",
      "sample_coding -s3 pcm",
      "sample_checksum -r 1.5",
      "prompt -s13 two words too",
    ],
    1024,
    data,
  );
  const h = parseSphereHeader(bytes, "a.wav");
  assert.equal(h.fields.get("sample_checksum"), 1.5);
  assert.equal(h.fields.get("prompt"), "two words too");
  assert.equal(h.fields.get("database_id"), "TIMIT");
  const a = readSphere(bytes, "a.wav");
  assert.equal(a.sampleRate, 8000);
  assert.deepEqual(Array.from(a.samples), [1, -2, 258]);
});

Deno.test("readSphere() refuses compressed and unsupported audio naming the file and the field", async (t) => {
  const x = someSamples(10);
  const cases: [string, Record<string, number | string>, string][] = [
    ["shorten", { sample_coding: "pcm,embedded-shorten-v2.00" }, "sample_coding"],
    ["mu-law", { sample_coding: "ulaw" }, "sample_coding"],
    ["8-bit", { sample_n_bytes: 1 }, "sample_n_bytes"],
    ["stereo", { channel_count: 2 }, "channel_count"],
    ["byte order", { sample_byte_format: "0123" }, "sample_byte_format"],
  ];
  for (const [name, fields, field] of cases) {
    await t.step(name, () => {
      assertCorpusError(
        () => readSphere(writeSphere(x, { fields }), "DR1/MDAB0/SI1.WAV"),
        "DR1/MDAB0/SI1.WAV",
        field,
      );
    });
  }
  await t.step("shorten names the fix", () => {
    const bytes = writeSphere(x, { fields: { sample_coding: "pcm,embedded-shorten-v2.00" } });
    assertCorpusError(() => readSphere(bytes, "f.wav"), "shorten", "sph2pipe");
  });
  await t.step("missing sample_byte_format", () => {
    const bytes = handMade(
      ["sample_count -i 1", "sample_rate -i 16000", "sample_n_bytes -i 2"],
      1024,
      new Uint8Array(2),
    );
    assertCorpusError(() => readSphere(bytes, "g.wav"), "g.wav", "sample_byte_format");
  });
});

Deno.test("readSphere() refuses truncated headers and audio", async (t) => {
  const bytes = writeSphere(someSamples(100));
  await t.step("file shorter than the header size", () => {
    assertCorpusError(
      () => readSphere(bytes.slice(0, 500), "t.wav"),
      "t.wav",
      "truncated SPHERE header",
      "1024",
    );
  });
  await t.step("file shorter than the first two lines", () => {
    assertCorpusError(() => readSphere(bytes.slice(0, 10), "t.wav"), "t.wav", "truncated");
  });
  await t.step("no end_head inside the header", () => {
    const text = "NIST_1A\n   1024\nsample_count -i 3\n".padEnd(1024, " ");
    assertCorpusError(() => parseSphereHeader(enc.encode(text), "u.wav"), "u.wav", "end_head");
  });
  await t.step("fewer samples than sample_count", () => {
    assertCorpusError(() => readSphere(bytes.slice(0, 1024 + 150), "v.wav"), "v.wav", "sample_count is 100");
  });
  await t.step("a malformed field line names its line number", () => {
    const bad = handMade(["sample_count -i 3", "sample_rate 16000"], 1024, new Uint8Array(6));
    assertCorpusError(() => parseSphereHeader(bad, "w.wav"), "w.wav:4", "sample_rate 16000");
  });
  await t.step("not SPHERE at all", () => {
    assertCorpusError(
      () => readSphere(enc.encode("RIFF....WAVEfmt and more"), "x.wav"),
      "x.wav",
      "not a NIST SPHERE",
    );
  });
});

Deno.test("readWav() reads RIFF PCM, skipping other chunks, and refuses other formats", async (t) => {
  const x = someSamples(77);
  await t.step("round trip", () => {
    const a = readWav(writeWav(x, 16000), "a.WAV.wav");
    assert.equal(a.sampleRate, 16000);
    assert.deepEqual(a.samples, x);
  });
  await t.step("an odd-sized LIST chunk before data is skipped with its pad byte", () => {
    const plain = writeWav(x, 16000);
    const list = new Uint8Array([...enc.encode("LIST"), 3, 0, 0, 0, 97, 98, 99, 0]);
    const bytes = new Uint8Array(plain.length + list.length);
    bytes.set(plain.subarray(0, 36));
    bytes.set(list, 36);
    bytes.set(plain.subarray(36), 36 + list.length);
    assert.deepEqual(readWav(bytes, "b.wav").samples, x);
  });
  await t.step("stereo and 8-bit are refused naming the field", () => {
    const st = writeWav(x, 16000);
    new DataView(st.buffer).setUint16(22, 2, true);
    assertCorpusError(() => readWav(st, "c.wav"), "c.wav", "channel count 2");
    const b8 = writeWav(x, 16000);
    new DataView(b8.buffer).setUint16(34, 8, true);
    assertCorpusError(() => readWav(b8, "d.wav"), "d.wav", "bits per sample 8");
  });
  await t.step("truncated data chunk", () => {
    assertCorpusError(() => readWav(writeWav(x).slice(0, 60), "e.wav"), "e.wav", "truncated WAVE data");
  });
});

Deno.test("readAudio() tells SPHERE from RIFF by content, not by name", () => {
  const x = someSamples(20);
  assert.deepEqual(readAudio(writeSphere(x), "a.WAV.wav").samples, x);
  assert.deepEqual(readAudio(writeWav(x), "b.WAV").samples, x);
  assertCorpusError(() => readAudio(enc.encode("OggS junk"), "c.WAV"), "c.WAV", "unknown audio format");
});
