/**
 * This machine's WebGPU adapter, asked once, for tests that run on any adapter (a software one included:
 * correctness only) and are ignored, saying so, where there is none.
 *
 * ```ts
 * Deno.test({ name: `... on webgpu${NO_ADAPTER}`, ignore: !ADAPTER, fn: ... });
 * ```
 */
import { describeAdapter } from "../../lib/backend.ts";

async function requestAdapter(): Promise<string | null> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const a = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  return a ? describeAdapter(a as Parameters<typeof describeAdapter>[0]) : null;
}

/** The adapter's description, or null where navigator.gpu is absent or gives none. */
export const ADAPTER: string | null = await requestAdapter();

/** Appended to the name of a test that is ignored for want of an adapter ("" where there is one). */
export const NO_ADAPTER = ADAPTER
  ? ""
  : " (ignored: no WebGPU adapter here: navigator.gpu is absent or gives none)";
