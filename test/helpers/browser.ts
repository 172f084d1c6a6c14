import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium: the browser the dashboard is tested and measured in (no download). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Launches Debian's chromium headless with the flags this machine needs: no
 * sandbox (root), no GPU, and no background networking (the network is closed).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
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
