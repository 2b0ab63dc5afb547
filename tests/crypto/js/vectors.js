// tweetnacl side of boxtui's cross-implementation tests (PROTOCOL §8).
//
// This mirrors the original web client: JSON.stringify for every JSON, Buffer for
// base64 (standard padded inside Uint8Array wrappers and for nonces, url-safe without
// padding for keys). No boxtui code is used here.
//
//   node vectors.js generate   fixed keys and nonces -> tests/crypto/vectors.json content
//   node vectors.js run        JSON array of operations on stdin -> array of results
'use strict';

const nacl = require('tweetnacl');

const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64')); // either alphabet
const utf8 = (text) => new Uint8Array(Buffer.from(text, 'utf8'));
const fromUtf8 = (bytes) => Buffer.from(bytes).toString('utf8');
const wrap = (bytes) => ({ type: 'Uint8Array', encoding: 'base64', value: b64(bytes) });

// Deterministic bytes for the fixture: SHA-512 of a label, cut to length.
const fixed = (label, length) => nacl.hash(utf8(label)).slice(0, length);

function cryptogram(plaintext, recipientPublicKey, ephemeralSecretKey, nonce) {
  const ephemeral = ephemeralSecretKey
    ? nacl.box.keyPair.fromSecretKey(ephemeralSecretKey)
    : nacl.box.keyPair();
  nonce = nonce || nacl.randomBytes(nacl.box.nonceLength);
  const ciphertext = nacl.box(plaintext, nonce, recipientPublicKey, ephemeral.secretKey);
  return JSON.stringify({
    ephemeralSenderPublicKey: wrap(ephemeral.publicKey),
    nonce: wrap(nonce),
    ciphertext: wrap(ciphertext),
  });
}

function openCryptogram(json, secretKey) {
  const c = JSON.parse(json);
  const plain = nacl.box.open(
    unb64(c.ciphertext.value), unb64(c.nonce.value),
    unb64(c.ephemeralSenderPublicKey.value), secretKey);
  if (plain === null) throw new Error('box.open failed');
  return plain;
}

const sealText = (text, publicKey, esk, nonce) =>
  b64u(utf8(cryptogram(utf8(text), publicKey, esk, nonce)));
const openText = (encrypted, secretKey) =>
  fromUtf8(openCryptogram(fromUtf8(unb64(encrypted)), secretKey));

const metadataJson = (m) => JSON.stringify({
  encryption: { key: m.key, nonce: m.nonce },
  fileName: m.fileName,
  fileSize: m.fileSize,
  fileType: m.fileType,
});

function sealSaved(json, vaultKey, nonce) {
  nonce = nonce || nacl.randomBytes(nacl.secretbox.nonceLength);
  return JSON.stringify({ nonce: b64(nonce), ciphertext: wrap(nacl.secretbox(utf8(json), nonce, vaultKey)) });
}

function openSaved(text, vaultKey) {
  const s = JSON.parse(text);
  const plain = nacl.secretbox.open(unb64(s.ciphertext.value), unb64(s.nonce), vaultKey);
  if (plain === null) throw new Error('secretbox.open failed');
  return fromUtf8(plain);
}

function openFile(blob, key, nonce) {
  const plain = nacl.secretbox.open(unb64(blob), unb64(nonce), unb64(key));
  if (plain === null) throw new Error('secretbox.open failed');
  return b64(plain);
}

const TEXTS = [
  'hello',
  '',
  'Grüße, 世界! 👋🏽 "quoted" \\ back\\slash',
  'control\u0000\u0001\u001f\u007f\n\r\t\b\f and \u2028\u2029 separators',
  'x'.repeat(1000),
];

