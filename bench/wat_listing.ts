/**
 * `deno task wat [DIR]`: the host kernels (`lib/wasm/kernels.ts`) as readable WAT, in `DIR` (default
 * `runs/wat`), two files per variant (`fma`: products by fused multiply-adds, relaxed SIMD; `unfused`):
 * - `kernels.<variant>.wat`: the source as assembled (`lib/wasm/kernels_wat.ts` with its insertions
 *   expanded), with its comments;
 * - `kernels.<variant>.printed.wat`: wabt's print-out of the very bytes the kernels run (read back with
 *   their names), one operand per line.
 */
import { kernelModuleBytes, kernelModuleText, loadKernels } from "../lib/wasm/kernels.ts";
import { kernelsWat } from "../lib/wasm/kernels_wat.ts";

/** Writes the listings into `dir` (made if missing); returns their paths. */
export async function writeWatListings(dir: string): Promise<string[]> {
  await loadKernels();
  await Deno.mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const fma of [true, false]) {
    const base = `${dir}/kernels.${fma ? "fma" : "unfused"}`;
    await Deno.writeTextFile(`${base}.wat`, kernelsWat(fma));
    await Deno.writeTextFile(`${base}.printed.wat`, kernelModuleText(kernelModuleBytes(fma), fma));
    paths.push(`${base}.wat`, `${base}.printed.wat`);
  }
  return paths;
}

if (import.meta.main) {
  if (Deno.args.length > 1 || Deno.args[0]?.startsWith("-")) {
    console.error("usage: deno task wat [DIR]   (default DIR: runs/wat)");
    Deno.exit(2);
  }
  for (const path of await writeWatListings(Deno.args[0] ?? "runs/wat")) console.log(path);
}
