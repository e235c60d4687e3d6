// Shared by chromium_peer.js and firefox_peer.js: give a browser an address to offer
// inside the private network namespace that run.py creates (SLUICE_INTEROP_NETNS=1,
// only `lo` in it).
//
// Neither browser offers 127.0.0.1 there. Chromium never gathers a loopback address; it
// offers the address of the interface that holds the route to 8.8.8.8. Firefox, without a
// camera/microphone grant, gathers only the "default address" (the source address of a
// connect() towards a public address: none without a default route), and loopback only
// with media.peerconnection.ice.loopback. This adds a dead-end veth pair with
// 198.18.0.1/15 (RFC 2544 benchmarking range) and a default route over it; the browser
// then offers 198.18.0.1, and packets between it and 127.0.0.1 peers stay on lo (the
// partners see Chromium as peer-reflexive from 127.0.0.1, its socket being bound to
// 0.0.0.0; Firefox binds 198.18.0.1 and is reached there). The host's DNS servers get
// `unreachable` routes: over the dead-end route a lookup would hang for its full timeout
// (Firefox waits 5 s at shutdown for one of firefox.settings.services.mozilla.com),
// now it fails at once. Nothing is changed outside such a namespace.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');

function ip(args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

// IPv4 DNS servers of /etc/resolv.conf that the default route would take (not loopback).
function nameservers() {
  let text = '';
  try { text = fs.readFileSync('/etc/resolv.conf', 'utf8'); } catch (e) { return []; }
  const out = new Set();
  for (const m of text.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)) {
    if (!m[1].startsWith('127.')) out.add(m[1]);
  }
  return [...out];
}

function setupNamespace(log, browser) {
  if (process.env.SLUICE_INTEROP_NETNS !== '1') {
    log('not in the harness network namespace (SLUICE_INTEROP_NETNS unset): no veth; ' +
        browser + ' will use the host interfaces');
    return;
  }
  const links = ip(['-o', 'link', 'show']);
  if (links.includes('peers0')) return; // the other peer of the pair made it already
  const others = links.split('\n').filter((l) => l && !/^\d+: lo[:@]/.test(l));
  if (others.length) {
    log('namespace has interfaces besides lo; refusing to add a veth');
    return;
  }
  try {
    ip(['link', 'add', 'peers0', 'type', 'veth', 'peer', 'name', 'peers1']);
    ip(['addr', 'add', '198.18.0.1/15', 'dev', 'peers0']);
    ip(['link', 'set', 'peers0', 'up']);
    ip(['link', 'set', 'peers1', 'up']);
    ip(['route', 'add', 'default', 'dev', 'peers0']);
    // mDNS (224.0.0.251) leaves over peers0 like the default route; IP_MULTICAST_LOOP then
    // hands our partner's query to the browser's responder, which joined the group there.
    ip(['route', 'add', '224.0.0.0/4', 'dev', 'peers0']);
    for (const ns of nameservers()) ip(['route', 'add', 'unreachable', ns + '/32']);
  } catch (e) {
    if (!ip(['-o', 'link', 'show']).includes('peers0')) throw e; // lost a race: fine
  }
}

module.exports = { setupNamespace };
