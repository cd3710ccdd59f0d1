/**
 * The state of the (shared) machine during a run: the 1-minute load average. `deno task bench` has no
 * `--allow-sys` (for `Deno.loadavg`), and Deno refuses to read `/proc` without `--allow-all`, so without
 * those it is read by `cat /proc/loadavg` (the task may run programs); null where neither works.
 */

/** The 1-minute load average, or null when it cannot be read. */
export function loadAverage(): number | null {
  try {
    return Deno.loadavg()[0];
  } catch {
    try {
      const out = new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped", stderr: "null" })
        .outputSync();
      return out.code === 0 ? parseLoadAverage(new TextDecoder().decode(out.stdout)) : null;
    } catch {
      return null;
    }
  }
}

/** The first field of `/proc/loadavg` ("0.52 0.58 0.59 1/467 12345"), or null when it is not a number. */
export function parseLoadAverage(text: string): number | null {
  const v = Number(text.trim().split(/\s+/)[0]);
  return text.trim() !== "" && Number.isFinite(v) ? v : null;
}

/** A load average for a note: two decimals, or "?" when unknown. */
export function formatLoad(v: number | null): string {
  return v === null ? "?" : v.toFixed(2);
}

/** The glibc allocator settings that `deno task run` and `deno task bench` set (deno.json), as `K=V` text. */
export function allocatorSettings(env: (k: string) => string | undefined = (k) => Deno.env.get(k)): string {
  const keys = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"];
  const set = keys.filter((k) => env(k) !== undefined).map((k) => `${k}=${env(k)}`);
  return set.length ? set.join(" ") : "glibc allocator defaults";
}
