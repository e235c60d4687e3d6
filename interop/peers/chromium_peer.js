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

const NM = path.join(__dirname, '..', 'node_modules');
const CHROMIUM = process.env.SLUICE_CHROMIUM || '/usr/bin/chromium';

function parseArgs(argv) {
  const a = { driver: 'offer', trickle: 1, timeout: 60, bytes: 64 << 20, count: 20000,
    echoMax: 65536, echoMin: 0, verbose: false, result: null,
    mdns: false, iceServers: [], relayOnly: false, turnUser: null, turnPass: null };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    switch (k) {
      case '--role': a.role = v; i++; break;
      case '--scenario': a.scenario = v; i++; break;
      case '--driver': a.driver = v; i++; break;
      case '--trickle': a.trickle = Number(v); i++; break;
      case '--result': a.result = v; i++; break;
      case '--timeout': a.timeout = Number(v); i++; break;
      case '--bytes': a.bytes = Number(v); i++; break;
      case '--count': a.count = Number(v); i++; break;
      case '--echo-max': a.echoMax = Number(v); i++; break;
      case '--echo-min': a.echoMin = Number(v); i++; break;
      case '--bind': i++; break;
      case '--loopback': break;
      case '--verbose': a.verbose = true; break;
      // interop/run_extra.py: keep Chromium's mDNS host names (.local); TURN servers.
      case '--mdns': a.mdns = true; break;
      case '--ice-server': a.iceServers.push(v); i++; break;
      case '--turn-user': a.turnUser = v; i++; break;
      case '--turn-pass': a.turnPass = v; i++; break;
      case '--relay-only': a.relayOnly = true; break;
      default: throw new Error('unknown option ' + k);
    }
  }
  if (!['offer', 'answer'].includes(a.role) || !a.scenario) {
    throw new Error('usage: chromium_peer.js --role offer|answer --scenario NAME [...]');
  }
  return a;
}

async function main() {
  const a = parseArgs(process.argv);
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
