# Godot (through the sluice plugin) connects to another program over loopback: a sluice C
# program (godot/tests/c_peer.c) or aiortc (godot/tests/aiortc_peer.py). Signaling on TCP,
# in-band and negotiated channels, echoes both ways, the other side's own in-band channel,
# close.
extends SceneTree

const Harness = preload("res://tests/harness.gd")
var t = Harness.new("remote_peer " + OS.get_environment("SLUICE_TEST_PEER"))

var tcp = StreamPeerTCP.new()
var inbuf = PoolByteArray()
var pc
var chat
var neg
var from_c

func _initialize():
	run()

func _idle(_delta):
	t.watchdog(self)

static func escape(s):
	return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")

static func split_fields(line):
	var fields = []
	var cur = ""
	var i = 0
	while i < line.length():
		var c = line[i]
		if c == "\t":
			fields.append(cur)
			cur = ""
		elif c == "\\" and i + 1 < line.length():
			i += 1
			var e = line[i]
			cur += "\n" if e == "n" else ("\r" if e == "r" else ("\t" if e == "t" else e))
		else:
			cur += c
		i += 1
	fields.append(cur)
	return fields

func send_msg(fields):
	var parts = PoolStringArray()
	for f in fields:
		parts.append(escape(str(f)))
	tcp.put_data((parts.join("\t") + "\n").to_utf8())

func _on_description(type, sdp):
	t.eq(pc.set_local_description(type, sdp), OK, "set_local_description(%s)" % type)
	send_msg(["sdp", type, sdp])

func _on_candidate(mid, index, name):
	send_msg(["cand", mid, index, name])

func _on_channel(ch):
	if ch.get_label() == "from-peer":
		from_c = ch

func read_signaling():
	var n = tcp.get_available_bytes()
	if n <= 0:
		return
	var r = tcp.get_data(n)
	if r[0] != OK:
		return
	inbuf.append_array(r[1])
	while true:
		var nl = -1
		for i in range(inbuf.size()):
			if inbuf[i] == 10:
				nl = i
				break
		if nl < 0:
			return
		var line = inbuf.subarray(0, nl - 1).get_string_from_utf8() if nl > 0 else ""
		inbuf = inbuf.subarray(nl + 1, inbuf.size() - 1) if nl + 1 < inbuf.size() else PoolByteArray()
		var f = split_fields(line)
		if f[0] == "sdp" and f.size() >= 3:
			t.eq(pc.set_remote_description(f[1], f[2]), OK, "set_remote_description(%s) from the remote" % f[1])
		elif f[0] == "cand" and f.size() >= 4:
			pc.add_ice_candidate(f[1], int(f[2]), f[3])

func poll():
	read_signaling()
	if pc:
		pc.poll()

func wait_for(method, ms = 15000):
	yield(self, "idle_frame")
	var deadline = OS.get_ticks_msec() + ms
	while not call(method):
		if OS.get_ticks_msec() > deadline:
			return false
		poll()
		yield(self, "idle_frame")
	return true

func tcp_connected():
	return tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED

func open():
	return pc.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED and \
		chat.get_ready_state() == WebRTCDataChannel.STATE_OPEN and \
		neg.get_ready_state() == WebRTCDataChannel.STATE_OPEN

func echoes():
	return chat.get_available_packet_count() >= 2 and neg.get_available_packet_count() >= 1

func from_c_messages():
	return from_c != null and from_c.get_available_packet_count() >= 2

func disconnected():
	var st = pc.get_connection_state()
	return st == WebRTCPeerConnection.STATE_DISCONNECTED or st == WebRTCPeerConnection.STATE_FAILED

func chat_closed():
	return chat.get_ready_state() == WebRTCDataChannel.STATE_CLOSED

func run():
	var port = int(OS.get_environment("SLUICE_TEST_PORT"))
	t.check(port > 0, "SLUICE_TEST_PORT given")
	t.eq(tcp.connect_to_host("127.0.0.1", port), OK, "connect to the remote peer's signaling")
	var ok = yield(wait_for("tcp_connected"), "completed")
	t.check(ok, "signaling connected")
	if not ok:
		t.finish(self)
		return

	pc = WebRTCPeerConnection.new()
	t.eq(pc.initialize({}), OK, "initialize")
	pc.connect("session_description_created", self, "_on_description")
	pc.connect("ice_candidate_created", self, "_on_candidate")
	pc.connect("data_channel_received", self, "_on_channel")
	chat = pc.create_data_channel("chat")
	neg = pc.create_data_channel("neg", {"negotiated": true, "id": 7})
	t.eq(pc.create_offer(), OK, "create_offer")

	ok = yield(wait_for("open"), "completed")
	t.check(ok, "connected to the remote peer, channels open")
	if not ok:
		t.finish(self)
		return
	t.check(chat.get_id() != 65535, "in-band id assigned")
	chat.write_mode = WebRTCDataChannel.WRITE_MODE_TEXT
	chat.put_packet("hi C".to_utf8())
	chat.write_mode = WebRTCDataChannel.WRITE_MODE_BINARY
	chat.put_packet(PoolByteArray([1, 2, 3]))
	neg.write_mode = WebRTCDataChannel.WRITE_MODE_TEXT
	neg.put_packet("negotiated hello".to_utf8())
	ok = yield(wait_for("echoes"), "completed")
	t.check(ok, "the remote peer echoes")
	if ok:
		t.eq(chat.get_packet().get_string_from_utf8(), "hi C", "text echo")
		t.eq(chat.was_string_packet(), true, "text echo is text")
		t.eq(chat.get_packet(), PoolByteArray([1, 2, 3]), "binary echo")
		t.eq(chat.was_string_packet(), false, "binary echo is binary")
		t.eq(neg.get_packet().get_string_from_utf8(), "negotiated hello", "negotiated echo")

	ok = yield(wait_for("from_c_messages"), "completed")
	t.check(ok, "the remote peer's own channel arrives with its messages")
	if ok:
		t.eq(from_c.get_label(), "from-peer", "data_channel_received label")
		t.eq(from_c.get_packet().get_string_from_utf8(), "hello from the peer", "text from the peer")
		t.eq(from_c.was_string_packet(), true, "text from the peer is text")
		t.eq(from_c.get_packet(), PoolByteArray([0xC0, 0xFF, 0xEE]), "binary from the peer")
		t.eq(from_c.was_string_packet(), false, "binary from the peer is binary")

	chat.close()
	ok = yield(wait_for("chat_closed"), "completed")
	t.check(ok, "closed channel reaches CLOSED (the remote reset its stream too)")

	if OS.get_environment("SLUICE_TEST_PEER") == "c":
		# The C peer vanishes without a word: consent freshness (RFC 7675) notices.
		send_msg(["vanish"])
		ok = yield(wait_for("disconnected", 20000), "completed")
		t.check(ok, "a silent peer makes the connection STATE_DISCONNECTED")
	else:
		send_msg(["done"])
	pc.close()
	t.eq(pc.get_connection_state(), WebRTCPeerConnection.STATE_CLOSED, "close")
	tcp.disconnect_from_host()
	t.finish(self)
