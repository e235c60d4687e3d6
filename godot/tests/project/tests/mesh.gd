# Godot 3.2.3's WebRTCMultiplayer in mesh mode over sluice: three peers, each connected to
# the two others; RPCs go straight between any two of them.
extends "res://tests/multiplayer.gd"

func _init():
	t = Harness.new("mesh")

func mesh_connected():
	for id in [1, 2, 3]:
		if connected[id].size() < 2:
			return false
	return true

func mesh_rpcs():
	return calls_of(3).size() >= 1 and calls_of(1).size() >= 1 and calls_of(2).size() >= 1

func run():
	for id in [1, 2, 3]:
		make_side(id, false)
	link(1, 2)
	link(1, 3)
	link(2, 3)
	var ok = yield(wait_for("mesh_connected"), "completed")
	t.check(ok, "every peer sees the two others")
	if not ok:
		t.finish(self)
		return
	for id in [1, 2, 3]:
		t.eq(Array(sides[id]["api"].get_network_connected_peers()).size(), 2, "peer %d has two connections" % id)
		t.eq(sides[id]["mp"].get_connection_status(), NetworkedMultiplayerPeer.CONNECTION_CONNECTED, "peer %d connected" % id)
	sides[2]["game"].rpc_id(3, "hello", "2 to 3")
	sides[3]["game"].rpc("hello", "3 to all")
	ok = yield(wait_for("mesh_rpcs"), "completed")
	t.check(ok, "mesh RPCs arrive")
	if ok:
		var at3 = calls_of(3)[0]
		t.eq(at3, [2, "2 to 3", "reliable"], "peer 3 got peer 2's RPC directly")
		t.eq(calls_of(1)[0], [3, "3 to all", "reliable"], "peer 1 got peer 3's broadcast")
		t.eq(calls_of(2)[0], [3, "3 to all", "reliable"], "peer 2 got peer 3's broadcast")
	sides[1]["mp"].set_target_peer(2)
	sides[1]["mp"].transfer_mode = NetworkedMultiplayerPeer.TRANSFER_MODE_UNRELIABLE
	sides[1]["api"].send_bytes(PoolByteArray([5]), 2, NetworkedMultiplayerPeer.TRANSFER_MODE_UNRELIABLE)
	ok = yield(wait_for("mesh_bytes"), "completed")
	t.check(ok and packets[2][0] == [1, PoolByteArray([5])], "unreliable bytes peer 1 -> peer 2")
	for id in sides:
		sides[id]["mp"].close()
		sides[id]["api"].network_peer = null
		sides[id]["root"].queue_free()
	sides.clear()
	t.finish(self)

func mesh_bytes():
	return packets[2].size() >= 1
