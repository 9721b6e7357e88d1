import { upstreamBody } from './upstreamBody';

const parsed = (out: Buffer | undefined) => JSON.parse(out!.toString('utf8'));

describe('upstreamBody', () => {
  const sent = '{"model":"chat","messages":[{"role":"user","content":"a } \\"model\\": in text"}],"stream":true,"metadata":{"x":{"model":1},"y":[]}}';

  it('renames the model and asks for usage in the bytes the client sent', () => {
    const out = upstreamBody(Buffer.from(sent), { model: 'chat-large', includeUsage: true });
    expect(parsed(out)).toEqual({ ...JSON.parse(sent), model: 'chat-large', stream_options: { include_usage: true } });
    // Everything else is the client's, byte for byte.
    expect(out!.toString()).toBe(sent.replace('"model":"chat"', '"model":"chat-large"').replace(/}$/, ',"stream_options":{"include_usage":true}}'));
  });

  it('makes either change alone, keeps whitespace, and passes a body that needs none as it is', () => {
    const spaced = Buffer.from('{ "model" : "a\\u00e9" ,\n "max_tokens": 5 , "stream": false }\r\n');
    expect(parsed(upstreamBody(spaced, { model: 'b' }))).toEqual({ model: 'b', max_tokens: 5, stream: false });
    expect(parsed(upstreamBody(spaced, { includeUsage: true }))).toEqual({ model: 'aé', max_tokens: 5, stream: false, stream_options: { include_usage: true } });
    expect(upstreamBody(spaced, {})).toBe(spaced);
  });

  it('refuses a body parsers may read differently, so that it is serialised from what the gateway parsed', () => {
    // The same member twice: the last wins in JSON.parse, the first in some other parsers.
    expect(upstreamBody(Buffer.from('{"model":"small","model":"large"}'), {})).toBeUndefined();
    expect(upstreamBody(Buffer.from('{"model":"m","max_tokens":10,"max_tokens":100000}'), { model: 'x' })).toBeUndefined();
    // A name written with an escape may be the same name.
    expect(upstreamBody(Buffer.from('{"mod\\u0065l":"large","model":"small"}'), {})).toBeUndefined();
  });

  it('leaves what it cannot change as asked to the caller', () => {
    expect(upstreamBody(Buffer.from('{"messages":[]}'), { model: 'x' })).toBeUndefined();
    expect(upstreamBody(Buffer.from('{"model":"m","stream_options":{"include_usage":false}}'), { includeUsage: true })).toBeUndefined();
    expect(upstreamBody(Buffer.from('[1]'), {})).toBeUndefined();
    expect(upstreamBody(Buffer.from(''), {})).toBeUndefined();
    expect(parsed(upstreamBody(Buffer.from('{ }'), { includeUsage: true }))).toEqual({ stream_options: { include_usage: true } });
  });

  it('reads values of every kind', () => {
    const all = '{"a":-1.5e3,"b":true,"c":null,"d":"x\\\\","e":[1,{"f":"]"}],"model":"m"}';
    expect(parsed(upstreamBody(Buffer.from(all), { model: 'n', includeUsage: true }))).toEqual({ ...JSON.parse(all), model: 'n', stream_options: { include_usage: true } });
  });
});
