# Two WebRTCPeerConnections in one Godot process, connected through their own signals:
# in-band and negotiated channels, text and binary packets, every state and getter, close.
extends SceneTree

const Harness = preload("res://tests/harness.gd")
var t = Harness.new("two_peers")

var p1
var p2
var received = {}      # label -> channel, from p2's data_channel_received
var candidates = []    # [mid, index, name] emitted by p1
var descriptions = []  # types emitted by p1 and p2

func _initialize():
	run()

func _idle(_delta):
	t.watchdog(self)

func _on_description(type, sdp, from, to):
	descriptions.append(type)
	t.eq(from.set_local_description(type, sdp), OK, "set_local_description(%s)" % type)
	t.eq(to.set_remote_description(type, sdp), OK, "set_remote_description(%s)" % type)

func _on_candidate(mid, index, cand, from, to):
	if from == p1:
		candidates.append([mid, index, cand])
	to.add_ice_candidate(mid, index, cand)

func _on_channel(ch):
	received[ch.get_label()] = ch

var states_seen = {}   # p1's connection states observed while polling

func poll():
	if p1:
		p1.poll()
		states_seen[p1.get_connection_state()] = true
	if p2:
		p2.poll()

# Polls both peers every frame until `cond` (a FuncRef) holds or `ms` pass.
func wait_for(obj, method, ms = 10000):
	yield(self, "idle_frame")
	var deadline = OS.get_ticks_msec() + ms
	while not obj.call(method):
		if OS.get_ticks_msec() > deadline:
			return false
		poll()
		yield(self, "idle_frame")
	return true

func connected():
	return p1.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED and \
		p2.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED

var chat
var unrel
var n1
var n2
func channels_open():
	return chat.get_ready_state() == WebRTCDataChannel.STATE_OPEN and \
		n1.get_ready_state() == WebRTCDataChannel.STATE_OPEN and \
		n2.get_ready_state() == WebRTCDataChannel.STATE_OPEN and \
		received.has("chat") and received.has("unrel") and \
		received["chat"].get_ready_state() == WebRTCDataChannel.STATE_OPEN

func burst_arrived():
	return received["chat"].get_available_packet_count() >= 301

func chat_has_2():
	return received["chat"].get_available_packet_count() >= 2
func n2_has_1():
	return n2.get_available_packet_count() >= 1
func n1_has_1():
	return n1.get_available_packet_count() >= 1
func unrel_has_1():
	return received["unrel"].get_available_packet_count() >= 1
func remote_chat_closed():
	return received["chat"].get_ready_state() == WebRTCDataChannel.STATE_CLOSED and \
		chat.get_ready_state() == WebRTCDataChannel.STATE_CLOSED
func p2_channels_closed():
	return n2.get_ready_state() == WebRTCDataChannel.STATE_CLOSED

