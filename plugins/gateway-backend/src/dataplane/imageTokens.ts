/**
 * Prompt tokens of a chat message's image parts, as OpenAI counts them for
 * gpt-4o-class models (gpt-4o-mini bills an image as many more tokens, priced
 * to match; other providers have rules of their own): 85 at `detail: "low"`;
 * otherwise 85 plus 170 per 512-px
 * tile of the image once scaled to fit 2048×2048 and then down to 768 px on
 * its shorter side. The size is read from a data URL's header (PNG, GIF,
 * WebP, JPEG), never by fetching: an image given by address, or one whose
 * size cannot be read, counts as the most any image can under that rule
 * (768×2048, 8 tiles).
 * A reservation must not be short (a budget would overshoot by every image);
 * the provider's usage settles what was really spent.
 */

const BASE_TOKENS = 85;
const TILE_TOKENS = 170;
/** The largest count: 2×4 tiles. */
export const MAX_IMAGE_TOKENS = BASE_TOKENS + 8 * TILE_TOKENS;
/** Base64 characters decoded when looking for a JPEG's frame header (48 KB): past that, the largest count. */
const JPEG_SCAN_CHARS = 65_536;

type Size = { width: number; height: number };

/** The tokens of an image of this size at high detail. */
export function tilesTokens({ width, height }: Size): number {
  let w = width;
  let h = height;
  if (w > 2048 || h > 2048) {
    const scale = 2048 / Math.max(w, h);
    w = Math.floor(w * scale);
    h = Math.floor(h * scale);
  }
  if (Math.min(w, h) > 768) {
    const scale = 768 / Math.min(w, h);
    w = Math.floor(w * scale);
    h = Math.floor(h * scale);
  }
  return BASE_TOKENS + TILE_TOKENS * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** Width and height from an image's first bytes, or undefined. */
export function imageSize(bytes: Buffer): Size | undefined {
  const size = (width: number, height: number) => (width > 0 && height > 0 ? { width, height } : undefined);
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString('latin1', 12, 16) === 'IHDR') {
    return size(bytes.readUInt32BE(16), bytes.readUInt32BE(20));
  }
  if (bytes.length >= 10 && bytes.toString('latin1', 0, 4) === 'GIF8') return size(bytes.readUInt16LE(6), bytes.readUInt16LE(8));
  if (bytes.length >= 30 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') {
    const chunk = bytes.toString('latin1', 12, 16);
    if (chunk === 'VP8 ') return size(bytes.readUInt16LE(26) & 0x3fff, bytes.readUInt16LE(28) & 0x3fff);
    if (chunk === 'VP8L') {
      const bits = bytes.readUInt32LE(21);
      return size((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
    }
    if (chunk === 'VP8X') return size(bytes.readUIntLE(24, 3) + 1, bytes.readUIntLE(27, 3) + 1);
    return undefined;
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Segments until a start-of-frame (SOF0–SOF15 but DHT, JPG and DAC), which holds height then width.
    let at = 2;
    while (at + 9 <= bytes.length && bytes[at] === 0xff) {
      const marker = bytes[at + 1];
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return size(bytes.readUInt16BE(at + 7), bytes.readUInt16BE(at + 5));
      }
      at += 2 + bytes.readUInt16BE(at + 2);
    }
  }
  return undefined;
}

/** The size of an image in a base64 data URL, decoding only its head. */
function dataUrlImageSize(url: string): Size | undefined {
  const comma = url.indexOf(',');
  if (comma < 0 || !url.slice(0, comma).endsWith(';base64')) return undefined;
  const head = (chars: number) => Buffer.from(url.slice(comma + 1, comma + 1 + chars), 'base64');
  const first = head(64);
  if (first[0] !== 0xff) return imageSize(first);
  return imageSize(head(JPEG_SCAN_CHARS));
}

/** Counts by part: a call counts its prompt up to four times (bound, count, trim, estimate); a data URL is decoded once. */
const counted = new WeakMap<object, number>();

/** The tokens of one content part that is an image (`{type: "image_url", image_url: {url, detail}}`), else 0. */
export function imagePartTokens(part: unknown): number {
  if (!part || typeof part !== 'object' || (part as { type?: unknown }).type !== 'image_url') return 0;
  let tokens = counted.get(part);
  if (tokens === undefined) {
    tokens = countImagePart(part);
    counted.set(part, tokens);
  }
  return tokens;
}

function countImagePart(part: object): number {
  const image = (part as { image_url?: unknown }).image_url;
  const { url, detail } = (image && typeof image === 'object' ? image : { url: image }) as { url?: unknown; detail?: unknown };
  if (detail === 'low') return BASE_TOKENS;
  const size = typeof url === 'string' && url.startsWith('data:') ? dataUrlImageSize(url) : undefined;
  return size ? tilesTokens(size) : MAX_IMAGE_TOKENS;
}

/** The tokens of a message content's image parts: 0 for a string. */
export function contentImageTokens(content: unknown): number {
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) tokens += imagePartTokens(part);
  return tokens;
}
