/**
 * The status of a run (`status.ts`) for people ({@link formatStatus}: a line per run and Slurm submission, a
 * table of classes, a line per failure with its log and what to do) and for programs
 * ({@link statusJsonLines}: one JSON object per line).
 */
import { CLASS_STATES, type RunStatus } from "./status.ts";

const fmt = (v: number | null, digits: number) => (v === null ? "-" : v.toFixed(digits));

/** The status as a table for people, with a line per failure and what to do. */
export function formatStatus(s: RunStatus): string {
  const lines: string[] = [];
  const parts = CLASS_STATES.filter((k) => s.counts[k] > 0).map((k) => `${s.counts[k]} ${k}`);
  lines.push(
    `run ${s.run_dir}${s.experiment ? ` (${s.experiment})` : ""}: ${s.classes.length} classes: ${
      parts.join(", ") || "none"
    }`,
  );
  if (s.submission) {
    const js = s.jobs.map((j) => {
      const st = Object.entries(j.states).map((
        [k, n],
      ) => (Object.keys(j.states).length === 1 && n === 1 ? k : `${n} ${k}`));
      return `${j.stage} ${j.job}: ${st.length ? st.join(", ") : "(no longer listed by squeue)"}${
        j.reason ? ` [${j.reason}]` : ""
      }`;
    });
    lines.push(`Slurm submission ${s.submission}: ${js.join("; ")}`);
  }
  const rows = [["variant", "class", "state", "epochs", "best val NLL", "per frame", "task", "log"]];
  for (const c of s.classes) {
    rows.push([
      c.variant,
      c.class,
      c.state,
      c.epoch === null ? "-" : `${c.epoch}/${c.epochs ?? "?"}`,
      fmt(c.best_val_nll, 3),
      fmt(c.best_val_nll_per_frame, 3),
      c.job ? `${c.task} (${c.job})` : c.task ?? "-",
      c.log ?? "-",
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) {
    lines.push(r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]))).join("  "));
  }
  for (const f of s.failed_stages) {
    lines.push(
      `FAILED: the ${f.stage} stage${f.job ? ` (job ${f.job})` : ""}${
        f.exit_code !== null ? ` exited with code ${f.exit_code}` : ""
      }; log: ${f.log ?? "the output of the command that ran it"}`,
    );
  }
  for (const c of s.classes.filter((c) => c.state === "failed")) {
    lines.push(
      `FAILED: ${c.variant} class ${c.class}: ${c.detail}; log: ${
        c.log ?? "the output of the command that ran it"
      }. ` +
        `Run the same command again: finished classes are skipped, ${c.class} ` +
        (c.epoch ? `resumes from its last.ckpt (epoch ${c.epoch})` : "starts again"),
    );
  }
  if (s.nll_space) {
    lines.push(`NLLs are of the ${s.nll_space}, in nats (report.md gives the offset to the features')`);
  }
  lines.push(
    s.report
      ? `report: ${s.report.path} (${
        Object.entries(s.report.accuracy).map(([v, a]) => `${v} ${(100 * a).toFixed(1)}%`).join(", ")
      })`
      : "report: none yet",
  );
  return lines.join("\n") + "\n";
}

/** One JSON object per line: every class (`kind: "class"`), every Slurm job (`"job"`), then the run (`"run"`). */
export function statusJsonLines(s: RunStatus): string[] {
  return [
    ...s.classes.map(({ variant, class: cls, state, ...rest }) =>
      JSON.stringify({ kind: "class", variant, class: cls, state, ...rest })
    ),
    ...s.jobs.map((j) => JSON.stringify({ kind: "job", ...j })),
    JSON.stringify({
      kind: "run",
      run_dir: s.run_dir,
      experiment: s.experiment,
      classes: s.classes.length,
      ...s.counts,
      submission: s.submission,
      failed_stages: s.failed_stages,
      report: s.report,
      nll_space: s.nll_space,
    }),
  ];
}
