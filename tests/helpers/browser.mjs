// Headless Debian Chromium through playwright-core, and the local server for the test pages.
import { chromium } from 'playwright-core';
import { startAuthServer } from '../../www/server/auth-server.mjs';
import { ROOT } from './paths.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh headless Chromium (Playwright gives every launch its own temporary profile). */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Serves the repository root (pkg/, tests/pages/, tests/fixtures/) on 127.0.0.1. */
export function startStaticServer() {
  return startAuthServer({ port: 0, staticDir: ROOT });
}

/**
 * Opens `url` in a new page of `browser`, recording uncaught page errors, console errors and
 * warnings, and every request URL (workers' requests included). Returns
 * { page, errors, warnings, requests }; close it with `page.close()`.
 */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const errors = [];
  const warnings = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    if (m.type() === 'warning') warnings.push(`console.warn: ${m.text()}`);
  });
  page.on('request', (r) => requests.push(r.url()));
  try {
    await page.goto(url);
  } catch (e) {
    await page.close();
    throw e;
  }
  return { page, errors, warnings, requests };
}

/** Runs `fn({ page, errors, warnings, requests })` on a fresh page and always closes the page. */
export async function withPage(browser, url, fn) {
  const opened = await openPage(browser, url);
  try {
    return await fn(opened);
  } finally {
    await opened.page.close();
  }
}

/** Runs `fn(context)` in a new browser context of `browser` (its own storage) and always closes it. */
export async function withContext(browser, fn) {
  const context = await browser.newContext();
  try {
    return await fn(context);
  } finally {
    await context.close();
  }
}
