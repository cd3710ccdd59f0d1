/**
 * Writes the reports of a per-class classifier into its run directory:
 *
 *   report.json                  meta + every variant's report (with per-class results and confusion counts)
 *   report.md                    the comparison table, then per variant its classes, confusion and samples
 *   confusion_<variant>.csv      counts, rows true class, columns predicted class
 *   confusion_<variant>.png      the same as row fractions, labelled heatmap
 *   noise_accuracy.png           accuracy against SNR per noise type and variant (with noisy test sets)
 */
import { writePng } from "../plot/mod.ts";
import { join, writeFileAtomic, writeJsonAtomic } from "../runner/run_dir.ts";
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
    entries.push({
      ...report,
      files: {
        confusion_csv: rel(runDir, csv),
        confusion_png: rel(runDir, png),
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
    for (const s of e.files.samples) md.push(`![samples](${s})`, "");
  }
  const markdown = join(runDir, "report.md");
  await writeFileAtomic(markdown, new TextEncoder().encode(md.join("\n")));
  return { json, markdown, files: [json, markdown, ...files] };
}
