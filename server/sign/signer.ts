/**
 * Signing the service's own Release files. The only module that uses the
 * private key.
 *
 * Output follows `gpg --clearsign` / `gpg --armor --detach-sign`:
 * - InRelease: the text is signed without its final "\n" (the armor's line
 *   break before "-----BEGIN PGP SIGNATURE-----" stands for it), and the
 *   CRLF line ends openpgp puts in the cleartext become "\n";
 * - Release.gpg: an armored detached binary-mode signature over the exact
 *   bytes of the Release text.
 * Signatures carry no random salt notation (openpgp's default adds one), so
 * the same key, text and date give the same bytes, as with gpg's ed25519.
 */
import * as openpgp from 'openpgp';
import { AptfreezeError } from '../errors.ts';
import type { ServiceKey } from './key.ts';

const SIGN_CONFIG: openpgp.PartialConfig = { nonDeterministicSignaturesViaNotation: false };

export async function signRelease(
  key: ServiceKey,
  releaseText: string,
  date?: Date,
): Promise<{ inRelease: string; releaseGpg: string }> {
  checkReleaseText(releaseText);
  const when = date ?? new Date();
  if (Number.isNaN(when.getTime())) {
    throw new AptfreezeError('INTERNAL', 'signRelease: invalid signature date');
  }
  if (when < key.privateKey.getCreationTime()) {
    throw new AptfreezeError(
      'INTERNAL',
      `signRelease: signature date ${when.toISOString()} is before the service key was created (${key.privateKey.getCreationTime().toISOString()})`,
    );
  }
  try {
    const cleartext = await openpgp.createCleartextMessage({ text: releaseText.slice(0, -1) });
    const armoredInRelease = await openpgp.sign({
      message: cleartext,
      signingKeys: key.privateKey,
      date: when,
      config: SIGN_CONFIG,
    });
    const message = await openpgp.createMessage({ binary: new TextEncoder().encode(releaseText) });
    const releaseGpg = await openpgp.sign({
      message,
      signingKeys: key.privateKey,
      detached: true,
      date: when,
      format: 'armored',
      config: SIGN_CONFIG,
    });
    return { inRelease: armoredInRelease.replace(/\r\n/g, '\n'), releaseGpg: releaseGpg.replace(/\r\n/g, '\n') };
  } catch (e) {
    throw new AptfreezeError('INTERNAL', `signing the Release failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * A clearsigned text loses trailing whitespace and CRs; refuse text where that
 * would make InRelease say something other than Release.
 */
function checkReleaseText(text: string): void {
  if (!text.endsWith('\n')) {
    throw new AptfreezeError('INTERNAL', 'signRelease: the Release text must end with a newline');
  }
  if (text.includes('\r')) {
    throw new AptfreezeError('INTERNAL', 'signRelease: the Release text must not contain carriage returns');
  }
  const lines = text.slice(0, -1).split('\n');
  const bad = lines.findIndex((l) => /[ \t]$/.test(l));
  if (bad >= 0) {
    throw new AptfreezeError('INTERNAL', `signRelease: Release line ${bad + 1} ends with whitespace, which a clearsigned InRelease would drop`);
  }
}
