/**
 * NIST SPHERE audio (the `.WAV` files of the LDC TIMIT distribution): reader and writer.
 *
 * A SPHERE file is an ASCII header followed by raw samples. The header starts with the line `NIST_1A`,
 * then the header size in bytes (right-aligned, usually `   1024`), then one `name -type value` line
 * per field, where the type is `-i` (integer), `-r` (real) or `-sN` (a string of exactly N characters),
 * and ends with `end_head`; the rest of the header is padding. TIMIT's fields are `database_id`,
 * `database_version`, `utterance_id`, `channel_count`, `sample_count`, `sample_rate`, `sample_min`,
 * `sample_max`, `sample_n_bytes`, `sample_byte_format` (`01` little-endian, `10` big-endian) and
 * `sample_sig_bits`. Reference: NIST SPHERE 2.6 documentation (`sphere/doc/sphere.doc`).
 *
 * Only uncompressed 16-bit single-channel PCM is read; anything else (a `shorten` or `wavpack` coding,
 * mu-law, several channels, another sample size) is refused with the file and the field that says so.
 */
import { CorpusError } from "./errors.ts";

/** Decoded audio: 16-bit samples and their rate. */
export interface Audio {
  readonly sampleRate: number;
  readonly samples: Int16Array;
}

/** A parsed SPHERE header: the header size and every field by name. */
export interface SphereHeader {
  readonly headerSize: number;
  readonly fields: ReadonlyMap<string, number | string>;
}

const ascii = new TextDecoder("latin1");
const MAX_HEADER = 1 << 20;

/** Parses the header of a SPHERE file; `file` is named in errors. */
export function parseSphereHeader(bytes: Uint8Array, file: string): SphereHeader {
  if (bytes.length < 16) {
    throw new CorpusError(file, `truncated SPHERE header: file has ${bytes.length} bytes`);
  }
  const start = ascii.decode(bytes.subarray(0, 16));
  if (!start.startsWith("NIST_1A\n")) {
    throw new CorpusError(
      file,
      `not a NIST SPHERE file: first line is ${JSON.stringify(start.split("\n")[0])}`,
    );
  }
  const headerSize = Number(start.slice(8, 16).trim());
  if (!Number.isInteger(headerSize) || headerSize < 16 || headerSize > MAX_HEADER) {
    throw new CorpusError(file, `bad SPHERE header size ${JSON.stringify(start.slice(8, 16).trim())}`, 2);
  }
  if (bytes.length < headerSize) {
    throw new CorpusError(
      file,
      `truncated SPHERE header: header size is ${headerSize} bytes, file has ${bytes.length}`,
    );
  }
  const text = ascii.decode(bytes.subarray(0, headerSize));
  const lines = text.split("\n");
  const fields = new Map<string, number | string>();
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i];
    const lineNo = i + 1;
    if (line.trim() === "end_head") return { headerSize, fields };
    if (line.trim() === "" || line.startsWith(";")) continue;
    const m = /^(\S+) -(i|r|s(\d+)) (.*)$/.exec(line);
    if (!m) throw new CorpusError(file, `bad SPHERE header line ${JSON.stringify(line)}`, lineNo);
    const [, name, type, len, rest] = m;
    if (type === "i" || type === "r") {
      const v = Number(rest.trim());
      if (rest.trim() === "" || !Number.isFinite(v) || (type === "i" && !Number.isInteger(v))) {
        throw new CorpusError(
          file,
          `SPHERE field ${name} (-${type}) has bad value ${JSON.stringify(rest)}`,
          lineNo,
        );
      }
      fields.set(name, v);
    } else {
      const n = Number(len);
      if (rest.length < n) {
        throw new CorpusError(
          file,
          `SPHERE field ${name} declares ${n} characters, has ${rest.length}`,
          lineNo,
        );
      }
      fields.set(name, rest.slice(0, n));
    }
  }
  throw new CorpusError(file, `truncated SPHERE header: no end_head within the ${headerSize}-byte header`);
}

