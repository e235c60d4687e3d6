#!/usr/bin/env node
// Firefox peer for the sluice interop harness: Debian's firefox-esr driven over WebDriver
// BiDi by npm puppeteer-core (no geckodriver, no browser download); the scenarios run in
// the page (browser_peer.js, shared with chromium_peer.js). Same command line as the
// other peers (interop/README.md).
//
// Puppeteer starts Firefox with a fresh temporary profile (removed on close) whose
// user.js holds the prefs below (plain host addresses instead of mDNS names, loopback
// allowed). A page without a camera/microphone grant (ours: about:blank is not even a
// secure context) gathers only the "default address", the source of a connect() towards
// a public address, whatever the prefs say; in run.py's network namespace (only `lo`)
// there is none, so Firefox then offers no candidate at all. As for Chromium,
// browser_netns.js adds a dead-end veth with 198.18.0.1 and a default route over it
// (only when SLUICE_INTEROP_NETNS=1): Firefox offers 198.18.0.1, bound to that address,
// and its packets to 127.0.0.1 peers stay on lo.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { setupNamespace } = require('./browser_netns');
const { parseArgs } = require('./peer_args');

const NM = path.join(__dirname, '..', 'node_modules');
const FIREFOX = process.env.SLUICE_FIREFOX || '/usr/bin/firefox-esr';


// Profile prefs (user.js). ICE: gather loopback (the only interface in the namespace),
// no mDNS obfuscation unless --mdns, every interface's address rather than only the one
// of the default route, and host candidates even without a getUserMedia grant. The rest
// keeps a headless Firefox from reaching for the network or stalling on first-run pages.
function prefs(a) {
  return {
    'media.peerconnection.ice.loopback': true,
    'media.peerconnection.ice.obfuscate_host_addresses': a.mdns,
    'media.peerconnection.ice.default_address_only': false,
    'media.peerconnection.ice.no_host': false,
    'media.peerconnection.ice.link_local': false,
    'media.peerconnection.ice.proxy_only': false,
    'media.peerconnection.ice.relay_only': false,
    'media.navigator.permission.disabled': true,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'browser.safebrowsing.update.enabled': false,
    'app.update.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.enabled': false,
  };
}

async function main() {
  const a = parseArgs(process.argv, 'firefox_peer.js', ['--mdns'], { browser: 'firefox' });
  const t0 = Date.now();
  const log = (t) => process.stderr.write(`${((Date.now() - t0) / 1000).toFixed(3).padStart(8)} firefox-host[${a.role}] ${t}\n`);
  setupNamespace(log, 'Firefox');
  const puppeteer = require(path.join(NM, 'puppeteer-core'));
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, headless: true,
    extraPrefsFirefox: prefs(a),
    env: Object.assign({}, process.env, { MOZ_CRASHREPORTER_DISABLE: '1' }),
    dumpio: a.verbose,
  });
  const version = await browser.version(); // "firefox/153.8.0"
  a.version = version.replace(/^[^/]*\//, '');
  log(`started ${version} in ${Date.now() - t0} ms (profile in ${os.tmpdir()})`);
  const page = await browser.newPage();
  let finished = false;
  const finish = async (code, result) => {
    if (finished) return;
    finished = true;
    const line = JSON.stringify(result) + '\n';
    if (a.result) fs.writeFileSync(a.result, line); else process.stderr.write(line);
    log('closing the browser');
    await browser.close().catch((e) => log('close: ' + e.message));
    log('browser closed');
    process.stdout.write('', () => process.exit(code));
  };
  page.on('console', (m) => { if (a.verbose) log('console: ' + m.text()); });
  page.on('pageerror', (e) => log('page error: ' + e.message));
  await page.exposeFunction('sendSig', (o) => { process.stdout.write(JSON.stringify(o) + '\n'); });
  await page.exposeFunction('logLine', (t) => { process.stderr.write(t + '\n'); });
  await page.exposeFunction('finish', (code, result) => finish(code, result));
  await page.addScriptTag({ content: fs.readFileSync(path.join(__dirname, 'browser_peer.js'), 'utf8') });
  // Start the page's peer before reading stdin: a signal must never reach the page
  // before its peer exists (stdin waits in the pipe meanwhile).
  await page.evaluate((args) => window.startPeer(args), a);
  // One evaluate at a time, so that the page sees the signals in stdin order.
  let chain = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let m;
    try { m = JSON.parse(line); } catch (e) { log('bad signaling line: ' + line.slice(0, 200)); return; }
    chain = chain.then(() => page.evaluate((msg) => window.onSignal(msg), m))
      .catch((e) => log('onSignal: ' + e.message));
  });
  // Safety net: the page reports through finish(); never outlive the scenario by much.
  setTimeout(() => finish(1, { peer: 'firefox', role: a.role, scenario: a.scenario, ok: false,
    error: 'firefox_peer: no result from the page' }), (a.timeout + 30) * 1000).unref();
}

main().catch((e) => {
  process.stderr.write('fatal: ' + (e.stack || e) + '\n');
  process.exit(1);
});
