/*
 * sluice as Godot 3's WebRTC implementation: a GDNative singleton library (NET API 3.2)
 * that binds Godot's WebRTCPeerConnectionGDNative / WebRTCDataChannelGDNative objects to
 * sluice peers and channels. Plain C over the public sluice API only.
 *
 * Godot loads the library (`singleton=true` in the .gdnlib, listed in the project setting
 * gdnative/singletons), calls godot_gdnative_init() then godot_gdnative_singleton(), which
 * registers sluice as the default WebRTC library; from then on `WebRTCPeerConnection.new()`
 * and `WebRTCMultiplayer` use sluice.
 *
 * Lifetime: a Godot object's destruction reaches us through a NativeScript 1.1 instance
 * binding (free_instance_binding_data). A channel object may outlive its peer connection
 * object: the peer's sluice objects are closed when Godot frees the peer, and freed when the
 * last channel object is freed too.
 */
#ifndef SLUICE_GODOT_H
#define SLUICE_GODOT_H

#include "gdn_api.h"

#if defined(__GNUC__)
#define SLUICE_GODOT_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_GODOT_EXPORT
#endif

/* The GDNative entry points (symbol_prefix "godot_"). */
SLUICE_GODOT_EXPORT void godot_gdnative_init(godot_gdnative_init_options *options);
SLUICE_GODOT_EXPORT void godot_gdnative_terminate(godot_gdnative_terminate_options *options);
SLUICE_GODOT_EXPORT void godot_gdnative_singleton(void);

#endif
