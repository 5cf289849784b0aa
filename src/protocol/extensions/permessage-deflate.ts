/**
 * permessage-deflate (RFC 7692) negotiation, pure: the client's
 * `Sec-WebSocket-Extensions` offers in, the agreed parameters and the exact
 * response value out. No zlib here.
 */

/** The server's side of the extension, as a library user configures it. */
export interface PerMessageDeflateOptions {
  /** Messages whose uncompressed payload is under this many bytes go uncompressed. Default 1024. */
  readonly threshold?: number;
  /** zlib compression level 0–9 for outgoing messages. Default 1: on 64 KiB JSON 2.5–4× less CPU than zlib's default 6 for 0–7 % more bytes (docs/compression.md). */
  readonly level?: number;
  /** zlib memLevel 1–9 for outgoing messages (the deflater's hash memory). Default 8. */
  readonly memLevel?: number;
  /**
   * Compress every message with a fresh context (default true). Then one
   * compressed frame serves every recipient of a fan-out and no connection
   * keeps a deflate context; false keeps one per connection (better ratio on
   * small repetitive messages, ~300 KiB per connection that has received a
   * compressed message, and fan-out sends those connections the plain frame).
   */
  readonly serverNoContextTakeover?: boolean;
  /**
   * Ask clients to compress every message with a fresh context (default
   * true): the server then inflates from a small process-wide pool instead
   * of keeping an inflate context (~40 KiB) per connection.
   */
  readonly clientNoContextTakeover?: boolean;
  /** Largest LZ77 window (bits, 9–15) the server compresses with. Default 15. */
  readonly serverMaxWindowBits?: number;
  /** Window (bits, 9–15) to ask clients to limit themselves to, where they offer client_max_window_bits. Default: no limit (15). */
  readonly clientMaxWindowBits?: number;
}

/** What one connection agreed: the parameters of the server's response. */
export interface DeflateParams {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  /** The window the server compresses with (at most the agreed server_max_window_bits; 8 means it never compresses: zlib has no 256-byte raw window). */
  readonly serverMaxWindowBits: number;
  /** The window the client compresses with (the agreed client_max_window_bits, else 15). */
  readonly clientMaxWindowBits: number;
}

export interface DeflateAgreement {
  readonly params: DeflateParams;
  /** The value of the 101's `Sec-WebSocket-Extensions` header. */
  readonly response: string;
}

/** One extension offer: its name and parameters (values unquoted; `true` for a parameter without a value). */
export interface ExtensionOffer {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const WINDOW_BITS = /^(?:8|9|1[0-5])$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (several header lines already
 * joined with ", "). Returns the offers in order; an element that is not
 * well-formed (bad token, unterminated quote, empty parameter) comes back with
 * the name `''`, so the caller skips it without failing the others.
 */
export function parseExtensionOffers(value: string): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  for (const element of splitOutsideQuotes(value, ',')) {
    if (element === null) {
      offers.push({ name: '', params: [] });
      continue;
    }
    const trimmed = element.trim();
    if (trimmed === '') continue; // RFC 7230 #rule: empty list elements are allowed and ignored
    offers.push(parseOffer(trimmed));
  }
  return offers;
}

function parseOffer(element: string): ExtensionOffer {
  const parts = splitOutsideQuotes(element, ';');
  const name = parts[0]?.trim() ?? '';
  if (!TOKEN.test(name) || parts.includes(null)) return { name: '', params: [] };
  const params: Array<readonly [string, string | true]> = [];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!.trim();
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!TOKEN.test(key)) return { name: '', params: [] };
    if (eq < 0) {
      params.push([key, true]);
      continue;
    }
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"')) {
      if (v.length < 2 || !v.endsWith('"')) return { name: '', params: [] };
      v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    // RFC 7692 §7.1: a value, quoted or not, must be a token.
    if (!TOKEN.test(v)) return { name: '', params: [] };
    params.push([key, v]);
  }
  return { name: name.toLowerCase(), params };
}

/** Splits on `sep` outside quoted-strings; an element with an unterminated quote comes back as null. */
function splitOutsideQuotes(s: string, sep: string): Array<string | null> {
  const out: Array<string | null> = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(quoted ? null : s.slice(start));
  return out;
}

/** The server's options with defaults applied. */
export interface ResolvedDeflateOptions {
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number | undefined;
}

export const DEFAULT_DEFLATE_THRESHOLD = 1024;

