/* A real coturn (Debian package coturn, `turnserver`) on 127.0.0.1 for one test: user u:p,
 * realm r, loopback peers allowed; optionally TLS with a given certificate. Use as
 * cmocka_unit_test_setup_teardown(test, coturn_setup, coturn_teardown): the teardown stops
 * the server even when an assertion failed. Needs <spawn.h>, <signal.h>, <sys/wait.h>. */
#ifndef SLUICE_TESTKIT_COTURN_H
#define SLUICE_TESTKIT_COTURN_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *find_turnserver(void) {
    static const char *paths[] = {"/usr/bin/turnserver", "/usr/sbin/turnserver", "/usr/local/bin/turnserver"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

static uint16_t free_udp_port(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef struct coturn_proc {
    pid_t pid;
    char pidfile[64], logfile[64], certfile[64], keyfile[64];
    uint16_t port;     /* UDP and TCP */
    uint16_t tls_port; /* 0 without TLS */
} coturn_proc;

static int coturn_setup(void **state) {
    coturn_proc *c = calloc(1, sizeof *c);
    if (!c) return -1;
    *state = c;
    return 0;
}

static int coturn_teardown(void **state) {
    coturn_proc *c = *state;
    if (c->pid > 0) {
        int status;
        kill(c->pid, SIGTERM);
        waitpid(c->pid, &status, 0);
        unlink(c->pidfile);
        if (!getenv("SLUICE_KEEP_COTURN_LOG")) unlink(c->logfile);
    }
    if (c->certfile[0]) unlink(c->certfile);
    if (c->keyfile[0]) unlink(c->keyfile);
    free(c);
    return 0;
}

static void write_text_file(const char *path, const char *text) {
    FILE *f = text ? fopen(path, "w") : NULL;
    if (!f) {
        fail_msg("cannot write %s", path);
        return;
    }
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Start coturn: UDP and TCP on a free port; with cert_pem/key_pem also TLS on another.
 * Returns the UDP/TCP port, 0 (with a SKIP line) when coturn is not installed. */
static uint16_t start_coturn_tls(coturn_proc *proc, const char *test, const char *cert_pem, const char *key_pem) {
    const char *bin = find_turnserver();
    if (!bin) {
        fprintf(stderr, "SKIP: %s: turnserver (Debian package coturn) not installed\n", test);
        return 0;
    }
    uint16_t port = free_udp_port();
    char port_s[16], tls_port_s[16];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    snprintf(proc->pidfile, sizeof proc->pidfile, "/tmp/sluice-coturn-%u.pid", (unsigned)port);
    snprintf(proc->logfile, sizeof proc->logfile, "/tmp/sluice-coturn-%u.log", (unsigned)port);
    char *argv[40] = {(char *)bin, "-n", "--listening-port", port_s, "--listening-ip", "127.0.0.1", "--relay-ip",
                      "127.0.0.1", "--user", "u:p", "--realm", "r", "--lt-cred-mech", "--allow-loopback-peers",
                      "--no-cli", "--no-dtls", "--pidfile", proc->pidfile, "--log-file", proc->logfile,
                      "--simple-log", "--no-rfc5780", "--min-port", "40000", "--max-port", "60000"};
    size_t argc = 26;
    if (cert_pem && key_pem) {
        uint16_t tls_port;
        do tls_port = free_udp_port(); while (tls_port == port);
        snprintf(tls_port_s, sizeof tls_port_s, "%u", (unsigned)tls_port);
        snprintf(proc->certfile, sizeof proc->certfile, "/tmp/sluice-coturn-%u-cert.pem", (unsigned)port);
        snprintf(proc->keyfile, sizeof proc->keyfile, "/tmp/sluice-coturn-%u-key.pem", (unsigned)port);
        write_text_file(proc->certfile, cert_pem);
        write_text_file(proc->keyfile, key_pem);
        argv[argc++] = "--tls-listening-port";
        argv[argc++] = tls_port_s;
        argv[argc++] = "--cert";
        argv[argc++] = proc->certfile;
        argv[argc++] = "--pkey";
        argv[argc++] = proc->keyfile;
        proc->tls_port = tls_port;
    } else {
        argv[argc++] = "--no-tls";
    }
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int spawn_rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(spawn_rc, 0);
    proc->pid = pid;
    proc->port = port;
    return port;
}

static inline uint16_t start_coturn(coturn_proc *proc, const char *test) { return start_coturn_tls(proc, test, NULL, NULL); }

#endif
