/**
 * The safetensors codec against the format's rules; echoflow checkpoints read by an independent reader
 * written from the specification (`bench/read_checkpoint.py`, Python standard library only), by the
 * `safetensors` package where it is installed, and loaded into the PyTorch peer where torch is.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { SequenceBatch } from "../lib/data/sequences.ts";
import { GaussianModel } from "../lib/models/gaussian.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";
import { loadCheckpoint, saveCheckpoint } from "../lib/runner/checkpoint.ts";
import { encodeCheckpoint } from "../lib/runner/checkpoint_format.ts";
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from "../lib/runner/safetensors.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import { benchSequences } from "../bench/data.ts";
import { buildBenchModel } from "../bench/measure.ts";
import { CHECK_TOLERANCE, maxRelativeError, peerLogp, writePeerFiles } from "../bench/peer_check.ts";
import { findPython } from "../bench/peer.ts";

await selectBackend("wasm");

const ROOT = new URL("../", import.meta.url);
const READER = new URL("bench/read_checkpoint.py", ROOT).pathname;
const PEER = new URL("../shared/peer/torch_esn_flow.py", ROOT).pathname;

/** The first interpreter that runs `code` (exit 0), or null. */
async function pythonThat(code: string): Promise<string | null> {
  for (const python of ["python3", "/usr/bin/python3"]) {
    try {
      const out = await new Deno.Command(python, { args: ["-c", code], stdout: "null", stderr: "null" })
        .output();
      if (out.code === 0) return python;
    } catch { /* not installed */ }
  }
  return null;
}

const python = await pythonThat("import json, struct, zlib");
const withPackage = await pythonThat("import safetensors, numpy");
const torch = (await findPython()).found;
const peerExists = await Deno.stat(PEER).then(() => true, () => false);

