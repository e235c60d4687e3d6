// pion peer for the sluice interop harness: pion/webrtc 3.1.56 from Debian
// (golang-github-pion-webrtc.v3-dev), built offline by build.sh. Same command line and
// scenarios as tools/sluice_cli.c; see interop/README.md.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
)

const (
	echoCount  = 200
	echoWindow = 16
	unrelSize  = 100
	bulkChunk  = 65535
)

var echoSizes = []int{0, 1, 2, 3, 7, 15, 16, 100, 255, 256, 1000, 1023, 1024, 1199, 1200,
	1500, 2048, 4096, 8191, 16384, 16385, 32768, 65000, 65535, 65536}

type args struct {
	role, scenario, driver, result string
	trickle                        int
	timeout                        float64
	bytes                          int64
	count, echoMax, echoMin        int
	msgSize                        int64
	verbose                        bool
}

type msg struct {
	text bool
	data []byte
}

type failure struct{ s string }

func (f failure) Error() string { return f.s }

func failf(format string, a ...interface{}) error { return failure{fmt.Sprintf(format, a...)} }

type peer struct {
	a        args
	t0       time.Time
	pc       *webrtc.PeerConnection
	driver   bool
	out      sync.Mutex
	mu       sync.Mutex
	chans    map[string]*webrtc.DataChannel
	queues   map[string]chan msg
	arrived  chan string
	details  map[string]interface{}
	bye      chan map[string]interface{}
	peerBye  map[string]interface{}
	remote   string
	remoteOK bool
	pending  []map[string]interface{}
	sentEnd  bool
	// bench: the offer's arrival (answerer) and ms from it (offerer: from t0) to the first
	// open channel, for bench/run_peers.py; both under mu (OnOpen runs elsewhere)
	tOffer    time.Time
	connectMs int64
}

func (p *peer) markOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.connectMs >= 0 {
		return
	}
	from := p.t0
	if !p.tOffer.IsZero() {
		from = p.tOffer
	}
	p.connectMs = time.Since(from).Milliseconds()
}

func (p *peer) log(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "%8.3f pion[%s] %s\n", time.Since(p.t0).Seconds(), p.a.role, fmt.Sprintf(format, a...))
}

func (p *peer) sendSig(v interface{}) {
	b, _ := json.Marshal(v)
	p.out.Lock()
	os.Stdout.Write(append(b, '\n'))
	p.out.Unlock()
}

func (p *peer) track(dc *webrtc.DataChannel) {
	dc.OnOpen(p.markOpen)
	if dc.ReadyState() == webrtc.DataChannelStateOpen {
		p.markOpen()
	}
	q := make(chan msg, 65536)
	p.mu.Lock()
	p.chans[dc.Label()] = dc
	p.queues[dc.Label()] = q
	p.mu.Unlock()
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		d := make([]byte, len(m.Data))
		copy(d, m.Data)
		select {
		case q <- msg{m.IsString, d}:
		default: // bounded: a full queue drops (counted as loss by the validator)
		}
	})
	select {
	case p.arrived <- dc.Label():
	default:
	}
}

func (p *peer) get(label string) (*webrtc.DataChannel, chan msg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chans[label], p.queues[label]
}

