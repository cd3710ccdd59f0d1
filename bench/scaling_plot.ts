/**
 * The scaling picture: milliseconds per training step against esn_dim (at the main batch size) and
 * against the batch size (at the main esn_dim).
 */
import { type Canvas, linePlot, panels, type Series } from "../lib/plot/mod.ts";
import type { Figure } from "./report.ts";

/**
 * The lines of one sweep: x = swept size, y = ms per step, sorted by x; one line per echoflow backend and
 * variant, and one for the PyTorch peer at its fastest (over its variants and thread counts) at each x.
 */
export function scalingSeries(figures: readonly Figure[], scan: "esn_dim" | "batch"): Series[] {
  const pts = figures.filter((f) => f.scan === scan && f.figure === "train_ms_per_step");
  const byName = new Map<string, Map<number, number>>();
  for (const f of pts) {
    const name = f.bench === "pytorch" ? "pytorch best" : `${f.backend} ${f.variant}`;
    if (!byName.has(name)) byName.set(name, new Map());
    const line = byName.get(name)!;
    line.set(f[scan], Math.min(line.get(f[scan]) ?? Infinity, f.value));
  }
  return [...byName].map(([name, line]) => {
    const xy = [...line].sort((a, b) => a[0] - b[0]);
    return { name, x: xy.map((p) => p[0]), y: xy.map((p) => p[1]) };
  });
}

/** Both sweeps side by side (a sweep without points is left out); null when there is none. */
export function scalingPlot(figures: readonly Figure[]): Canvas | null {
  const items = (["esn_dim", "batch"] as const).flatMap((scan) => {
    const series = scalingSeries(figures, scan);
    if (series.length === 0) return [];
    const fixed = figures.find((f) => f.scan === scan)!;
    const title = scan === "esn_dim" ? `batch ${fixed.batch}` : `esn_dim ${fixed.esn_dim}`;
    return [{
      title: `ms per training step (${title})`,
      canvas: linePlot(series, { xLabel: scan, yLabel: "ms/step", width: 520, height: 340 }),
    }];
  });
  return items.length ? panels(items, { title: "echoflow bench: scaling" }) : null;
}
