import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium: the full browser, which the dashboard bench measures in (no download). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's chromium-headless-shell: the same Chromium (same version, same
 * Blink) built for headless runs only, as playwright runs its own headless
 * tests. The browser tests use it: a page costs it several times less CPU than
 * the full browser in headless mode. The binary itself, not /usr/bin's
 * shell wrapper.
 */
export const HEADLESS_SHELL = '/usr/lib/chromium/chromium-headless-shell';

/**
 * Launches `executable` (by default the headless shell) headless with the
 * flags this machine needs: no sandbox (root), no GPU, and no background
 * networking (the network is closed).
 */
export function launchChromium(executable = HEADLESS_SHELL): Promise<Browser> {
  return chromium.launch({
    executablePath: executable,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