function generate() {
  const recipient = nacl.box.keyPair.fromSecretKey(fixed('recipient', 32));
  const text = TEXTS.map((t, i) => {
    const esk = fixed(`ephemeral ${i}`, 32);
    const nonce = fixed(`text nonce ${i}`, 24);
    const plaintext = utf8(t);
    return {
      text: t,
      ephemeralSecretKey: b64(esk),
      nonce: b64(nonce),
      cryptogram: cryptogram(plaintext, recipient.publicKey, esk, nonce),
      encrypted: sealText(t, recipient.publicKey, esk, nonce),
    };
  });
  const file = [new Uint8Array(0), utf8('file contents'), fixed('binary', 64)].map((data, i) => {
    const key = fixed(`file key ${i}`, 32);
    const nonce = fixed(`file nonce ${i}`, 24);
    return { key: b64(key), nonce: b64(nonce), data: b64(data), blob: b64(nacl.secretbox(data, nonce, key)) };
  });
  const vaultKey = fixed('vault key', 32);
  const metadata = [
    ['report.pdf', 12345, 'application/pdf'],
    ['Résumé – été 2026 😀.txt', 0, 'text/plain'],
    ['quote"back\\slash\ttab.bin', 9007199254740991, ''],
  ].map(([fileName, fileSize, fileType], i) => {
    const m = {
      key: b64u(fixed(`metadata key ${i}`, 32)),
      nonce: b64(fixed(`metadata nonce ${i}`, 24)),
      fileName, fileSize, fileType,
    };
    const json = metadataJson(m);
    const esk = fixed(`metadata ephemeral ${i}`, 32);
    const boxNonce = fixed(`metadata box nonce ${i}`, 24);
    const savedNonce = fixed(`saved nonce ${i}`, 24);
    return {
      ...m,
      json,
      ephemeralSecretKey: b64(esk),
      boxNonce: b64(boxNonce),
      encrypted: sealText(json, recipient.publicKey, esk, boxNonce),
      savedNonce: b64(savedNonce),
      saved: sealSaved(json, vaultKey, savedNonce),
    };
  });
  const boxSecretKey = fixed('box secret key', 32);
  const invitationShare = fixed('invitation share', 32);
  const serverShare = boxSecretKey.map((b, i) => b ^ invitationShare[i]);
  const shareJson = JSON.stringify({ boxKeyShare: b64u(invitationShare) });
  const autoInviteJson = JSON.stringify({ boxKeyShare: b64u(serverShare), boxSecretKey: b64u(boxSecretKey) });
  return {
    generator: `tweetnacl ${require('tweetnacl/package.json').version} via tests/crypto/js/vectors.js generate`,
    recipientSecretKey: b64(recipient.secretKey),
    recipientPublicKey: b64(recipient.publicKey),
    text,
    file,
    vaultKey: b64(vaultKey),
    keyFingerprint: b64u(nacl.hash(vaultKey)),
    metadata,
    keys: {
      boxSecretKey: b64u(boxSecretKey),
      boxPublicKey: b64u(nacl.box.keyPair.fromSecretKey(boxSecretKey).publicKey),
      invitationShare: b64u(invitationShare),
      serverShare: b64u(serverShare),
      shareHash: b64u(nacl.hash(invitationShare)),
      invitationJson: shareJson,
      invitationEncrypted: sealText(shareJson, recipient.publicKey, fixed('invitation ephemeral', 32), fixed('invitation nonce', 24)),
      autoInviteJson,
      autoInviteEncrypted: sealText(autoInviteJson, recipient.publicKey, fixed('auto-invite ephemeral', 32), fixed('auto-invite nonce', 24)),
    },
  };
}

const OPS = {
  seal_text: (o) => ({ encrypted: sealText(o.text, unb64(o.publicKey)) }),
  open_text: (o) => ({ text: openText(o.encrypted, unb64(o.secretKey)) }),
  seal_file: (o) => {
    const key = nacl.randomBytes(32);
    const nonce = nacl.randomBytes(24);
    return { blob: b64(nacl.secretbox(unb64(o.data), nonce, key)), key: b64u(key), nonce: b64(nonce) };
  },
  open_file: (o) => ({ data: openFile(o.blob, o.key, o.nonce) }),
  seal_metadata: (o) => ({ encrypted: sealText(metadataJson(o.metadata), unb64(o.publicKey)) }),
  open_metadata: (o) => ({ metadata: JSON.parse(openText(o.encrypted, unb64(o.secretKey))) }),
  seal_saved: (o) => ({ encrypted: sealSaved(metadataJson(o.metadata), unb64(o.vaultKey)) }),
  open_saved: (o) => ({ metadata: JSON.parse(openSaved(o.encrypted, unb64(o.vaultKey))) }),
  fingerprint: (o) => ({ fingerprint: b64u(nacl.hash(unb64(o.vaultKey))) }),
};

function run(input) {
  return JSON.parse(input).map((o) => {
    try {
      return OPS[o.op](o);
    } catch (e) {
      return { error: String(e.message || e) };
    }
  });
}

if (process.argv[2] === 'generate') {
  process.stdout.write(JSON.stringify(generate(), null, 2) + '\n');
} else if (process.argv[2] === 'run') {
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { input += chunk; });
  process.stdin.on('end', () => process.stdout.write(JSON.stringify(run(input))));
} else {
  process.stderr.write('usage: node vectors.js generate|run\n');
  process.exit(2);
}
