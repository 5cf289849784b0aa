import { describe, expect, it } from 'vitest';
import {
  negotiateFromHeader,
  parseExtensionOffers,
  resolveDeflateOptions,
  type PerMessageDeflateOptions,
} from '../../src/protocol/extensions/permessage-deflate.js';
import { upgradeResponse } from '../../src/protocol/handshake.js';

/** Server options that add nothing of their own, so the answer shows what the offer asked for. */
const NEUTRAL: PerMessageDeflateOptions = { serverNoContextTakeover: false, clientNoContextTakeover: false };
const answer = (header: string, options: PerMessageDeflateOptions = NEUTRAL) => negotiateFromHeader(header, resolveDeflateOptions(options))?.response ?? null;

describe('parseExtensionOffers', () => {
  it('splits offers and parameters, lower-cases names, unquotes values, ignores empty elements', () => {
    expect(parseExtensionOffers('permessage-deflate; client_max_window_bits, , Foo ;A="1" ; b')).toEqual([
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'foo', params: [['a', '1'], ['b', true]] },
    ]);
  });

  it('a comma or semicolon inside a quoted value does not split', () => {
    expect(parseExtensionOffers('x; a="1,2"; b, y')).toEqual([
      { name: '', params: [] }, // "1,2" is not a token once unquoted: that offer is malformed
      { name: 'y', params: [] },
    ]);
  });

  it('malformed elements come back nameless (skipped later), the others intact', () => {
    expect(parseExtensionOffers('permessage-deflate; a="unterminated')).toEqual([{ name: '', params: [] }]);
    expect(parseExtensionOffers('bad name; x, permessage-deflate; =1, permessage-deflate')).toEqual([
      { name: '', params: [] },
      { name: '', params: [] },
      { name: 'permessage-deflate', params: [] },
    ]);
  });
});

describe('negotiatePerMessageDeflate: the answer, byte for byte', () => {
  it('a bare offer is accepted with no parameters', () => {
    expect(answer('permessage-deflate')).toBe('permessage-deflate');
  });

  it('server_no_context_takeover and client_no_context_takeover are echoed when offered', () => {
    expect(answer('permessage-deflate; server_no_context_takeover')).toBe('permessage-deflate; server_no_context_takeover');
    expect(answer('permessage-deflate; client_no_context_takeover')).toBe('permessage-deflate; client_no_context_takeover');
  });

  it('the server adds both no-context-takeover parameters by default (RFC 7692 §7.1.1 allows it)', () => {
    expect(answer('permessage-deflate', {})).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  });

  it('server_max_window_bits 8–15 is answered with the value (or the server option if smaller); outside 8–15 the offer is declined', () => {
    for (let bits = 8; bits <= 15; bits++) {
      expect(answer(`permessage-deflate; server_max_window_bits=${bits}`)).toBe(`permessage-deflate; server_max_window_bits=${bits}`);
    }
    expect(answer('permessage-deflate; server_max_window_bits=15', { ...NEUTRAL, serverMaxWindowBits: 10 })).toBe(
      'permessage-deflate; server_max_window_bits=10',
    );
    for (const bad of ['7', '16', '08', '1O', '', 'x']) expect(answer(`permessage-deflate; server_max_window_bits=${bad}`)).toBeNull();
    expect(answer('permessage-deflate; server_max_window_bits')).toBeNull(); // needs a value
  });

  it('server_max_window_bits is never answered unless offered, whatever the server option', () => {
    expect(answer('permessage-deflate', { ...NEUTRAL, serverMaxWindowBits: 10 })).toBe('permessage-deflate');
  });

  it('client_max_window_bits: without a value, answered only if the server wants a limit; with a value, answered (capped by the option)', () => {
    expect(answer('permessage-deflate; client_max_window_bits')).toBe('permessage-deflate');
    expect(answer('permessage-deflate; client_max_window_bits', { ...NEUTRAL, clientMaxWindowBits: 12 })).toBe('permessage-deflate; client_max_window_bits=12');
    expect(answer('permessage-deflate; client_max_window_bits=10')).toBe('permessage-deflate; client_max_window_bits=10');
    expect(answer('permessage-deflate; client_max_window_bits=14', { ...NEUTRAL, clientMaxWindowBits: 11 })).toBe('permessage-deflate; client_max_window_bits=11');
    expect(answer('permessage-deflate', { ...NEUTRAL, clientMaxWindowBits: 11 })).toBe('permessage-deflate'); // not offered: not answered
    for (const bad of ['7', '16', '0', 'abc']) expect(answer(`permessage-deflate; client_max_window_bits=${bad}`)).toBeNull();
  });

  it('quoted values are accepted', () => {
    expect(answer('permessage-deflate; client_max_window_bits="10"; server_max_window_bits="9"')).toBe(
      'permessage-deflate; server_max_window_bits=9; client_max_window_bits=10',
    );
  });

  it('all four parameters at once, in the canonical order', () => {
    expect(answer('permessage-deflate; client_max_window_bits=9; server_max_window_bits=10; client_no_context_takeover; server_no_context_takeover')).toBe(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9',
    );
  });

  it('an unknown parameter, a repeated parameter, or a value on a flag declines that offer; the next one is taken', () => {
    expect(answer('permessage-deflate; foo')).toBeNull();
    expect(answer('permessage-deflate; server_no_context_takeover; server_no_context_takeover')).toBeNull();
    expect(answer('permessage-deflate; client_max_window_bits=10; client_max_window_bits=11')).toBeNull();
    expect(answer('permessage-deflate; server_no_context_takeover=1')).toBeNull();
    expect(answer('permessage-deflate; foo, permessage-deflate; client_max_window_bits=11')).toBe('permessage-deflate; client_max_window_bits=11');
  });

  it('the first acceptable offer wins (RFC 7692 §5), other extensions are never accepted', () => {
    expect(answer('permessage-deflate; server_no_context_takeover, permessage-deflate')).toBe('permessage-deflate; server_no_context_takeover');
    expect(answer('x-webkit-deflate-frame, permessage-foo; a')).toBeNull();
    expect(answer('')).toBeNull();
  });

  it('the agreed parameters say which windows and contexts to use', () => {
    const a = negotiateFromHeader('permessage-deflate; server_max_window_bits=11; client_max_window_bits=9', resolveDeflateOptions(NEUTRAL))!;
    expect(a.params).toEqual({ serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 11, clientMaxWindowBits: 9 });
    const d = negotiateFromHeader('permessage-deflate; client_max_window_bits', resolveDeflateOptions(true))!;
    expect(d.params).toEqual({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
  });

  it('bad options are a RangeError naming the option', () => {
    expect(() => resolveDeflateOptions({ serverMaxWindowBits: 8 })).toThrow(/serverMaxWindowBits/);
    expect(() => resolveDeflateOptions({ level: 10 })).toThrow(/level/);
    expect(() => resolveDeflateOptions({ threshold: -1 })).toThrow(/threshold/);
  });
});

describe('upgradeResponse with an extension', () => {
  it('carries Sec-WebSocket-Extensions exactly as agreed, and none when nothing was', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    expect(upgradeResponse(key, undefined, 'permessage-deflate; server_no_context_takeover').toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n',
    );
    expect(upgradeResponse(key).toString('latin1')).not.toMatch(/Extensions/);
  });
});
