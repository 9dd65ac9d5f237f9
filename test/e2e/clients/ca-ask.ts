// Asks the mesh CA for one workload identity the way a node agent does (GrpcSigner, node token) and prints
// the outcome: `ok` or the failure reason (denied, unauthenticated, unavailable...).
// Usage: ca-ask CA_ADDR ROOT_PEM_FILE TOKEN_FILE SPIFFE_ID
import * as fs from 'node:fs';
import { createCsr, generateKeyPair } from '../../../src/identity/certs';
import { failureReason, GrpcSigner } from '../../../src/identity/signers';

async function main(): Promise<void> {
  const [address, root, tokenFile, id] = process.argv.slice(2);
  if (!address || !root || !tokenFile || !id) throw new Error('usage: ca-ask CA_ADDR ROOT TOKEN_FILE SPIFFE_ID');
  const signer = new GrpcSigner({ address, rootPem: fs.readFileSync(root, 'utf8'), token: () => fs.readFileSync(tokenFile, 'utf8').trim() });
  try {
    await signer.sign(await createCsr(id, await generateKeyPair()), 3600, id);
    process.stdout.write('ok\n');
  } catch (e) {
    process.stdout.write(`${failureReason(e)}\n`);
  } finally {
    signer.close();
  }
}

void main();
