/**
 * Comparing runs (`deno task compare`): reading run directories (`read_run.ts`), the table of differing
 * config keys and final metrics (`table.ts`), the overlaid validation curves (`picture.ts`) and the command
 * (`cli.ts`).
 */
export { type CompareArgs, compareRuns, main, parseCompareArgs, USAGE } from "./cli.ts";
export { comparePicture } from "./picture.ts";
export { readMetrics, readRun, type RunEntry, RunReadError } from "./read_run.ts";
export { compareJsonLines, compareTable, differingKeys, entryLabels, formatMetric } from "./table.ts";