async function runPython(
  exe: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(exe, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const f32 = (...v: number[]) => Float32Array.from(v);

Deno.test("encodeSafetensors() lays out the format: u64 length, space-padded JSON, contiguous data", () => {
  const bytes = encodeSafetensors([
    { name: "a", dtype: "F32", shape: [2, 2], data: f32(1, 2, 3, 4.5) },
    { name: "s", dtype: "I32", shape: [], data: Int32Array.of(-7) },
    { name: "empty", dtype: "F32", shape: [0, 3], data: f32() },
  ], { note: "x" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.equal(text.trimEnd().length + (n - text.trimEnd().length), n);
  assert.match(
    text,
    /^\{"__metadata__":\{"note":"x"\},"a":\{"dtype":"F32","shape":\[2,2\],"data_offsets":\[0,16\]\}/,
  );
  assert.equal(bytes.length, 8 + n + 20);
  const { metadata, tensors } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { note: "x" });
  assert.deepEqual(
    tensors.map((t) => [t.name, t.dtype, t.shape, [...t.data]]),
    [["a", "F32", [2, 2], [1, 2, 3, 4.5]], ["s", "I32", [], [-7]], ["empty", "F32", [0, 3], []]],
  );
});

Deno.test("decodeSafetensors() refuses files that break the format, saying which rule", async (t) => {
  /** A file with this header text and buffer. */
  const file = (header: string, buffer = new Uint8Array(0)) => {
    const h = new TextEncoder().encode(header);
    const out = new Uint8Array(8 + h.length + buffer.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(buffer, 8 + h.length);
    return out;
  };
  const refuses = (bytes: Uint8Array, re: RegExp, truncated = false) =>
    assert.throws(
      () => decodeSafetensors(bytes),
      (e) => e instanceof SafetensorsError && re.test(e.message) && e.truncated === truncated,
    );
  const t4 = (a: number, b: number) => `{"dtype":"F32","shape":[${(b - a) / 4}],"data_offsets":[${a},${b}]}`;
  await t.step("the buffer: holes, overlaps, bytes no tensor owns, too short", () => {
    refuses(
      file(`{"a":${t4(0, 4)},"b":${t4(8, 12)}}`, new Uint8Array(12)),
      /bytes 4\.\.8 of the buffer belong to no tensor/,
    );
    refuses(file(`{"a":${t4(0, 8)},"b":${t4(4, 12)}}`, new Uint8Array(12)), /tensor "b" overlaps/);
    refuses(
      file(`{"a":${t4(0, 4)}}`, new Uint8Array(8)),
      /4 bytes after the last tensor belong to no tensor/,
    );
    refuses(
      file(`{"a":${t4(0, 8)}}`, new Uint8Array(4)),
      /file has 66 bytes, its header expects 70 \(truncated/,
      true,
    );
    refuses(
      file(`{"a":${t4(0, 8)}}`).subarray(0, 20),
      /file has 20 bytes, its header expects at least 62/,
      true,
    );
    refuses(new Uint8Array(5), /only 5 bytes/, true);
  });
  await t.step("the header: JSON, UTF-8, size, entries", () => {
    refuses(file(`{"a":`), /header is not valid JSON/);
    refuses(file(`[1,2]`), /header is not a JSON object/);
    refuses(file(`{"a":1}`.replace("a", "\xff")).map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
    refuses(huge, /header length 200000000 is beyond the format's 100000000 bytes/);
    refuses(file(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, new Uint8Array(8)), /dtype "F64"/);
    refuses(
      file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, new Uint8Array(8)),
      /spans 8 bytes, .* need 12/,
    );
    refuses(file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`), /has shape \[-1\]/);
    refuses(file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`), /data_offsets \[4,0\]/);
    refuses(file(`{"__metadata__":{"k":1}}`), /__metadata__ "k" is not a string/);
  });
  await t.step("trailing spaces after the JSON are padding, not an error", () => {
    assert.deepEqual(decodeSafetensors(file(`{"a":${t4(0, 4)}}   `, new Uint8Array(4))).tensors.length, 1);
  });
});

/** A small trained model and Adam, saved as a checkpoint in a new temporary directory. */
async function savedCheckpoint(): Promise<
  { dir: string; path: string; model: GaussianModel; opt: tf.Optimizer }
> {
  const dir = await Deno.makeTempDir();
  const model = new GaussianModel(3), opt = tf.train.adam(0.1), rng = new Rng(5);
  const x = tf.tensor2d(rng.normals(3 * 16), [16, 3]);
  for (let i = 0; i < 2; i++) {
    trainStep(model, opt, { x, size: 16, dims: 48, dispose: () => {} }, null).dispose();
  }
  x.dispose();
  const path = `${dir}/a.ckpt`;
  const early_stop = {
    rule: "no_improvement" as const,
    evaluations: 1,
    epoch: 1,
    count: 0,
    best: 1.25,
    best_epoch: 1,
    history: [1.25],
    last_check: 1,
  };
  await saveCheckpoint(
    path,
    {
      experiment: "demo",
      config: { lr: 0.1, notes: 'ünïcode "quoted"' },
      epoch: 1,
      step: 2,
      best: { val_nll: 1.25 },
      rng: rng.state(),
      backend: "wasm",
      wall_s: 0.5,
      early_stop,
    },
    model,
    opt,
  );
  return { dir, path, model, opt };
}

Deno.test({
  name:
    `an independent reader from the specification (Python, standard library) reads every tensor and the metadata${
      python ? "" : " (ignored: no python3 on PATH or at /usr/bin/python3)"
    }`,
  ignore: python === null,
  fn: async () => {
    const { dir, path, model, opt } = await savedCheckpoint();
    try {
      const r = await runPython(python!, [READER, path]);
      assert.equal(r.code, 0, r.stderr);
      const theirs = JSON.parse(r.stdout) as {
        metadata: Record<string, string>;
        tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
      };
      const ours = await loadCheckpoint(path);
      const expected: Record<string, { dtype: string; shape: number[]; values: number[] }> = {};
      const groups = {
        params: "params/",
        buffers: "buffers/",
        optimizer: "optimizer/",
        optimizerExtra: "optimizer_extra/",
      };
      for (const [g, prefix] of Object.entries(groups)) {
        for (const x of ours.tensors[g as keyof typeof groups]) {
          expected[prefix + x.name] = {
            dtype: x.dtype === "float32" ? "F32" : "I32",
            shape: [...x.shape],
            values: [...x.data],
          };
        }
      }
      // Bit-exact: Python's float of a float32 prints exactly, and parses back to the same float32.
      assert.deepEqual(theirs.tensors, expected);
      assert.ok(Object.keys(expected).length >= 9, "params, Adam's moments, iteration and beta powers");
      assert.deepEqual(JSON.parse(theirs.metadata.config), ours.header.config);
      assert.deepEqual(JSON.parse(theirs.metadata.early_stop), ours.header.early_stop);
      assert.deepEqual(JSON.parse(theirs.metadata.rng), ours.header.rng);
      assert.equal(theirs.metadata.epoch, "1");
      // The reader also checks the checksum, and the format's rules, on its own.
      const bytes = Deno.readFileSync(path);
      const bad = bytes.slice();
      bad[bytes.length - 5] ^= 1;
      Deno.writeFileSync(`${dir}/bad.ckpt`, bad);
      const r2 = await runPython(python!, [READER, `${dir}/bad.ckpt`]);
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, /bad\.ckpt: checksum mismatch/);
      Deno.writeFileSync(`${dir}/long.ckpt`, Uint8Array.from([...bytes, 0, 0, 0, 0]));
      const r3 = await runPython(python!, [READER, `${dir}/long.ckpt`]);
      assert.match(r3.stderr, /the tensors cover \d+ bytes of a \d+-byte buffer/);
    } finally {
      disposeModule(model);
      opt.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `the safetensors package opens a checkpoint${
    withPackage ? "" : " (ignored: no python3 here imports safetensors and numpy)"
  }`,
  ignore: withPackage === null,
  fn: async () => {
    const { dir, path, model, opt } = await savedCheckpoint();
    try {
      const code = [
        "import json, sys",
        "from safetensors import safe_open",
        "with safe_open(sys.argv[1], framework='numpy') as f:",
        "    t = {k: f.get_tensor(k) for k in f.keys()}",
        "    print(json.dumps({'metadata': f.metadata(), 'tensors': {k: {'shape': list(v.shape), 'values': v.ravel().tolist()} for k, v in t.items()}}))",
      ].join("\n");
      const r = await runPython(withPackage!, ["-c", code, path]);
      assert.equal(r.code, 0, r.stderr);
      const theirs = JSON.parse(r.stdout);
      const ours = await loadCheckpoint(path);
      for (const x of ours.tensors.params) {
        assert.deepEqual(theirs.tensors[`params/${x.name}`], { shape: [...x.shape], values: [...x.data] });
      }
      assert.equal(theirs.metadata.format, "echoflow");
      assert.deepEqual(JSON.parse(theirs.metadata.best), { val_nll: 1.25 });
    } finally {
      disposeModule(model);
      opt.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `the PyTorch peer loads a checkpoint file and gives echoflow's log-likelihood${
    torch && peerExists ? "" : " (ignored: no python3 with torch, or no ../shared/peer/torch_esn_flow.py)"
  }`,
  ignore: torch === null || !peerExists,
  fn: async () => {
    const model = buildBenchModel(24, 0), rng = new Rng(9);
    const rescale = model.parameters().find(([n]) => n === "density/flow/0/rescale")![1];
    rescale.assign(tf.tensor1d(Array.from({ length: 40 }, () => 0.5 + rng.uniform())));
    const batch = SequenceBatch.fromSequences(benchSequences(6, 40, new Rng(3)), 40);
    const dir = await Deno.makeTempDir();
    try {
      const lp = model.logProb(batch);
      const ours = Array.from(await lp.data());
      lp.dispose();
      const [ckpt, data] = [`${dir}/m.ckpt`, `${dir}/batch.safetensors`];
      await writePeerFiles(model, batch, 24, rng, ckpt, data);
      const { logp } = await peerLogp(torch!.python, PEER, [ckpt, data]);
      const err = maxRelativeError(ours, logp);
      console.log(`max relative difference, echoflow float32 vs PyTorch float64: ${err.toExponential(2)}`);
      assert.ok(err < CHECK_TOLERANCE, `${err}`);
      // The same file with the [30, 30] hidden weight of layer 2 transposed (it loads either way round).
      const saved = await loadCheckpoint(ckpt);
      const { tensors: _t, ...meta } = saved.header;
      const params = saved.tensors.params.map((p) => {
        if (p.name !== "density/flow/0/layer/2/hidden/0/weight") return p;
        const w = new Float32Array(p.data.length);
        for (let r = 0; r < 30; r++) for (let c = 0; c < 30; c++) w[c * 30 + r] = p.data[r * 30 + c];
        return { ...p, data: w };
      });
      Deno.writeFileSync(`${dir}/t.ckpt`, encodeCheckpoint(meta, { ...saved.tensors, params }));
      assert.ok(
        maxRelativeError(ours, (await peerLogp(torch!.python, PEER, [`${dir}/t.ckpt`, data])).logp) >
          CHECK_TOLERANCE,
      );
      // A damaged file is refused by the reader the peer uses.
      const bad = Deno.readFileSync(ckpt);
      bad[bad.length - 3] ^= 4;
      Deno.writeFileSync(`${dir}/bad.ckpt`, bad);
      await assert.rejects(
        () => peerLogp(torch!.python, PEER, [`${dir}/bad.ckpt`, data]),
        /bad\.ckpt: checksum mismatch/,
      );
    } finally {
      batch.dispose();
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
