/* The UDP I/O layer on real loopback sockets: bind, batch send, batch receive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <string.h>

#include "io.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct rx_log {
    int count;
    size_t bytes;
    sluice_addr from;
    uint8_t first[16];
} rx_log;

static void on_rx(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data, size_t len) {
    (void)local;
    rx_log *l = user;
    if (l->count < 16) l->first[l->count] = len ? data[0] : 0;
    l->count++;
    l->bytes += len;
    l->from = *remote;
}

static void wait_readable(sluice_io *io) {
    int fds[4];
    int n = sluice_io_fds(io, fds, 4);
    struct pollfd p[4];
    for (int i = 0; i < n && i < 4; i++) p[i] = (struct pollfd){fds[i], POLLIN, 0};
    poll(p, (nfds_t)n, 2000);
}

static void test_io_loopback_batch_roundtrip(void **state) {
    (void)state;
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "127.0.0.1";
    sluice_io *a, *b;
    assert_int_equal(sluice_io_open(&a, &s, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_io_open(&b, &s, NULL, NULL), SLUICE_OK);
    sluice_addr la, lb;
    assert_int_equal(sluice_io_local_addresses(a, &la, 1), 1);
    assert_int_equal(sluice_io_local_addresses(b, &lb, 1), 1);
    assert_int_equal(la.family, 4);
    assert_true(la.port != 0);
    uint8_t msg[1200];
    for (int i = 0; i < 40; i++) { /* more than one batch */
        memset(msg, i, sizeof msg);
        assert_int_equal(sluice_io_send(a, &la, &lb, msg, sizeof msg), SLUICE_OK);
    }
    /* Full batches of SLUICE_IO_BATCH went out as they filled; flush sends the rest. */
    assert_int_equal(sluice_io_flush(a), 40 % SLUICE_IO_BATCH);
    rx_log log;
    memset(&log, 0, sizeof log);
    for (int tries = 0; tries < 50 && log.count < 40; tries++) {
        wait_readable(b);
        sluice_io_recv(b, on_rx, &log, 1000);
    }
    assert_int_equal(log.count, 40);
    assert_int_equal(log.bytes, 40 * 1200);
    assert_true(sluice_addr_equal(&log.from, &la));
    for (int i = 0; i < 16; i++) assert_int_equal(log.first[i], i); /* loopback keeps order */
    sluice_io_close(a);
    sluice_io_close(b);
}

static void test_io_rejects_unknown_local_and_bad_bind(void **state) {
    (void)state;
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "127.0.0.1";
    sluice_io *a;
    assert_int_equal(sluice_io_open(&a, &s, NULL, NULL), SLUICE_OK);
    sluice_addr other;
    sluice_addr_parse(&other, "127.0.0.2", 9);
    uint8_t d[4] = {0};
    assert_int_equal(sluice_io_send(a, &other, &other, d, 4), SLUICE_ERR_NOT_FOUND);
    sluice_io_close(a);
    s.bind_address = "not-an-ip";
    assert_int_equal(sluice_io_open(&a, &s, NULL, NULL), SLUICE_ERR_CONFIG);
    assert_null(a);
}

