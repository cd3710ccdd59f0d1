/**
 * The description of one phone for the stand-in's formant synthesiser (`synth.ts`): what the tables of
 * `synth_phones.ts` and `synth_obstruents.ts` hold. A module of its own so that both tables import it
 * from below.
 */

/** How a phone is made. Frequencies are for a reference adult male (tract scale 1). */
export interface PhoneSpec {
  /** Selects the amplitude envelope within the token (see `envelope` in `synth.ts`); otherwise a label. */
  readonly kind:
    | "vowel"
    | "semivowel"
    | "nasal"
    | "aspiration"
    | "fricative"
    | "affricate"
    | "closure"
    | "burst"
    | "flap"
    | "silence"
    | "glottal";
  /** F1..F3 targets in Hz, or `null` to take them from the neighbouring phones. */
  readonly formants: readonly [number, number, number] | null;
  /** A diphthong's offset F1..F3 in Hz: formants move linearly from `formants` to these across the token. */
  readonly formantsEnd?: readonly [number, number, number];
  readonly bandwidths: readonly [number, number, number];
  /** Nasal antiresonance in Hz (nasals only); elsewhere the zero sits on the nasal pole and cancels it. */
  readonly nasalZero?: number;
  /** Voicing amplitude. */
  readonly av: number;
  /** Aspiration amplitude (noise into the cascade). */
  readonly ah: number;
  /** Frication amplitude (noise through the parallel band-pass filters). */
  readonly af: number;
  /** Centre and bandwidth (Hz) of the two frication band-pass filters. */
  readonly fric?: readonly [readonly [number, number], readonly [number, number]];
  /** Duration range in ms (before the speaker's rate). */
  readonly durationMs: readonly [number, number];
}
