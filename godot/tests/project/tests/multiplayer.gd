# Godot 3.2.3's own high-level multiplayer over WebRTC (WebRTCMultiplayer), sluice underneath:
# one server and two clients in one process, each with its own MultiplayerAPI. RPCs, and
# send_bytes / put_packet in the reliable, unreliable-ordered and unreliable transfer modes.
extends SceneTree

const Harness = preload("res://tests/harness.gd")
const Game = preload("res://tests/game_node.gd")
const LIFETIME = 500
var t = Harness.new("multiplayer")

var sides = {}       # id -> {root, game, api, mp}
var packets = {}     # id -> [[from, bytes]]
var connected = {}   # id -> [peer ids seen in network_peer_connected]
var disconnected = {}
var client_ok = {}

func _initialize():
	run()

func _idle(_delta):
	t.watchdog(self)

func _on_packet(from, bytes, id):
	packets[id].append([from, bytes])

func _on_connected(peer, id):
	connected[id].append(peer)

func _on_disconnected(peer, id):
	disconnected[id].append(peer)

func _on_connected_to_server(id):
	client_ok[id] = true

func make_side(id, server_compat = true):
	var root = Node.new()
	root.name = "Side%d" % id
	var game = Node.new()
	game.name = "Game"
	game.set_script(Game)
	root.add_child(game)
	get_root().add_child(root)
	var api = MultiplayerAPI.new()
	api.set_root_node(root)
	root.custom_multiplayer = api
	game.custom_multiplayer = api
	var mp = WebRTCMultiplayer.new()
	t.eq(mp.initialize(id, server_compat), OK, "WebRTCMultiplayer.initialize(%d, %s)" % [id, server_compat])
	api.network_peer = mp
	packets[id] = []
	connected[id] = []
	disconnected[id] = []
	api.connect("network_peer_packet", self, "_on_packet", [id])
	api.connect("network_peer_connected", self, "_on_connected", [id])
	api.connect("network_peer_disconnected", self, "_on_disconnected", [id])
	api.connect("connected_to_server", self, "_on_connected_to_server", [id])
	sides[id] = {"root": root, "game": game, "api": api, "mp": mp}

func _on_desc(type, sdp, from, to):
	from.set_local_description(type, sdp)
	to.set_remote_description(type, sdp)

func _on_cand(mid, index, name, to):
	to.add_ice_candidate(mid, index, name)

# Connects side a (offerer) and side b with a fresh pair of WebRTCPeerConnections.
func link(a, b):
	var pa = WebRTCPeerConnection.new()
	var pb = WebRTCPeerConnection.new()
	t.eq(pa.initialize({}), OK, "initialize %d->%d" % [a, b])
	t.eq(pb.initialize({}), OK, "initialize %d->%d" % [b, a])
	t.eq(sides[a]["mp"].add_peer(pa, b, LIFETIME), OK, "add_peer on %d for %d" % [a, b])
	t.eq(sides[b]["mp"].add_peer(pb, a, LIFETIME), OK, "add_peer on %d for %d" % [b, a])
	pa.connect("session_description_created", self, "_on_desc", [pa, pb])
	pb.connect("session_description_created", self, "_on_desc", [pb, pa])
	pa.connect("ice_candidate_created", self, "_on_cand", [pb])
	pb.connect("ice_candidate_created", self, "_on_cand", [pa])
	t.eq(pa.create_offer(), OK, "create_offer %d->%d" % [a, b])

func poll():
	for id in sides:
		sides[id]["api"].poll()

func wait_for(method, ms = 15000):
	yield(self, "idle_frame")
	var deadline = OS.get_ticks_msec() + ms
	while not call(method):
		if OS.get_ticks_msec() > deadline:
			return false
		poll()
		yield(self, "idle_frame")
	return true

func all_connected():
	return connected[1].has(2) and connected[1].has(3) and client_ok.has(2) and client_ok.has(3)

func calls_of(id):
	return sides[id]["game"].calls

func rpcs_arrived():
	return calls_of(2).size() >= 1 and calls_of(3).size() >= 1 and calls_of(1).size() >= 2

func unreliable_arrived():
	return calls_of(1).size() >= 3

func bytes_arrived():
	return packets[2].size() >= 3 and packets[1].size() >= 1

func client3_gone():
	return disconnected[1].has(3)