// channel waits until `label` exists and its state is one of `states`.
func (p *peer) channel(label string, states ...webrtc.DataChannelState) (*webrtc.DataChannel, chan msg, error) {
	if len(states) == 0 {
		states = []webrtc.DataChannelState{webrtc.DataChannelStateOpen}
	}
	end := time.Now().Add(20 * time.Second)
	for {
		dc, q := p.get(label)
		if dc != nil {
			for _, s := range states {
				if dc.ReadyState() == s {
					return dc, q, nil
				}
			}
		}
		if time.Now().After(end) {
			st := "absent"
			if dc != nil {
				st = dc.ReadyState().String()
			}
			return nil, nil, failf("channel '%s' not %v after 20s (%s)", label, states, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *peer) drain(dc *webrtc.DataChannel, below uint64) {
	for dc.BufferedAmount() > below && dc.ReadyState() == webrtc.DataChannelStateOpen {
		time.Sleep(time.Millisecond)
	}
}

func recvTimeout(q chan msg, d time.Duration) (msg, bool) {
	select {
	case m := <-q:
		return m, true
	case <-time.After(d):
		return msg{}, false
	}
}

func echoMessage(i, cap, floor int) msg {
	n := echoSizes[i%len(echoSizes)]
	if n < floor {
		n = floor
	}
	if n > cap {
		n = cap
	}
	b := make([]byte, n)
	if i%2 == 0 {
		for j := range b {
			b[j] = byte(0x21 + (i*7+j)%94)
		}
		return msg{true, b}
	}
	for j := range b {
		b[j] = byte((i*31 + j*7) & 0xff)
	}
	return msg{false, b}
}

func unrelMessage(seq uint32) []byte {
	b := make([]byte, unrelSize)
	binary.BigEndian.PutUint32(b, seq)
	for j := 0; j < unrelSize-4; j++ {
		b[4+j] = byte((int(seq)*7 + j*13 + 5) & 0xff)
	}
	return b
}

func maxsizeMessage(n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte((j*7 + 3) & 0xff)
	}
	return b
}

var mmsRe = regexp.MustCompile(`(?m)^a=max-message-size:(\d+)`)

// RFC 8841 §6: absent means 65536; 0 means no limit (returned as 0).
func sdpMaxMessageSize(sdp string) int {
	m := mmsRe.FindStringSubmatch(sdp)
	if m == nil {
		return 65536
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

func send(dc *webrtc.DataChannel, m msg) error {
	if m.text {
		return dc.SendText(string(m.data))
	}
	return dc.Send(m.data)
}

// --- signaling ------------------------------------------------------------------------

func (p *peer) sendDescription() {
	d := p.pc.LocalDescription()
	if p.a.trickle == 0 {
		<-webrtc.GatheringCompletePromise(p.pc)
		d = p.pc.LocalDescription()
	}
	p.sendSig(map[string]interface{}{"type": d.Type.String(), "sdp": d.SDP})
}

func (p *peer) addCandidate(m map[string]interface{}) {
	line, _ := m["candidate"].(string)
	line = strings.TrimPrefix(line, "a=")
	if line == "" || line == "end-of-candidates" {
		return // pion needs no end-of-candidates
	}
	mid, _ := m["mid"].(string)
	idx := uint16(0)
	if f, ok := m["index"].(float64); ok {
		idx = uint16(f)
	}
	if err := p.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: line, SDPMid: &mid, SDPMLineIndex: &idx}); err != nil {
		p.log("AddICECandidate(%s): %v", line, err)
	}
}

func (p *peer) onSignal(m map[string]interface{}) {
	t, _ := m["type"].(string)
	switch t {
	case "offer", "answer":
		sdp, _ := m["sdp"].(string)
		p.mu.Lock()
		p.remote = sdp
		p.mu.Unlock()
		typ := webrtc.SDPTypeOffer
		if t == "answer" {
			typ = webrtc.SDPTypeAnswer
		} else {
			p.mu.Lock()
			p.tOffer = time.Now()
			p.mu.Unlock()
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: sdp}); err != nil {
			p.log("SetRemoteDescription: %v", err)
			return
		}
		p.remoteOK = true
		for _, c := range p.pending {
			p.addCandidate(c)
		}
		p.pending = nil
		if t == "offer" {
			ans, err := p.pc.CreateAnswer(nil)
			if err == nil {
				err = p.pc.SetLocalDescription(ans)
			}
			if err != nil {
				p.log("answer: %v", err)
				return
			}
			go p.sendDescription()
		}
	case "candidate":
		if p.remoteOK {
			p.addCandidate(m)
		} else {
			p.pending = append(p.pending, m)
		}
	case "bye":
		b, _ := json.Marshal(m)
		p.log("peer bye: %s", b)
		select {
		case p.bye <- m:
		default:
		}
	default:
		p.log("ignoring signaling message %q", t)
	}
}

func (p *peer) signaling() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			p.log("bad signaling line: %.200s", line)
			continue
		}
		p.onSignal(m)
	}
	close(p.bye)
}

