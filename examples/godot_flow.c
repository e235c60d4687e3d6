/* The Godot flow in C: two peers in one process, as in Godot's WebRTC docs example. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "sluice.h"

static sluice_peer *p1, *p2;

/* Godot's signals, delivered from inside sluice_peer_poll(). */
static void on_event(sluice_peer *pc, const sluice_event *ev, void *user) {
    sluice_peer *other = pc == p1 ? p2 : p1;
    (void)user;
    if (ev->type == SLUICE_EVENT_SESSION_DESCRIPTION) {   /* session_description_created */
        sluice_peer_set_local_description(pc, ev->sdp_type, ev->sdp);
        sluice_peer_set_remote_description(other, ev->sdp_type, ev->sdp); /* "send" it */
    } else if (ev->type == SLUICE_EVENT_ICE_CANDIDATE) {  /* ice_candidate_created */
        sluice_peer_add_ice_candidate(other, ev->mid, ev->mline_index, ev->candidate);
    }
}

int main(void) {
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.ice_loopback = true;              /* both peers live on this machine */
    cfg.bind_address = "127.0.0.1";
    sluice_callbacks cb = {on_event};
    sluice_peer_new(&p1, &cfg, &cb, NULL);
    sluice_peer_new(&p2, &cfg, &cb, NULL);

    /* Godot's create_data_channel("chat", {"id": 1, "negotiated": true}) on both sides. */
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    sluice_channel_options_set_int(&o, "negotiated", 1);
    sluice_channel_options_set_int(&o, "id", 1);
    sluice_channel *ch1, *ch2;
    sluice_peer_create_channel(p1, "chat", &o, &ch1);
    sluice_peer_create_channel(p2, "chat", &o, &ch2);

    sluice_peer_create_offer(p1);         /* p1 is the offerer */

    bool sent = false, received = false;
    for (int frame = 0; frame < 500; frame++) { /* a game loop: poll every frame */
        sluice_peer_poll(p1);
        sluice_peer_poll(p2);
        if (!sent && sluice_channel_ready_state(ch1) == SLUICE_CHANNEL_OPEN)
            sent = sluice_channel_send(ch1, "Hi from P1", 10, true) == SLUICE_OK;
        char buf[64];
        int64_t n = sluice_channel_recv(ch2, buf, sizeof buf - 1, NULL);
        if (n >= 0) {
            buf[n] = '\0';
            printf("P2 received: %s\n", buf);
            received = true;
            break;
        }
        struct timespec tick = {0, 10 * 1000 * 1000}; /* ~100 frames per second */
        nanosleep(&tick, NULL);
    }
    sluice_peer_free(p1);
    sluice_peer_free(p2);
    return received ? 0 : 1;
}
