/**
 * The TIMIT phone set and the standard 61 -> 39 folding, in ONE table.
 *
 * Folding of K.-F. Lee and H.-W. Hon, "Speaker-independent phone recognition using hidden Markov models",
 * IEEE Trans. ASSP 37(11), 1989 (as used by Kaldi's `egs/timit/s5/conf/phones.60-48-39.map`):
 * ao->aa; ax, ax-h->ah; axr->er; hv->hh; ix->ih; el->l; em->m; en, nx->n; eng->ng; zh->sh; ux->uw;
 * the closures (bcl dcl gcl pcl tcl kcl), pauses (pau), epenthetic silence (epi) and the utterance
 * boundary (h#) all fold to `sil`; the glottal stop `q` is dropped (its frames belong to no segment).
 */

/** Each of the 61 TIMIT labels and its 39-class fold (`null`: dropped). */
export const FOLD_61_TO_39: Readonly<Record<string, string | null>> = Object.freeze({
  aa: "aa",
  ae: "ae",
  ah: "ah",
  ao: "aa",
  aw: "aw",
  ax: "ah",
  "ax-h": "ah",
  axr: "er",
  ay: "ay",
  b: "b",
  bcl: "sil",
  ch: "ch",
  d: "d",
  dcl: "sil",
  dh: "dh",
  dx: "dx",
  eh: "eh",
  el: "l",
  em: "m",
  en: "n",
  eng: "ng",
  epi: "sil",
  er: "er",
  ey: "ey",
  f: "f",
  g: "g",
  gcl: "sil",
  "h#": "sil",
  hh: "hh",
  hv: "hh",
  ih: "ih",
  ix: "ih",
  iy: "iy",
  jh: "jh",
  k: "k",
  kcl: "sil",
  l: "l",
  m: "m",
  n: "n",
  ng: "ng",
  nx: "n",
  ow: "ow",
  oy: "oy",
  p: "p",
  pau: "sil",
  pcl: "sil",
  q: null,
  r: "r",
  s: "s",
  sh: "sh",
  t: "t",
  tcl: "sil",
  th: "th",
  uh: "uh",
  uw: "uw",
  ux: "uw",
  v: "v",
  w: "w",
  y: "y",
  z: "z",
  zh: "sh",
});

/** The 61 TIMIT labels, sorted. */
export const PHONES_61: readonly string[] = Object.freeze(Object.keys(FOLD_61_TO_39).sort());

/** The 39 folded classes, sorted; a class id is an index into this list. */
export const PHONES_39: readonly string[] = Object.freeze(
  [...new Set(Object.values(FOLD_61_TO_39).filter((p): p is string => p !== null))].sort(),
);

const CLASS_ID = new Map(PHONES_39.map((p, i) => [p, i]));

/** Whether `label` is one of the 61 TIMIT labels. */
export function isTimitPhone(label: string): boolean {
  return Object.hasOwn(FOLD_61_TO_39, label);
}

/** The 39-class fold of a TIMIT label (`null` for `q`); throws for a label outside the 61. */
export function foldPhone(label: string): string | null {
  if (!isTimitPhone(label)) throw new Error(`Unknown TIMIT phone label "${label}"`);
  return FOLD_61_TO_39[label];
}

/** The class id (index into {@link PHONES_39}) of a folded class name; throws for an unknown name. */
export function classId(folded: string): number {
  const id = CLASS_ID.get(folded);
  if (id === undefined) throw new Error(`Unknown 39-class phone "${folded}". Valid: ${PHONES_39.join(", ")}`);
  return id;
}