// waitBye returns the peer's bye (kept for later calls), or nil after `d` / stdin EOF.
func (p *peer) waitBye(d time.Duration) map[string]interface{} {
	if p.peerBye != nil {
		return p.peerBye
	}
	select {
	case m, ok := <-p.bye:
		if ok {
			p.peerBye = m
		}
	case <-time.After(d):
	}
	return p.peerBye
}

// --- scenarios ------------------------------------------------------------------------

func u16(v uint16) *uint16 { return &v }
func boolp(v bool) *bool    { return &v }

func (p *peer) create(label string, init *webrtc.DataChannelInit) {
	dc, err := p.pc.CreateDataChannel(label, init)
	if err != nil {
		p.log("CreateDataChannel(%s): %v", label, err)
		return
	}
	p.track(dc)
}

func (p *peer) createChannels() {
	switch p.a.scenario {
	case "echo", "bulk", "maxsize":
		p.create(p.a.scenario, nil)
	case "unreliable":
		p.create("unreliable", &webrtc.DataChannelInit{Ordered: boolp(false), MaxRetransmits: u16(0)})
	case "close":
		for _, l := range []string{"close-a", "close-b", "close-c"} {
			p.create(l, nil)
		}
	case "restart":
		p.create("restart", nil)
	}
}

func (p *peer) createNegotiated() {
	// Godot's WebRTCMultiplayerPeer channels: ids 1, 2, 3 negotiated out of band.
	p.create("reliable", &webrtc.DataChannelInit{Negotiated: boolp(true), ID: u16(1)})
	p.create("ordered", &webrtc.DataChannelInit{Negotiated: boolp(true), ID: u16(2), MaxPacketLifeTime: u16(1)})
	p.create("unreliable", &webrtc.DataChannelInit{Negotiated: boolp(true), ID: u16(3), Ordered: boolp(false), MaxPacketLifeTime: u16(1)})
}

func (p *peer) scEcho() error {
	dc, q, err := p.channel("echo")
	if err != nil {
		return err
	}
	if !p.driver {
		for n := 0; n < echoCount; n++ {
			m := <-q
			p.drain(dc, 1<<20)
			if err := send(dc, m); err != nil {
				return failf("echo send: %v", err)
			}
		}
		p.details["echoed"] = echoCount
		return nil
	}
	sent, recv := 0, 0
	for recv < echoCount {
		for sent < echoCount && sent-recv < echoWindow {
			if err := send(dc, echoMessage(sent, p.a.echoMax, p.a.echoMin)); err != nil {
				return failf("echo send %d: %v", sent, err)
			}
			sent++
		}
		m := <-q
		want := echoMessage(recv, p.a.echoMax, p.a.echoMin)
		if m.text != want.text || !bytes.Equal(m.data, want.data) {
			return failf("echo %d: got text=%v %d bytes, want text=%v %d bytes", recv, m.text, len(m.data), want.text, len(want.data))
		}
		recv++
	}
	p.details["verified"] = recv
	return nil
}

func (p *peer) scBulk() error {
	dc, q, err := p.channel("bulk")
	if err != nil {
		return err
	}
	total := p.a.bytes
	h := sha256.New()
	if p.driver {
		base := make([]byte, 0, (1<<20)+bulkChunk+64)
		for i := uint32(0); len(base) < (1<<20)+bulkChunk; i++ {
			var c [4]byte
			binary.BigEndian.PutUint32(c[:], i)
			s := sha256.Sum256(c[:])
			base = append(base, s[:]...)
		}
		var sent int64
		t := time.Now()
		for k := 0; sent < total; k++ {
			off := (k * 7919) % (1 << 20)
			n := p.a.msgSize
			if total-sent < n {
				n = total - sent
			}
			chunk := base[off : off+int(n)]
			p.drain(dc, 4<<20)
			if err := dc.Send(chunk); err != nil {
				return failf("bulk send: %v", err)
			}
			h.Write(chunk)
			sent += n
		}
		p.drain(dc, 0)
		p.details["bytes"] = sent
		p.details["sha256"] = hex.EncodeToString(h.Sum(nil))
		p.details["send_s"] = time.Since(t).Seconds()
		return nil
	}
	var got int64
	var t time.Time
	for got < total {
		m := <-q
		if got == 0 {
			t = time.Now()
		}
		if m.text {
			return failf("bulk: text message at offset %d", got)
		}
		h.Write(m.data)
		got += int64(len(m.data))
	}
	dt := time.Since(t).Seconds()
	if dt < 1e-6 {
		dt = 1e-6
	}
	p.details["bytes"] = got
	p.details["sha256"] = hex.EncodeToString(h.Sum(nil))
	p.details["mbit_s"] = float64(int(float64(got)*8/dt/1e5)) / 10
	return nil
}

