/**
 * This machine's WebGPU adapter, asked once, for tests that run on any adapter (a software one included:
 * correctness only) and are ignored, saying so, where there is none.
 *
 * ```ts
 * Deno.test({ name: `... on webgpu${NO_ADAPTER}`, ignore: !ADAPTER, fn: ... });
 * ```
 */
import { describeAdapter, requestAdapter } from "../../lib/backend.ts";

/** The adapter's description, or null where navigator.gpu is absent or gives none. */
const adapter = await requestAdapter();
export const ADAPTER: string | null = adapter && describeAdapter(adapter);

/** Appended to the name of a test that is ignored for want of an adapter ("" where there is one). */
export const NO_ADAPTER = ADAPTER
  ? ""
  : " (ignored: no WebGPU adapter here: navigator.gpu is absent or gives none)";
