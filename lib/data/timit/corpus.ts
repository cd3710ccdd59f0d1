/**
 * Finding and loading the utterances of a TIMIT corpus on disk.
 *
 * Layout (LDC93S1): `<root>/{TRAIN,TEST}/DR1..DR8/<SPEAKER>/<UTT>.{WAV,PHN,WRD,TXT}`, names in upper or
 * lower case, where SPEAKER is sex + initials + digit (`MDAB0`) and UTT is `SA1`, `SI1033`, `SX43`, ...
 * The root may also be one directory above (e.g. `timit/TIMIT/TRAIN`). Audio is `<UTT>.WAV` (NIST
 * SPHERE, as distributed) or `<UTT>.WAV.wav` (RIFF/WAVE, as in common re-packaged copies); the format is
 * told by the file's first bytes, not its name. The SA ("dialect") sentences, read by every speaker, are
 * left out by default, as in the standard protocol.
 *
 * Structure problems (an empty directory, a missing `.PHN`) and content problems (a bad header, a boundary
 * past the end of the audio, an unknown label) raise a {@link CorpusError} naming the file and line;
 * with `skipBad` the utterance is skipped and a counted warning recorded instead.
 */
import { CorpusError } from "./errors.ts";
import { checkWithinAudio, type Interval, parseTranscription } from "./phn.ts";
import { type Audio, readSphere } from "./sphere.ts";
import { assignSpeakers, type Split, type SplitOptions } from "./speakers.ts";
import { readWav } from "./wav.ts";

/** One utterance found on disk. Names are lower case; paths are as found. */
export interface Utterance {
  /** `train` or `test`: the corpus half (directory) it lies in. */
  readonly part: "train" | "test";
  /** Dialect region, `dr1`..`dr8`. */
  readonly dialect: string;
  readonly speaker: string;
  /** Sentence ID, e.g. `si1033`. */
  readonly id: string;
  readonly audioPath: string;
  readonly phnPath: string;
  readonly wrdPath: string | null;
  readonly txtPath: string | null;
}

/** A skipped file and why (only with `skipBad`). */
export interface Skipped {
  readonly file: string;
  readonly reason: string;
}

/** The utterances of a corpus. */
export interface Corpus {
  /** The directory holding TRAIN/ and TEST/. */
  readonly root: string;
  readonly utterances: readonly Utterance[];
  /** Problems skipped because `skipBad` was on. */
  readonly skipped: readonly Skipped[];
}

export interface ScanOptions {
  /** Keep the SA sentences (default: false, as in the standard protocol). */
  readonly includeSA?: boolean;
  /** Skip bad files with a counted warning instead of failing (default: false). */
  readonly skipBad?: boolean;
}

const SPEAKER = /^[fm][a-z]{3}[0-9]$/i;
const DIALECT = /^dr[0-9]$/i;
const UTT_FILE = /^(s[aix][0-9]+)\.(wav|phn|wrd|txt)(\.wav)?$/i;

async function listDir(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) out.push(e);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function findRoot(root: string): Promise<string> {
  const hasParts = (es: Deno.DirEntry[]) => es.some((e) => e.isDirectory && /^(train|test)$/i.test(e.name));
  let entries: Deno.DirEntry[];
  try {
    entries = await listDir(root);
  } catch (e) {
    throw new CorpusError(root, `cannot read the corpus directory (${(e as Error).message})`);
  }
  if (hasParts(entries)) return root;
  for (const e of entries) {
    if (e.isDirectory && hasParts(await listDir(`${root}/${e.name}`))) return `${root}/${e.name}`;
  }
  throw new CorpusError(
    root,
    entries.length === 0
      ? "empty directory: expected TRAIN/ and TEST/ of a TIMIT corpus"
      : "no TRAIN/ or TEST/ directory here (expected <root>/{TRAIN,TEST}/DR1..DR8/<SPEAKER>/<UTT>.WAV)",
  );
}

/** Walks a corpus and lists its utterances; structure problems throw or, with `skipBad`, are skipped. */
export async function scanCorpus(root: string, opts: ScanOptions = {}): Promise<Corpus> {
  const base = await findRoot(root);
  const utterances: Utterance[] = [];
  const skipped: Skipped[] = [];
  const bad = (e: unknown) => {
    if (!(e instanceof CorpusError) || !opts.skipBad) throw e;
    skipped.push({ file: e.file, reason: e.message });
  };
  for (const partDir of await listDir(base)) {
    if (!partDir.isDirectory || !/^(train|test)$/i.test(partDir.name)) continue;
    const part = partDir.name.toLowerCase() as "train" | "test";
    const partPath = `${base}/${partDir.name}`;
    const regions = (await listDir(partPath)).filter((e) => e.isDirectory && DIALECT.test(e.name));
    if (regions.length === 0) bad(new CorpusError(partPath, "empty directory: no DR1..DR8 subdirectories"));
    for (const dr of regions) {
      const drPath = `${partPath}/${dr.name}`;
      const spks = (await listDir(drPath)).filter((e) => e.isDirectory && SPEAKER.test(e.name));
      if (spks.length === 0) bad(new CorpusError(drPath, "empty directory: no speaker subdirectories"));
      for (const spk of spks) {
        try {
          utterances.push(
            ...await scanSpeaker(`${drPath}/${spk.name}`, part, dr.name, spk.name, opts, bad),
          );
        } catch (e) {
          bad(e);
        }
      }
    }
  }
  if (utterances.length === 0) throw new CorpusError(base, "no utterances found under TRAIN/ or TEST/");
  return { root: base, utterances, skipped };
}

