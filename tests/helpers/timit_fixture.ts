/**
 * Tiny TIMIT corpora for tests: a hand-made fixture with one phone layout for every utterance
 * ({@link makeCorpus}), and the arguments of a few-second `esn_flow_timit` run on a small stand-in
 * ({@link tinyStandIn}).
 */
import { ensureMiniTimit } from "../../lib/data/timit/mod.ts";
import { writeSphere } from "../../lib/data/timit/sphere.ts";
import { writeWav } from "../../lib/data/timit/wav.ts";

/** Samples per fixture utterance (0.3 s: 28 frames). */
export const N = 4800;
/** The phones of every fixture utterance. */
export const PHN = `0 1000 h#\n1000 2500 aa\n2500 3000 q\n3000 4000 s\n4000 ${N} h#\n`;

/** A tone with a little deterministic noise, `N` samples. */
export function tone(hz: number, seed: number): Int16Array {
  return Int16Array.from(
    { length: N },
    (_, i) => Math.round(2000 * Math.sin((2 * Math.PI * hz * i) / 16000) + ((i * seed) % 97) - 48),
  );
}

export interface Fixture {
  lower?: boolean;
  riff?: boolean;
  speakers: [part: string, dr: string, spk: string][];
  /** Sentences of every speaker (default `sa1`, `si10`, `sx20`). */
  utterances?: readonly string[];
}

/** Writes a tiny TIMIT-layout corpus: every utterance has a tone of its own and the phones {@link PHN}. */
export async function makeCorpus(root: string, f: Fixture): Promise<void> {
  const c = (s: string) => (f.lower ? s.toLowerCase() : s.toUpperCase());
  let k = 1;
  for (const [part, dr, spk] of f.speakers) {
    const dir = `${root}/${c(part)}/${c(dr)}/${c(spk)}`;
    await Deno.mkdir(dir, { recursive: true });
    for (const utt of f.utterances ?? ["sa1", "si10", "sx20"]) {
      const x = tone(200 + 50 * k, k++);
      const audio = f.riff ? `${c(utt)}${c(".wav")}.wav` : c(`${utt}.wav`);
      await Deno.writeFile(`${dir}/${audio}`, f.riff ? writeWav(x) : writeSphere(x));
      await Deno.writeTextFile(`${dir}/${c(`${utt}.phn`)}`, PHN);
      await Deno.writeTextFile(`${dir}/${c(`${utt}.wrd`)}`, `1000 4000 ahs\n`);
      await Deno.writeTextFile(`${dir}/${c(`${utt}.txt`)}`, `0 ${N} Ahs.\n`);
    }
  }
}

/**
 * A stand-in of 3 training and 8 test speakers in a temporary directory (removed when the test process
 * ends), and the CLI arguments of an `esn_flow_timit` run on it with tiny models (ESN 20, hidden 8, 2 flow
 * layers), its feature cache beside it; `extra` arguments follow (replacing any tiny size they name).
 */
export async function tinyStandIn(
  prefix: string,
): Promise<{ tmp: string; args: (...extra: string[]) => string[] }> {
  const tmp = await Deno.makeTempDir({ prefix });
  await ensureMiniTimit(`${tmp}/corpus`, { trainSpeakers: 3 });
  globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
  const base = ["--name", "esn_flow_timit", "--backend", "wasm", "--timit_dir", `${tmp}/corpus`];
  const tiny = ["--esn_dim", "20", "--hidden_layer_dim", "8", "--n_flow_layers", "2"];
  const args = (...extra: string[]) => {
    // A key in `extra` replaces the tiny default.
    const mine = tiny.filter((_, i) => !extra.includes(tiny[i - (i % 2)]));
    return [...base, "--feature_cache_dir", `${tmp}/cache`, ...mine, ...extra];
  };
  return { tmp, args };
}

/** The last `summary` record of a `--json` run's stdout. */
export function jsonSummary(stdout: string): Record<string, unknown> {
  const s = stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.kind === "summary").at(-1);
  if (!s) throw new Error("no summary line on stdout");
  return s;
}
