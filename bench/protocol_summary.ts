/**
 * Gathers what `bench/protocol.sh` measured into `OUT/measure.json` and prints it as one Markdown table row:
 *
 *   deno run --allow-read --allow-write bench/protocol_summary.ts OUT FRACTION CORPUS_BYTES CACHE_BYTES RUN_BYTES
 */
const [out, fraction, corpusBytes, cacheBytes, runBytes] = Deno.args;

/** `%e %M` of GNU time: wall seconds and peak resident KiB of the command (its largest process). */
async function timeOf(name: string): Promise<{ wall_s: number; max_rss_mb: number } | null> {
  const text = await Deno.readTextFile(`${out}/${name}.time`).catch(() => null);
  const m = text && /^([\d.]+) (\d+)$/m.exec(text);
  return m ? { wall_s: Number(m[1]), max_rss_mb: Math.round(Number(m[2]) / 1024) } : null;
}

/** The run's own summary (the last `summary` record of the parent) and every process's peak. */
async function runOf(name: string) {
  const log = await Deno.readTextFile(`${out}/${name}.log`);
  const summaries = log.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
    .filter((r) => r.kind === "summary" && r.experiment === "esn_flow_timit" && r.stage !== undefined);
  const peaks = [...log.matchAll(/^(\[shard [^\]]+\] )?peak resident memory of this process: (\d+) MiB/gm)]
    .map((m) => ({ process: m[1] ? m[1].trim().slice(1, -1) : "main", mb: Number(m[2]) }));
  return { summary: summaries.at(-1) ?? null, peaks };
}

const corpus = JSON.parse(await Deno.readTextFile(`${out}/corpus/MINI_TIMIT.json`));
const run = await runOf("run"), rerun = await runOf("rerun");
const s = run.summary ?? {};
const killed = await timeOf("killed");
const measure = {
  fraction: Number(fraction),
  utterances: corpus.utterances,
  data: await timeOf("data"),
  killed_run: killed,
  run: await timeOf("run"),
  rerun: await timeOf("rerun"),
  stages: { data: s.seconds_data, train: s.seconds_train, eval: s.seconds_eval },
  peaks_mb: run.peaks,
  rerun_peaks_mb: rerun.peaks,
  disk_mb: {
    corpus: Number(corpusBytes) / 2 ** 20,
    cache: Number(cacheBytes) / 2 ** 20,
    run: Number(runBytes) / 2 ** 20,
  },
  train_frame_epochs: s.train_frame_epochs,
  train_frames_per_s: s.train_frame_epochs / s.seconds_train,
  eval_frame_scores: s.eval_frame_scores,
  eval_frames_per_s: s.eval_frame_scores / s.seconds_eval,
  accuracy: s.accuracy_dyn_esn_flow,
  trained: s.trained,
  resumed: s.resumed,
  skipped: s.skipped,
  rerun_summary: rerun.summary,
};
await Deno.writeTextFile(`${out}/measure.json`, JSON.stringify(measure, null, 2) + "\n");
const r = (x: number | undefined, d = 0) => (typeof x === "number" ? x.toFixed(d) : "-");
console.log(
  `| ${fraction} | ${corpus.utterances} | ${r(measure.data?.wall_s)} | ${r(s.seconds_data)} | ${
    r(s.seconds_train)
  } | ` +
    `${r(s.seconds_eval)} | ${r(measure.run?.wall_s)} | ${Math.max(...run.peaks.map((p) => p.mb))} | ` +
    `${r(measure.train_frames_per_s)} | ${r(measure.eval_frames_per_s)} | ` +
    `${r(measure.disk_mb.corpus)} / ${r(measure.disk_mb.cache)} / ${r(measure.disk_mb.run)} | ` +
    `${r(measure.rerun?.wall_s, 1)} | ${r(100 * s.accuracy_dyn_esn_flow, 1)}% |`,
);