/** Applies defaults and checks ranges (throws RangeError on a bad option). */
export function resolveDeflateOptions(options: PerMessageDeflateOptions | true): ResolvedDeflateOptions {
  const o: PerMessageDeflateOptions = options === true ? {} : options;
  const resolved = {
    threshold: o.threshold ?? DEFAULT_DEFLATE_THRESHOLD,
    level: o.level ?? 1,
    memLevel: o.memLevel ?? 8,
    serverNoContextTakeover: o.serverNoContextTakeover ?? true,
    clientNoContextTakeover: o.clientNoContextTakeover ?? true,
    serverMaxWindowBits: o.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: o.clientMaxWindowBits,
  };
  const check = (name: string, v: number | undefined, lo: number, hi: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw new RangeError(`perMessageDeflate.${name} must be an integer ${lo}–${hi}, got ${String(v)}`);
    }
  };
  check('threshold', resolved.threshold, 0, Number.MAX_SAFE_INTEGER);
  check('level', resolved.level, 0, 9);
  check('memLevel', resolved.memLevel, 1, 9);
  check('serverMaxWindowBits', resolved.serverMaxWindowBits, 9, 15);
  check('clientMaxWindowBits', resolved.clientMaxWindowBits, 9, 15);
  return resolved;
}

/**
 * RFC 7692 §5 and §7: walks the offers in order and accepts the first
 * permessage-deflate offer whose parameters are all known, valid and not
 * repeated. Returns null when none fits (the extension is declined, never
 * the handshake). Other extensions are ignored (declined).
 */
export function negotiatePerMessageDeflate(offers: readonly ExtensionOffer[], options: ResolvedDeflateOptions): DeflateAgreement | null {
  for (const offer of offers) {
    if (offer.name !== 'permessage-deflate') continue;
    const agreement = acceptOffer(offer, options);
    if (agreement !== null) return agreement;
  }
  return null;
}

/** negotiatePerMessageDeflate over a raw header value. */
export function negotiateFromHeader(header: string, options: ResolvedDeflateOptions): DeflateAgreement | null {
  return header === '' ? null : negotiatePerMessageDeflate(parseExtensionOffers(header), options);
}

function acceptOffer(offer: ExtensionOffer, options: ResolvedDeflateOptions): DeflateAgreement | null {
  const seen = new Set<string>();
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits: number | undefined;
  let clientMaxWindowBits: number | true | undefined;
  for (const [key, value] of offer.params) {
    if (seen.has(key)) return null; // §7.1: a repeated parameter makes the offer invalid
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return null;
        if (key === 'server_no_context_takeover') serverNoContextTakeover = true;
        else clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        if (value === true || !WINDOW_BITS.test(value)) return null;
        serverMaxWindowBits = Number(value);
        break;
      case 'client_max_window_bits':
        if (value !== true && !WINDOW_BITS.test(value)) return null;
        clientMaxWindowBits = value === true ? true : Number(value);
        break;
      default:
        return null; // §7: an unknown parameter declines the offer
    }
  }

  // Server side: we may always add server_no_context_takeover (§7.1.1.1);
  // server_max_window_bits is answered only if offered (§7.1.2.1), but a
  // smaller window than the one agreed is always ours to use.
  const noServerContext = serverNoContextTakeover || options.serverNoContextTakeover;
  const serverBits = serverMaxWindowBits === undefined ? undefined : Math.min(serverMaxWindowBits, options.serverMaxWindowBits);
  // Client side: client_no_context_takeover may always be added (§7.1.1.2);
  // client_max_window_bits only answered if offered (§7.1.2.2).
  const noClientContext = clientNoContextTakeover || options.clientNoContextTakeover;
  let clientBits: number | undefined;
  if (clientMaxWindowBits === true) clientBits = options.clientMaxWindowBits;
  else if (clientMaxWindowBits !== undefined) clientBits = Math.min(clientMaxWindowBits, options.clientMaxWindowBits ?? 15);

  let response = 'permessage-deflate';
  if (noServerContext) response += '; server_no_context_takeover';
  if (noClientContext) response += '; client_no_context_takeover';
  if (serverBits !== undefined) response += `; server_max_window_bits=${serverBits}`;
  if (clientBits !== undefined) response += `; client_max_window_bits=${clientBits}`;
  return {
    params: {
      serverNoContextTakeover: noServerContext,
      clientNoContextTakeover: noClientContext,
      serverMaxWindowBits: serverBits ?? options.serverMaxWindowBits,
      clientMaxWindowBits: clientBits ?? 15,
    },
    response,
  };
}
