/* Two processes, one file. The offerer and the answerer exchange their SDP through files
 * in a shared directory (non-trickle signaling: each waits until ICE gathering is complete
 * and writes its whole description), then the offerer sends a file over a reliable channel
 * and chats; the answerer stores the file and echoes every chat line back.
 *
 *   file_transfer recv DIR OUTFILE     # start first: the answerer
 *   file_transfer send DIR INFILE      # the offerer
 *
 * Both bind 127.0.0.1 so they find each other on one machine; drop those two lines of
 * configuration for a LAN. The protocol on the "file" channel: text "FILE <size>", binary
 * chunks, text "EOF" → answer "GOT <size> <fnv1a64>"; on "chat": text lines echoed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"

#define CHUNK 16384
#define HIGH_WATER (1u << 20)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Write atomically so the other process never reads half a description. */
static int write_file(const char *dir, const char *name, const char *text) {
    char tmp[1024], path[1024];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    return rename(tmp, path);
}

static char *read_file_when_present(const char *dir, const char *name, double timeout) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    double t0 = now_s();
    while (now_s() - t0 < timeout) {
        FILE *f = fopen(path, "r");
        if (f) {
            static char buf[65536];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            return buf;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Poll the peer once: wait for its sockets or timers at most `ms`. */
static void pump(sluice_peer *pc, int ms) {
    int fdv[16];
    struct pollfd fds[16];
    int n = sluice_peer_fds(pc, fdv, 16);
    for (int i = 0; i < n && i < 16; i++) fds[i] = (struct pollfd){fdv[i], POLLIN, 0};
    int t = sluice_peer_timeout_ms(pc);
    if (t < 0 || t > ms) t = ms;
    poll(fds, (nfds_t)(n < 16 ? n : 16), t);
    sluice_peer_poll(pc);
}

typedef struct app {
    const char *dir;
    bool offerer;
    sluice_peer *pc;
    sluice_channel *file, *chat;
    bool gathered, failed;
} app;

static void handle_events(app *a) {
    sluice_event ev;
    while (sluice_peer_poll_event(a->pc, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION:
            sluice_peer_set_local_description(a->pc, ev.sdp_type, ev.sdp);
            break;
        case SLUICE_EVENT_GATHERING_STATE:
            if (ev.state == SLUICE_GATHERING_COMPLETE && !a->gathered) {
                a->gathered = true;
                char sdp[16384];
                const char *type;
                if (sluice_peer_local_description(a->pc, sdp, sizeof sdp, &type) > 0)
                    write_file(a->dir, a->offerer ? "offer.sdp" : "answer.sdp", sdp);
            }
            break;
        case SLUICE_EVENT_DATA_CHANNEL:
            if (strcmp(sluice_channel_label(ev.channel), "file") == 0) a->file = ev.channel;
            else if (strcmp(sluice_channel_label(ev.channel), "chat") == 0) a->chat = ev.channel;
            break;
        case SLUICE_EVENT_CONNECTION_STATE:
            fprintf(stderr, "[%s] connection state %d\n", a->offerer ? "send" : "recv", ev.state);
            if (ev.state == SLUICE_CONNECTION_FAILED) a->failed = true;
            break;
        case SLUICE_EVENT_ERROR: fprintf(stderr, "[%s] %s\n", a->offerer ? "send" : "recv", ev.reason); break;
        default: break;
        }
    }
}

static int run_recv(app *a, const char *outfile) {
    char *offer = read_file_when_present(a->dir, "offer.sdp", 30);
    if (!offer) {
        fprintf(stderr, "recv: no offer.sdp in %s\n", a->dir);
        return 1;
    }
    if (sluice_peer_set_remote_description(a->pc, "offer", offer) != SLUICE_OK) return 1;
    FILE *out = fopen(outfile, "wb");
    if (!out) return 1;
    uint64_t expect = UINT64_MAX, got = 0, hash = 0xcbf29ce484222325ull;
    uint8_t *buf = malloc(300000);
    double t0 = now_s();
    bool done = false;
    while (!done && !a->failed && now_s() - t0 < 120) {
        pump(a->pc, 20);
        handle_events(a);
        int64_t n;
        bool text;
        while (a->chat && (n = sluice_channel_recv(a->chat, buf, 299999, &text)) >= 0) {
            buf[n] = '\0';
            printf("recv: chat \"%s\" (echoed)\n", (char *)buf);
            sluice_channel_send(a->chat, buf, (size_t)n, true);
        }
        while (a->file && (n = sluice_channel_recv(a->file, buf, 299999, &text)) >= 0) {
            if (text) {
                buf[n] = '\0';
                if (strncmp((char *)buf, "FILE ", 5) == 0) {
                    expect = strtoull((char *)buf + 5, NULL, 10);
                } else if (strcmp((char *)buf, "EOF") == 0) {
                    char reply[96];
                    int r = snprintf(reply, sizeof reply, "GOT %" PRIu64 " %016" PRIx64, got, hash);
                    sluice_channel_send(a->file, reply, (size_t)r, true);
                    printf("recv: %" PRIu64 " of %" PRIu64 " bytes stored in %s\n", got, expect, outfile);
                    done = true;
                }
            } else {
                fwrite(buf, 1, (size_t)n, out);
                hash = fnv1a(hash, buf, (size_t)n);
                got += (uint64_t)n;
            }
        }
    }
    fclose(out);
    /* Let the reply and the echoes leave before closing. */
    for (double t1 = now_s(); done && now_s() - t1 < 1.0 && a->file && sluice_channel_ready_state(a->file) == SLUICE_CHANNEL_OPEN;)
        pump(a->pc, 20), handle_events(a);
    free(buf);
    return done && got == expect ? 0 : 1;
}

static int run_send(app *a, const char *infile) {
    FILE *in = fopen(infile, "rb");
    if (!in) {
        fprintf(stderr, "send: cannot open %s: %s\n", infile, strerror(errno));
        return 1;
    }
    struct stat st;
    fstat(fileno(in), &st);
    sluice_channel_options o;
    sluice_channel_options_default(&o);
    if (sluice_peer_create_channel(a->pc, "file", &o, &a->file) || sluice_peer_create_channel(a->pc, "chat", &o, &a->chat) ||
        sluice_peer_create_offer(a->pc))
        return 1;
    double t0 = now_s();
    bool answered = false;
    while (sluice_channel_ready_state(a->file) != SLUICE_CHANNEL_OPEN) {
        pump(a->pc, 20);
        handle_events(a);
        if (!answered && a->gathered) {
            char *answer = read_file_when_present(a->dir, "answer.sdp", 0.001);
            if (answer) {
                if (sluice_peer_set_remote_description(a->pc, "answer", answer) != SLUICE_OK) return 1;
                answered = true;
            }
        }
        if (a->failed || now_s() - t0 > 30) {
            fprintf(stderr, "send: no connection\n");
            return 1;
        }
    }
    printf("send: connected in %.0f ms\n", (now_s() - t0) * 1e3);
    const char *lines[] = {"hello", "this is sluice", "bye"};
    for (int i = 0; i < 3; i++) sluice_channel_send(a->chat, lines[i], strlen(lines[i]), true);
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "FILE %lld", (long long)st.st_size);
    sluice_channel_send(a->file, hdr, (size_t)hl, true);
    uint8_t chunk[CHUNK], buf[512];
    uint64_t sent = 0, hash = 0xcbf29ce484222325ull;
    bool eof = false, confirmed = false;
    int echoes = 0;
    double t1 = now_s();
    while (!(confirmed && echoes == 3) && !a->failed && now_s() - t1 < 120) {
        while (!eof && sluice_channel_buffered_amount(a->file) < HIGH_WATER) {
            size_t n = fread(chunk, 1, CHUNK, in);
            if (n == 0) {
                sluice_channel_send(a->file, "EOF", 3, true);
                eof = true;
                break;
            }
            if (sluice_channel_send(a->file, chunk, n, false) != SLUICE_OK) {
                fseek(in, -(long)n, SEEK_CUR); /* buffer full: retry this chunk later */
                break;
            }
            hash = fnv1a(hash, chunk, n);
            sent += n;
        }
        pump(a->pc, eof ? 20 : 1);
        handle_events(a);
        int64_t n;
        while ((n = sluice_channel_recv(a->chat, buf, sizeof buf - 1, NULL)) >= 0) {
            buf[n] = '\0';
            printf("send: echo \"%s\"\n", (char *)buf);
            echoes++;
        }
        if ((n = sluice_channel_recv(a->file, buf, sizeof buf - 1, NULL)) >= 0) {
            buf[n] = '\0';
            char expect[96];
            snprintf(expect, sizeof expect, "GOT %" PRIu64 " %016" PRIx64, sent, hash);
            printf("send: answerer says \"%s\" (%s)\n", (char *)buf, strcmp((char *)buf, expect) == 0 ? "matches" : "MISMATCH");
            if (strcmp((char *)buf, expect) != 0) return 1;
            confirmed = true;
        }
    }
    fclose(in);
    double secs = now_s() - t1;
    printf("send: %" PRIu64 " bytes in %.2f s (%.1f MB/s)\n", sent, secs, (double)sent / secs / 1e6);
    return confirmed && echoes == 3 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "recv") != 0)) {
        fprintf(stderr, "usage: %s send|recv DIR FILE\n", argv[0]);
        return 2;
    }
    app a;
    memset(&a, 0, sizeof a);
    a.dir = argv[2];
    a.offerer = strcmp(argv[1], "send") == 0;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.bind_address = "127.0.0.1";
    cfg.ice_loopback = true;
    int rc = sluice_peer_new(&a.pc, &cfg, NULL, NULL);
    if (rc) {
        fprintf(stderr, "sluice_peer_new: %s\n", sluice_strerror(rc));
        return 1;
    }
    rc = a.offerer ? run_send(&a, argv[3]) : run_recv(&a, argv[3]);
    sluice_peer_close(a.pc);
    sluice_peer_free(a.pc);
    return rc;
}
