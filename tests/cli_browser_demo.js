// Drives the demo page of `sluice serve` in headless Chromium (playwright-core), for
// tests/cli_browser_demo.py: connect, a chat line comes back through the server's
// broadcast (and one from a second tab arrives too), an echo RTT is measured, a 1 MiB file is uploaded and the page shows that the
// server's SHA-256 matches its own. Prints one JSON line with the results; exit 0 = pass.
// Then rooms: two tabs meet peer-to-peer (chat, echo, a 256 KiB file), and a tab sends
// 1 MiB to `sluice recv` waiting in room NATIVE_ROOM.
// usage: node cli_browser_demo.js URL NODE_MODULES_DIR CHROMIUM [NATIVE_ROOM]
'use strict';
const path = require('path');

async function main() {
  const [url, nm, exe, nativeRoom] = process.argv.slice(2);
  const { chromium } = require(path.join(nm, 'playwright-core'));
  const browser = await chromium.launch({
    executablePath: exe, headless: true,
    // As interop/peers/chromium_peer.js: root needs --no-sandbox; show real host addresses
    // instead of mDNS names so that the candidates are plain IPs.
    args: ['--no-sandbox', '--disable-gpu', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
  const result = { ok: false };
  try {
    const page = await browser.newPage();
    page.on('console', (m) => process.stderr.write('console: ' + m.text() + '\n'));
    page.on('pageerror', (e) => process.stderr.write('page error: ' + e.message + '\n'));
    await page.goto(url);
    await page.waitForFunction(() => window.sluiceDemo && window.sluiceDemo.state === 'connected',
      null, { timeout: 30000 });
    result.connected = true;
    await page.waitForFunction(() => !document.getElementById('chatsend').disabled &&
      !document.getElementById('echobtn').disabled && !document.getElementById('fileinput').disabled,
      null, { timeout: 15000 });
    const line = 'hello from chromium ' + Date.now();
    await page.evaluate((t) => window.sluiceDemo.sendChat(t), line);
    await page.waitForFunction((t) => window.sluiceDemo.chat.some((l) => l.endsWith(': ' + t)),
      line, { timeout: 15000 });
    result.chat = await page.evaluate(() => window.sluiceDemo.chat.slice(-1)[0]);
    result.rtt_ms = await page.evaluate(() => window.sluiceDemo.measureEcho(10));
    result.rtt_text = await page.textContent('#rtt');
    const file = await page.evaluate(async () => {
      const bytes = new Uint8Array(1 << 20);
      for (let off = 0; off < bytes.length; off += 65536) {
        crypto.getRandomValues(bytes.subarray(off, off + 65536));
      }
      return window.sluiceDemo.upload('random.bin', bytes);
    });
    result.file = file;
    result.file_text = await page.textContent('#fileresult');
    // A second browser tab: its own peer on the same UDP port; a chat line from it reaches
    // the first tab through the server's broadcast.
    const page2 = await browser.newPage();
    await page2.goto(url);
    await page2.waitForFunction(() => window.sluiceDemo && window.sluiceDemo.state === 'connected',
      null, { timeout: 30000 });
    await page2.waitForFunction(() => !document.getElementById('chatsend').disabled, null,
      { timeout: 15000 });
    const line2 = 'hello from the second tab ' + Date.now();
    await page2.evaluate((t) => window.sluiceDemo.sendChat(t), line2);
    await page.waitForFunction((t) => window.sluiceDemo.chat.some((l) => l.endsWith(': ' + t)),
      line2, { timeout: 15000 });
    result.chat_broadcast = true;

    // Room "tabs": two tabs meet peer-to-peer (the second offers); chat, echo, 256 KiB file.
    const connected = (pg) => pg.waitForFunction(() => window.sluiceDemo &&
      window.sluiceDemo.state === 'connected' && !document.getElementById('fileinput').disabled,
      null, { timeout: 30000 });
    const ra = await browser.newPage();
    await ra.goto(url + '?room=tabs');
    await ra.waitForFunction(() => window.sluiceDemo && window.sluiceDemo.state.startsWith('waiting'),
      null, { timeout: 15000 });
    const rb = await browser.newPage();
    await rb.goto(url + '?room=tabs');
    await connected(ra);
    await connected(rb);
    await ra.waitForFunction(() => !document.getElementById('chatsend').disabled, null, { timeout: 15000 });
    const line3 = 'tab to tab ' + Date.now();
    await ra.evaluate((t) => window.sluiceDemo.sendChat(t), line3);
    await rb.waitForFunction((t) => window.sluiceDemo.chat.includes('peer: ' + t), line3, { timeout: 15000 });
    result.room_rtt_ms = await rb.evaluate(() => window.sluiceDemo.measureEcho(5));
    const tabFile = await rb.evaluate(() => {
      const bytes = new Uint8Array(256 * 1024);
      crypto.getRandomValues(bytes.subarray(0, 65536));
      return window.sluiceDemo.upload('tab.bin', bytes);
    });
    const tabReceived = await ra.evaluate(() => window.sluiceDemo.received);
    result.room_tabs = tabFile.match === true && tabReceived && tabReceived.ok === true &&
      tabReceived.sha256 === tabFile.mine;

    // Room "native": `sluice recv` (started by the Python side) waits; this tab offers and
    // uploads 1 MiB; recv stores and verifies it.
    if (nativeRoom) {
      const rn = await browser.newPage();
      await rn.goto(url + '?room=' + nativeRoom);
      await connected(rn);
      result.native = await rn.evaluate(() => {
        const bytes = new Uint8Array(1 << 20);
        for (let off = 0; off < bytes.length; off += 65536) {
          crypto.getRandomValues(bytes.subarray(off, off + 65536));
        }
        return window.sluiceDemo.upload('from-chromium.bin', bytes);
      });
    }
    result.ok = result.chat_broadcast && result.room_tabs &&
      (!nativeRoom || (result.native && result.native.match === true)) && file.match === true && file.bytes === (1 << 20) &&
      result.file_text.startsWith('SHA-256 matches') && typeof result.rtt_ms === 'number';
  } catch (e) {
    result.error = String(e && e.message || e);
  } finally {
    await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.ok ? 0 : 1);
}

main().catch((e) => { process.stderr.write('fatal: ' + (e.stack || e) + '\n'); process.exit(1); });
