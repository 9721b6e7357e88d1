import { contentImageTokens, imagePartTokens, imageSize, MAX_IMAGE_TOKENS, tilesTokens } from './imageTokens';
import { chatUpperBound, countChat } from './tokens';

/** The first bytes of an image of each format, as an encoder writes them. */
function png(width: number, height: number) {
  const b = Buffer.alloc(33);
  b.writeUInt32BE(0x89504e47, 0);
  b.writeUInt32BE(0x0d0a1a0a, 4);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}
function gif(width: number, height: number) {
  const b = Buffer.alloc(13);
  b.write('GIF89a', 0, 'latin1');
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  return b;
}
function webpExtended(width: number, height: number) {
  const b = Buffer.alloc(30);
  b.write('RIFF', 0, 'latin1');
  b.write('WEBPVP8X', 8, 'latin1');
  b.writeUIntLE(width - 1, 24, 3);
  b.writeUIntLE(height - 1, 27, 3);
  return b;
}
/** SOI, an APP1 (EXIF) segment of `exifBytes`, then a baseline frame header. */
function jpeg(width: number, height: number, exifBytes = 16) {
  const exif = Buffer.alloc(4 + exifBytes);
  exif.writeUInt16BE(0xffe1, 0);
  exif.writeUInt16BE(exifBytes + 2, 2);
  const sof = Buffer.alloc(19);
  sof.writeUInt16BE(0xffc0, 0);
  sof.writeUInt16BE(17, 2);
  sof[4] = 8;
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), exif, sof, Buffer.alloc(100)]);
}
const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;
const part = (url: string, detail?: string) => ({ type: 'image_url', image_url: { url, ...(detail ? { detail } : {}) } });

describe('image tokens', () => {
  it.each([
    // OpenAI's own examples: 1024×1024 is 4 tiles; 2048×4096 is scaled to 768×1536, 6 tiles.
    [1024, 1024, 765],
    [2048, 4096, 1105],
    [512, 512, 255],
    [100, 3000, 85 + 170 * 4],
    [768, 2048, MAX_IMAGE_TOKENS],
  ])('counts a %p×%p image at high detail as OpenAI does: %p', (width, height, tokens) => {
    expect(tilesTokens({ width, height })).toBe(tokens);
  });

  it('reads the size from the head of PNG, GIF, WebP and JPEG data, and nothing from other bytes', () => {
    expect(imageSize(png(1024, 768))).toEqual({ width: 1024, height: 768 });
    expect(imageSize(gif(320, 200))).toEqual({ width: 320, height: 200 });
    expect(imageSize(webpExtended(4000, 3000))).toEqual({ width: 4000, height: 3000 });
    expect(imageSize(jpeg(1920, 1080))).toEqual({ width: 1920, height: 1080 });
    expect(imageSize(Buffer.from('not an image at all, just some text'))).toBeUndefined();
  });

  it('counts a data URL by its size, low detail as 85, and an address or an unreadable image as the most any image can be', () => {
    expect(imagePartTokens(part(dataUrl(png(1024, 1024))))).toBe(765);
    // A JPEG whose frame header comes after 20 KB of EXIF is still read.
    expect(imagePartTokens(part(dataUrl(jpeg(512, 512, 20_000), 'image/jpeg')))).toBe(255);
    expect(imagePartTokens(part(dataUrl(png(4096, 4096)), 'low'))).toBe(85);
    expect(imagePartTokens(part('https://example.com/cat.png'))).toBe(MAX_IMAGE_TOKENS);
    expect(imagePartTokens(part('data:image/png;base64,@@@@'))).toBe(MAX_IMAGE_TOKENS);
    expect(imagePartTokens({ type: 'text', text: 'hi' })).toBe(0);
    expect(contentImageTokens('a string')).toBe(0);
  });

  it('adds the images to a prompt\'s count and to its upper bound, so a reservation and a context window see them', () => {
    const withImages = [{ role: 'user', content: [{ type: 'text', text: 'What is in these?' }, part(dataUrl(png(1024, 1024))), part('https://example.com/a.jpg')] }];
    const textOnly = [{ role: 'user', content: [{ type: 'text', text: 'What is in these?' }] }];
    expect(countChat(withImages) - countChat(textOnly)).toBe(765 + MAX_IMAGE_TOKENS);
    expect(chatUpperBound(withImages)).toBeGreaterThanOrEqual(countChat(withImages));
  });
});
