import assert from "node:assert/strict";
import { assembleWat, kernelModuleBytes, Kernels, loadKernels } from "../lib/wasm/kernels.ts";
import { kernelsWat } from "../lib/wasm/kernels_wat.ts";

await loadKernels();

const KERNELS = ["gemm", "couplingForward", "couplingBackward", "reluMask", "columnSum"];

/** The exported names of a module, sorted. */
const exportsOf = (bytes: Uint8Array) =>
  WebAssembly.Module.exports(new WebAssembly.Module(bytes as BufferSource)).map((e) => e.name).sort();

Deno.test("deno task wat writes every kernel's WAT, source and print-out, and each assembles to a valid module", async () => {
  const dir = await Deno.makeTempDir({ prefix: "echoflow-wat-" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "wat", dir],
      stderr: "inherit",
    })
      .output();
    assert.equal(run.code, 0, "deno task wat failed");
    const paths = new TextDecoder().decode(run.stdout).trim().split("\n");
    assert.deepEqual(paths.map((p) => p.slice(dir.length + 1)), [
      "kernels.fma.wat",
      "kernels.fma.printed.wat",
      "kernels.unfused.wat",
      "kernels.unfused.printed.wat",
    ]);
    for (const path of paths) {
      const fma = path.includes(".fma.");
      const text = await Deno.readTextFile(path);
      for (const name of KERNELS) {
        assert.match(text, new RegExp(`\\(export "${name}"\\)`), `${path}: ${name}`);
      }
      // The products' 4 x 8 block: 8 fused multiply-adds in the fused variant, none in the other.
      assert.equal(text.match(/f32x4\.relaxed_madd/g)?.length ?? 0, fma ? 8 : 0, path);
      // What the listing says assembles (and validates) into a module with the kernels and the memory.
      const bytes = assembleWat(path, text, fma);
      assert.ok(WebAssembly.validate(bytes as BufferSource), path);
      assert.deepEqual(exportsOf(bytes), [...KERNELS, "memory"].sort(), path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kernels' module validates in both variants; the unfused one needs no relaxed SIMD", () => {
  for (const fma of [true, false]) {
    const bytes = kernelModuleBytes(fma);
    assert.ok(WebAssembly.validate(bytes as BufferSource), `fma=${fma}`);
    assert.deepEqual(exportsOf(bytes), [...KERNELS, "memory"].sort());
  }
  // Assembled without relaxed SIMD, the fused source is refused: the unfused variant does not use it.
  assert.throws(
    () => assembleWat("kernels.fma.wat", kernelsWat(true), false),
    /kernels\.fma\.wat:\d+:\d+: error: opcode not allowed: f32x4\.relaxed_madd/,
  );
  assert.equal(new Kernels(false).fma, false);
});

Deno.test("a wrong instruction or operand in WAT is an error naming the file, line and column", () => {
  const src = (op: string, third: string) =>
    `(module\n  (func (param $a v128) (result v128)\n    (${op} (local.get $a) (local.get $a) ${third})))`;
  assert.ok(assembleWat("ok.wat", src("f32x4.relaxed_madd", "(local.get $a)"), true).length > 0);
  assert.throws(
    () => assembleWat("bad.wat", src("f32x4.madd", "(local.get $a)"), true),
    /bad\.wat:3:6: error: unexpected token "f32x4\.madd"/,
  );
  assert.throws(
    () => assembleWat("bad.wat", src("f32x4.relaxed_madd", "(i32.const 1)"), true),
    /bad\.wat:3:6: error: type mismatch in f32x4\.relaxed_madd, expected \[v128, v128, v128\] but got \[v128, v128, i32\]/,
  );
});
