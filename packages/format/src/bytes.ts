/**
 * The primitive encodings of SPEC.md: LEB128 unsigned varints (uvarint), zigzag signed varints
 * (svarint), length-prefixed UTF-8 strings, little-endian float64.
 * Values are JS numbers and must stay within ±(2^53 - 1); arithmetic (not 32-bit bitwise) handles the
 * large ones.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Largest magnitude a varint may carry (2^53 - 1). */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;
/** A uvarint of MAX_VARINT takes 8 bytes; a reader refuses longer ones. */
export const MAX_VARINT_BYTES = 8;

/** Maps a signed integer to an unsigned one so small magnitudes stay small: 0,-1,1,-2 -> 0,1,2,3. */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** Inverse of zigzag. */
export function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

/** A growable byte buffer with the format's primitive encoders. */
export class ByteWriter {
  /** Backing storage; bytes [0, length) are written. */
  buf: Uint8Array;
  /** Number of bytes written. */
  length = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
  }

  /** Makes room for at least n more bytes. */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  /** Writes a uvarint; v must be an integer in [0, 2^53). */
  uvarint(v: number): void {
    this.ensure(MAX_VARINT_BYTES);
    const buf = this.buf;
    let p = this.length;
    if (v < 0x80000000) {
      while (v >= 0x80) {
        buf[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else {
      while (v >= 0x80) {
        buf[p++] = (v % 128) + 0x80;
        v = Math.floor(v / 128);
      }
    }
    buf[p++] = v;
    this.length = p;
  }

  /** Writes a zigzag-encoded signed varint. */
  svarint(v: number): void {
    this.uvarint(zigzag(v));
  }

  f64(v: number): void {
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.length, 8).setFloat64(0, v, true);
    this.length += 8;
  }

  /** Writes a uvarint byte length followed by the UTF-8 bytes. */
  string(s: string): void {
    const bytes = encoder.encode(s);
    this.uvarint(bytes.length);
    this.bytes(bytes);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** The written bytes (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * Thrown by ByteReader when a payload is malformed; the reader turns it into a ProfileFormatError
 * with the file name and absolute offset.
 */
export class PayloadError extends Error {
  constructor(
    message: string,
    /** Offset within the payload being read. */
    readonly at: number,
  ) {
    super(message);
  }
}

/** A cursor over one record payload. Every read is bounds-checked. */
export class ByteReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new PayloadError("payload ends early", this.pos);
    return this.buf[this.pos++];
  }

  uvarint(): number {
    const buf = this.buf;
    let p = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (p >= this.end) throw new PayloadError("payload ends inside a varint", p);
      const b = buf[p++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > MAX_VARINT) throw new PayloadError("varint out of range", this.pos);
        this.pos = p;
        return result;
      }
      mul *= 128;
    }
    throw new PayloadError("varint longer than 8 bytes", this.pos);
  }

  svarint(): number {
    return unzigzag(this.uvarint());
  }

  f64(): number {
    if (this.end - this.pos < 8) throw new PayloadError("payload ends inside a float", this.pos);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  string(): string {
    const n = this.uvarint();
    if (n > this.end - this.pos) throw new PayloadError(`string of ${n} bytes runs past the payload`, this.pos);
    let s: string;
    try {
      s = decoder.decode(this.buf.subarray(this.pos, this.pos + n));
    } catch {
      throw new PayloadError("string is not valid UTF-8", this.pos);
    }
    this.pos += n;
    return s;
  }
}
