import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { collapsePerfScript, renderFlameGraph } from '../../src/profile/index.ts';
import { needs } from '../support/requirements.ts';

const fixtures = new URL('../fixtures/profile/', import.meta.url).pathname;
// Evaluated in the page, where the DOM exists; Node's type library has none, hence a string.
const matchedShown = "document.getElementById('matched').textContent.startsWith('Matched')";

test('in Chromium the SVG searches with a matched share, zooms on click and resets', needs('chromium'), async () => {
  const { stacks } = await collapsePerfScript(createReadStream(`${fixtures}perf/c-fp.perf`));
  let total = 0;
  let matching = 0;
  for (const [stack, count] of stacks) {
    total += count;
    if (/chacha/.test(stack)) matching += count;
  }
  assert.ok(matching > 0 && matching < total);
  const expectedShare = `Matched: ${((100 * matching) / total).toFixed(1)}%`;

  const dir = mkdtempSync(join(tmpdir(), 'tracejob-browser-'));
  const svgFile = join(dir, 'c-fp.svg');
  writeFileSync(svgFile, renderFlameGraph(stacks, { width: 1200, title: 'c-fp' }));
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(pathToFileURL(svgFile).href);

    const frame = (name: string) =>
      page.locator('#frames g', { has: page.locator(`title:text-matches("^${name} \\\\(")`) });
    const width = async (name: string) => Number(await frame(name).first().locator('rect').getAttribute('width'));

    // Search: the prompt takes a regular expression; matches turn magenta and the share shows.
    page.once('dialog', (dialog) => void dialog.accept('chacha'));
    await page.click('#search');
    await page.waitForFunction(matchedShown);
    assert.equal((await page.textContent('#matched'))!.split(' (')[0], expectedShare);
    assert.equal(await frame('chacha_permute').first().locator('rect').getAttribute('fill'), 'rgb(230,0,230)');
    assert.notEqual(await frame('cpu_phase').first().locator('rect').getAttribute('fill'), 'rgb(230,0,230)');
    assert.equal(await page.textContent('#search'), 'Reset Search');
    await page.click('#search');
    assert.equal((await page.textContent('#matched'))!.trim(), '');

    // Zoom: the clicked frame fills the width, frames outside it disappear, Reset Zoom restores.
    const readBefore = await width('read');
    const workerBefore = await width('cpu_worker');
    assert.ok(readBefore < 200);
    await frame('read').first().click();
    assert.equal(await width('read'), 1180);
    // The first `read` is under cpu_worker (sorted first): its ancestors span the width, faded; the rest hides.
    assert.ok(
      await frame('cpu_worker')
        .first()
        .evaluate((g) => g.classList.contains('parent')),
    );
    assert.equal(await width('cpu_worker'), 1180);
    assert.ok(
      await frame('work')
        .first()
        .evaluate((g) => g.classList.contains('hide')),
    );
    assert.ok(!(await frame('work').first().isVisible()));
    assert.ok(await page.isVisible('#unzoom'));
    await page.click('#unzoom');
    assert.equal(await width('read'), readBefore);
    assert.equal(await width('cpu_worker'), workerBefore);
    assert.ok(await frame('work').first().isVisible());
    assert.ok(!(await page.isVisible('#unzoom')));

    // A search in the URL applies on load, for links to a view.
    await page.goto(`${pathToFileURL(svgFile).href}?s=chacha`);
    await page.waitForFunction(matchedShown);
    assert.equal((await page.textContent('#matched'))!.split(' (')[0], expectedShare);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
