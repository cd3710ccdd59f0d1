import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { parseAbArgs } from "../bench/ab_inprocess.ts";

Deno.test("bench/ab_inprocess.ts parses its flags and refuses anything else", () => {
  assert.deepEqual(
    parseAbArgs(["/tmp/old", "--steps", "3", "--warmup", "0", "--esn_dim", "50", "--batch", "8"]),
    {
      old: "/tmp/old",
      steps: 3,
      warmup: 0,
      esnDim: 50,
      batch: 8,
    },
  );
  assert.deepEqual(parseAbArgs(["old"]), { old: "old", steps: 40, warmup: 15, esnDim: 1000, batch: 128 });
  assert.throws(() => parseAbArgs([]), /usage: bench\/ab_inprocess\.ts OLD_DIR/);
  assert.throws(() => parseAbArgs(["old", "--steps", "0"]), /--steps: bad value/);
  assert.throws(() => parseAbArgs(["old", "--fast"]), /unknown argument --fast/);
  assert.throws(() => parseAbArgs(["old", "other"]), /unknown argument other/);
});

Deno.test("bench/ab_inprocess.ts times both checkouts' steps and batches and prints their ratios", async () => {
  // A/A at toy sizes: this checkout against a copy of its sources, so that each side has its own modules
  // (and host kernels), as with another checkout.
  const copy = await Deno.makeTempDir({ prefix: "echoflow-ab-" });
  try {
    for (const path of ["lib", "bench", "deno.json", "deno.lock"]) {
      cpSync(path, `${copy}/${path}`, { recursive: true });
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-webgpu", "bench/ab_inprocess.ts", copy, "--steps", "3", "--warmup", "1"]
        .concat(["--esn_dim", "40", "--batch", "4"]),
      stderr: "inherit",
    }).output();
    assert.equal(out.code, 0);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual([r.old, r.esn_dim, r.batch], [copy, 40, 4]);
    check(r);
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

/** Both phases of a result: 3 timed steps or batches each side, positive times and ratios. */
function check(r: { train: Record<string, number>; eval: Record<string, number> }) {
  for (const phase of [r.train, r.eval]) {
    assert.equal(phase.count, 3);
    for (const key of ["old_ms", "new_ms", "ratio_of_medians", "median_paired_ratio"]) {
      assert.ok(Number.isFinite(phase[key]) && phase[key] > 0, `${key}: ${phase[key]}`);
    }
  }
}
