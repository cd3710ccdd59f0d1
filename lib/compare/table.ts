/**
 * The comparison of runs: the config keys whose values differ between them, and their final metrics, as a
 * text table (one column per run, one row per key) or as JSON lines (one object per run, then a summary).
 */
import type { RunEntry } from "./read_run.ts";

/** How an entry is named in tables and legends: its directory, and the variant of a per-class run. */
export function entryLabels(entries: readonly RunEntry[]): string[] {
  const base = (d: string) => d.replace(/\/+$/, "").split("/").pop() || d;
  const short = entries.map((e) => base(e.dir) + (e.variant ? `/${e.variant}` : ""));
  // Directories of the same name in different places: their paths tell them apart.
  return short.every((s, i) => short.indexOf(s) === i)
    ? short
    : entries.map((e) => e.dir.replace(/\/+$/, "") + (e.variant ? `/${e.variant}` : ""));
}

const text = (v: unknown): string => (v === undefined ? "-" : JSON.stringify(v));

/**
 * The config keys whose values differ between the entries (absent counts as a value), sorted; the
 * experiment name is compared too, under `experiment`.
 */
export function differingKeys(entries: readonly RunEntry[]): string[] {
  const keys = new Set(entries.flatMap((e) => Object.keys(e.config)));
  const out = [...keys].filter((k) => new Set(entries.map((e) => text(e.config[k]))).size > 1).sort();
  return new Set(entries.map((e) => e.experiment)).size > 1 ? ["experiment", ...out] : out;
}

/** The metric names of the entries, in the order they first appear. */
function metricNames(entries: readonly RunEntry[]): string[] {
  return [...new Set(entries.flatMap((e) => Object.keys(e.metrics)))];
}

/** A metric for reading: accuracies as percentages, others with up to 6 significant digits. */
export function formatMetric(name: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  if (/accuracy/.test(name)) return `${(100 * v).toFixed(1)}%`;
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** A config value as the command line spells it: `none` for null, strings without quotes. */
function configText(v: unknown): string {
  if (v === undefined) return "-";
  if (v === null) return "none";
  return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
}

const configValue = (e: RunEntry, k: string): unknown => (k === "experiment" ? e.experiment : e.config[k]);

/** The text table (see the module doc). */
export function compareTable(entries: readonly RunEntry[]): string {
  const labels = entryLabels(entries), keys = differingKeys(entries);
  const rows: string[][] = [
    ["", ...labels],
    ["experiment", ...entries.map((e) => e.experiment)],
    ["status", ...entries.map((e) => e.status)],
    [keys.length ? "config (keys that differ)" : "config: the same in every run"],
    ...keys.map((k) => [
      `  ${k}`,
      ...entries.map((e) => configText(configValue(e, k))),
    ]),
    ["final metrics"],
    ...metricNames(entries).map((m) => [`  ${m}`, ...entries.map((e) => formatMetric(m, e.metrics[m]))]),
  ];
  const widths = labels.map((_, j) => Math.max(...rows.map((r) => (r[j + 1] ?? "").length)));
  const first = Math.max(...rows.filter((r) => r.length > 1).map((r) => r[0].length));
  return rows.map((r) =>
    r.length === 1
      ? r[0]
      : [r[0].padEnd(first), ...r.slice(1).map((c, j) => c.padStart(widths[j]))].join("  ")
  ).join("\n");
}

/**
 * JSON lines: one `{"kind": "run", run, variant, experiment, status, config, metrics}` per entry (`config`
 * holds the differing keys only), then `{"kind": "compare", differing_keys, runs, picture}`.
 */
export function compareJsonLines(entries: readonly RunEntry[], picture: string | null): string[] {
  const keys = differingKeys(entries), labels = entryLabels(entries);
  const lines = entries.map((e, i) =>
    JSON.stringify({
      kind: "run",
      run: e.dir,
      label: labels[i],
      variant: e.variant,
      experiment: e.experiment,
      status: e.status,
      config: Object.fromEntries(keys.filter((k) => k !== "experiment").map((k) => [k, e.config[k] ?? null])),
      metrics: e.metrics,
    })
  );
  lines.push(JSON.stringify({ kind: "compare", differing_keys: keys, runs: entries.length, picture }));
  return lines;
}
