/* Interop smoke test: our DTLS endpoint against the `openssl` command line tool
 * (s_server / s_client -dtls1_2) over loopback UDP, in both roles. Real sockets and the
 * real clock on purpose; every wait is bounded. Skipped when `openssl` is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dtls.h"
#include "util.h"

/* ---- helpers: temp files, the child process, the socket loop --------------------------- */

typedef struct child {
    pid_t pid;
    int in_fd, out_fd;
} child;

typedef struct loop {
    sluice_dtls *d;
    int sock;
    struct sockaddr_in peer;
    bool have_peer;
    child ch;
    char out[16384]; /* what the child printed */
    size_t out_len;
    char rx[4096]; /* application data we received */
    size_t rx_len;
} loop;

static bool openssl_available(void) { return system("openssl version >/dev/null 2>&1") == 0; }

/* Self-signed P-256 certificate + key as PEM files in dir; also returns the PEM texts. */
static void write_cert(const char *dir, const char *stem, char *cert_pem, size_t ccap, char *key_pem, size_t kcap) {
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"openssl-peer",
                               -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bc, x);
    PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL);
    int cl = BIO_read(bc, cert_pem, (int)ccap - 1);
    int kl = BIO_read(bk, key_pem, (int)kcap - 1);
    assert_true(cl > 0 && kl > 0);
    cert_pem[cl] = 0;
    key_pem[kl] = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/%s-cert.pem", dir, stem);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(cert_pem, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s-key.pem", dir, stem);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(key_pem, f);
    fclose(f);
    BIO_free(bc);
    BIO_free(bk);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void spawn(child *c, char *const argv[]) {
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        close(in[1]);
        close(out[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
}

static void child_stop(child *c) {
    if (c->pid <= 0) return;
    close(c->in_fd);
    close(c->out_fd);
    kill(c->pid, SIGTERM);
    for (int i = 0; i < 100; i++) { /* at most ~2 s, then SIGKILL */
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            return;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
}

static int udp_socket(uint16_t *port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    fcntl(s, F_SETFL, O_NONBLOCK);
    return s;
}

static void loop_flush(loop *l) {
    uint8_t buf[2048];
    int n;
    while ((n = sluice_dtls_poll_datagram(l->d, buf, sizeof buf)) > 0)
        if (l->have_peer) (void)sendto(l->sock, buf, (size_t)n, 0, (struct sockaddr *)&l->peer, sizeof l->peer);
}

static void loop_step(loop *l) {
    loop_flush(l);
    sluice_time now = sluice_clock_monotonic_us();
    sluice_time dl = sluice_dtls_next_deadline(l->d);
    int wait_ms = 20;
    if (dl != SLUICE_TIME_NEVER) wait_ms = dl <= now ? 0 : (int)SLUICE_MIN((dl - now) / 1000 + 1, 20);
    struct pollfd fds[2] = {{l->sock, POLLIN, 0}, {l->ch.out_fd, POLLIN, 0}};
    (void)poll(fds, 2, wait_ms);
    now = sluice_clock_monotonic_us();
    uint8_t buf[4096];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(l->sock, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n <= 0) break;
        if (!l->have_peer) {
            l->peer = from;
            l->have_peer = true;
        }
        (void)sluice_dtls_handle_datagram(l->d, now, buf, (size_t)n);
    }
    ssize_t r;
    while (l->out_len < sizeof l->out - 1 &&
           (r = read(l->ch.out_fd, l->out + l->out_len, sizeof l->out - 1 - l->out_len)) > 0) {
        l->out_len += (size_t)r;
        l->out[l->out_len] = 0;
    }
    if (sluice_dtls_next_deadline(l->d) <= now) sluice_dtls_handle_timeout(l->d, now);
    int m;
    while ((m = sluice_dtls_read(l->d, (uint8_t *)l->rx + l->rx_len, sizeof l->rx - 1 - l->rx_len)) > 0) {
        l->rx_len += (size_t)m;
        l->rx[l->rx_len] = 0;
    }
    loop_flush(l);
}

static bool cond_settled(loop *l) {
    sluice_dtls_state s = sluice_dtls_get_state(l->d);
    return s == SLUICE_DTLS_CONNECTED || s == SLUICE_DTLS_FAILED || s == SLUICE_DTLS_CLOSED;
}
static bool cond_child_got_line(loop *l) { return strstr(l->out, "hello from sluice") != NULL; }
static bool cond_we_got_line(loop *l) { return strstr(l->rx, "hello from openssl") != NULL; }

static bool loop_until(loop *l, bool (*cond)(loop *), int ms) {
    sluice_time end = sluice_clock_monotonic_us() + (sluice_time)ms * 1000;
    while (!cond(l) && sluice_clock_monotonic_us() < end) loop_step(l);
    return cond(l);
}

/* Handshake, one line each way, close_notify. */
static void exchange(loop *l) {
    bool ok = loop_until(l, cond_settled, 10000);
    if (sluice_dtls_get_state(l->d) != SLUICE_DTLS_CONNECTED)
        fprintf(stderr, "state %d: %s\n", sluice_dtls_get_state(l->d), sluice_dtls_reason(l->d));
    assert_true(ok);
    assert_int_equal(sluice_dtls_get_state(l->d), SLUICE_DTLS_CONNECTED);
    sluice_dtls_stats st;
    sluice_dtls_get_stats(l->d, &st);
    assert_string_equal(st.version, "DTLSv1.2");
    assert_true(strncmp(st.cipher, "ECDHE-ECDSA-", 12) == 0);

    const char *line = "hello from sluice\n";
    assert_int_equal(sluice_dtls_write(l->d, (const uint8_t *)line, strlen(line)), SLUICE_OK);
    assert_true(loop_until(l, cond_child_got_line, 5000));

    const char *back = "hello from openssl\n";
    assert_int_equal(write(l->ch.in_fd, back, strlen(back)), (ssize_t)strlen(back));
    assert_true(loop_until(l, cond_we_got_line, 5000));

    if (getenv("DTLS_TEST_VERBOSE")) {
        sluice_dtls_get_stats(l->d, &st);
        fprintf(stderr, "cipher %s, retransmitted flights %llu, child printed: %s\n", st.cipher,
                (unsigned long long)st.retransmitted_flights, l->out);
    }
    sluice_dtls_close(l->d);
    loop_flush(l);
    assert_int_equal(sluice_dtls_get_state(l->d), SLUICE_DTLS_CLOSED);
}

static void make_tmpdir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/sluice-dtls-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_tmpdir(const char *dir) {
    char path[512];
    const char *files[] = {"peer-cert.pem", "peer-key.pem"};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void setup_endpoint(loop *l, bool is_client, const char *peer_cert_pem, const char *peer_key_pem,
                           sluice_dtls_cert **mine) {
    assert_int_equal(sluice_dtls_cert_generate(mine), SLUICE_OK);
    sluice_dtls_settings s;
    sluice_dtls_settings_default(&s);
    s.is_client = is_client;
    assert_int_equal(sluice_dtls_new(&l->d, &s, *mine, NULL, NULL), SLUICE_OK);
    sluice_dtls_cert *peer;
    assert_int_equal(sluice_dtls_cert_from_pem(&peer, peer_cert_pem, peer_key_pem), SLUICE_OK);
    char fp[128];
    assert_true(sluice_dtls_cert_fingerprint(peer, "sha-256", fp, sizeof fp) > 0);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(l->d, "sha-256", fp), SLUICE_OK);
    sluice_dtls_cert_free(peer);
}

/* ---- the two roles ------------------------------------------------------------------------ */

static void test_dtls_openssl_s_server_with_sluice_client(void **state) {
    (void)state;
    if (!openssl_available()) skip();
    char dir[64], cpem[4096], kpem[4096], cpath[128], kpath[128], accept[64];
    make_tmpdir(dir, sizeof dir);
    write_cert(dir, "peer", cpem, sizeof cpem, kpem, sizeof kpem);
    snprintf(cpath, sizeof cpath, "%s/peer-cert.pem", dir);
    snprintf(kpath, sizeof kpath, "%s/peer-key.pem", dir);

    static loop l;
    memset(&l, 0, sizeof l);
    uint16_t port;
    l.sock = udp_socket(&port);
    /* a free port for the server: bind, read, release */
    uint16_t srv_port;
    int tmp = udp_socket(&srv_port);
    close(tmp);
    snprintf(accept, sizeof accept, "127.0.0.1:%u", srv_port);
    char *argv[] = {"openssl", "s_server", "-dtls1_2", "-accept", accept, "-cert", cpath, "-key", kpath,
                    "-verify", "1", "-naccept", "1", "-quiet", NULL};
    spawn(&l.ch, argv);

    sluice_dtls_cert *mine;
    setup_endpoint(&l, true, cpem, kpem, &mine);
    l.peer.sin_family = AF_INET;
    l.peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l.peer.sin_port = htons(srv_port);
    l.have_peer = true;
    /* the server may not listen yet: our 100 ms retransmissions cover that */
    assert_int_equal(sluice_dtls_start(l.d, sluice_clock_monotonic_us()), SLUICE_OK);
    exchange(&l);

    child_stop(&l.ch);
    close(l.sock);
    sluice_dtls_free(l.d);
    sluice_dtls_cert_free(mine);
    remove_tmpdir(dir);
}

static void test_dtls_openssl_s_client_with_sluice_server(void **state) {
    (void)state;
    if (!openssl_available()) skip();
    char dir[64], cpem[4096], kpem[4096], cpath[128], kpath[128], connect[64];
    make_tmpdir(dir, sizeof dir);
    write_cert(dir, "peer", cpem, sizeof cpem, kpem, sizeof kpem);
    snprintf(cpath, sizeof cpath, "%s/peer-cert.pem", dir);
    snprintf(kpath, sizeof kpath, "%s/peer-key.pem", dir);

    static loop l;
    memset(&l, 0, sizeof l);
    uint16_t port;
    l.sock = udp_socket(&port);
    sluice_dtls_cert *mine;
    setup_endpoint(&l, false, cpem, kpem, &mine);
    assert_int_equal(sluice_dtls_start(l.d, sluice_clock_monotonic_us()), SLUICE_OK);

    snprintf(connect, sizeof connect, "127.0.0.1:%u", port);
    char *argv[] = {"openssl", "s_client", "-dtls1_2", "-connect", connect, "-cert", cpath, "-key", kpath,
                    "-quiet", NULL};
    spawn(&l.ch, argv);
    exchange(&l);

    child_stop(&l.ch);
    close(l.sock);
    sluice_dtls_free(l.d);
    sluice_dtls_cert_free(mine);
    remove_tmpdir(dir);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtls_openssl_s_server_with_sluice_client),
        cmocka_unit_test(test_dtls_openssl_s_client_with_sluice_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