func (p *peer) scUnreliable() error {
	dc, q, err := p.channel("unreliable")
	if err != nil {
		return err
	}
	count := p.a.count
	if p.driver {
		for seq := 0; seq < count; seq++ {
			p.drain(dc, 64*1024)
			if err := dc.Send(unrelMessage(uint32(seq))); err != nil {
				return failf("unreliable send: %v", err)
			}
		}
		p.drain(dc, 0)
		p.details["sent"] = count
		return nil
	}
	seen := make([]bool, count)
	got, dups, corrupt := 0, 0, 0
	var tFirst, tLast time.Time
	take := func(m msg) {
		bad := m.text || len(m.data) != unrelSize
		var seq uint32
		if !bad {
			seq = binary.BigEndian.Uint32(m.data)
			bad = int(seq) >= count || !bytes.Equal(m.data, unrelMessage(seq))
		}
		switch {
		case bad:
			if corrupt == 0 {
				n := len(m.data)
				if n > 16 {
					n = 16
				}
				p.details["first_corrupted"] = fmt.Sprintf("text=%v %d bytes, starts %x", m.text, len(m.data), m.data[:n])
			}
			corrupt++
		case seen[seq]:
			dups++
		default:
			seen[seq] = true
			got++
			tLast = time.Now()
			if tFirst.IsZero() {
				tFirst = tLast
			}
		}
	}
	for p.peerBye == nil {
		if m, ok := recvTimeout(q, 200*time.Millisecond); ok {
			take(m)
		}
		select {
		case b, ok := <-p.bye:
			if !ok {
				return failf("signaling closed before the driver's bye")
			}
			p.peerBye = b
		default:
		}
	}
	end := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(end) {
		if m, ok := recvTimeout(q, 100*time.Millisecond); ok {
			take(m)
		}
	}
	sent := count
	if r, ok := p.peerBye["result"].(map[string]interface{}); ok {
		if d, ok := r["details"].(map[string]interface{}); ok {
			if s, ok := d["sent"].(float64); ok {
				sent = int(s)
			}
		}
	}
	p.details["received"] = got
	p.details["lost"] = sent - got
	if got > 1 {
		p.details["msgs_s"] = int64(float64(got) / math.Max(tLast.Sub(tFirst).Seconds(), 1e-3))
	}
	p.details["duplicated"] = dups
	p.details["corrupted"] = corrupt
	if dups > 0 || corrupt > 0 {
		return failf("unreliable: %d duplicated, %d corrupted", dups, corrupt)
	}
	if got == 0 {
		return failf("unreliable: nothing arrived")
	}
	return nil
}

