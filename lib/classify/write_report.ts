/**
 * Writes the reports of a per-class classifier into its run directory:
 *
 *   report.json                  meta + every variant's report (with per-class results and confusion counts)
 *   report.md                    the comparison table, then per variant its classes, confusion and samples
 *   confusion_<variant>.csv      counts, rows true class, columns predicted class
 *   confusion_<variant>.png      the same as row fractions, labelled heatmap
 *   curves_<variant>.png         NLL against epoch of every class run, one panel per class
 *   noise_accuracy.png           accuracy against SNR per noise type and variant (with noisy test sets)
 */
import { writeClassCurves, writePng } from "../plot/mod.ts";
import { exists, join, writeFileAtomic, writeJsonAtomic } from "../runner/run_dir.ts";
import { noisePicture, type NoiseResult, noiseTable } from "./noise_report.ts";
import {
  comparisonTable,
  confusionCsv,
  confusionPicture,
  perClassTable,
  type VariantReport,
} from "./report.ts";

/** A variant's report with the files that belong to it (paths relative to the run directory). */
export interface VariantFiles {
  readonly report: VariantReport;
  /** Sample pictures already written (absolute or run-relative paths). */
  readonly pictures: readonly string[];
}

/** Paths written. */
export interface WrittenReport {
  readonly json: string;
  readonly markdown: string;
  readonly files: readonly string[];
}

const rel = (runDir: string, p: string) => (p.startsWith(runDir + "/") ? p.slice(runDir.length + 1) : p);

/** What a report may add after the variants. */
export interface ReportExtras {
  /** Accuracies on noisy test sets: a table and `noise_accuracy.png`, and `noise` in report.json. */
  readonly noise?: readonly NoiseResult[];
  /** Markdown sections appended as they are (e.g. published results beside these). */
  readonly appendix?: readonly string[];
}

/** Writes every file listed in the module doc; `meta` goes to the top of report.json (and a note to .md). */
export async function writeClassifierReport(
  runDir: string,
  title: string,
  meta: Readonly<Record<string, unknown>>,
  notes: readonly string[],
  variants: readonly VariantFiles[],
  extras: ReportExtras = {},
): Promise<WrittenReport> {
  const files: string[] = [];
  const entries = [];
  for (const { report, pictures } of variants) {
    const csv = join(runDir, `confusion_${report.variant}.csv`);
    const png = join(runDir, `confusion_${report.variant}.png`);
    await writeFileAtomic(csv, new TextEncoder().encode(confusionCsv(report)));
    await writePng(png, confusionPicture(report));
    files.push(csv, png);
    // The training curves of variants whose class runs live here (not of reports computed elsewhere).
    const classDirs = report.classes.map((c) => join(runDir, "models", report.variant, c));
    const curves = classDirs.some(exists) ? join(runDir, `curves_${report.variant}.png`) : null;
    if (curves) {
      const classes = report.classes.map((c, i) => ({
        title: c,
        metricsPath: join(classDirs[i], "metrics.jsonl"),
      }));
      await writeClassCurves(curves, classes, `${report.variant}: NLL against epoch, per class`);
      files.push(curves);
    }
    entries.push({
      ...report,
      files: {
        confusion_csv: rel(runDir, csv),
        confusion_png: rel(runDir, png),
        ...(curves ? { curves_png: rel(runDir, curves) } : {}),
        samples: pictures.map((p) => rel(runDir, p)),
      },
    });
  }
  const noise = extras.noise ?? [];
  const json = join(runDir, "report.json");
  await writeJsonAtomic(json, { ...meta, variants: entries, ...(noise.length ? { noise } : {}) });
  const clean = variants.map((v) => v.report);
  const md: string[] = [
    `# ${title}`,
    "",
    ...notes.map((n) => `- ${n}`),
    "",
    comparisonTable(clean),
  ];
  if (noise.length) {
    const png = join(runDir, "noise_accuracy.png");
    await writePng(png, noisePicture(noise, clean));
    files.push(png);
    md.push(
      "## Noisy test sets",
      "",
      "Accuracy of the models trained on clean speech, on the test set with additive noise at each SNR:",
      "",
      noiseTable(noise, clean),
      `![accuracy against SNR](${rel(runDir, png)})`,
      "",
    );
  }
  md.push(...(extras.appendix ?? []));
  for (const e of entries) {
    md.push(`## ${e.variant}`, "", `Decision rule: \`${e.decision_rule}\`.`, "", perClassTable(e));
    md.push(`Confusion matrix: [${e.files.confusion_csv}](${e.files.confusion_csv})`, "");
    md.push(`![confusion ${e.variant}](${e.files.confusion_png})`, "");
    if (e.files.curves_png) md.push(`Training curves: ![curves ${e.variant}](${e.files.curves_png})`, "");
    for (const s of e.files.samples) md.push(`![samples](${s})`, "");
  }
  const markdown = join(runDir, "report.md");
  await writeFileAtomic(markdown, new TextEncoder().encode(md.join("\n")));
  return { json, markdown, files: [json, markdown, ...files] };
}
