/**
 * The noise-robustness part of a classifier report: every model variant's accuracy on the test set with
 * additive noise of each type at each SNR (models trained on clean speech), as a Markdown table (one row
 * per variant and noise type, one column per SNR, clean last) and as a picture of accuracy against SNR
 * (one line per variant and noise type, and a flat line at each variant's clean accuracy).
 */
import { type Canvas, linePlot, PALETTE, type Series } from "../plot/mod.ts";
import type { VariantReport } from "./report.ts";
import { withTitle } from "./samples.ts";

/** One variant on one noisy test set. */
export interface NoiseResult {
  readonly variant: string;
  /** The noise's name (`white`, `pink`, `babble`, or a noise file's name). */
  readonly noise: string;
  readonly snr_db: number;
  readonly test_segments: number;
  readonly test_frames: number;
  readonly num_classes: number;
  readonly accuracy: number;
  readonly balanced_accuracy: number;
  readonly test_nll_per_frame: number;
}

/** The fields of a {@link VariantReport} that a {@link NoiseResult} keeps, for a noise and SNR. */
export function noiseResult(r: VariantReport, noise: string, snrDb: number): NoiseResult {
  return {
    variant: r.variant,
    noise,
    snr_db: snrDb,
    test_segments: r.test_segments,
    test_frames: r.test_frames,
    num_classes: r.num_classes,
    accuracy: r.accuracy,
    balanced_accuracy: r.balanced_accuracy,
    test_nll_per_frame: r.test_nll_per_frame,
  };
}

const uniq = <T>(xs: readonly T[]) => [...new Set(xs)];
const pct = (v: number | undefined) => (v === undefined ? "-" : `${(100 * v).toFixed(1)}%`);

/** Rows variant x noise, columns the SNRs (increasing) then clean (from `clean`, by variant). */
export function noiseTable(results: readonly NoiseResult[], clean: readonly VariantReport[]): string {
  const snrs = uniq(results.map((r) => r.snr_db)).sort((a, b) => a - b);
  const rows = [
    `| model | noise | ${snrs.map((s) => `${s} dB`).join(" | ")} | clean |`,
    `| --- | --- | ${snrs.map(() => "---:").join(" | ")} | ---: |`,
  ];
  for (const variant of uniq(results.map((r) => r.variant))) {
    const cleanAcc = clean.find((c) => c.variant === variant)?.accuracy;
    for (const noise of uniq(results.filter((r) => r.variant === variant).map((r) => r.noise))) {
      const at = (s: number) =>
        results.find((r) => r.variant === variant && r.noise === noise && r.snr_db === s)?.accuracy;
      rows.push(`| ${variant} | ${noise} | ${snrs.map((s) => pct(at(s))).join(" | ")} | ${pct(cleanAcc)} |`);
    }
  }
  return rows.join("\n") + "\n";
}

/** Accuracy (%) against SNR: one line per variant and noise, and a flat line at each variant's clean accuracy. */
export function noisePicture(results: readonly NoiseResult[], clean: readonly VariantReport[]): Canvas {
  const snrs = uniq(results.map((r) => r.snr_db)).sort((a, b) => a - b);
  const span = [snrs[0], snrs[snrs.length - 1]];
  const series: Series[] = [];
  let colour = 0;
  for (const variant of uniq(results.map((r) => r.variant))) {
    const mine = results.filter((r) => r.variant === variant);
    for (const noise of uniq(mine.map((r) => r.noise))) {
      const pts = mine.filter((r) => r.noise === noise).sort((a, b) => a.snr_db - b.snr_db);
      series.push({
        name: `${variant} ${noise}`,
        x: pts.map((r) => r.snr_db),
        y: pts.map((r) => 100 * r.accuracy),
        color: PALETTE[colour++ % PALETTE.length],
      });
    }
    const cleanAcc = clean.find((c) => c.variant === variant)?.accuracy;
    if (cleanAcc !== undefined) {
      series.push({
        name: `${variant} clean`,
        x: span,
        y: [100 * cleanAcc, 100 * cleanAcc],
        color: PALETTE[colour++ % PALETTE.length],
      });
    }
  }
  const plot = linePlot(series, {
    width: 560,
    height: 360,
    xLabel: "SNR (dB)",
    yLabel: "accuracy (%)",
    legend: "bottom",
  });
  return withTitle(plot, [
    "Phone classification accuracy on noisy test audio (models trained on clean speech)",
    "flat lines: the clean test set",
  ]);
}
