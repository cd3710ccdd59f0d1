/**
 * Counts the WebGPU work that a piece of code issues: compute dispatches (`dispatchWorkgroups`, direct or
 * indirect), queue submissions, and buffer maps (`mapAsync`: every read-back to the host). tfjs's WebGPU
 * backend records one dispatch per kernel it runs, so the count is what a GPU pays per-dispatch overhead
 * for, and it is the same on a software adapter (llvmpipe) as on a hardware one.
 *
 * The counting wraps the methods of the WebGPU classes (`GPUComputePassEncoder`, `GPUQueue`, `GPUBuffer`)
 * for the duration of `fn` and restores them afterwards; counts of other code running meanwhile are
 * included, so measure one thing at a time.
 */

/** What {@link countGpuWork} counted. */
export interface GpuCounts {
  readonly dispatches: number;
  readonly submits: number;
  readonly readbacks: number;
}

type Method = (...args: unknown[]) => unknown;

let active = false;

/** Runs `fn` and counts the WebGPU work it issues; throws when WebGPU's classes are missing. */
export async function countGpuWork<T>(fn: () => Promise<T> | T): Promise<{ value: T; counts: GpuCounts }> {
  const g = globalThis as unknown as Record<string, { prototype: Record<string, Method> } | undefined>;
  const targets: [string, string, "dispatches" | "submits" | "readbacks"][] = [
    ["GPUComputePassEncoder", "dispatchWorkgroups", "dispatches"],
    ["GPUComputePassEncoder", "dispatchWorkgroupsIndirect", "dispatches"],
    ["GPUQueue", "submit", "submits"],
    ["GPUBuffer", "mapAsync", "readbacks"],
  ];
  for (const [cls] of targets) {
    if (!g[cls]) throw new Error(`countGpuWork: no ${cls} here (run with --unstable-webgpu)`);
  }
  if (active) throw new Error("countGpuWork: already counting (it cannot be nested)");
  active = true;
  const counts = { dispatches: 0, submits: 0, readbacks: 0 };
  const saved = targets.map(([cls, name]) => [g[cls]!.prototype, name, g[cls]!.prototype[name]] as const);
  for (const [[, , what], [proto, name, original]] of targets.map((t, i) => [t, saved[i]] as const)) {
    proto[name] = function (this: unknown, ...args: unknown[]) {
      counts[what]++;
      return original.apply(this, args);
    };
  }
  try {
    const value = await fn();
    return { value, counts: { ...counts } };
  } finally {
    for (const [proto, name, original] of saved) proto[name] = original;
    active = false;
  }
}