func (p *peer) scNegotiated() error {
	if _, _, err := p.channel("reliable"); err != nil {
		return err
	}
	mine := "inband-" + p.a.role
	other := "inband-offer"
	if p.a.role == "offer" {
		other = "inband-answer"
	}
	p.create(mine, nil)
	labels := []string{"reliable", "ordered", "unreliable", mine, other}
	var wg sync.WaitGroup
	errs := make(chan error, len(labels))
	for _, l := range labels {
		wg.Add(1)
		go func(label string) {
			defer wg.Done()
			dc, q, err := p.channel(label)
			if err != nil {
				errs <- err
				return
			}
			got := make(chan struct{})
			go func() {
				once := false
				for m := range q {
					if !once {
						close(got)
						once = true
					}
					if m.text && strings.HasPrefix(string(m.data), "hello ") {
						dc.SendText("ack " + label + " " + p.a.role)
					}
				}
			}()
			for {
				dc.SendText("hello " + label + " " + p.a.role)
				select {
				case <-got:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}(l)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	ids := map[string]interface{}{}
	for _, l := range labels {
		dc, _ := p.get(l)
		if dc.ID() != nil {
			ids[l] = *dc.ID()
		}
	}
	p.details["ids"] = ids
	for i, l := range []string{"reliable", "ordered", "unreliable"} {
		dc, _ := p.get(l)
		if dc.ID() == nil || int(*dc.ID()) != i+1 || !dc.Negotiated() {
			return failf("negotiated channel %s has id %v", l, ids[l])
		}
	}
	a, _ := ids[mine].(uint16)
	b, _ := ids[other].(uint16)
	if (a >= 1 && a <= 3) || (b >= 1 && b <= 3) || a == b {
		return failf("in-band ids collide: %v", ids)
	}
	return nil
}

func (p *peer) scMaxsize() error {
	dc, q, err := p.channel("maxsize")
	if err != nil {
		return err
	}
	if p.driver {
		mms := sdpMaxMessageSize(p.remoteSDP())
		n := mms
		if n == 0 {
			n = 262144
		}
		if err := dc.Send(maxsizeMessage(n)); err != nil {
			return failf("maxsize send %d: %v", n, err)
		}
		p.details["sent"] = n
		// pion 3.1.56 does not check the remote max-message-size at send time.
		p.details["too_large_refused"] = "not-enforced-by-pion"
		p.drain(dc, 0)
		return nil
	}
	want := sdpMaxMessageSize(p.pc.LocalDescription().SDP)
	if want == 0 {
		want = 262144
	}
	m, ok := recvTimeout(q, 30*time.Second)
	if !ok {
		return failf("maxsize: nothing arrived in 30 s")
	}
	p.details["received"] = len(m.data)
	if m.text || !bytes.Equal(m.data, maxsizeMessage(want)) {
		return failf("maxsize: got %d bytes, want %d (our max-message-size)", len(m.data), want)
	}
	if extra, ok := recvTimeout(q, 500*time.Millisecond); ok {
		return failf("maxsize: a second message of %d bytes arrived", len(extra.data))
	}
	return nil
}

func (p *peer) waitState(dc *webrtc.DataChannel, st webrtc.DataChannelState) error {
	end := time.Now().Add(20 * time.Second)
	for dc.ReadyState() != st {
		if time.Now().After(end) {
			return failf("channel '%s' not %s after 20s (state %s)", dc.Label(), st, dc.ReadyState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func (p *peer) scClose() error {
	a, _, err := p.channel("close-a")
	if err != nil {
		return err
	}
	b, _, err := p.channel("close-b")
	if err != nil {
		return err
	}
	c, cq, err := p.channel("close-c")
	if err != nil {
		return err
	}
	// The validator says "ready" on close-c when it sees all three open.
	if !p.driver {
		c.SendText("ready")
	} else {
		m, ok := recvTimeout(cq, 20*time.Second)
		if !ok || !m.text || string(m.data) != "ready" {
			return failf("close: expected 'ready' on close-c")
		}
		a.Close()
		if err := p.waitState(a, webrtc.DataChannelStateClosed); err != nil {
			return err
		}
		if err := p.waitState(b, webrtc.DataChannelStateClosed); err != nil {
			return err
		}
		p.details["closed"] = []string{"close-a", "close-b"}
		return nil
	}
	if err := p.waitState(a, webrtc.DataChannelStateClosed); err != nil {
		return err
	}
	b.Close()
	if err := p.waitState(b, webrtc.DataChannelStateClosed); err != nil {
		return err
	}
	end := time.Now().Add(15 * time.Second)
	for c.ReadyState() != webrtc.DataChannelStateClosed {
		s := p.pc.ConnectionState()
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected {
			break
		}
		if time.Now().After(end) {
			return failf("peer close not noticed in 15 s (close-c %s, connection %s)", c.ReadyState(), s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.details["peer_close_noticed"] = fmt.Sprintf("close-c %s, connection %s", c.ReadyState(), p.pc.ConnectionState())
	return nil
}

func (p *peer) remoteSDP() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remote
}

func iceUfrag(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "a=ice-ufrag:") {
			return strings.TrimPrefix(l, "a=ice-ufrag:")
		}
	}
	return ""
}

// restart: ten echoes, an ICE restart offer from the driver (either side), ten more
// echoes over the new ICE session (interop/README.md).
func (p *peer) scRestart() error {
	dc, q, err := p.channel("restart")
	if err != nil {
		return err
	}
	before := iceUfrag(p.remoteSDP())
	const n = 10
	if !p.driver {
		for i := 0; i < 2*n; i++ {
			if err := send(dc, <-q); err != nil {
				return failf("restart echo: %v", err)
			}
		}
		if iceUfrag(p.remoteSDP()) == before {
			return failf("restart: all echoed, but the peer's ice-ufrag did not change")
		}
		p.details["echoed"] = 2 * n
		p.details["restarted"] = "yes"
		return nil
	}
	expect := func(word string) error {
		for i := 0; i < n; i++ {
			if err := send(dc, msg{text: true, data: []byte(fmt.Sprintf("%s %d", word, i))}); err != nil {
				return failf("restart send: %v", err)
			}
		}
		for i := 0; i < n; i++ {
			want := fmt.Sprintf("%s %d", word, i)
			m, ok := recvTimeout(q, 20*time.Second)
			if !ok {
				return failf("restart echo '%s' timed out after 20s", want)
			}
			if !m.text || string(m.data) != want {
				return failf("restart: echo is '%s', want '%s'", m.data, want)
			}
		}
		return nil
	}
	if err := expect("before"); err != nil {
		return err
	}
	off, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err == nil {
		err = p.pc.SetLocalDescription(off)
	}
	if err != nil {
		return failf("restart offer: %v", err)
	}
	go p.sendDescription()
	end := time.Now().Add(20 * time.Second)
	for !(p.pc.SignalingState() == webrtc.SignalingStateStable && iceUfrag(p.remoteSDP()) != before) {
		if time.Now().After(end) {
			return failf("restart: no answer with new ICE credentials in 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := expect("after"); err != nil {
		return err
	}
	p.details["verified"] = 2 * n
	p.details["restarted"] = "yes"
	return nil
}

func (p *peer) crossCheck(peer map[string]interface{}) error {
	if p.a.scenario != "bulk" {
		return nil
	}
	r, _ := peer["result"].(map[string]interface{})
	d, _ := r["details"].(map[string]interface{})
	ps, _ := d["sha256"].(string)
	pb, _ := d["bytes"].(float64)
	if ps != p.details["sha256"] || int64(pb) != p.details["bytes"] {
		return failf("bulk: sha256/bytes differ: ours %v/%v, peer %v/%v", p.details["sha256"], p.details["bytes"], ps, int64(pb))
	}
	return nil
}

func (p *peer) run() int {
	go p.signaling()
	if p.a.scenario == "negotiated" {
		p.createNegotiated()
	}
	if p.a.role == "offer" {
		p.createChannels()
		off, err := p.pc.CreateOffer(nil)
		if err == nil {
			err = p.pc.SetLocalDescription(off)
		}
		if err != nil {
			p.log("offer: %v", err)
			return 1
		}
		go p.sendDescription()
	}
	done := make(chan error, 1)
	go func() {
		var err error
		switch p.a.scenario {
		case "echo":
			err = p.scEcho()
		case "bulk":
			err = p.scBulk()
		case "unreliable":
			err = p.scUnreliable()
		case "negotiated":
			err = p.scNegotiated()
		case "maxsize":
			err = p.scMaxsize()
		case "close":
			err = p.scClose()
		case "restart":
			err = p.scRestart()
		default:
			err = failf("unknown scenario %s", p.a.scenario)
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Duration(p.a.timeout * float64(time.Second))):
		err = failf("scenario timed out after %gs", p.a.timeout)
	}
	ok := err == nil
	var errv interface{}
	if err != nil {
		errv = err.Error()
	}
	p.mu.Lock()
	if p.connectMs >= 0 {
		p.details["connect_ms"] = p.connectMs
	}
	p.mu.Unlock()
	mine := map[string]interface{}{"peer": "pion", "version": "3.1.56", "role": p.a.role,
		"scenario": p.a.scenario, "driver": p.driver, "ok": ok, "error": errv,
		"elapsed_ms": time.Since(p.t0).Milliseconds(), "details": p.details}
	p.sendSig(map[string]interface{}{"type": "bye", "ok": ok, "result": mine})
	b, _ := json.Marshal(mine)
	p.log("own part done: %s", b)
	if p.a.scenario == "close" && p.driver {
		p.pc.Close()
	}
	peer := p.waitBye(20 * time.Second)
	if peer == nil {
		ok = false
		if errv == nil {
			errv = "no bye from the peer"
		}
	} else {
		if ok {
			if e := p.crossCheck(peer); e != nil {
				ok, errv = false, e.Error()
			}
		}
		if pok, _ := peer["ok"].(bool); !pok {
			ok = false
			if errv == nil {
				r, _ := peer["result"].(map[string]interface{})
				errv = fmt.Sprintf("peer failed: %v", r["error"])
			}
		}
		mine["peer_result"] = peer["result"]
	}
	mine["ok"], mine["error"] = ok, errv
	b, _ = json.Marshal(mine)
	if p.a.result != "" {
		os.WriteFile(p.a.result, append(b, '\n'), 0o644)
	} else {
		fmt.Fprintln(os.Stderr, string(b))
	}
	p.pc.Close()
	if ok {
		return 0
	}
	return 1
}

func main() {
	var a args
	flag.StringVar(&a.role, "role", "", "offer|answer")
	flag.StringVar(&a.scenario, "scenario", "", "echo|bulk|unreliable|negotiated|maxsize|close")
	flag.StringVar(&a.driver, "driver", "offer", "offer|answer")
	flag.StringVar(&a.result, "result", "", "result file (default stderr)")
	flag.IntVar(&a.trickle, "trickle", 1, "0|1")
	flag.Float64Var(&a.timeout, "timeout", 60, "scenario timeout, s")
	flag.Int64Var(&a.bytes, "bytes", 64<<20, "bulk: bytes")
	flag.IntVar(&a.count, "count", 20000, "unreliable: messages")
	flag.Int64Var(&a.msgSize, "msg-size", bulkChunk, "bulk: message size (bench)")
	flag.IntVar(&a.echoMax, "echo-max", 65535, "echo: largest message (pion cannot receive 65536)")
	flag.IntVar(&a.echoMin, "echo-min", 0, "echo: smallest message")
	flag.BoolVar(&a.verbose, "verbose", false, "")
	flag.Bool("loopback", true, "accepted; always loopback")
	flag.String("bind", "127.0.0.1", "accepted")
	flag.Parse()
	if a.msgSize < 1 || a.msgSize > bulkChunk {
		a.msgSize = bulkChunk
	}
	if (a.role != "offer" && a.role != "answer") || a.scenario == "" {
		flag.Usage()
		os.Exit(2)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "NewPeerConnection:", err)
		os.Exit(1)
	}
	p := &peer{a: a, t0: time.Now(), pc: pc, driver: a.role == a.driver,
		chans: map[string]*webrtc.DataChannel{}, queues: map[string]chan msg{},
		arrived: make(chan string, 64), details: map[string]interface{}{},
		bye: make(chan map[string]interface{}, 1), connectMs: -1}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		p.log("datachannel '%s' negotiated=%v", dc.Label(), dc.Negotiated())
		p.track(dc)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.log("connection state %s", s) })
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if a.trickle == 0 {
			return
		}
		if c == nil {
			if !p.sentEnd {
				p.sendSig(map[string]interface{}{"type": "candidate", "mid": "0", "index": 0, "candidate": ""})
			}
			p.sentEnd = true
			return
		}
		init := c.ToJSON()
		mid := "0"
		if init.SDPMid != nil {
			mid = *init.SDPMid
		}
		p.sendSig(map[string]interface{}{"type": "candidate", "mid": mid, "index": 0, "candidate": init.Candidate})
	})
	os.Exit(p.run())
}
