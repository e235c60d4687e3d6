# Object lifetimes as games produce them: a received channel nobody keeps, a connection
# dropped while its channels live on, many connections created and dropped. The plugin's
# live-object count at exit (checked by the runner) and ASan (sanitizer builds) do the rest.
extends SceneTree

const Harness = preload("res://tests/harness.gd")
var t = Harness.new("lifecycle")

var p1
var p2
var seen = 0
var a

func _initialize():
	run()

func _idle(_delta):
	t.watchdog(self)

func _on_desc(type, sdp, from, to):
	from.set_local_description(type, sdp)
	to.set_remote_description(type, sdp)

func _on_cand(mid, index, name, to):
	to.add_ice_candidate(mid, index, name)

func _on_channel_dropped(ch):
	seen += 1  # not kept: Godot frees it when the signal returns

func pair():
	p1 = WebRTCPeerConnection.new()
	p2 = WebRTCPeerConnection.new()
	p1.connect("session_description_created", self, "_on_desc", [p1, p2])
	p2.connect("session_description_created", self, "_on_desc", [p2, p1])
	p1.connect("ice_candidate_created", self, "_on_cand", [p2])
	p2.connect("ice_candidate_created", self, "_on_cand", [p1])

func poll():
	if p1:
		p1.poll()
	if p2:
		p2.poll()

func wait_for(method, ms = 15000):
	yield(self, "idle_frame")
	var deadline = OS.get_ticks_msec() + ms
	while not call(method):
		if OS.get_ticks_msec() > deadline:
			return false
		poll()
		yield(self, "idle_frame")
	return true

func a_received():
	return seen == 1

func a_closed():
	return a.get_ready_state() == WebRTCDataChannel.STATE_CLOSED

func run():
	# 1. The receiver ignores data_channel_received: its side is released and reset, and
	#    the sender's channel closes; packets sent meanwhile are dropped, not crashed on.
	pair()
	p2.connect("data_channel_received", self, "_on_channel_dropped")
	a = p1.create_data_channel("a")
	var keep = p1.create_data_channel("keep", {"negotiated": true, "id": 9})
	p1.create_offer()
	var ok = yield(wait_for("a_received"), "completed")
	t.check(ok, "the remote got data_channel_received")
	for i in range(20):
		a.put_packet(PoolByteArray([i]))
	ok = yield(wait_for("a_closed"), "completed")
	t.check(ok, "a channel the remote did not keep ends CLOSED on the sender")
	t.eq(seen, 1, "data_channel_received fired once")

	# 2. Drop a connection while a channel of it is still referenced, then drop that too.
	p1.close()
	p1 = null
	t.eq(keep.get_ready_state(), WebRTCDataChannel.STATE_CLOSED, "channel of a dropped connection reads CLOSED")
	t.check(keep.put_packet(PoolByteArray([1])) != OK, "and refuses packets")
	keep = null
	a = null
	p2 = null

	# 3. Many connections created, offered and dropped without ever connecting.
	var made = 0
	for i in range(40):
		var pc = WebRTCPeerConnection.new()
		var ch = pc.create_data_channel("x%d" % i, {"ordered": i % 2 == 0})
		if ch != null and pc.create_offer() == OK:
			made += 1
		pc.poll()
		if i % 3 == 0:
			pc.close()
	t.eq(made, 40, "40 connections with a channel and an offer")
	yield(self, "idle_frame")
	t.finish(self)
