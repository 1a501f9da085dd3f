// Permissions do not bind root, so tests of unreadable files run the code under test without the
// two capabilities that bypass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). It stays uid 0, so it
// still reads the checkout wherever it was cloned (CI may clone into a private temp folder that
// `nobody` could not even enter), while a file or folder with mode 000 is refused as for any user.
import { existsSync } from 'node:fs';

/** Command prefix that drops those capabilities; `[]` when not root; undefined when impossible. */
export const UNPRIVILEGED: readonly string[] | undefined =
  process.getuid?.() !== 0 ? [] : existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--bounding-set=-dac_override,-dac_read_search'] : undefined;
