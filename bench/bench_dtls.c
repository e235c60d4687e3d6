/* DTLS benchmark: in-memory handshake time (median of N), and the cost of one 1200-byte
 * datagram through sluice_dtls_write + poll (encrypt) and handle_datagram + read (decrypt),
 * printed next to `openssl speed -evp aes-128-gcm` on 1200-byte blocks from the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "dtls.h"
#include "util.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Shuttle datagrams between two endpoints until both are connected (no loss, no clock). */
static int connect_pair(sluice_dtls *a, sluice_dtls *b) {
    uint8_t buf[2048];
    sluice_time t = 1;
    if (sluice_dtls_start(a, t) || sluice_dtls_start(b, t)) return -1;
    for (int round = 0; round < 100; round++) {
        int n, moved = 0;
        while ((n = sluice_dtls_poll_datagram(a, buf, sizeof buf)) > 0) {
            sluice_dtls_handle_datagram(b, t, buf, (size_t)n);
            moved++;
        }
        while ((n = sluice_dtls_poll_datagram(b, buf, sizeof buf)) > 0) {
            sluice_dtls_handle_datagram(a, t, buf, (size_t)n);
            moved++;
        }
        if (sluice_dtls_get_state(a) == SLUICE_DTLS_CONNECTED && sluice_dtls_get_state(b) == SLUICE_DTLS_CONNECTED)
            return 0;
        if (!moved) return -1;
    }
    return -1;
}

static int make_pair(sluice_dtls_cert *ca, sluice_dtls_cert *cb, sluice_dtls **a, sluice_dtls **b) {
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.is_client = true;
    if (sluice_dtls_new(a, &s, ca, NULL, NULL)) return -1;
    s.is_client = false;
    if (sluice_dtls_new(b, &s, cb, NULL, NULL)) return -1;
    char fp[128];
    sluice_dtls_cert_fingerprint(cb, "sha-256", fp, sizeof fp);
    sluice_dtls_add_remote_fingerprint(*a, "sha-256", fp);
    sluice_dtls_cert_fingerprint(ca, "sha-256", fp, sizeof fp);
    sluice_dtls_add_remote_fingerprint(*b, "sha-256", fp);
    return 0;
}

/* `openssl speed` result for aes-128-gcm on 1200-byte blocks, in bytes per second (0 if none). */
static double openssl_speed(void) {
    FILE *p = popen("openssl speed -seconds 1 -bytes 1200 -evp aes-128-gcm 2>/dev/null", "r");
    if (!p) return 0;
    char line[512];
    double kbs = 0;
    while (fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "AES-128-GCM %lfk", &v) == 1) kbs = v;
    }
    pclose(p);
    return kbs * 1000.0;
}

int main(int argc, char **argv) {
    int n_hs = argc > 1 ? atoi(argv[1]) : 50;
    if (n_hs < 1) n_hs = 1;
    sluice_dtls_cert *ca, *cb;
    double t0 = now_s();
    if (sluice_dtls_cert_generate(&ca) || sluice_dtls_cert_generate(&cb)) return 1;
    double cert_ms = (now_s() - t0) * 1e3 / 2;

    double *hs = calloc((size_t)n_hs, sizeof *hs), *setup = calloc((size_t)n_hs, sizeof *setup);
    if (!hs || !setup) return 1;
    for (int i = 0; i < n_hs; i++) {
        sluice_dtls *a, *b;
        double s0 = now_s();
        if (make_pair(ca, cb, &a, &b)) return 1;
        double s1 = now_s();
        if (connect_pair(a, b)) {
            fprintf(stderr, "handshake %d failed: %s / %s\n", i, sluice_dtls_reason(a), sluice_dtls_reason(b));
            return 1;
        }
        double s2 = now_s();
        setup[i] = (s1 - s0) * 1e3;
        hs[i] = (s2 - s1) * 1e3;
        sluice_dtls_free(a);
        sluice_dtls_free(b);
    }
    qsort(hs, (size_t)n_hs, sizeof *hs, cmp_double);
    qsort(setup, (size_t)n_hs, sizeof *setup, cmp_double);

    /* records: batches of full 1200-byte datagrams A -> B */
    sluice_dtls *a, *b;
    if (make_pair(ca, cb, &a, &b) || connect_pair(a, b)) return 1;
    sluice_dtls_stats st;
    sluice_dtls_get_stats(a, &st);
    size_t payload = sluice_dtls_max_payload(a);
    enum { BATCH = 200 };
    static uint8_t dgrams[BATCH][1500];
    static size_t lens[BATCH];
    static uint8_t msg[1500], rx[2048];
    memset(msg, 0x42, sizeof msg);
    double enc_s = 0, dec_s = 0;
    uint64_t records = 0;
    double bench_end = now_s() + 1.0;
    while (now_s() < bench_end) {
        double e0 = now_s();
        for (int i = 0; i < BATCH; i++) {
            if (sluice_dtls_write(a, msg, payload)) return 1;
            int n = sluice_dtls_poll_datagram(a, dgrams[i], sizeof dgrams[i]);
            if (n <= 0) return 1;
            lens[i] = (size_t)n;
        }
        double e1 = now_s();
        for (int i = 0; i < BATCH; i++) {
            sluice_dtls_handle_datagram(b, 1, dgrams[i], lens[i]);
            if (sluice_dtls_read(b, rx, sizeof rx) != (int)payload) return 1;
        }
        double e2 = now_s();
        enc_s += e1 - e0;
        dec_s += e2 - e1;
        records += BATCH;
    }
    double dgram = (double)lens[0];
    double enc_ns = enc_s * 1e9 / (double)records, dec_ns = dec_s * 1e9 / (double)records;
    double ossl_bps = openssl_speed();
    double ossl_ns = ossl_bps > 0 ? 1200.0 / ossl_bps * 1e9 : 0;

    printf("bench_dtls (OpenSSL %s, %s)\n", OpenSSL_version(OPENSSL_VERSION), st.cipher);
    printf("  certificate generation (ECDSA P-256):  %.3f ms\n", cert_ms);
    printf("  endpoint pair setup (2x SSL_CTX+SSL):   median %.3f ms\n", setup[n_hs / 2]);
    printf("  in-memory handshake, %d runs:           median %.3f ms  (min %.3f, max %.3f)\n", n_hs,
           hs[n_hs / 2], hs[0], hs[n_hs - 1]);
    printf("  record: %zu B payload in a %.0f B datagram, %llu records\n", payload, dgram,
           (unsigned long long)records);
    printf("    encrypt (write + poll):              %8.0f ns/record  %7.1f MB/s payload\n", enc_ns,
           (double)payload / enc_ns * 1e3);
    printf("    decrypt (handle_datagram + read):    %8.0f ns/record  %7.1f MB/s payload\n", dec_ns,
           (double)payload / dec_ns * 1e3);
    if (ossl_bps > 0) {
        printf("    openssl speed aes-128-gcm 1200 B:    %8.0f ns/block   %7.1f MB/s\n", ossl_ns, ossl_bps / 1e6);
        printf("    ratio sluice/openssl-speed:          encrypt %.2fx, decrypt %.2fx\n", enc_ns / ossl_ns,
               dec_ns / ossl_ns);
    } else {
        printf("    openssl speed: not available\n");
    }
    sluice_dtls_free(a);
    sluice_dtls_free(b);
    sluice_dtls_cert_free(ca);
    sluice_dtls_cert_free(cb);
    free(hs);
    free(setup);
    return 0;
}
