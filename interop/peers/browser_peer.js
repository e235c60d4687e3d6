// Browser side of the Chromium and Firefox peers (loaded into the page by
// chromium_peer.js / firefox_peer.js): the interop scenarios on the browser's own
// RTCPeerConnection. The launcher passes its name in a.browser (default 'chromium').
// Same spec as node_peer.js (interop/README.md). The page talks to Node through three
// exposed functions: sendSig(obj) -> stdout line, logLine(text) -> stderr,
// finish(code, result).
'use strict';
(() => {
  const ECHO_COUNT = 200;
  const ECHO_SIZES = [0, 1, 2, 3, 7, 15, 16, 100, 255, 256, 1000, 1023, 1024, 1199, 1200,
    1500, 2048, 4096, 8191, 16384, 16385, 32768, 65000, 65535, 65536];
  const ECHO_WINDOW = 16;
  const UNREL_SIZE = 100;
  const BULK_CHUNK = 65535;

  class Failure extends Error {}
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  function withTimeout(p, ms, what) {
    let t;
    return Promise.race([p, new Promise((_, rej) => {
      t = setTimeout(() => rej(new Failure((typeof what === 'function' ? what() : what) + ' timed out after ' + ms / 1000 + 's')), ms);
    })]).finally(() => clearTimeout(t));
  }

  // Incremental SHA-256 (FIPS 180-4): crypto.subtle has no streaming digest.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  class Sha256 {
    constructor() {
      this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
        0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.buf = new Uint8Array(64); this.n = 0; this.len = 0; this.w = new Uint32Array(64);
    }
    block(b, o) {
      const w = this.w, h = this.h;
      for (let i = 0; i < 16; i++) w[i] = (b[o + 4 * i] << 24) | (b[o + 4 * i + 1] << 16) | (b[o + 4 * i + 2] << 8) | b[o + 4 * i + 3];
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15], y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    update(d) {
      let i = 0;
      this.len += d.length;
      if (this.n) {
        while (this.n < 64 && i < d.length) this.buf[this.n++] = d[i++];
        if (this.n < 64) return this;
        this.block(this.buf, 0); this.n = 0;
      }
      for (; i + 64 <= d.length; i += 64) this.block(d, i);
      while (i < d.length) this.buf[this.n++] = d[i++];
      return this;
    }
    hex() {
      const bits = this.len * 8;
      const pad = new Uint8Array(((this.n < 56) ? 56 : 120) - this.n + 8);
      pad[0] = 0x80;
      const dv = new DataView(pad.buffer);
      dv.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
      dv.setUint32(pad.length - 4, bits >>> 0);
      this.update(pad);
      return Array.from(this.h, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
    }
  }

  function echoMessage(i, cap, floor = 0) {
    const n = Math.min(Math.max(ECHO_SIZES[i % ECHO_SIZES.length], floor), cap);
    if (i % 2 === 0) {
      let s = '';
      for (let j = 0; j < n; j++) s += String.fromCharCode(0x21 + ((i * 7 + j) % 94));
      return s;
    }
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) b[j] = (i * 31 + j * 7) & 0xff;
    return b;
  }
  function unrelMessage(seq) {
    const b = new Uint8Array(UNREL_SIZE);
    new DataView(b.buffer).setUint32(0, seq);
    for (let j = 0; j < UNREL_SIZE - 4; j++) b[4 + j] = (seq * 7 + j * 13 + 5) & 0xff;
    return b;
  }
  function maxsizeMessage(n) {
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) b[j] = (j * 7 + 3) & 0xff;
    return b;
  }
  function sdpMaxMessageSize(sdp) {
    const m = /^a=max-message-size:(\d+)/m.exec(sdp || '');
    if (!m) return 65536;
    const v = Number(m[1]);
    return v === 0 ? null : v;
  }
  function same(a, b) {
    if (typeof a !== typeof b) return false;
    if (typeof a === 'string') return a === b;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
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
      this.name = a.browser || 'chromium';
      this.t0 = Date.now();
      const ice = (a.iceServers || []).map((u) => (a.turnUser ? { urls: u, username: a.turnUser, credential: a.turnPass } : { urls: u }));
      this.pc = new RTCPeerConnection({ iceServers: ice, iceTransportPolicy: a.relayOnly ? 'relay' : 'all' });
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
      this.pc.onicecandidate = (e) => {
        if (!this.a.trickle) return;
        const c = e.candidate;
        if (!c || !c.candidate) {
          if (!this.sentEnd) window.sendSig({ type: 'candidate', mid: '0', index: 0, candidate: '' });
          this.sentEnd = true;
          return;
        }
        window.sendSig({ type: 'candidate', mid: c.sdpMid ?? '0', index: c.sdpMLineIndex ?? 0, candidate: c.candidate });
      };
    }
    log(t) { window.logLine(`${((Date.now() - this.t0) / 1000).toFixed(3).padStart(8)} ${this.name}[${this.a.role}] ${t}`); }
    track(ch) {
      const q = new Queue();
      this.channels[ch.label] = ch;
      this.queues[ch.label] = q;
      ch.binaryType = 'arraybuffer';
      ch.onmessage = (e) => q.push(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
      for (const w of this.waiters[ch.label] || []) w(ch);
      delete this.waiters[ch.label];
      return ch;
    }
    async channel(label, ms = 20000, states = ['open']) {
      if (!this.channels[label]) {
        await withTimeout(new Promise((r) => (this.waiters[label] ||= []).push(r)), ms, `channel '${label}'`);
      }
      const ch = this.channels[label];
      await this.waitState(ch, states, ms);
      return ch;
    }
    async waitState(ch, states, ms = 20000) {
      const end = Date.now() + ms;
      while (!states.includes(ch.readyState)) {
        if (Date.now() > end) throw new Failure(`channel '${ch.label}' not ${states} after ${ms / 1000}s (state ${ch.readyState})`);
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
      if (!this.a.trickle) {
        const end = Date.now() + 10000;
        while (this.pc.iceGatheringState !== 'complete' && Date.now() < end) await sleep(10);
      }
      const d = this.pc.localDescription;
      window.sendSig({ type: d.type, sdp: d.sdp });
    }
    async addCandidate(m) {
      let line = m.candidate || '';
      if (line.startsWith('a=')) line = line.slice(2);
      try {
        if (line === 'end-of-candidates') line = '';
        await this.pc.addIceCandidate({ candidate: line, sdpMid: m.mid ?? '0', sdpMLineIndex: m.index ?? 0 });
      } catch (e) {
        this.log(`addIceCandidate(${line || '(end)'}): ${e.message}`);
      }
    }
    async onSignal(m) {
      if (m.type === 'offer' || m.type === 'answer') {
        this.remoteSdp = m.sdp;
        await this.pc.setRemoteDescription({ type: m.type, sdp: m.sdp });
        this.remoteSet = true;
        for (const c of this.pendingCands.splice(0)) await this.addCandidate(c);
        if (m.type === 'offer') {
          await this.pc.setLocalDescription(await this.pc.createAnswer());
          await this.sendDescription();
        }
      } else if (m.type === 'candidate') {
        if (this.remoteSet) await this.addCandidate(m); else this.pendingCands.push(m);
      } else if (m.type === 'bye') {
        this.log('peer bye: ' + JSON.stringify(m));
        if (!this.peerBye) {
          this.peerBye = m;
          for (const w of this.peerByeWaiters.splice(0)) w(m);
        }
      }
    }
    createChannels() {
      const pc = this.pc;
      switch (this.a.scenario) {
        case 'echo': this.track(pc.createDataChannel('echo')); break;
        case 'bulk': this.track(pc.createDataChannel('bulk')); break;
        case 'unreliable': this.track(pc.createDataChannel('unreliable', { ordered: false, maxRetransmits: 0 })); break;
        case 'maxsize': this.track(pc.createDataChannel('maxsize')); break;
        case 'close': for (const l of ['close-a', 'close-b', 'close-c']) this.track(pc.createDataChannel(l)); break;
        case 'restart': this.track(pc.createDataChannel('restart')); break;
        default: break;
      }
    }
    createNegotiated() {
      const pc = this.pc;
      this.track(pc.createDataChannel('reliable', { negotiated: true, id: 1 }));
      this.track(pc.createDataChannel('ordered', { negotiated: true, id: 2, maxPacketLifeTime: 1 }));
      this.track(pc.createDataChannel('unreliable', { negotiated: true, id: 3, ordered: false, maxPacketLifeTime: 1 }));
    }
    async sc_echo() {
      const ch = await this.channel('echo');
      const q = this.queues.echo;
      if (!this.driver) {
        let n = 0;
        while (n < ECHO_COUNT) {
          const m = await q.get();
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
          throw new Failure(`echo ${recv}: got ${typeof m === 'string' ? 'text' : 'binary'} ${m.length} bytes, want ${typeof want === 'string' ? 'text' : 'binary'} ${want.length} bytes`);
        }
        recv++;
      }
      this.details.verified = recv;
    }
    async sc_bulk() {
      const ch = await this.channel('bulk');
      const total = this.a.bytes;
      const h = new Sha256();
      if (this.driver) {
        // Any data will do (both sides hash what they saw); a repeating LCG stream.
        const base = new Uint8Array((1 << 20) + BULK_CHUNK);
        let x = 1;
        for (let i = 0; i < base.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; base[i] = x >>> 24; }
        let sent = 0, k = 0;
        const t = Date.now();
        while (sent < total) {
          const off = (k * 7919) % (1 << 20);
          const chunk = base.subarray(off, off + Math.min(BULK_CHUNK, total - sent));
          await this.drain(ch, 4 << 20);
          ch.send(chunk);
          h.update(chunk);
          sent += chunk.length;
          k++;
        }
        await this.drain(ch, 0);
        Object.assign(this.details, { bytes: sent, sha256: h.hex(), send_s: (Date.now() - t) / 1000 });
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
      Object.assign(this.details, { bytes: got, sha256: h.hex(), mbit_s: Math.round(got * 8 / dt / 1e5) / 10 });
    }
    async sc_unreliable() {
      const ch = await this.channel('unreliable');
      const count = this.a.count;
      if (this.driver) {
        for (let seq = 0; seq < count; seq++) {
          await this.drain(ch, 64 * 1024);
          ch.send(unrelMessage(seq));
        }
        await this.drain(ch, 0);
        this.details.sent = count;
        return;
      }
      const q = this.queues.unreliable;
      const seen = new Uint8Array(count);
      let got = 0, dups = 0, corrupt = 0;
      const bad = (m) => {
        if (corrupt++ === 0) {
          const head = typeof m === 'string' ? m.slice(0, 16) : Array.from(m.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
          this.details.first_corrupted = `${typeof m === 'string' ? 'text' : 'binary'} ${m.length} bytes, starts ${head}`;
          this.log('unreliable: corrupted message: ' + this.details.first_corrupted);
        }
      };
      const take = (m) => {
        if (m === undefined) return;
        if (typeof m === 'string' || m.length !== UNREL_SIZE) { bad(m); return; }
        const seq = new DataView(m.buffer, m.byteOffset).getUint32(0);
        if (seq >= count || !same(m, unrelMessage(seq))) bad(m);
        else if (seen[seq]) dups++;
        else { seen[seq] = 1; got++; }
      };
      while (!this.peerBye) take(await q.get(200));
      const end = Date.now() + 500;
      while (Date.now() < end) take(await q.get(100));
      const sent = this.peerBye.result?.details?.sent ?? count;
      Object.assign(this.details, { received: got, lost: sent - got, duplicated: dups, corrupted: corrupt });
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
        if (ids[l] !== i + 1 || !this.channels[l].negotiated) throw new Failure(`negotiated channel ${l} has id ${ids[l]}`);
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
        if (mms) {
          try {
            ch.send(maxsizeMessage(n + 1));
            throw new Failure(`sending ${n + 1} bytes (remote max-message-size + 1) was not refused`);
          } catch (e) {
            if (e instanceof Failure) throw e;
            this.details.too_large_refused = true; // W3C: TypeError
          }
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
        if (Date.now() > end) throw new Failure(`peer close not noticed in 15 s (close-c ${c.readyState}, connection ${this.pc.connectionState})`);
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
      const ua = navigator.userAgent;
      // Firefox's user agent says only "Firefox/153.0": its launcher passes the full one.
      const version = this.a.version || (/(?:Firefox|Chrome)\/(\S+)/.exec(ua) || [null, ua])[1];
      const mine = { peer: this.name, version,
        role: this.a.role, scenario: this.a.scenario, driver: this.driver, ok, error: err,
        elapsed_ms: Date.now() - this.t0, details: this.details };
      window.sendSig({ type: 'bye', ok, result: mine });
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
      try { this.pc.close(); } catch (e) { /* closed */ }
      window.finish(ok ? 0 : 1, mine);
    }
  }

  let peer = null;
  let chain = Promise.resolve();
  window.startPeer = (a) => {
    peer = new Peer(a);
    peer.run().catch((e) => window.finish(1, { peer: a.browser || 'chromium', ok: false, error: 'fatal: ' + (e.stack || e) }));
  };
  window.onSignal = (m) => {
    chain = chain.then(() => peer.onSignal(m)).catch((e) => peer.log('signaling error: ' + (e.stack || e)));
  };
})();
