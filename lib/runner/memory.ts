/**
 * The peak resident memory of this process: the kernel's high-water mark `VmHWM` from `/proc/self/status`
 * (Linux), which counts everything the process ever held at once (wasm heaps, tensors, the ESN state cache),
 * unlike a sample of `Deno.memoryUsage().rss`. Null where `/proc` is not there.
 */
export function peakRssBytes(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** `1234 MiB`, or `unknown`. */
export function mib(bytes: number | null): string {
  return bytes === null ? "unknown" : `${Math.round(bytes / 2 ** 20)} MiB`;
}
