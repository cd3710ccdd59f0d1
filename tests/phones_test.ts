import assert from "node:assert/strict";
import {
  classId,
  FOLD_61_TO_39,
  foldPhone,
  isTimitPhone,
  PHONES_39,
  PHONES_61,
} from "../lib/data/timit/phones.ts";

// The 61 labels of the TIMIT phonetic alphabet (TIMIT's PHONCODE.DOC), typed out independently of the table.
const TIMIT_61 =
  `aa ae ah ao aw ax ax-h axr ay b bcl ch d dcl dh dx eh el em en eng epi er ey f g gcl h# hh hv ih
  ix iy jh k kcl l m n ng nx ow oy p pau pcl q r s sh t tcl th uh uw ux v w y z zh`.split(/\s+/);

// The 39 classes of Lee & Hon (1989), with all silences and closures as `sil`.
const LEE_HON_39 =
  `aa ae ah aw ay b ch d dh dx eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh sil t th uh uw v w
  y z`.split(/\s+/);

Deno.test("FOLD_61_TO_39 maps exactly the 61 TIMIT labels onto the 39 Lee & Hon classes", () => {
  assert.equal(TIMIT_61.length, 61);
  assert.deepEqual([...PHONES_61], [...TIMIT_61].sort());
  assert.equal(PHONES_39.length, 39);
  assert.deepEqual([...PHONES_39], [...LEE_HON_39].sort());
  const targets = new Set(Object.values(FOLD_61_TO_39).filter((x) => x !== null));
  assert.equal(targets.size, 39);
});

Deno.test("foldPhone() folds the standard merges, drops q, and keeps the rest", async (t) => {
  await t.step("spot checks", () => {
    const merges: [string, string][] = [
      ["ao", "aa"],
      ["ix", "ih"],
      ["ax", "ah"],
      ["ax-h", "ah"],
      ["axr", "er"],
      ["zh", "sh"],
      ["em", "m"],
      ["en", "n"],
      ["nx", "n"],
      ["eng", "ng"],
      ["hv", "hh"],
      ["ux", "uw"],
      ["el", "l"],
    ];
    for (const [from, to] of merges) assert.equal(foldPhone(from), to, from);
  });
  await t.step("closures, pauses, epenthetic silence and h# fold to sil", () => {
    for (const p of ["bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "pau", "epi", "h#"]) {
      assert.equal(foldPhone(p), "sil", p);
    }
  });
  await t.step("q is dropped", () => assert.equal(foldPhone("q"), null));
  await t.step("every other label folds to itself", () => {
    const merged = new Set([
      "ao",
      "ix",
      "ax",
      "ax-h",
      "axr",
      "zh",
      "em",
      "en",
      "nx",
      "eng",
      "hv",
      "ux",
      "el",
      "q",
    ]);
    const sil = new Set(["bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "pau", "epi", "h#"]);
    for (const p of TIMIT_61) if (!merged.has(p) && !sil.has(p)) assert.equal(foldPhone(p), p);
  });
  await t.step("unknown labels are refused", () => {
    assert.equal(isTimitPhone("xx"), false);
    assert.throws(() => foldPhone("xx"), /Unknown TIMIT phone label "xx"/);
  });
});

Deno.test("classId() indexes PHONES_39 and refuses unknown classes", () => {
  PHONES_39.forEach((p, i) => assert.equal(classId(p), i));
  assert.throws(() => classId("ao"), /Unknown 39-class phone "ao"/);
});
