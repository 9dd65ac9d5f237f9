// @peculiar/x509 set up for the test PKIs (tunnel-pki.ts, tls-pki.ts): webcrypto as its provider (its
// tsyringe resolution needs the Reflect metadata polyfill), ECDSA P-256 keys signed with SHA-256.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const DAY = 24 * 3600 * 1000;
export { webcrypto, x509 };