func run():
	for id in [1, 2, 3]:
		make_side(id)
	link(1, 2)
	link(1, 3)
	var ok = yield(wait_for("all_connected"), "completed")
	t.check(ok, "server sees clients 2 and 3; both clients see the server")
	if not ok:
		t.finish(self)
		return
	var api1 = sides[1]["api"]
	t.eq(api1.is_network_server(), true, "side 1 is the server")
	t.eq(sides[2]["api"].get_network_unique_id(), 2, "client unique id")
	t.eq(Array(api1.get_network_connected_peers()).size(), 2, "server has two connected peers")

	# The three channels WebRTCMultiplayer made: Godot 3.2.3 passes maxPacketLifetime.
	var chans = sides[1]["mp"].get_peer(2)["channels"]
	t.eq(chans.size(), 3, "three channels per connection")
	if chans.size() == 3:
		t.eq([chans[0].get_id(), chans[1].get_id(), chans[2].get_id()], [1, 2, 3], "negotiated ids 1, 2, 3")
		t.eq(chans[0].get_max_packet_life_time(), 65535, "reliable channel has no lifetime")
		t.eq(chans[1].get_max_packet_life_time(), LIFETIME, "ordered channel is unreliable (lifetime)")
		t.eq(chans[2].get_max_packet_life_time(), LIFETIME, "unordered channel is unreliable (lifetime)")
		t.eq(chans[1].is_ordered(), true, "channel 2 ordered")
		t.eq(chans[2].is_ordered(), false, "channel 3 unordered")
		t.eq(chans[0].get_ready_state(), WebRTCDataChannel.STATE_OPEN, "channels open")

	# RPCs: server to everyone, clients to the server; unreliable RPC.
	sides[1]["game"].rpc("hello", "from server")
	sides[2]["game"].rpc_id(1, "hello", "from 2")
	sides[3]["game"].rpc_id(1, "hello", "from 3")
	ok = yield(wait_for("rpcs_arrived"), "completed")
	t.check(ok, "reliable RPCs arrive")
	if ok:
		t.eq(calls_of(2)[0], [1, "from server", "reliable"], "client 2 got the server's broadcast")
		t.eq(calls_of(3)[0], [1, "from server", "reliable"], "client 3 got the server's broadcast")
		var senders = [calls_of(1)[0][0], calls_of(1)[1][0]]
		senders.sort()
		t.eq(senders, [2, 3], "server got one RPC from each client, sender ids right")
	sides[2]["game"].rpc_unreliable_id(1, "tick", 7)
	ok = yield(wait_for("unreliable_arrived"), "completed")
	t.check(ok and calls_of(1)[2] == [2, 7, "unreliable"], "unreliable RPC arrives (loopback, no loss)")

	# Raw packets in each transfer mode (MultiplayerAPI.send_bytes sets the network peer's
	# transfer mode and calls put_packet).
	api1.send_bytes(PoolByteArray([1]), 2, NetworkedMultiplayerPeer.TRANSFER_MODE_RELIABLE)
	api1.send_bytes(PoolByteArray([2]), 2, NetworkedMultiplayerPeer.TRANSFER_MODE_UNRELIABLE_ORDERED)
	api1.send_bytes(PoolByteArray([3]), 2, NetworkedMultiplayerPeer.TRANSFER_MODE_UNRELIABLE)
	sides[3]["api"].send_bytes(PoolByteArray([9, 9]), 1, NetworkedMultiplayerPeer.TRANSFER_MODE_UNRELIABLE)
	ok = yield(wait_for("bytes_arrived"), "completed")
	t.check(ok, "packets in all three transfer modes arrive")
	if ok:
		var got = []
		for p in packets[2]:
			t.eq(p[0], 1, "packet from the server")
			got.append(p[1][0])
		got.sort()
		t.eq(got, [1, 2, 3], "reliable, unreliable-ordered and unreliable payloads")
		t.eq(packets[1][0], [3, PoolByteArray([9, 9])], "client 3 -> server unreliable packet")

	# A client leaves: its connections close, the server notices and drops it.
	sides[3]["mp"].close()
	ok = yield(wait_for("client3_gone"), "completed")
	t.check(ok, "server sees client 3 disconnect")
	t.eq(sides[1]["mp"].has_peer(3), false, "server dropped peer 3")
	t.eq(sides[1]["mp"].has_peer(2), true, "server keeps peer 2")

	for id in sides:
		sides[id]["mp"].close()
		sides[id]["api"].network_peer = null
		sides[id]["root"].queue_free()
	sides.clear()
	t.finish(self)
