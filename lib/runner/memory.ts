/**
 * The peak resident memory of this process: the kernel's high-water mark `VmHWM` from `/proc/<pid>/status`
 * (Linux), which counts everything the process ever held at once (wasm heaps, tensors, the ESN state cache),
 * unlike a sample of `Deno.memoryUsage().rss`. Deno lets only `--allow-all` read `/proc/self`, so without it
 * the file is read by `cat` (the run permissions allow subprocesses). Null where neither works.
 */
export function peakRssBytes(): number | null {
  const path = `/proc/${Deno.pid}/status`;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    try {
      const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" }).outputSync();
      if (!out.success) return null;
      text = new TextDecoder().decode(out.stdout);
    } catch {
      return null;
    }
  }
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** `1234 MiB`, or `unknown`. */
export function mib(bytes: number | null): string {
  return bytes === null ? "unknown" : `${Math.round(bytes / 2 ** 20)} MiB`;
}
