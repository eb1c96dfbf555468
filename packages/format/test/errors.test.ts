import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { ProfileFormatError, decodeProfile, decodeStream, readProfileSync } from "../src/index.js";
import { FIXTURES, fixtureBytes } from "./golden-fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "vmprof-format-err-"));

function rejects(f: () => unknown, code: string, message: RegExp) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ProfileFormatError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test("a file that is not a profile: bad magic, naming the file", async () => {
  const path = join(tmp, "x.prof");
  writeFileSync(path, "{\"nodes\": []}");
  rejects(() => readProfileSync(path), "BAD_MAGIC", /^not a vmprof profile \(bad magic\) in .*x\.prof$/);
  // The stream decoder must report the same error, not wrap it as an I/O failure.
  await assert.rejects(decodeStream(Readable.from([Buffer.from("{\"nodes\": []}")]), path), (e: ProfileFormatError) => e.code === "BAD_MAGIC" && /^not a vmprof profile \(bad magic\) in .*x\.prof$/.test(e.message));
});

test("an empty file and an empty pipe", async () => {
  const path = join(tmp, "empty.prof");
  writeFileSync(path, "");
  rejects(() => readProfileSync(path), "EMPTY", /empty\.prof: empty input/);
  await assert.rejects(decodeStream(Readable.from([]), "<stdin>"), (e: ProfileFormatError) => e.code === "EMPTY" && /^<stdin>: empty input/.test(e.message));
});

test("a newer major version says which version it is and what this reader reads", () => {
  const b = Uint8Array.from(fixtureBytes(FIXTURES[0]));
  b[8] = 2;
  b[9] = 3;
  rejects(() => decodeProfile(b, "new.prof"), "NEWER_VERSION", /^new\.prof: written by format version 2\.3; this reader reads version 1\.x/);
});

test("a newer minor version with unknown records and trailing fields still reads", () => {
  const b = fixtureBytes(FIXTURES[0]);
  // Insert an unknown record (type 0x30, 3 bytes) right after the header, and bump the minor version.
  const x = Uint8Array.from([...b.subarray(0, 12), 0x30, 3, 1, 2, 3, ...b.subarray(12)]);
  x[9] = 9;
  const p = decodeProfile(x, "future.prof");
  assert.equal(p.samples.count, 100);
  assert.deepEqual(p.version, [1, 9]);
});

test("a corrupt record: typed error with the record type and byte offset", () => {
  const b = Uint8Array.from(fixtureBytes(FIXTURES[0]));
  // The first record is META at byte 12; make its process scope point at a process that does not exist.
  assert.equal(b[12], 0x01);
  b[12 + 2] = 9;
  rejects(() => decodeProfile(b, "bad.prof"), "CORRUPT", /^bad\.prof: bad meta record at byte 12: meta for undefined process 9 \(byte \d+\)$/);
});

test("a missing file and a directory are IO errors naming the path", () => {
  rejects(() => readProfileSync(join(tmp, "nope.prof")), "IO", /nope\.prof: no such file/);
  rejects(() => readProfileSync(tmp), "IO", /is a directory/);
});

test("garbage after a gzip magic is reported as bad gzip, not a crash", () => {
  const b = Uint8Array.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  rejects(() => decodeProfile(b, "z.prof"), "CORRUPT", /z\.prof: not valid gzip data/);
});

test("data after the END record is corruption", () => {
  const b = fixtureBytes(FIXTURES[0]);
  const x = Uint8Array.from([...b, 0x01, 0x00]);
  rejects(() => decodeProfile(x, "two.prof"), "CORRUPT", /data after the end record at byte \d+/);
});