static void test_io_port_range_is_respected_and_exhaustion_reported(void **state) {
    (void)state;
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "127.0.0.1";
    s.port_min = 47311;
    s.port_max = 47312;
    sluice_io *a, *b, *c;
    assert_int_equal(sluice_io_open(&a, &s, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_io_open(&b, &s, NULL, NULL), SLUICE_OK);
    sluice_addr la, lb;
    sluice_io_local_addresses(a, &la, 1);
    sluice_io_local_addresses(b, &lb, 1);
    assert_true(la.port >= 47311 && la.port <= 47312);
    assert_true(lb.port >= 47311 && lb.port <= 47312);
    assert_true(la.port != lb.port);
    assert_int_equal(sluice_io_open(&c, &s, NULL, NULL), SLUICE_ERR_EXHAUSTED);
    sluice_io_close(a);
    sluice_io_close(b);
}


/* A TCP "TURN server" on loopback: io frames the byte stream into whole STUN messages. */
static void test_io_tcp_path_frames_stun_messages(void **state) {
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    assert_int_equal(listen(lfd, 1), 0);
    sluice_addr server;
    sluice_addr_parse(&server, "127.0.0.1", ntohs(sa.sin_port));

    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "127.0.0.1";
    sluice_io *io;
    assert_int_equal(sluice_io_open(&io, &s, NULL, NULL), SLUICE_OK);
    sluice_addr local;
    sluice_io_local_addresses(io, &local, 1);
    /* A 20-byte STUN header with no attributes: a Binding request. */
    uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
    assert_int_equal(sluice_io_send_tcp(io, &local, &server, stun, sizeof stun), SLUICE_OK);
    int cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    struct timeval tv = {5, 0}; /* never hang the suite */
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int i = 0; i < 100 && sluice_io_tcp_pending(io); i++) {
        sluice_io_flush(io);
        usleep(1000);
    }
    uint8_t got[64];
    assert_int_equal(recv(cfd, got, 20, MSG_WAITALL), 20);
    assert_memory_equal(got, stun, 20);
    /* The server answers with two messages in one write and half of a third. */
    uint8_t reply[50];
    memcpy(reply, stun, 20);
    reply[1] = 0x01;
    memcpy(reply + 20, stun, 20);
    reply[21] = 0x11;
    memcpy(reply + 40, stun, 10);
    assert_int_equal(send(cfd, reply, sizeof reply, 0), (ssize_t)sizeof reply);
    rx_log log;
    memset(&log, 0, sizeof log);
    for (int i = 0; i < 100 && log.count < 2; i++) {
        wait_readable(io);
        sluice_io_recv(io, on_rx, &log, 100);
    }
    assert_int_equal(log.count, 2);
    assert_int_equal(log.bytes, 40);
    assert_true(sluice_addr_equal(&log.from, &server));
    close(cfd);
    close(lfd);
    sluice_io_close(io);
}

static void test_io_ipv6_loopback_roundtrip(void **state) {
    (void)state;
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "::1";
    s.ipv6 = true;
    sluice_io *a, *b;
    int rc = sluice_io_open(&a, &s, NULL, NULL);
    if (rc == SLUICE_ERR_IO) {
        print_message("no IPv6 loopback on this machine: skipped\n");
        skip();
    }
    assert_int_equal(rc, SLUICE_OK);
    assert_int_equal(sluice_io_open(&b, &s, NULL, NULL), SLUICE_OK);
    sluice_addr la, lb;
    sluice_io_local_addresses(a, &la, 1);
    sluice_io_local_addresses(b, &lb, 1);
    assert_int_equal(la.family, 6);
    char text[64];
    assert_true(sluice_addr_format(&la, text, sizeof text) > 0);
    assert_non_null(strstr(text, "[::1]:"));
    uint8_t msg[100] = {42};
    assert_int_equal(sluice_io_send(a, &la, &lb, msg, sizeof msg), SLUICE_OK);
    assert_int_equal(sluice_io_flush(a), 1);
    rx_log log;
    memset(&log, 0, sizeof log);
    for (int tries = 0; tries < 50 && log.count < 1; tries++) {
        wait_readable(b);
        sluice_io_recv(b, on_rx, &log, 10);
    }
    assert_int_equal(log.count, 1);
    assert_int_equal(log.first[0], 42);
    assert_true(sluice_addr_equal(&log.from, &la));
    sluice_io_close(a);
    sluice_io_close(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_loopback_batch_roundtrip),
        cmocka_unit_test(test_io_ipv6_loopback_roundtrip),
        cmocka_unit_test(test_io_rejects_unknown_local_and_bad_bind),
        cmocka_unit_test(test_io_port_range_is_respected_and_exhaustion_reported),
        cmocka_unit_test(test_io_tcp_path_frames_stun_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