func run():
	# --- creation and configuration ---
	p1 = WebRTCPeerConnection.new()
	p2 = WebRTCPeerConnection.new()
	t.eq(p1.get_connection_state(), WebRTCPeerConnection.STATE_NEW, "new peer is STATE_NEW")
	t.eq(p1.initialize({"iceServers": [{"urls": ["stun:127.0.0.1:3478"]}]}), OK, "initialize with a STUN url array")
	t.eq(p2.initialize({"iceServers": [{"urls": "stun:127.0.0.1"}]}), OK, "initialize with a STUN url string")
	t.check(p1.initialize({"iceServers": [{"urls": ["bogus:host"]}]}) != OK, "initialize rejects an unknown scheme")
	t.check(p1.initialize({"iceServers": [{"urls": ["turn:127.0.0.1"]}]}) != OK, "initialize rejects turn: without credentials")
	t.check(p1.initialize({"iceServers": "stun:127.0.0.1"}) != OK, "initialize rejects iceServers that is not an array")
	t.check(p1.initialize({"iceServers": [{"urls": 5}]}) != OK, "initialize rejects urls that are not strings")
	t.check(p1.initialize({"iceServers": [{"username": "u"}]}) != OK, "initialize rejects an entry without urls")
	t.check(p1.initialize({"iceTransportPolicy": "some"}) != OK, "initialize rejects an unknown iceTransportPolicy")
	t.eq(p1.initialize({"iceServers": [{"urls": PoolStringArray(["turn:127.0.0.1?transport=udp"]), "username": "u", "credential": "p"}], "iceTransportPolicy": "all"}), OK, "initialize with TURN credentials and a PoolStringArray")
	t.eq(p1.get_connection_state(), WebRTCPeerConnection.STATE_NEW, "bad config leaves the peer usable")
	t.eq(p1.initialize({}), OK, "initialize({})")

	var lonely = WebRTCPeerConnection.new()
	t.check(lonely.create_offer() != OK, "create_offer without a channel fails")
	lonely = null

	p1.connect("session_description_created", self, "_on_description", [p1, p2])
	p2.connect("session_description_created", self, "_on_description", [p2, p1])
	p1.connect("ice_candidate_created", self, "_on_candidate", [p1, p2])
	p2.connect("ice_candidate_created", self, "_on_candidate", [p2, p1])
	p2.connect("data_channel_received", self, "_on_channel")

	# --- channels and their getters before connecting ---
	chat = p1.create_data_channel("chat", {"protocol": "chat-v1"})
	t.check(chat != null, "create in-band channel")
	t.eq(chat.get_label(), "chat", "label")
	t.eq(chat.get_protocol(), "chat-v1", "protocol")
	t.eq(chat.get_id(), 65535, "in-band id unassigned before DTLS is 65535")
	t.eq(chat.is_ordered(), true, "ordered by default")
	t.eq(chat.is_negotiated(), false, "not negotiated")
	t.eq(chat.get_max_retransmits(), 65535, "max_retransmits unset is 65535")
	t.eq(chat.get_max_packet_life_time(), 65535, "max_packet_life_time unset is 65535")
	t.eq(chat.get_ready_state(), WebRTCDataChannel.STATE_CONNECTING, "CONNECTING before connect")
	t.eq(chat.write_mode, WebRTCDataChannel.WRITE_MODE_BINARY, "write mode defaults to binary")
	t.check(chat.put_packet(PoolByteArray([1])) != OK, "put_packet before open fails")

	unrel = p1.create_data_channel("unrel", {"ordered": false, "maxRetransmits": 2})
	t.check(unrel != null, "create unreliable unordered channel")
	t.eq(unrel.is_ordered(), false, "unordered")
	t.eq(unrel.get_max_retransmits(), 2, "maxRetransmits")
	t.eq(unrel.get_max_packet_life_time(), 65535, "lifetime unset on a rexmit channel")

	# Godot 3.2.3 spells it maxPacketLifetime (WebRTCMultiplayer does): must not be ignored.
	n1 = p1.create_data_channel("neg", {"negotiated": true, "id": 5, "maxPacketLifetime": 300})
	n2 = p2.create_data_channel("neg", {"negotiated": true, "id": 5, "maxPacketLifeTime": 300})
	t.check(n1 != null and n2 != null, "create negotiated channels")
	t.eq(n1.get_id(), 5, "negotiated id")
	t.eq(n1.is_negotiated(), true, "negotiated")
	t.eq(n1.get_max_packet_life_time(), 300, "maxPacketLifetime (Godot 3 spelling) honoured")
	t.eq(n2.get_max_packet_life_time(), 300, "maxPacketLifeTime (W3C spelling) honoured")
	t.eq(n1.get_max_retransmits(), 65535, "max_retransmits unset on a timed channel")

	t.check(p1.create_data_channel("bad", {"negotiated": true}) == null, "negotiated without id fails")
	t.check(p1.create_data_channel("bad", {"maxRetransmits": 1, "maxPacketLifeTime": 1}) == null, "both reliability limits fail")
	t.check(p1.create_data_channel("bad", {"id": 70000, "negotiated": true}) == null, "id out of range fails")

	# --- bad signaling input: an error, nothing changes ---
	var spare = WebRTCPeerConnection.new()
	t.check(spare.set_remote_description("offer", "v=0\r\nthis is not sdp\r\n") != OK, "malformed SDP refused")
	t.check(spare.set_remote_description("bogus", "v=0\r\n") != OK, "unknown description type refused")
	# Signaling races: sluice keeps early candidates until the remote description arrives.
	t.eq(spare.add_ice_candidate("0", 0, "candidate:1 1 udp 1 127.0.0.1 9 typ host"), OK, "candidate before the remote description kept")
	t.check(spare.add_ice_candidate("0", 0, "candidate:1 1 udp") != OK, "truncated candidate refused")
	t.eq(spare.get_connection_state(), WebRTCPeerConnection.STATE_NEW, "still STATE_NEW after bad input")
	spare = null

	# --- offer / answer / candidates ---
	t.eq(p1.create_offer(), OK, "create_offer")
	var ok = yield(wait_for(self, "connected"), "completed")
	t.check(ok, "both peers reach STATE_CONNECTED")
	t.check(states_seen.has(WebRTCPeerConnection.STATE_CONNECTING), "STATE_CONNECTING seen on the way")
	t.check(descriptions.has("offer") and descriptions.has("answer"), "offer and answer emitted")
	t.check(candidates.size() > 0, "ice_candidate_created emitted")
	if candidates.size() > 0:
		t.eq(typeof(candidates[0][1]), TYPE_INT, "candidate index is an int")
		t.eq(candidates[0][1], 0, "candidate index is the real m-line index (0)")
		t.check(candidates[0][2].find("candidate:") != -1, "candidate line")
		t.check(candidates[0][2].find("127.0.0.1") != -1, "loopback candidate")

	ok = yield(wait_for(self, "channels_open"), "completed")
	t.check(ok, "all channels open on both sides")
	if not ok:
		t.finish(self)
		return
	t.check(not received.has("neg"), "no data_channel_received for a negotiated channel")
	t.check(p1.add_ice_candidate("0", 0, "candidate:garbage") != OK, "malformed candidate refused")
	t.eq(p1.add_ice_candidate("0", 0, ""), OK, "empty candidate (end of candidates) accepted")
	if candidates.size() > 0:
		t.eq(p2.add_ice_candidate(candidates[0][0], 0, "a=" + candidates[0][2]), OK, "candidate with a= prefix accepted")
	t.eq(p1.get_connection_state(), WebRTCPeerConnection.STATE_CONNECTED, "bad candidate leaves the connection up")
	var rchat = received["chat"]
	t.eq(rchat.get_protocol(), "chat-v1", "received channel protocol (DCEP)")
	t.eq(rchat.get_id(), chat.get_id(), "same stream id on both sides")
	t.check(chat.get_id() != 65535, "id assigned after DTLS")
	t.eq(received["unrel"].is_ordered(), false, "received channel unordered")
	t.eq(received["unrel"].get_max_retransmits(), 2, "received channel maxRetransmits")
	t.eq(rchat.is_negotiated(), false, "received channel not negotiated")

	# --- packets: text then binary on the in-band channel ---
	chat.write_mode = WebRTCDataChannel.WRITE_MODE_TEXT
	t.eq(chat.put_packet("héllo".to_utf8()), OK, "put_packet text")
	chat.write_mode = WebRTCDataChannel.WRITE_MODE_BINARY
	t.eq(chat.put_packet(PoolByteArray([0, 1, 2, 255])), OK, "put_packet binary")
	ok = yield(wait_for(self, "chat_has_2"), "completed")
	t.check(ok, "two packets arrive")
	if ok:
		var a = rchat.get_packet()
		t.eq(a.get_string_from_utf8(), "héllo", "text payload")
		t.eq(rchat.was_string_packet(), true, "was_string_packet for text")
		var b = rchat.get_packet()
		t.eq(b, PoolByteArray([0, 1, 2, 255]), "binary payload")
		t.eq(rchat.was_string_packet(), false, "was_string_packet false for binary")
		t.eq(rchat.get_available_packet_count(), 0, "queue drained")

	# --- negotiated channel, both directions; unreliable channel ---
	t.eq(n1.put_packet("ping".to_utf8()), OK, "negotiated put_packet")
	ok = yield(wait_for(self, "n2_has_1"), "completed")
	t.check(ok and n2.get_packet().get_string_from_utf8() == "ping", "negotiated p1 -> p2")
	t.eq(n2.put_packet("pong".to_utf8()), OK, "negotiated reply")
	ok = yield(wait_for(self, "n1_has_1"), "completed")
	t.check(ok and n1.get_packet().get_string_from_utf8() == "pong", "negotiated p2 -> p1")
	t.eq(unrel.put_packet(PoolByteArray([42])), OK, "unreliable put_packet")
	ok = yield(wait_for(self, "unrel_has_1"), "completed")
	t.check(ok and received["unrel"].get_packet() == PoolByteArray([42]), "unreliable packet arrives on loopback")

	# --- volume: the largest allowed message, then a burst of small ones, in order ---
	var largest = PoolByteArray()
	largest.resize(262144)
	for i in range(0, 262144, 4096):
		largest[i] = (i / 4096) % 256
	t.eq(chat.put_packet(largest), OK, "put_packet of 256 KiB (the remote max-message-size)")
	for i in range(300):
		chat.put_packet(("m%d" % i).to_utf8())
	ok = yield(wait_for(self, "burst_arrived"), "completed")
	t.check(ok, "256 KiB message and 300 small ones arrive")
	if ok:
		t.eq(rchat.get_packet(), largest, "256 KiB payload intact")
		var in_order = true
		for i in range(300):
			if rchat.get_packet().get_string_from_utf8() != "m%d" % i:
				in_order = false
		t.check(in_order, "300 messages in order on a reliable ordered channel")

	t.eq(chat.put_packet(PoolByteArray()), OK, "empty put_packet is OK (Godot does not reach the plugin)")
	var big = PoolByteArray()
	big.resize(262144 + 1)  # sluice advertises a=max-message-size:262144
	t.check(chat.put_packet(big) != OK, "packet above the remote max-message-size refused")
	t.eq(chat.get_ready_state(), WebRTCDataChannel.STATE_OPEN, "refusal leaves the channel open")

	# --- closing a channel: CLOSING, then CLOSED on both sides ---
	chat.close()
	var st = chat.get_ready_state()
	t.check(st == WebRTCDataChannel.STATE_CLOSING or st == WebRTCDataChannel.STATE_CLOSED, "close() -> CLOSING")
	ok = yield(wait_for(self, "remote_chat_closed"), "completed")
	t.check(ok, "both ends of the closed channel reach CLOSED")
	t.check(chat.put_packet(PoolByteArray([1])) != OK, "put_packet on a closed channel fails")

	# --- closing the connection; a channel outliving its peer connection ---
	p1.close()
	t.eq(p1.get_connection_state(), WebRTCPeerConnection.STATE_CLOSED, "close() -> STATE_CLOSED")
	t.eq(n1.get_ready_state(), WebRTCDataChannel.STATE_CLOSED, "its channels are CLOSED")
	ok = yield(wait_for(self, "p2_channels_closed", 15000), "completed")
	t.check(ok, "the remote channel closes too")
	p1 = null  # Godot frees the connection; n1 and unrel stay referenced
	t.eq(n1.get_label(), "neg", "a channel outlives its connection")
	t.eq(n1.get_ready_state(), WebRTCDataChannel.STATE_CLOSED, "and reads CLOSED")
	t.check(n1.put_packet(PoolByteArray([1])) != OK, "and refuses packets")
	n1 = null
	unrel = null
	chat = null

	t.eq(p2.initialize({}), OK, "initialize() restarts a used connection")
	t.eq(p2.get_connection_state(), WebRTCPeerConnection.STATE_NEW, "back to STATE_NEW")
	t.eq(n2.get_ready_state(), WebRTCDataChannel.STATE_CLOSED, "old channels stay CLOSED")
	received.clear()
	n2 = null
	p2 = null
	t.finish(self)
