/**
 * Backend selection: WebGPU on a hardware GPU, otherwise WebAssembly; `--backend` overrides.
 *
 * `auto` asks `navigator.gpu` for an adapter and uses WebGPU only when it is a hardware adapter: software
 * rasterisers (llvmpipe, lavapipe, SwiftShader) and fallback adapters are refused, since WebGPU on them is
 * several times slower than the wasm backend (measured: ~6x on llvmpipe).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
// Kernels tfjs-backend-wasm 4.22 lacks, registered once with the backend itself.
import "./wasm_kernels.ts";
import { loadKernels } from "./wasm/kernels.ts";

export type BackendName = "auto" | "webgpu" | "wasm" | "cpu";
export const BACKENDS: readonly BackendName[] = ["auto", "webgpu", "wasm", "cpu"];

export interface BackendInfo {
  /** The TensorFlow.js backend in use. */
  readonly backend: "webgpu" | "wasm" | "cpu";
  /** The GPU adapter's description, or why WebGPU was not used. */
  readonly adapter: string;
}

/** What echoflow reads of a `GPUAdapter`. */
export interface AdapterLike {
  readonly isFallbackAdapter?: boolean;
  readonly info?: { description?: string; vendor?: string; device?: string; isFallbackAdapter?: boolean };
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

/**
 * Reads tensors back to the host and disposes them. Asynchronous on purpose: WebGPU under Deno has no
 * synchronous read-back (`dataSync` needs a 2-D canvas there), so code that may run on any backend reads
 * results with this (or `await t.data()`) rather than `dataSync()`.
 */
export async function readAndDispose(ts: readonly tf.Tensor[]): Promise<Float32Array[]> {
  try {
    return await Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
  } finally {
    for (const t of ts) t.dispose();
  }
}

/** A readable description of an adapter. */
export function describeAdapter(a: AdapterLike): string {
  const i = a.info ?? {};
  return [i.description, i.vendor && `vendor ${i.vendor}`, i.device && `device ${i.device}`].filter(Boolean)
    .join(", ") ||
    "unknown adapter";
}

/** True when the adapter is a real GPU (not a software rasteriser and not a fallback adapter). */
export function isHardwareAdapter(a: AdapterLike): boolean {
  if (a.isFallbackAdapter || a.info?.isFallbackAdapter) return false;
  return !SOFTWARE.test(describeAdapter(a));
}

/**
 * Mesa's Vulkan drivers look for a Wayland display under `XDG_RUNTIME_DIR` and print
 * `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (twice) where it is unset: on servers,
 * in containers, in cron jobs. That line looks like a failure of the run and is not one; an empty private
 * directory (removed at exit) silences it. Nothing else in echoflow reads the variable.
 */
function quietWaylandProbe(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = Deno.makeTempDirSync({ prefix: "echoflow_xdg_" });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
  } catch {
    // No --allow-env or --allow-write: the probe prints its line, nothing worse.
  }
}

/**
 * This machine's WebGPU adapter (any kind; see {@link isHardwareAdapter}), or null where `navigator.gpu` is
 * absent or gives none; without Mesa's XDG_RUNTIME_DIR line (see `quietWaylandProbe`).
 */
export async function requestAdapter(): Promise<AdapterLike | null> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<AdapterLike | null> } }).gpu;
  if (!gpu) return null;
  quietWaylandProbe();
  try {
    return await gpu.requestAdapter();
  } catch {
    return null;
  }
}

/** Selects and initialises a backend; throws if an explicitly requested one cannot start. */
export async function selectBackend(name: BackendName): Promise<BackendInfo> {
  if (!BACKENDS.includes(name)) throw new Error(`Unknown backend "${name}". Valid: ${BACKENDS.join(", ")}`);
  let adapter = "none";
  if (name === "auto" || name === "webgpu") {
    const a = await requestAdapter();
    adapter = a ? describeAdapter(a) : "no WebGPU adapter (navigator.gpu missing or empty)";
    if (name === "webgpu" || (a && isHardwareAdapter(a))) {
      if (!a) throw new Error(`Cannot use backend "webgpu": ${adapter}`);
      await import("@tensorflow/tfjs-backend-webgpu");
      if (!(await tf.setBackend("webgpu"))) {
        throw new Error(`Cannot initialise the webgpu backend on ${adapter}`);
      }
      await tf.ready();
      return { backend: "webgpu", adapter };
    }
    if (a) adapter = `${adapter} (software adapter: not used)`;
  }
  const backend = name === "cpu" ? "cpu" : "wasm";
  if (!(await tf.setBackend(backend))) throw new Error(`Cannot initialise the ${backend} backend`);
  await tf.ready();
  // The host kernels (`lib/wasm/`) serve wasm and cpu: their module is assembled here, once.
  await loadKernels();
  return { backend, adapter };
}
