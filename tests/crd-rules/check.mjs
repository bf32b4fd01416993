// Evaluates the SigningKeySet CRD's x-kubernetes-validations rules (CEL) against old/new object pairs
// and prints one line per case. The test API server (Kubernetes 1.20) does not run CEL rules, so this
// is how the rules are proven; the operator's InvalidSpec check, tested on the real API server, is
// what enforces the same thing where the API server does not. Run: node tests/crd-rules/check.mjs
import { evaluate } from '@marcbachmann/cel-js'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const crd = fs.readFileSync(path.join(here, '..', '..', 'config', 'crds', 'keyrotator.io_signingkeysets.yaml'), 'utf8')
const rules = [...crd.matchAll(/- rule: "(.*)"\n\s+message: "(.*)"\n/g)].map(m => ({ rule: m[1].replace(/\\"/g, '"'), message: m[2] }))
if (rules.length !== 3) {
  console.log(`expected 3 rules (algorithm, rsaKeySize, vault), found ${rules.length}`)
  process.exit(1)
}

const pinned = { keyParameters: { algorithm: 'ES256', vault: 'Pkcs11 token=t' } }
const hsm = { provider: 'Pkcs11', pkcs11: { library: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 't', pinSecretRef: { name: 'hsm-pin', key: 'pin' } } }
const akv = { provider: 'AzureKeyVault', azureKeyVault: { vaultUri: 'https://a.vault.azure.net', keyName: 'k' } }
const set = (spec, status = pinned) => (status ? { spec, status } : { spec })
const es = set({ algorithm: 'ES256', vault: hsm })

// [case, oldSelf, self, allowed, rule expected to refuse]
const cases = [
  ['an unchanged set', es, es, true],
  ['an algorithm change before any key exists', set(es.spec, null), set({ ...es.spec, algorithm: 'RS256' }, null), true],
  ['an algorithm change once keys exist', es, set({ ...es.spec, algorithm: 'RS256' }), false, 'spec.algorithm'],
  ['an RSA key size change', set({ algorithm: 'RS256', rsaKeySize: 2048n }), set({ algorithm: 'RS256', rsaKeySize: 4096n }), false, 'spec.rsaKeySize'],
  ['setting an RSA key size that was unset', set({ algorithm: 'RS256' }), set({ algorithm: 'RS256', rsaKeySize: 4096n }), false, 'spec.rsaKeySize'],
  ['another PIN Secret on the same token', es, set({ ...es.spec, vault: { ...hsm, pkcs11: { ...hsm.pkcs11, pinSecretRef: { name: 'new-pin', key: 'pin' } } } }), true],
  ['another PKCS#11 token', es, set({ ...es.spec, vault: { ...hsm, pkcs11: { ...hsm.pkcs11, tokenLabel: 'other' } } }), false, 'spec.vault'],
  ['another provider', es, set({ ...es.spec, vault: { provider: 'Kubernetes' } }), false, 'spec.vault'],
  ['another Azure key', set({ algorithm: 'ES256', vault: akv }), set({ algorithm: 'ES256', vault: { ...akv, azureKeyVault: { ...akv.azureKeyVault, keyName: 'k2' } } }), false, 'spec.vault'],
  ['another Azure vault', set({ algorithm: 'ES256', vault: akv }), set({ algorithm: 'ES256', vault: { ...akv, azureKeyVault: { ...akv.azureKeyVault, vaultUri: 'https://b.vault.azure.net' } } }), false, 'spec.vault'],
  ['other edits (signing Secret name, revocations)', set({ algorithm: 'ES256' }), set({ algorithm: 'ES256', signingSecretName: 'x', revokedKeyIds: ['k'] }), true],
  ['a status update', es, set(es.spec, { ...pinned, activeKeyId: 'abc' }), true],
]

let failed = 0
for (const [name, oldSelf, self, allowed, refusedBy] of cases) {
  let refused
  try {
    refused = rules.filter(r => evaluate(r.rule, { self, oldSelf }) !== true)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: the rules do not evaluate: ${e.message}`)
    continue
  }
  const ok = allowed ? refused.length === 0 : refused.length === 1 && refused[0].message.startsWith(refusedBy)
  if (!ok) failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${refused.length === 0 ? 'allowed' : 'refused: ' + refused.map(r => r.message).join('; ')}`)
}
console.log(`${cases.length - failed} of ${cases.length} cases as expected`)
process.exit(failed === 0 ? 0 : 1)
