/**
 * RIFF/WAVE audio (the `.WAV.wav` files of common re-packaged TIMIT copies): reader, and a writer for tests.
 *
 * Layout: `RIFF <size> WAVE` then chunks `<id:4> <size:u32le> <data, padded to even length>`; the `fmt `
 * chunk gives the format tag (1 = PCM, 0xFFFE = extensible, whose sub-format GUID must be PCM), channel
 * count, sample rate and bits per sample; `data` holds the samples. Reference: Microsoft "Multimedia
 * Programming Interface and Data Specifications 1.0" (1991) and WAVEFORMATEXTENSIBLE.
 * Only 16-bit mono PCM is read; anything else is refused naming the file and the field.
 */
import { CorpusError } from "./errors.ts";
import type { Audio } from "./sphere.ts";

const ascii = new TextDecoder("latin1");

/** Reads a 16-bit mono PCM RIFF/WAVE file; `file` is named in errors. */
export function readWav(bytes: Uint8Array, file: string): Audio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length < 12 || ascii.decode(bytes.subarray(0, 4)) !== "RIFF" ||
    ascii.decode(bytes.subarray(8, 12)) !== "WAVE"
  ) {
    throw new CorpusError(file, "not a RIFF/WAVE file (no RIFF....WAVE header)");
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = ascii.decode(bytes.subarray(pos, pos + 4));
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16 || body + size > bytes.length) throw new CorpusError(file, `truncated WAVE fmt chunk`);
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 40) format = view.getUint16(body + 24, true);
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data") {
      if (!fmt) throw new CorpusError(file, "WAVE data chunk comes before the fmt chunk");
      if (fmt.format !== 1) {
        throw new CorpusError(file, `unsupported WAVE format tag ${fmt.format} (need 1, PCM)`);
      }
      if (fmt.bits !== 16) {
        throw new CorpusError(file, `unsupported WAVE bits per sample ${fmt.bits} (need 16)`);
      }
      if (fmt.channels !== 1) {
        throw new CorpusError(file, `unsupported WAVE channel count ${fmt.channels} (need 1)`);
      }
      if (body + size > bytes.length) {
        throw new CorpusError(
          file,
          `truncated WAVE data: chunk declares ${size} bytes, file has ${bytes.length - body}`,
        );
      }
      const samples = new Int16Array(Math.floor(size / 2));
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(body + 2 * i, true);
      return { sampleRate: fmt.rate, samples };
    }
    pos = body + size + (size & 1);
  }
  throw new CorpusError(file, fmt ? "WAVE file has no data chunk" : "WAVE file has no fmt chunk");
}

/** Writes 16-bit mono PCM as a canonical 44-byte-header RIFF/WAVE file. */
export function writeWav(samples: Int16Array, sampleRate = 16000): Uint8Array {
  const out = new Uint8Array(44 + samples.length * 2);
  const v = new DataView(out.buffer);
  const tag = (at: number, s: string) => out.set(new TextEncoder().encode(s), at);
  tag(0, "RIFF");
  v.setUint32(4, 36 + samples.length * 2, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  tag(36, "data");
  v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) v.setInt16(44 + 2 * i, samples[i], true);
  return out;
}
