import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/**
 * Reads a PEM certificate (chain) and private key for `--tls-cert` /
 * `--tls-key`, and checks that TLS can use them together. Throws an Error
 * whose message is one line, fit for the command's stderr.
 */
export function loadTlsFiles(certFile: string | undefined, keyFile: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new Error('--tls-cert and --tls-key go together: give both or neither');
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${flag}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const files = { cert: read('--tls-cert', certFile), key: read('--tls-key', keyFile) };
  try {
    createSecureContext(files);
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    throw new Error(`--tls-cert ${certFile} / --tls-key ${keyFile}: not a usable certificate and key: ${message}`);
  }
  return files;
}
