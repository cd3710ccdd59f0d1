/**
 * The bench's figures and their output: one JSON line per figure (`--json`), or readable tables.
 *
 * A {@link Figure} is one measured number with what it was measured on. The ratios of training and
 * evaluation throughput to the PyTorch peer ({@link ratioFigures}) divide echoflow's total frames / total
 * seconds over the timed steps (batches) by the peer's `frames_per_s`, which the peer (and `peer_driver.py`)
 * computes the same way, so both sides of a ratio use one definition.
 */
import { median } from "./data.ts";

/** Who produced a figure: echoflow, the PyTorch peer, a ratio of the two, or the maths check. */
export type Source = "echoflow" | "pytorch" | "ratio" | "check";

export interface Figure {
  readonly bench: Source;
  /** echoflow: the tfjs backend; pytorch: "torch-cpu-<threads>t". */
  readonly backend: string;
  /** What was measured, e.g. `train_frames_per_s` (see {@link FIGURE_LABELS}). */
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  /** `cached`/`recompute` (echoflow), `original`/`cached`/`packed` (peer), or "" when not applicable. */
  readonly variant: string;
  readonly esn_dim: number;
  readonly batch: number;
  /** Set on scaling runs: the swept size. */
  readonly scan?: "esn_dim" | "batch";
  /** Number of rounds the value is the median of (absent: one). */
  readonly rounds?: number;
  readonly note?: string;
}

/** What identifies a figure across rounds. */
function figureKey(f: Figure): string {
  return JSON.stringify([f.bench, f.backend, f.figure, f.variant, f.esn_dim, f.batch, f.scan ?? ""]);
}

/**
 * The figures of several rounds of the same measurement, each replaced by its median over the rounds it
 * appears in (`rounds` and a note with the values of each round set when more than one), in order of first
 * appearance.
 */
export function medianOverRounds(rounds: readonly (readonly Figure[])[]): Figure[] {
  if (rounds.length === 1) return [...rounds[0]];
  const groups = new Map<string, Figure[]>();
  for (const f of rounds.flat()) {
    const k = figureKey(f);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(f);
  }
  return [...groups.values()].map((fs) =>
    fs.length === 1 ? fs[0] : {
      ...fs[0],
      value: median(fs.map((f) => f.value)),
      rounds: fs.length,
      note: `median of rounds ${fs.map((f) => Number(f.value.toPrecision(3))).join(", ")}`,
    }
  );
}

/** Column labels of the main table, in display order. */
export const FIGURE_LABELS: Readonly<Record<string, string>> = {
  train_ms_per_step: "train ms/step",
  train_frames_per_s: "train fr/s",
  train_frames_per_s_total: "train fr/s (sum)",
  eval_ms_per_batch: "eval ms/batch",
  eval_frames_per_s: "eval fr/s",
  eval_frames_per_s_total: "eval fr/s (sum)",
  esn_encode_frames_per_s: "ESN encode fr/s",
  sample_frames_per_s: "sample fr/s",
  peak_tensors: "peak tensors",
  peak_tensor_bytes: "peak tensor MB",
  rss_bytes: "RSS MB",
  webgpu_dispatches_per_train_step: "dispatches/step",
  webgpu_submits_per_train_step: "submits/step",
  webgpu_readbacks_per_train_step: "reads/step",
  webgpu_dispatches_per_eval_batch: "dispatches/eval batch",
  webgpu_readbacks_per_eval_batch: "reads/eval batch",
};

/** The JSON line of a figure (the value rounded to 4 significant digits, other fields as they are). */
export function jsonLine(f: Figure): string {
  return JSON.stringify({ ...f, value: Number(f.value.toPrecision(4)) });
}