function intField(h: SphereHeader, name: string, file: string): number {
  const v = h.fields.get(name);
  if (v === undefined) throw new CorpusError(file, `SPHERE header has no ${name} field`);
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new CorpusError(file, `SPHERE field ${name} must be an integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Reads a SPHERE file holding uncompressed 16-bit mono PCM. Refuses compressed or other codings, naming
 * the field (`sample_coding`, `sample_n_bytes`, `channel_count`, `sample_byte_format`), and audio shorter
 * than `sample_count`.
 */
export function readSphere(bytes: Uint8Array, file: string): Audio {
  const h = parseSphereHeader(bytes, file);
  const coding = h.fields.get("sample_coding");
  if (coding !== undefined && String(coding).trim().toLowerCase() !== "pcm") {
    const hint = /shorten|wavpack/i.test(String(coding))
      ? " (compressed audio: decompress it first, e.g. `sph2pipe -f sph` or `sox`)"
      : "";
    throw new CorpusError(file, `unsupported SPHERE sample_coding "${coding}"${hint}`);
  }
  const nBytes = intField(h, "sample_n_bytes", file);
  if (nBytes !== 2) throw new CorpusError(file, `unsupported SPHERE sample_n_bytes ${nBytes} (need 2)`);
  const channels = h.fields.has("channel_count") ? intField(h, "channel_count", file) : 1;
  if (channels !== 1) throw new CorpusError(file, `unsupported SPHERE channel_count ${channels} (need 1)`);
  const order = h.fields.get("sample_byte_format");
  if (order !== "01" && order !== "10") {
    throw new CorpusError(
      file,
      `unsupported SPHERE sample_byte_format ${JSON.stringify(order ?? null)} (need "01" or "10")`,
    );
  }
  const sampleRate = intField(h, "sample_rate", file);
  if (sampleRate <= 0) {
    throw new CorpusError(file, `SPHERE field sample_rate must be positive, got ${sampleRate}`);
  }
  const count = intField(h, "sample_count", file);
  const have = bytes.length - h.headerSize;
  if (count < 0 || have < count * 2) {
    throw new CorpusError(
      file,
      `truncated SPHERE audio: sample_count is ${count} (${
        count * 2
      } bytes), file has ${have} bytes of samples`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + h.headerSize, count * 2);
  const samples = new Int16Array(count);
  const little = order === "01";
  for (let i = 0; i < count; i++) samples[i] = view.getInt16(2 * i, little);
  return { sampleRate, samples };
}

/** Options of {@link writeSphere}. */
export interface SphereWriteOptions {
  readonly sampleRate?: number;
  /** `01` (little-endian, as in TIMIT) or `10` (big-endian). */
  readonly byteFormat?: "01" | "10";
  /** `utterance_id` (TIMIT style, e.g. `dab0_si1033`), written third as in TIMIT; omitted if absent. */
  readonly utteranceId?: string;
  /** Extra or replacing fields, written after the standard ones (strings as `-sN`, integers `-i`). */
  readonly fields?: Readonly<Record<string, number | string>>;
}

/**
 * Writes 16-bit mono PCM as a SPHERE file with a TIMIT-style 1024-byte `NIST_1A` header (a multiple of
 * 1024 bytes if the fields do not fit). Field order follows the TIMIT files.
 */
export function writeSphere(samples: Int16Array, opts: SphereWriteOptions = {}): Uint8Array {
  const order = opts.byteFormat ?? "01";
  let min = 0, max = 0;
  for (const s of samples) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const f = new Map<string, number | string>([
    ["database_id", "TIMIT"],
    ["database_version", "1.0"],
    ...(opts.utteranceId !== undefined ? [["utterance_id", opts.utteranceId] as [string, string]] : []),
    ["channel_count", 1],
    ["sample_count", samples.length],
    ["sample_rate", opts.sampleRate ?? 16000],
    ["sample_min", min],
    ["sample_max", max],
    ["sample_n_bytes", 2],
    ["sample_byte_format", order],
    ["sample_sig_bits", 16],
  ]);
  for (const [k, v] of Object.entries(opts.fields ?? {})) f.set(k, v);
  const body =
    [...f].map(([k, v]) =>
      typeof v === "number"
        ? `${k} ${Number.isInteger(v) ? "-i" : "-r"} ${v}`
        : `${k} -s${new TextEncoder().encode(v).length} ${v}`
    ).join("\n") + "\nend_head\n";
  const size = Math.ceil((16 + body.length) / 1024) * 1024;
  const header = `NIST_1A\n${String(size).padStart(7)}\n${body}`.padEnd(size, " ");
  const out = new Uint8Array(size + samples.length * 2);
  out.set(new TextEncoder().encode(header));
  const view = new DataView(out.buffer, size);
  for (let i = 0; i < samples.length; i++) view.setInt16(2 * i, samples[i], order === "01");
  return out;
}
