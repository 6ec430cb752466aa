/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with the `openssl` command line
 * (Debian's `openssl` package) in a temporary folder, for the HTTPS / HTTP/2 tests.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A certificate and its key (PEM), and the files that hold them; removed on dispose. */
export interface TestCertificate extends AsyncDisposable {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export async function selfSignedCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'rt-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  // ECDSA P-256: quick to generate, and what browsers and Node accept for HTTP/2.
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return {
    cert: await readFile(certFile, 'utf8'),
    key: await readFile(keyFile, 'utf8'),
    certFile,
    keyFile,
    [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }),
  };
}
