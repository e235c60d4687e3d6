#!/usr/bin/env node
// Node peer for the sluice interop harness: one W3C-style program for three stacks.
//   --impl ndc     libdatachannel via node-datachannel@0.33.4 (polyfill API)
//   --impl wrtc    Google libwebrtc via @roamhq/wrtc@0.10.0
//   --impl werift  werift@0.25.2 (pure TypeScript)
// Same command line and scenarios as tools/sluice_cli.c; see interop/README.md.
'use strict';
const crypto = require('crypto');
const path = require('path');
const readline = require('readline');
const { parseArgs, BULK_CHUNK } = require('./peer_args');

const NM = path.join(__dirname, '..', 'node_modules');
const ECHO_COUNT = 200;
const ECHO_SIZES = [0, 1, 2, 3, 7, 15, 16, 100, 255, 256, 1000, 1023, 1024, 1199, 1200,
  1500, 2048, 4096, 8191, 16384, 16385, 32768, 65000, 65535, 65536];
const ECHO_WINDOW = 16;
const UNREL_SIZE = 100;

class Failure extends Error {}

function parseNodeArgs(argv) {
  const a = parseArgs(argv, 'node_peer.js --impl ndc|wrtc|werift', ['--impl', '--msg-size', '--echo-ready'],
    { impl: 'ndc' });
  if (!['ndc', 'wrtc', 'werift'].includes(a.impl)) throw new Error('--impl must be ndc, wrtc or werift');
  return a;
}

// --- the three stacks behind one W3C-like surface ------------------------------------
function loadImpl(impl) {
  if (impl === 'ndc') {
    const ndc = require(path.join(NM, 'node-datachannel', 'dist', 'cjs', 'polyfill', 'index.cjs'));
    const ver = require(path.join(NM, 'node-datachannel', 'package.json')).version;
    return { name: 'ndc', version: ver, RTCPeerConnection: ndc.RTCPeerConnection,
      config: { iceServers: [], bindAddress: '127.0.0.1' }, refusesTooLarge: true };
  }
  if (impl === 'wrtc') {
    const w = require(path.join(NM, '@roamhq', 'wrtc'));
    const ver = require(path.join(NM, '@roamhq', 'wrtc', 'package.json')).version;
    // libwebrtc gathers 127.0.0.1 only in a network namespace with nothing but lo
    // (run.py runs every pair in one: unshare -n).
    return { name: 'wrtc', version: ver, RTCPeerConnection: w.RTCPeerConnection,
      config: { iceServers: [] }, refusesTooLarge: false };
  }
  const w = require(path.join(NM, 'werift'));
  const ver = require(path.join(NM, 'werift', 'package.json')).version;
  return { name: 'werift', version: ver, RTCPeerConnection: w.RTCPeerConnection,
    config: { iceServers: [], iceInterfaceAddresses: { udp4: '127.0.0.1' },
      iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false }, refusesTooLarge: true };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => {
    t = setTimeout(() => rej(new Failure((typeof what === 'function' ? what() : what) + ' timed out after ' + ms / 1000 + 's')), ms);
  })]).finally(() => clearTimeout(t));
}

function echoMessage(i, cap, floor = 0) {
  const n = Math.min(Math.max(ECHO_SIZES[i % ECHO_SIZES.length], floor), cap);
  if (i % 2 === 0) {
    let s = '';
    for (let j = 0; j < n; j++) s += String.fromCharCode(0x21 + ((i * 7 + j) % 94));
    return s;
  }
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j++) b[j] = (i * 31 + j * 7) & 0xff;
  return b;
}

function unrelMessage(seq) {
  const b = Buffer.alloc(UNREL_SIZE);
  b.writeUInt32BE(seq, 0);
  for (let j = 0; j < UNREL_SIZE - 4; j++) b[4 + j] = (seq * 7 + j * 13 + 5) & 0xff;
  return b;
}

function maxsizeMessage(n) {
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j++) b[j] = (j * 7 + 3) & 0xff;
  return b;
}

// RFC 8841 §6: absent means 65536; 0 means no limit (null).
function sdpMaxMessageSize(sdp) {
  const m = /^a=max-message-size:(\d+)/m.exec(sdp || '');
  if (!m) return 65536;
  const v = Number(m[1]);
  return v === 0 ? null : v;
}