async function scanSpeaker(
  dir: string,
  part: "train" | "test",
  dialect: string,
  speaker: string,
  opts: ScanOptions,
  bad: (e: unknown) => void,
): Promise<Utterance[]> {
  const byUtt = new Map<string, Map<string, string>>();
  for (const e of await listDir(dir)) {
    const m = e.isFile ? UTT_FILE.exec(e.name) : null;
    if (!m) continue;
    const kind = m[3] ? "wav.wav" : m[2].toLowerCase();
    const files = byUtt.get(m[1].toLowerCase()) ?? new Map<string, string>();
    files.set(kind, `${dir}/${e.name}`);
    byUtt.set(m[1].toLowerCase(), files);
  }
  if (byUtt.size === 0) throw new CorpusError(dir, "empty directory: no utterance files (<UTT>.WAV, .PHN)");
  const out: Utterance[] = [];
  for (const [id, files] of byUtt) {
    if (!opts.includeSA && id.startsWith("sa")) continue;
    const audioPath = files.get("wav") ?? files.get("wav.wav");
    const upper = [...files.values()][0].split("/").pop()!.startsWith(id.toUpperCase());
    const expected = (ext: string) => `${dir}/${upper ? (id + ext).toUpperCase() : id + ext}`;
    if (!files.has("phn")) {
      bad(new CorpusError(expected(".phn"), "missing phone transcription"));
      continue;
    }
    if (!audioPath) {
      bad(new CorpusError(expected(".wav"), "missing audio file"));
      continue;
    }
    out.push({
      part,
      dialect: dialect.toLowerCase(),
      speaker: speaker.toLowerCase(),
      id,
      audioPath,
      phnPath: files.get("phn")!,
      wrdPath: files.get("wrd") ?? null,
      txtPath: files.get("txt") ?? null,
    });
  }
  return out;
}

/** The utterances of one split (see {@link assignSpeakers}); an empty split is an error saying why. */
export function selectSplit(corpus: Corpus, split: Split, opts: SplitOptions): Utterance[] {
  const who = assignSpeakers(corpus.utterances, opts);
  const out = corpus.utterances.filter((u) => who.get(u.speaker) === split);
  if (out.length === 0) {
    const why = split === "val" && opts.valSet === "dev50"
      ? "none of the 50 development-set speakers is under TEST/ (use the seeded validation split instead)"
      : split === "test" && !opts.fullTest
      ? "none of the 24 core-test speakers is under TEST/ (use the full test set instead)"
      : `no ${split === "test" ? "TEST" : "TRAIN"} speakers`;
    throw new CorpusError(corpus.root, `split "${split}" is empty: ${why}`);
  }
  return out;
}

/** Reads SPHERE or RIFF audio, told apart by the first bytes. */
export function readAudio(bytes: Uint8Array, file: string): Audio {
  const magic = new TextDecoder("latin1").decode(bytes.subarray(0, 4));
  if (magic === "NIST") return readSphere(bytes, file);
  if (magic === "RIFF") return readWav(bytes, file);
  throw new CorpusError(
    file,
    `unknown audio format: starts with ${JSON.stringify(magic)}, not NIST_1A or RIFF`,
  );
}

/** An utterance's audio and phones, checked against each other. */
export interface LoadedUtterance {
  readonly audio: Audio;
  readonly phones: Interval[];
}

/** Reads an audio file (SPHERE or RIFF); a missing or unreadable file is a CorpusError naming it. */
export async function loadAudio(path: string): Promise<Audio> {
  return readAudio(await readFileOr(path), path);
}

/** Loads audio and `.PHN`; refuses boundaries past the end of the audio (naming the `.PHN` line). */
export async function loadUtterance(u: Utterance): Promise<LoadedUtterance> {
  const audio = await loadAudio(u.audioPath);
  const phones = parseTranscription(new TextDecoder().decode(await readFileOr(u.phnPath)), u.phnPath, "phn");
  if (phones.length === 0) throw new CorpusError(u.phnPath, "no phone lines");
  checkWithinAudio(phones, audio.samples.length, u.phnPath);
  return { audio, phones };
}

async function readFileOr(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new CorpusError(path, `cannot read file (${(e as Error).message})`);
  }
}
