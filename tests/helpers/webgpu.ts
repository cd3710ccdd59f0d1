/**
 * This machine's WebGPU adapter, asked once: tests that need one are ignored without it, saying why (any
 * adapter serves, the software llvmpipe one included: correctness only).
 */
const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;

/** True when `navigator.gpu` gives an adapter. */
export const HAS_ADAPTER = Boolean(gpu && await gpu.requestAdapter().catch(() => null));

/** Appended to a WebGPU test's name: empty, or why it is ignored. */
export const NO_ADAPTER = HAS_ADAPTER
  ? ""
  : " (ignored: no WebGPU adapter here: navigator.gpu is absent or gives none)";
