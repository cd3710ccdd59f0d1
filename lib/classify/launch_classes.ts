/**
 * How many training tasks a Slurm submission of a per-class run needs, decided on the submitting machine
 * before any feature exists: one per class by default. The classes are only known exactly once the
 * features are computed (the preparation job does that), so the count is read from the transcriptions:
 * `--classes N` is N, a list is its length, and all classes (`""`) are the distinct folded labels of the
 * TRAIN part's `.PHN` files (a phone that owns no frame gives no segment, so this may exceed the classes
 * present in training by a few; those tasks find no class and end at once). Shard i of n, with n at least
 * the number of classes, holds exactly the i-th heaviest class (`classes.ts`: the longest-processing-time
 * rule gives each class an empty shard while there is one).
 */
import { ConfigError } from "../config.ts";
import { type Corpus, foldPhone, locateCorpus, scanCorpus } from "../data/timit/mod.ts";
import { ensureMiniTimit } from "../data/timit/mini_timit.ts";
import { parseTranscription } from "../data/timit/phn.ts";

/** The distinct 39-class labels of TRAIN's transcriptions, sorted. */
export async function transcribedClasses(corpus: Corpus): Promise<string[]> {
  const found = new Set<string>();
  for (const u of corpus.utterances) {
    if (u.part !== "train") continue;
    const items = parseTranscription(await Deno.readTextFile(u.phnPath), u.phnPath, "phn");
    for (const p of items) {
      const f = foldPhone(p.label);
      if (f !== null) found.add(f);
    }
  }
  return [...found].sort();
}

export interface TrainTaskCount {
  /** Tasks of the train stage. */
  readonly tasks: number;
  /** How the number came about, for the log. */
  readonly why: string;
  /** The corpus root the jobs will read. */
  readonly corpus: string;
}

/**
 * The train stage's task count for `classes` (the `--classes` value) on the corpus of `timitDir` (the
 * bundled stand-in is generated when missing); `arrayTasks` > 0 fixes it. Listed labels that no TRAIN
 * transcription has are a {@link ConfigError} listing those it has.
 */
export async function trainTaskCount(o: {
  readonly timitDir: string | null;
  readonly classes: string;
  readonly arrayTasks: number;
  readonly includeSA: boolean;
  readonly skipBad: boolean;
}): Promise<TrainTaskCount> {
  const where = locateCorpus(o.timitDir);
  if (where.bundled) await ensureMiniTimit(where.root);
  const spec = o.classes.trim();
  const listed = /^\d+$/.test(spec) ? null : spec.split(",").map((x) => x.trim()).filter((x) => x !== "");
  let labels: string[] | null = null;
  if (spec === "" || listed) {
    const corpus = await scanCorpus(where.root, { includeSA: o.includeSA, skipBad: o.skipBad });
    labels = await transcribedClasses(corpus);
    const unknown = (listed ?? []).filter((c) => !labels!.includes(c));
    if (unknown.length) {
      throw new ConfigError(
        `--classes: ${unknown.join(", ")} ${
          unknown.length === 1 ? "is" : "are"
        } in no TRAIN transcription of ` +
          `${where.root}. Labels there: ${labels.join(",")}`,
      );
    }
  }
  if (o.arrayTasks > 0) return { tasks: o.arrayTasks, why: "--slurm_array_tasks", corpus: where.root };
  if (spec === "") {
    return {
      tasks: Math.max(1, labels!.length),
      why: "one per class transcribed in TRAIN",
      corpus: where.root,
    };
  }
  if (listed) return { tasks: listed.length, why: "one per listed class", corpus: where.root };
  return { tasks: Number(spec), why: `one per class (--classes ${spec})`, corpus: where.root };
}