function normalize(data) {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

function same(a, b) {
  if (typeof a !== typeof b) return false;
  return typeof a === 'string' ? a === b : Buffer.compare(a, b) === 0;
}

class Queue {
  constructor() { this.items = []; this.waiters = []; }
  push(x) { const w = this.waiters.shift(); if (w) w(x); else this.items.push(x); }
  get(ms) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => {
      let t = null;
      const w = (x) => { if (t) clearTimeout(t); resolve(x); };
      this.waiters.push(w);
      if (ms !== undefined) {
        t = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(undefined);
        }, ms);
      }
    });
  }
}

class Peer {
  constructor(a) {
    this.a = a;
    this.t0 = Date.now();
    this.impl = loadImpl(a.impl);
    const config = Object.assign({}, this.impl.config);
    if (a.iceServers.length) {
      config.iceServers = a.iceServers.map((u) => (a.turnUser
        ? { urls: u, username: a.turnUser, credential: a.turnPass } : { urls: u }));
    }
    if (a.relayOnly) config.iceTransportPolicy = 'relay';
    this.pc = new this.impl.RTCPeerConnection(config);
    this.driver = a.role === a.driver;
    this.remoteSet = false;
    this.pendingCands = [];
    this.channels = {};
    this.queues = {};
    this.waiters = {};
    this.details = {};
    this.peerBye = null;
    this.peerByeWaiters = [];
    this.pc.ondatachannel = (e) => {
      const ch = e.channel;
      this.log(`datachannel '${ch.label}' id=${ch.id} negotiated=${ch.negotiated}`);
      this.track(ch);
    };
    this.pc.onconnectionstatechange = () => this.log('connection state ' + this.pc.connectionState);
    this.pc.onicecandidate = (e) => this.onCandidate(e.candidate);
  }

  log(t) {
    process.stderr.write(`${((Date.now() - this.t0) / 1000).toFixed(3).padStart(8)} ${this.impl.name}[${this.a.role}] ${t}\n`);
  }