/** A value for a table cell: bytes in MB, large numbers without decimals, small with a few. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === "bytes") return (value / 2 ** 20).toFixed(1);
  const a = Math.abs(value);
  if (a >= 100) return Math.round(value).toLocaleString("en-US");
  if (a >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** A plain-text table with right-aligned columns (first column left-aligned). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: readonly string[]) =>
    r.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function rowKey(f: Figure): string {
  return [f.bench, f.backend, f.variant].filter((s) => s !== "").join(" ");
}

/**
 * The main figures (not scaling, not ratios) pivoted: one row per source, backend and variant, one column
 * per figure present (in {@link FIGURE_LABELS} order, unknown figures after); empty cells where a row has
 * no such figure.
 */
export function mainTable(figures: readonly Figure[]): string {
  const main = figures.filter((f) => !f.scan && (f.bench === "echoflow" || f.bench === "pytorch"));
  if (main.length === 0) return "";
  const present = new Set(main.map((f) => f.figure));
  const cols = [
    ...Object.keys(FIGURE_LABELS).filter((k) => present.has(k)),
    ...[...present].filter((k) => !(k in FIGURE_LABELS)),
  ];
  const rows = new Map<string, Map<string, string>>();
  for (const f of main) {
    const key = rowKey(f);
    if (!rows.has(key)) rows.set(key, new Map());
    rows.get(key)!.set(f.figure, formatValue(f.value, f.unit));
  }
  return textTable(
    ["", ...cols.map((c) => FIGURE_LABELS[c] ?? c)],
    [...rows].map(([key, cells]) => [key, ...cols.map((c) => cells.get(c) ?? "")]),
  );
}

/** The scaling runs: ms per training step, one row per swept size, one column per source/backend/variant. */
export function scalingTable(figures: readonly Figure[], scan: "esn_dim" | "batch"): string {
  const pts = figures.filter((f) => f.scan === scan && f.figure === "train_ms_per_step");
  if (pts.length === 0) return "";
  const cols = [...new Set(pts.map(rowKey))];
  const sizes = [...new Set(pts.map((f) => f[scan]))].sort((a, b) => a - b);
  const rows = sizes.map((s) => [
    String(s),
    ...cols.map((c) => {
      const f = pts.find((p) => p[scan] === s && rowKey(p) === c);
      return f ? formatValue(f.value, f.unit) : "";
    }),
  ]);
  return textTable([`${scan} (ms/step)`, ...cols], rows);
}

/**
 * Ratios `echoflow / best peer` of training and of evaluation throughput, one per echoflow backend and
 * variant at the main size (the peer's best variant and thread count, measured at the same batch and
 * esn_dim; evaluation only when `peer_driver.py` ran).
 */
export function ratioFigures(figures: readonly Figure[]): Figure[] {
  const out: Figure[] = [];
  for (const [phase, ourFigure, peerFigure] of RATIO_PAIRS) {
    const ours = figures.filter((f) => f.bench === "echoflow" && !f.scan && f.figure === ourFigure);
    for (const f of ours) {
      const peers = figures.filter((p) =>
        p.bench === "pytorch" && !p.scan && p.figure === peerFigure && p.batch === f.batch &&
        p.esn_dim === f.esn_dim
      );
      if (peers.length === 0) continue;
      const best = peers.reduce((a, b) => (b.value > a.value ? b : a));
      out.push(ratioOf(phase, f, best));
    }
  }
  return out;
}

/** echoflow's figure and the peer's that a ratio divides, for training and evaluation. */
const RATIO_PAIRS = [
  ["train", "train_frames_per_s_total", "train_frames_per_s"],
  ["eval", "eval_frames_per_s_total", "eval_frames_per_s_total"],
] as const;

function ratioOf(phase: "train" | "eval", f: Figure, best: Figure): Figure {
  return {
    bench: "ratio",
    backend: f.backend,
    figure: `${phase}_ratio_vs_best_peer`,
    value: f.value / best.value,
    unit: "x",
    variant: f.variant,
    esn_dim: f.esn_dim,
    batch: f.batch,
    note: `echoflow ${f.backend} ${f.variant} ${Math.round(f.value)} fr/s / pytorch ${best.variant} ` +
      `(${best.backend}) ${Math.round(best.value)} fr/s`,
  };
}
