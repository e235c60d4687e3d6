// The command line of every interop peer program (interop/README.md), parsed one way for
// the node launchers: node_peer.js, chromium_peer.js and firefox_peer.js. Each program
// passes the options it adds (`own`: e.g. --impl for node_peer.js, --mdns for browsers)
// and its defaults; an option it does not take is an error, as before.
'use strict';

const SCENARIOS = ['echo', 'bulk', 'unreliable', 'negotiated', 'maxsize', 'close', 'restart'];
const BULK_CHUNK = 65535;

// Options that take a value, and how to store it.
const VALUED = {
  '--role': (a, v) => { a.role = v; },
  '--scenario': (a, v) => { a.scenario = v; },
  '--driver': (a, v) => { a.driver = v; },
  '--trickle': (a, v) => { a.trickle = Number(v); },
  '--result': (a, v) => { a.result = v; },
  '--timeout': (a, v) => { a.timeout = Number(v); },
  '--bytes': (a, v) => { a.bytes = Number(v); },
  '--count': (a, v) => { a.count = Number(v); },
  '--echo-max': (a, v) => { a.echoMax = Number(v); },
  '--echo-min': (a, v) => { a.echoMin = Number(v); },
  '--bind': () => {}, // always 127.0.0.1
  // interop/run_extra.py (TURN runs): W3C iceServers and iceTransportPolicy 'relay'.
  '--ice-server': (a, v) => { a.iceServers.push(v); },
  '--turn-user': (a, v) => { a.turnUser = v; },
  '--turn-pass': (a, v) => { a.turnPass = v; },
  // node_peer.js only
  '--impl': (a, v) => { a.impl = v; },
  '--msg-size': (a, v) => { a.msgSize = Math.max(1, Math.min(BULK_CHUNK, Number(v))); }, // bench
};
const FLAGS = {
  '--loopback': () => {},
  '--verbose': (a) => { a.verbose = true; },
  '--relay-only': (a) => { a.relayOnly = true; },
  '--echo-ready': (a) => { a.echoReady = true; }, // node_peer.js only (run.py QUIRKS)
  '--mdns': (a) => { a.mdns = true; }, // browsers only: keep their .local host names
};
const COMMON = ['--role', '--scenario', '--driver', '--trickle', '--result', '--timeout', '--bytes',
  '--count', '--echo-max', '--echo-min', '--bind', '--ice-server', '--turn-user', '--turn-pass',
  '--loopback', '--verbose', '--relay-only'];

function parseArgs(argv, prog, own, defaults) {
  const allowed = new Set(COMMON.concat(own));
  const a = Object.assign({ driver: 'offer', trickle: 1, timeout: 60, bytes: 64 << 20, count: 20000,
    echoMax: 65536, echoMin: 0, echoReady: false, verbose: false, result: null, msgSize: BULK_CHUNK,
    mdns: false, iceServers: [], turnUser: null, turnPass: null, relayOnly: false }, defaults);
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    if (!allowed.has(k)) throw new Error('unknown option ' + k);
    if (VALUED[k]) VALUED[k](a, argv[++i]);
    else FLAGS[k](a);
  }
  if (!['offer', 'answer'].includes(a.role) || !SCENARIOS.includes(a.scenario) ||
      !['offer', 'answer'].includes(a.driver)) {
    throw new Error(`usage: ${prog} --role offer|answer --scenario ${SCENARIOS.join('|')} ` +
      '[--driver offer|answer] [--trickle 0|1] [--result FILE] [...] (interop/README.md)');
  }
  return a;
}

module.exports = { parseArgs, SCENARIOS, BULK_CHUNK };
