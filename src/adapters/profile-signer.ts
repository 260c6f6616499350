/**
 * Signs Apple configuration profiles (.mobileconfig, issue #18 item 2) with the certificate and key
 * an admin gave (SESAME_PROFILE_SIGNING_CERT_FILE and SESAME_PROFILE_SIGNING_KEY_FILE). A signed
 * profile is a CMS SignedData (RFC 5652) holding the profile itself, which iOS and macOS check
 * against the certificates they trust. Node.js has no CMS signing, so PKI.js builds the structure
 * and Node's WebCrypto signs (why PKI.js: docs/decisions.md). RSA (PKCS #1 v1.5) and ECDSA P-256
 * and P-384 keys, which is what Let's Encrypt and the S/MIME CAs issue.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export interface ProfileSigner {
  /** A CMS (PKCS #7) SignedData, DER, with `content` attached: what Apple devices verify. */
  sign(content: Uint8Array): Promise<Buffer>;
  /** The signing certificate's subject (for the admin's page), e.g. "CN=mail.contoso.test". */
  readonly subject: string;
  /** Its expiry, ms since the epoch. */
  readonly notAfter: number;
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
};

/** Web Crypto algorithms by the key's curve: the signature's hash stays SHA-256 whatever the curve. */
const EC_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };

// Passed to each call rather than set globally (pkijs.setEngine), so nothing else in the process
// depends on, or can change, which engine signs.
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: crypto.webcrypto as unknown as Crypto });

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

async function readFile(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EACCES'
          ? "permission denied (Sesame's user cannot read it; see docs/profile-signing.md)"
          : err.code === 'EISDIR'
            ? 'it is a folder, not a file'
            : err.message;
    throw new Error(`Profile signing: the ${what} file ${file} cannot be read: ${why}`);
  }
}

interface Chain {
  /** Every certificate of the file, in its order: the leaf first, then the intermediates. */
  certificates: pkijs.Certificate[];
  leaf: crypto.X509Certificate;
}

function parseChain(pem: string, certFile: string): Chain {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    throw new Error(
      `Profile signing: the certificate file ${certFile} holds no certificate (no "-----BEGIN CERTIFICATE-----" block)`,
    );
  const certificates: pkijs.Certificate[] = [];
  let leaf: crypto.X509Certificate | undefined;
  blocks.forEach((block, i) => {
    try {
      const x509 = new crypto.X509Certificate(block);
      leaf ??= x509;
      certificates.push(pkijs.Certificate.fromBER(x509.raw));
    } catch (e) {
      throw new Error(
        `Profile signing: certificate ${i + 1} in ${certFile} cannot be parsed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  });
  return { certificates, leaf: leaf! };
}

function parseKey(pem: string, keyFile: string): crypto.KeyObject {
  try {
    // Reads PKCS #8 ("BEGIN PRIVATE KEY") and the traditional "BEGIN RSA PRIVATE KEY" and
    // "BEGIN EC PRIVATE KEY" alike (certbot writes PKCS #8, older tools the others).
    return crypto.createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(pem);
    throw new Error(
      encrypted
        ? `Profile signing: the key file ${keyFile} holds an encrypted (password-protected) key; give the key unencrypted (openssl pkey -in ${keyFile} -out key.pem) and keep the file readable only by Sesame`
        : `Profile signing: the key file ${keyFile} holds no private key Sesame can read (PEM, PKCS #8 or traditional RSA/EC): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** The key as Web Crypto takes it, or an error naming the file and what is wrong with the key. */
async function importKey(key: crypto.KeyObject, keyFile: string): Promise<crypto.webcrypto.CryptoKey> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    // Apple and the CAs refuse RSA below 2048 bits: a profile signed with one would not be verified.
    if (bits < 2048)
      throw new Error(`Profile signing: the RSA key in ${keyFile} has ${bits} bits; at least 2048 are needed`);
    return crypto.webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, [
      'sign',
    ]);
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    const namedCurve = EC_CURVES[curve];
    if (!namedCurve)
      throw new Error(
        `Profile signing: the EC key in ${keyFile} is on curve ${curve || 'unknown'}; supported are P-256 (prime256v1) and P-384 (secp384r1)`,
      );
    return crypto.webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
  }
  throw new Error(
    `Profile signing: the key in ${keyFile} is of type ${key.asymmetricKeyType ?? 'unknown'}; supported are RSA and ECDSA (P-256, P-384)`,
  );
}

/** The elements of a SET OF in DER's order: by their encodings, compared as octet strings (X.690 11.6). */
function derSorted<T extends { toSchema(): { toBER(sizeOnly?: boolean): ArrayBuffer } }>(items: T[]): T[] {
  return items
    .map((item) => ({ item, der: Buffer.from(item.toSchema().toBER(false)) }))
    .sort((x, y) => Buffer.compare(x.der, y.der))
    .map(({ item }) => item);
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/**
 * Reads and checks the certificate file (a fullchain.pem: the leaf first, then intermediates) and
 * its key, once. Throws an Error naming the file and the problem: unreadable, no certificate, a
 * key of an unsupported type, or a key that is not the leaf certificate's.
 */
export async function loadProfileSigner(certFile: string, keyFile: string): Promise<ProfileSigner> {
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'certificate'), readFile(keyFile, 'key')]);
  const { certificates, leaf } = parseChain(certPem, certFile);
  const key = parseKey(keyPem, keyFile);
  const privateKey = await importKey(key, keyFile);
  const subject = leaf.subject.split('\n').join(', ');
  if (!leaf.checkPrivateKey(key))
    throw new Error(
      `Profile signing: the key in ${keyFile} does not belong to the first certificate in ${certFile} (${subject}): their public keys differ. The certificate file must start with the certificate of that key (as fullchain.pem does)`,
    );
  const first = certificates[0]!;
  const notAfter = first.notAfter.value.getTime();
  // `certificates` is a SET OF, which DER keeps sorted by encoding (as OpenSSL writes it): the
  // signer is found by issuer and serial number, never by place, so leaf-first order is not needed.
  const sortedCertificates = derSorted(certificates);

  async function sign(content: Uint8Array): Promise<Buffer> {
    const digest = crypto.createHash('sha256').update(content).digest();
    // DER keeps a SET OF sorted by encoding; the signature covers the signed attributes' encoding,
    // so a verifier that re-encodes them as DER before checking must get the bytes that were signed.
    const signedAttributes = derSorted([
      attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: OID.data })),
      attribute(OID.messageDigest, new asn1js.OctetString({ valueHex: digest })),
      attribute(OID.signingTime, new asn1js.UTCTime({ valueDate: new Date() })),
    ]);
    const encapContentInfo = new pkijs.EncapsulatedContentInfo({ eContentType: OID.data });
    // Set after construction: given to the constructor, PKI.js cuts the content into a constructed
    // OCTET STRING, which is BER, not the DER asked of a signed profile.
    encapContentInfo.eContent = new asn1js.OctetString({ valueHex: content });
    const signedData = new pkijs.SignedData({
      version: 1,
      encapContentInfo,
      signerInfos: [
        new pkijs.SignerInfo({
          version: 1,
          sid: new pkijs.IssuerAndSerialNumber({ issuer: first.issuer, serialNumber: first.serialNumber }),
          signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: signedAttributes }),
        }),
      ],
      // The intermediates travel with the signature: a device holds only the roots.
      certificates: sortedCertificates,
    });
    await signedData.sign(privateKey, 0, 'SHA-256', undefined, engine);
    const contentInfo = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) });
    return Buffer.from(contentInfo.toSchema().toBER(false));
  }

  return { sign, subject, notAfter };
}
