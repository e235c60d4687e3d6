#!/usr/bin/env node
// Chromium peer for the sluice interop harness: Debian's chromium driven by npm
// playwright-core; the scenarios run inside the page (browser_peer.js). Same command
// line as the other peers (interop/README.md).
//
// Chromium on Linux never gathers 127.0.0.1: it offers the address of the interface that
// holds the route to 8.8.8.8. Inside the private network namespace that run.py creates
// (SLUICE_INTEROP_NETNS=1, only `lo` in it) browser_netns.js adds a dead-end veth pair
// with 198.18.0.1/15 (RFC 2544 benchmarking range) and a default route over it; Chromium
// then offers 198.18.0.1 and reaches 127.0.0.1 peers over lo (they see it as
// peer-reflexive). Nothing is changed outside such a namespace.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { setupNamespace } = require('./browser_netns');
const { parseArgs } = require('./peer_args');

const NM = path.join(__dirname, '..', 'node_modules');
const CHROMIUM = process.env.SLUICE_CHROMIUM || '/usr/bin/chromium';


async function main() {
  const a = parseArgs(process.argv, 'chromium_peer.js', ['--mdns'], {});
  const t0 = Date.now();
  const log = (t) => process.stderr.write(`${((Date.now() - t0) / 1000).toFixed(3).padStart(8)} chromium-host[${a.role}] ${t}\n`);
  setupNamespace(log, 'Chromium');
  const { chromium } = require(path.join(NM, 'playwright-core'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu'].concat(
      a.mdns ? [] : ['--disable-features=WebRtcHideLocalIpsWithMdns']),
  });
  const page = await browser.newPage();
  let finished = false;
  const finish = async (code, result) => {
    if (finished) return;
    finished = true;
    const line = JSON.stringify(result) + '\n';
    if (a.result) fs.writeFileSync(a.result, line); else process.stderr.write(line);
    await browser.close().catch(() => {});
    process.stdout.write('', () => process.exit(code));
  };
  page.on('console', (m) => { if (a.verbose) log('console: ' + m.text()); });
  page.on('pageerror', (e) => log('page error: ' + e.message));
  await page.exposeFunction('sendSig', (o) => { process.stdout.write(JSON.stringify(o) + '\n'); });
  await page.exposeFunction('logLine', (t) => { process.stderr.write(t + '\n'); });
  await page.exposeFunction('finish', (code, result) => finish(code, result));
  await page.addScriptTag({ content: fs.readFileSync(path.join(__dirname, 'browser_peer.js'), 'utf8') });
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let m;
    try { m = JSON.parse(line); } catch (e) { log('bad signaling line: ' + line.slice(0, 200)); return; }
    page.evaluate((msg) => window.onSignal(msg), m).catch((e) => log('onSignal: ' + e.message));
  });
  await page.evaluate((args) => window.startPeer(args), a);
  // Safety net: the page reports through finish(); never outlive the scenario by much.
  setTimeout(() => finish(1, { peer: 'chromium', role: a.role, scenario: a.scenario, ok: false,
    error: 'chromium_peer: no result from the page' }), (a.timeout + 30) * 1000).unref();
}

main().catch((e) => {
  process.stderr.write('fatal: ' + (e.stack || e) + '\n');
  process.exit(1);
});