  sendSig(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

  onCandidate(c) {
    if (!this.a.trickle) return;
    if (!c || !c.candidate) {
      if (!this.sentEnd) this.sendSig({ type: 'candidate', mid: '0', index: 0, candidate: '' });
      this.sentEnd = true;
      return;
    }
    this.sendSig({ type: 'candidate', mid: c.sdpMid ?? '0', index: c.sdpMLineIndex ?? 0,
      candidate: c.candidate });
  }

  // bench: ms from the offer's arrival (answerer; the offerer: from its start) to the first
  // open channel, for bench/run_peers.py.
  markOpen(ch) {
    const done = () => {
      if (this.details.connect_ms === undefined) this.details.connect_ms = Date.now() - (this.tOffer ?? this.t0);
    };
    if (ch.readyState === 'open') done();
    else if ('addEventListener' in ch) ch.addEventListener('open', done);
  }

  track(ch) {
    this.markOpen(ch);
    const q = new Queue();
    this.channels[ch.label] = ch;
    this.queues[ch.label] = q;
    if ('binaryType' in ch) ch.binaryType = 'arraybuffer';
    ch.onmessage = (e) => q.push(normalize(e.data));
    for (const w of this.waiters[ch.label] || []) w(ch);
    delete this.waiters[ch.label];
    return ch;
  }

  async channel(label, ms = 20000, states = ['open']) {
    if (!this.channels[label]) {
      await withTimeout(new Promise((r) => (this.waiters[label] ||= []).push(r)), ms,
        `channel '${label}'`);
    }
    const ch = this.channels[label];
    await this.waitState(ch, states, ms);
    if (this.details.connect_ms === undefined && ch.readyState === 'open') {
      this.details.connect_ms = Date.now() - (this.tOffer ?? this.t0); // no open event seen
    }
    return ch;
  }

  async waitState(ch, states, ms = 20000) {
    const end = Date.now() + ms;
    while (!states.includes(ch.readyState)) {
      if (Date.now() > end) {
        throw new Failure(`channel '${ch.label}' not ${states} after ${ms / 1000}s (state ${ch.readyState})`);
      }
      await sleep(10);
    }
  }

  async drain(ch, below) {
    while (ch.bufferedAmount > below) await sleep(1);
  }

  waitPeerBye(ms) {
    if (this.peerBye) return Promise.resolve(this.peerBye);
    return withTimeout(new Promise((r) => this.peerByeWaiters.push(r)), ms, 'peer bye');
  }

  async sendDescription() {
    let d = this.pc.localDescription;
    if (!this.a.trickle) {
      // Non-trickle: candidates in the SDP once gathering is complete.
      const end = Date.now() + 10000;
      while (this.pc.iceGatheringState !== 'complete' && Date.now() < end) await sleep(10);
      d = this.pc.localDescription;
    }
    this.sendSig({ type: d.type, sdp: d.sdp });
  }

  async addCandidate(m) {
    let line = m.candidate || '';
    if (line.startsWith('a=')) line = line.slice(2);
    try {
      if (line === '' || line === 'end-of-candidates') {
        if (this.impl.name === 'ndc') return; // the polyfill rejects an empty candidate
        await this.pc.addIceCandidate({ candidate: '', sdpMid: m.mid, sdpMLineIndex: m.index });
        return;
      }
      await this.pc.addIceCandidate({ candidate: line, sdpMid: m.mid ?? '0', sdpMLineIndex: m.index ?? 0 });
    } catch (e) {
      this.log(`addIceCandidate(${line || '(end)'}): ${e.message}`);
    }
  }

  async onSignal(m) {
    if (m.type === 'offer' || m.type === 'answer') {
      if (m.type === 'offer') this.tOffer = Date.now();
      this.remoteSdp = m.sdp;
      await this.pc.setRemoteDescription({ type: m.type, sdp: m.sdp });
      this.remoteSet = true;
      for (const c of this.pendingCands.splice(0)) await this.addCandidate(c);
      if (m.type === 'offer') {
        const ans = await this.pc.createAnswer();
        await this.pc.setLocalDescription(ans);
        await this.sendDescription();
      }
    } else if (m.type === 'candidate') {
      if (this.remoteSet) await this.addCandidate(m);
      else this.pendingCands.push(m);
    } else if (m.type === 'bye') {
      this.log('peer bye: ' + JSON.stringify(m));
      if (!this.peerBye) {
        this.peerBye = m;
        for (const w of this.peerByeWaiters.splice(0)) w(m);
      }
    } else {
      this.log('ignoring signaling message ' + m.type);
    }
  }

  signaling() {
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    let chain = Promise.resolve();
    rl.on('line', (line) => {
      if (!line.trim()) return;
      let m;
      try { m = JSON.parse(line); } catch (e) { this.log('bad signaling line: ' + line.slice(0, 200)); return; }
      chain = chain.then(() => this.onSignal(m)).catch((e) => this.log('signaling error: ' + e.stack));
    });
    rl.on('close', () => { this.stdinEof = true; });
  }

  // --- scenarios ---------------------------------------------------------------------
  createChannels() {
    const pc = this.pc;
    switch (this.a.scenario) {
      case 'echo': this.track(pc.createDataChannel('echo')); break;
      case 'bulk': this.track(pc.createDataChannel('bulk')); break;
      case 'unreliable':
        this.track(pc.createDataChannel('unreliable', { ordered: false, maxRetransmits: 0 })); break;
      case 'maxsize': this.track(pc.createDataChannel('maxsize')); break;
      case 'close':
        for (const l of ['close-a', 'close-b', 'close-c']) this.track(pc.createDataChannel(l));
        break;
      case 'restart': this.track(pc.createDataChannel('restart')); break;
      default: break;
    }
  }

  createNegotiated() {
    // Godot's WebRTCMultiplayerPeer channels: ids 1, 2, 3 negotiated out of band.
    const pc = this.pc;
    this.track(pc.createDataChannel('reliable', { negotiated: true, id: 1 }));
    this.track(pc.createDataChannel('ordered', { negotiated: true, id: 2, maxPacketLifeTime: 1 }));
    this.track(pc.createDataChannel('unreliable', { negotiated: true, id: 3, ordered: false,
      maxPacketLifeTime: 1 }));
  }

  async sc_echo() {
    const ch = await this.channel('echo');
    const q = this.queues.echo;
    // --echo-ready (run.py's quirk for wrtc, FINDINGS.md): the validator says "ready"
    // first and the driver sends nothing before it has it.
    if (this.a.echoReady) {
      if (!this.driver) ch.send('ready');
      else {
        const m = await withTimeout(q.get(), 20000, "echo 'ready'");
        if (m !== 'ready') throw new Failure("echo: expected 'ready' first");
      }
    }
    if (!this.driver) {
      let n = 0;
      while (n < ECHO_COUNT) {
        const m = await q.get();
        if (this.a.verbose) this.log(`echo: got ${typeof m} ${m.length} bytes (#${n})`);
        await this.drain(ch, 1 << 20);
        ch.send(m);
        n++;
      }
      this.details.echoed = n;
      return;
    }
    let sent = 0, recv = 0;
    while (recv < ECHO_COUNT) {
      while (sent < ECHO_COUNT && sent - recv < ECHO_WINDOW) ch.send(echoMessage(sent++, this.a.echoMax, this.a.echoMin));
      const m = await q.get();
      const want = echoMessage(recv, this.a.echoMax, this.a.echoMin);
      if (!same(m, want)) {
        throw new Failure(`echo ${recv}: got ${typeof m === 'string' ? 'text' : 'binary'} ${m.length} bytes, ` +
          `want ${typeof want === 'string' ? 'text' : 'binary'} ${want.length} bytes`);
      }
      recv++;
    }
    this.details.verified = recv;
  }

  async sc_bulk() {
    const ch = await this.channel('bulk');
    const total = this.a.bytes;
    const h = crypto.createHash('sha256');
    if (this.driver) {
      const parts = [];
      for (let i = 0; i < ((1 << 20) + BULK_CHUNK) / 32 + 2; i++) {
        const c = Buffer.alloc(4); c.writeUInt32BE(i);
        parts.push(crypto.createHash('sha256').update(c).digest());
      }
      const base = Buffer.concat(parts);
      let sent = 0, k = 0;
      const t = Date.now();
      while (sent < total) {
        const off = (k * 7919) % (1 << 20);
        const chunk = base.subarray(off, off + Math.min(this.a.msgSize, total - sent));
        await this.drain(ch, 4 << 20);
        ch.send(chunk);
        h.update(chunk);
        sent += chunk.length;
        k++;
      }
      await this.drain(ch, 0);
      Object.assign(this.details, { bytes: sent, sha256: h.digest('hex'), send_s: (Date.now() - t) / 1000 });
      return;
    }
    const q = this.queues.bulk;
    let got = 0, t = null;
    while (got < total) {
      const m = await q.get();
      t = t || Date.now();
      if (typeof m === 'string') throw new Failure('bulk: text message at offset ' + got);
      h.update(m);
      got += m.length;
    }
    const dt = Math.max((Date.now() - t) / 1000, 1e-6);
    Object.assign(this.details, { bytes: got, sha256: h.digest('hex'), mbit_s: Math.round(got * 8 / dt / 1e5) / 10 });
  }

  async sc_unreliable() {
    const ch = await this.channel('unreliable');
    const count = this.a.count;
    if (this.driver) {
      for (let seq = 0; seq < count; seq++) {
        await this.drain(ch, 64 * 1024);
        ch.send(unrelMessage(seq));
      }
      // werift never brings bufferedAmount back to 0 here (abandoned chunks stay
      // counted): wait at most 5 s and report what is left.
      const end = Date.now() + 5000;
      while (ch.bufferedAmount > 0 && Date.now() < end) await sleep(5);
      if (ch.bufferedAmount > 0) this.details.buffered_at_end = ch.bufferedAmount;
      this.details.sent = count;
      return;
    }
    const q = this.queues.unreliable;
    const seen = new Uint8Array(count);
    let got = 0, dups = 0, corrupt = 0, tFirst = 0, tLast = 0;
    const bad = (m) => {
      if (corrupt++ === 0) {
        const t = `${typeof m === 'string' ? 'text' : 'binary'} ${m.length} bytes, starts ${Buffer.from(m).subarray(0, 16).toString('hex')}`;
        this.details.first_corrupted = t;
        this.log('unreliable: corrupted message: ' + t);
      }
    };
    const take = (m) => {
      if (m === undefined) return;
      if (typeof m === 'string' || m.length !== UNREL_SIZE) { bad(m); return; }
      const seq = m.readUInt32BE(0);
      if (seq >= count || Buffer.compare(m, unrelMessage(seq)) !== 0) bad(m);
      else if (seen[seq]) dups++;
      else { seen[seq] = 1; got++; tLast = Date.now(); tFirst = tFirst || tLast; }
    };
    while (!this.peerBye) take(await q.get(200));
    const end = Date.now() + 500; // datagrams still in flight after the bye
    while (Date.now() < end) take(await q.get(100));
    const sent = this.peerBye.result?.details?.sent ?? count;
    Object.assign(this.details, { received: got, lost: sent - got, duplicated: dups, corrupted: corrupt,
      msgs_s: got > 1 ? Math.round(got / Math.max((tLast - tFirst) / 1000, 1e-3)) : 0 });
    if (dups || corrupt) throw new Failure(`unreliable: ${dups} duplicated, ${corrupt} corrupted`);
    if (got === 0) throw new Failure('unreliable: nothing arrived');
  }

  async sc_negotiated() {
    await this.channel('reliable');
    const mine = 'inband-' + this.a.role;
    const other = 'inband-' + (this.a.role === 'offer' ? 'answer' : 'offer');
    this.track(this.pc.createDataChannel(mine));
    const labels = ['reliable', 'ordered', 'unreliable', mine, other];
    const got = {};
    const hello = async (label) => {
      const ch = await this.channel(label);
      const q = this.queues[label];
      (async () => {
        for (;;) {
          const m = await q.get();
          got[label] = true;
          if (typeof m === 'string' && m.startsWith('hello ')) {
            try { ch.send(`ack ${label} ${this.a.role}`); } catch (e) { /* closing */ }
          }
        }
      })();
      while (!got[label]) {
        ch.send(`hello ${label} ${this.a.role}`);
        await sleep(100);
      }
    };
    await withTimeout(Promise.all(labels.map(hello)), 20000,
      () => 'negotiated hellos (nothing on ' + labels.filter((l) => !got[l]).join(',') + ')');
    const ids = {};
    for (const l of labels) ids[l] = this.channels[l].id;
    this.details.ids = ids;
    ['reliable', 'ordered', 'unreliable'].forEach((l, i) => {
      if (ids[l] !== i + 1 || !this.channels[l].negotiated) {
        throw new Failure(`negotiated channel ${l} has id ${ids[l]}`);
      }
    });
    if ([1, 2, 3].includes(ids[mine]) || [1, 2, 3].includes(ids[other]) || ids[mine] === ids[other]) {
      throw new Failure('in-band ids collide: ' + JSON.stringify(ids));
    }
  }

  async sc_maxsize() {
    const ch = await this.channel('maxsize');
    if (this.driver) {
      const mms = sdpMaxMessageSize(this.remoteSdp);
      const n = mms ?? 262144;
      ch.send(maxsizeMessage(n));
      this.details.sent = n;
      if (mms && this.impl.refusesTooLarge) {
        try {
          ch.send(maxsizeMessage(n + 1));
          throw new Failure(`sending ${n + 1} bytes (remote max-message-size + 1) was not refused`);
        } catch (e) {
          if (e instanceof Failure) throw e;
          this.details.too_large_refused = true;
        }
      } else {
        this.details.too_large_refused = 'not-tested-with-' + this.impl.name;
      }
      await this.drain(ch, 0);
      return;
    }
    const want = sdpMaxMessageSize(this.pc.localDescription.sdp) ?? 262144;
    const m = await withTimeout(this.queues.maxsize.get(), 30000, 'maxsize message');
    this.details.received = m.length;
    if (typeof m === 'string' || !same(m, maxsizeMessage(want))) {
      throw new Failure(`maxsize: got ${m.length} bytes, want ${want} (our max-message-size)`);
    }
    const extra = await this.queues.maxsize.get(500);
    if (extra !== undefined) throw new Failure(`maxsize: a second message of ${extra.length} bytes arrived`);
  }

  async sc_close() {
    const a = await this.channel('close-a');
    const b = await this.channel('close-b');
    const c = await this.channel('close-c');
    // The validator says "ready" on close-c when it sees all three open: a stream reset
    // racing the DCEP OPEN leaves some stacks' channel in "connecting" forever.
    if (!this.driver) c.send('ready');
    else {
      const m = await withTimeout(this.queues['close-c'].get(), 20000, "close-c 'ready'");
      if (m !== 'ready') throw new Failure("close: expected 'ready' on close-c");
    }
    if (this.driver) {
      a.close();
      await this.waitState(a, ['closed']);
      await this.waitState(b, ['closed']);
      this.details.closed = ['close-a', 'close-b'];
      return;
    }
    await this.waitState(a, ['closed']);
    b.close();
    await this.waitState(b, ['closed']);
    const end = Date.now() + 15000;
    while (c.readyState !== 'closed' && !['closed', 'failed', 'disconnected'].includes(this.pc.connectionState)) {
      if (Date.now() > end) {
        throw new Failure(`peer close not noticed in 15 s (close-c ${c.readyState}, connection ${this.pc.connectionState})`);
      }
      await sleep(50);
    }
    this.details.peer_close_noticed = `close-c ${c.readyState}, connection ${this.pc.connectionState}`;
  }

  // restart: ten echoes, an ICE restart offer from the driver (either side), ten more
  // echoes over the new ICE session (interop/README.md).
  async sc_restart() {
    const ch = await this.channel('restart');
    const q = this.queues.restart;
    const ufrag = (sdp) => (/a=ice-ufrag:(\S+)/.exec(sdp || '') || [])[1];
    const before = ufrag(this.remoteSdp);
    const N = 10;
    if (!this.driver) {
      for (let n = 0; n < 2 * N; n++) ch.send(await q.get());
      if (ufrag(this.remoteSdp) === before) throw new Failure("restart: all echoed, but the peer's ice-ufrag did not change");
      Object.assign(this.details, { echoed: 2 * N, restarted: 'yes' });
      return;
    }
    const expect = async (word) => {
      for (let i = 0; i < N; i++) ch.send(`${word} ${i}`);
      for (let i = 0; i < N; i++) {
        const m = await withTimeout(q.get(), 20000, `restart echo '${word} ${i}'`);
        if (m !== `${word} ${i}`) throw new Failure(`restart: echo is '${m}', want '${word} ${i}'`);
      }
    };
    await expect('before');
    await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart: true }));
    await this.sendDescription();
    const end = Date.now() + 20000;
    while (!(this.pc.signalingState === 'stable' && ufrag(this.remoteSdp) !== before)) {
      if (Date.now() > end) throw new Failure('restart: no answer with new ICE credentials in 20 s');
      await sleep(10);
    }
    await expect('after');
    Object.assign(this.details, { verified: 2 * N, restarted: 'yes' });
  }

  crossCheck(peer) {
    const pd = peer.result?.details || {};
    if (this.a.scenario === 'bulk' && (pd.sha256 !== this.details.sha256 || pd.bytes !== this.details.bytes)) {
      return `bulk: sha256/bytes differ: ours ${this.details.sha256}/${this.details.bytes}, peer ${pd.sha256}/${pd.bytes}`;
    }
    return null;
  }

  async run() {
    this.signaling();
    if (this.a.scenario === 'negotiated') this.createNegotiated();
    if (this.a.role === 'offer') {
      this.createChannels();
      await this.pc.setLocalDescription(await this.pc.createOffer());
      await this.sendDescription();
    }
    let ok = true, err = null;
    try {
      await withTimeout(this['sc_' + this.a.scenario](), this.a.timeout * 1000, 'scenario');
    } catch (e) {
      ok = false;
      err = e instanceof Failure ? e.message : String(e.stack || e);
    }
    const mine = { peer: this.impl.name, version: this.impl.version, role: this.a.role,
      scenario: this.a.scenario, driver: this.driver, ok, error: err,
      elapsed_ms: Date.now() - this.t0, details: this.details };
    this.sendSig({ type: 'bye', ok, result: mine });
    this.log('own part done: ' + JSON.stringify(mine));
    if (this.a.scenario === 'close' && this.driver) this.pc.close();
    try {
      const peer = await this.waitPeerBye(20000);
      if (ok) { err = this.crossCheck(peer); ok = err === null; }
      if (!peer.ok) { ok = false; err = err || 'peer failed: ' + peer.result?.error; }
      mine.peer_result = peer.result;
    } catch (e) {
      ok = false;
      err = err || 'no bye from the peer (' + e.message + ')';
    }
    Object.assign(mine, { ok, error: err });
    const line = JSON.stringify(mine) + '\n';
    if (this.a.result) require('fs').writeFileSync(this.a.result, line);
    else process.stderr.write(line);
    try { this.pc.close(); } catch (e) { /* already closed */ }
    return ok ? 0 : 1;
  }
}

let args;
try {
  args = parseNodeArgs(process.argv);
} catch (e) {
  process.stderr.write(e.message + '\n');
  process.exit(2);
}
new Peer(args).run().then((code) => {
  process.stdout.write('', () => process.exit(code));
}, (e) => {
  process.stderr.write('fatal: ' + (e.stack || e) + '\n');
  process.exit(1);
});
