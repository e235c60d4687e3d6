# The node the multiplayer scene calls RPCs on: it records what reaches it.
extends Node

var calls = []

remote func hello(text):
	calls.append([multiplayer.get_rpc_sender_id(), text, "reliable"])

remote func tick(n):
	calls.append([multiplayer.get_rpc_sender_id(), n, "unreliable"])
