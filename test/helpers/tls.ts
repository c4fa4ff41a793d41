import { execFile } from 'node:child_process'
import { chmod, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface CaFiles { caCertPath: string; caKeyPath: string }
export interface CertFiles { certPath: string; keyPath: string }

export interface TlsFixtures {
  /** The CA that clients should trust. */
  ca: CaFiles
  /** Signed by `ca` for the requested DNS name: verification succeeds. */
  good: CertFiles
  /** Signed by `ca` but for `wrong.example`: hostname check fails. */
  wrongName: CertFiles
  /** Right name, but signed by a CA the client does not trust: chain check fails. */
  unknownCa: CertFiles
}

const VALIDITY_DAYS = '3'
// P-256 keys are generated in a few ms; RSA 2048 would dominate test start-up.
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

async function openssl (args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') throw new Error('openssl CLI not found: install it with `apt-get install -y openssl`')
    throw new Error(`openssl ${args[0] ?? ''} failed: ${e.stderr ?? e.message}`)
  }
}

// Names end up inside an OpenSSL config file, so keep them to characters that
// cannot break its syntax.
function assertSafe (what: string, value: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9 .*_-]*$/.test(value)) throw new Error(`tls helper: unsafe ${what}: ${JSON.stringify(value)}`)
}

function slug (name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
}

// Test keys are throwaway; make them world-readable so a Prosody that has
// dropped to the `prosody` user can still load them. (The directory itself
// must also be traversable, see prosody.ts.)
async function makeReadable (...paths: string[]): Promise<void> {
  await Promise.all(paths.map(async p => await chmod(p, 0o644)))
}

/**
 * Create a self-signed CA in `dir`. Files are named after `name`, so several
 * CAs can share one directory.
 */
export async function makeCa (dir: string, name = 'Causeway Test CA'): Promise<CaFiles> {
  assertSafe('CA name', name)
  const base = slug(name)
  const caCertPath = join(dir, `${base}.crt`)
  const caKeyPath = join(dir, `${base}.key`)
  const cnf = join(dir, `${base}.cnf`)
  // Our own config file keeps the result independent of the distro's openssl.cnf.
  await writeFile(cnf, [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    'x509_extensions = v3_ca',
    '[dn]',
    `CN = ${name}`,
    '[v3_ca]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    ''
  ].join('\n'))
  await openssl(['req', '-x509', '-config', cnf, ...KEY_ARGS, '-sha256', '-days', VALIDITY_DAYS,
    '-keyout', caKeyPath, '-out', caCertPath], dir)
  await rm(cnf, { force: true })
  await makeReadable(caCertPath, caKeyPath)
  return { caCertPath, caKeyPath }
}

/** Create `<basename>.crt`/`.key` in `dir`: a server certificate for `dnsName` signed by `ca`. */
export async function makeServerCert (dir: string, ca: CaFiles, dnsName: string, basename: string): Promise<CertFiles> {
  assertSafe('DNS name', dnsName)
  assertSafe('basename', basename)
  const certPath = join(dir, `${basename}.crt`)
  const keyPath = join(dir, `${basename}.key`)
  const csrPath = join(dir, `${basename}.csr`)
  const cnf = join(dir, `${basename}.cnf`)
  await writeFile(cnf, [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    `CN = ${dnsName}`,
    '[v3_server]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:${dnsName}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    ''
  ].join('\n'))
  await openssl(['req', '-new', '-config', cnf, ...KEY_ARGS, '-keyout', keyPath, '-out', csrPath], dir)
  // A random serial avoids the .srl bookkeeping file and keeps serials unique per CA.
  await openssl(['x509', '-req', '-in', csrPath, '-CA', ca.caCertPath, '-CAkey', ca.caKeyPath,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-sha256', '-days', VALIDITY_DAYS,
    '-extfile', cnf, '-extensions', 'v3_server', '-out', certPath], dir)
  await Promise.all([rm(csrPath, { force: true }), rm(cnf, { force: true })])
  await makeReadable(certPath, keyPath)
  return { certPath, keyPath }
}

/** A self-signed server certificate for `dnsName` (its own issuer, CA:FALSE): what a fresh XMPP server install often has. */
export async function makeSelfSignedCert (dir: string, dnsName: string, basename = 'self-signed'): Promise<CertFiles> {
  assertSafe('DNS name', dnsName)
  assertSafe('basename', basename)
  const certPath = join(dir, `${basename}.crt`)
  const keyPath = join(dir, `${basename}.key`)
  const cnf = join(dir, `${basename}.cnf`)
  await writeFile(cnf, [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    'x509_extensions = v3_self',
    '[dn]',
    `CN = ${dnsName}`,
    '[v3_self]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:${dnsName}`,
    ''
  ].join('\n'))
  await openssl(['req', '-x509', '-config', cnf, ...KEY_ARGS, '-sha256', '-days', VALIDITY_DAYS, '-keyout', keyPath, '-out', certPath], dir)
  await rm(cnf, { force: true })
  await makeReadable(certPath, keyPath)
  return { certPath, keyPath }
}

/** A certificate for the wrong host name, signed by the trusted `ca`. */
export async function makeWrongNameCert (dir: string, ca: CaFiles, basename = 'wrong-name', wrongName = 'wrong.example'): Promise<CertFiles> {
  return await makeServerCert(dir, ca, wrongName, basename)
}

/** A certificate for the right name, signed by a freshly made CA nobody trusts. */
export async function makeUnknownCaCert (dir: string, dnsName = 'localhost', basename = 'unknown-ca'): Promise<CertFiles> {
  const rogue = await makeCa(dir, `Unknown Test CA ${randomBytes(4).toString('hex')}`)
  return await makeServerCert(dir, rogue, dnsName, basename)
}

/** Everything a TLS test usually needs, in one directory. */
export async function makeTlsFixtures (dir: string, dnsName = 'localhost'): Promise<TlsFixtures> {
  const ca = await makeCa(dir)
  const [good, wrongName, unknownCa] = await Promise.all([
    makeServerCert(dir, ca, dnsName, 'server'),
    makeWrongNameCert(dir, ca),
    makeUnknownCaCert(dir, dnsName)
  ])
  return { ca, good, wrongName, unknownCa }
}
