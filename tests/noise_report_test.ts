import assert from "node:assert/strict";
import { noisePicture, type NoiseResult, noiseTable } from "../lib/classify/noise_report.ts";
import type { VariantReport } from "../lib/classify/report.ts";

const row = (variant: string, noise: string, snr_db: number, accuracy: number): NoiseResult => ({
  variant,
  noise,
  snr_db,
  accuracy,
  test_segments: 10,
  test_frames: 40,
  num_classes: 2,
  balanced_accuracy: accuracy,
  test_nll_per_frame: 1,
});
const clean = [{ variant: "a", accuracy: 0.9 }, { variant: "b", accuracy: 0.8 }] as VariantReport[];

Deno.test("noiseTable() has a row per variant and noise, SNRs in increasing order, then clean", () => {
  const rows = [row("a", "white", 20, 0.7), row("a", "white", 5, 0.5), row("b", "babble", 20, 0.6)];
  assert.equal(
    noiseTable(rows, clean),
    [
      "| model | noise | 5 dB | 20 dB | clean |",
      "| --- | --- | ---: | ---: | ---: |",
      "| a | white | 50.0% | 70.0% | 90.0% |",
      "| b | babble | - | 60.0% | 80.0% |",
      "",
    ].join("\n"),
  );
});

Deno.test("noisePicture() draws a titled chart", () => {
  const c = noisePicture([row("a", "white", 0, 0.5), row("a", "white", 20, 0.7)], clean);
  assert.ok(c.width >= 560 && c.height > 360, `${c.width}x${c.height}`);
});
