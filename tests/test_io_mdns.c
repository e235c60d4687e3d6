/* The mDNS part of the I/O layer on real sockets: answers sent to port 5353 (how Chromium's
 * responder answers, by multicast to 224.0.0.251:5353, ignoring RFC 6762 §6.7) are heard as
 * well as unicast answers to the query's own ephemeral port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <string.h>

#include "io.h"
#include "mdns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAME "0b0e3f24-6a1d-4c8e-9d5e-1f2a3b4c5d6e.local"

typedef struct answers {
    int count;
    sluice_addr addr;
} answers;

static void on_mdns(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data, size_t len) {
    (void)local;
    (void)remote;
    answers *a = user;
    sluice_addr got[2];
    if (sluice_mdns_parse_response(data, len, NAME, got, 2, NULL) > 0) {
        a->count++;
        a->addr = got[0];
    }
}

static void ignore(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data, size_t len) {
    (void)user;
    (void)local;
    (void)remote;
    (void)data;
    (void)len;
}

static void send_answer_to(uint16_t port);

/* Resends the answer from a new socket (new source port) each round: should another process
 * share port 5353 with SO_REUSEPORT, unicast is spread over the sockets by source port. */
static void pump(sluice_io *io, answers *a, uint16_t port) {
    for (int tries = 0; tries < 50 && a->count == 0; tries++) {
        send_answer_to(port);
        int fds[8];
        int n = sluice_io_fds(io, fds, 8);
        struct pollfd p[8];
        for (int i = 0; i < n && i < 8; i++) p[i] = (struct pollfd){fds[i], POLLIN, 0};
        poll(p, (nfds_t)(n < 8 ? n : 8), 100);
        sluice_io_recv(io, ignore, NULL, 16);
    }
}

static sluice_io *open_io_and_query(void) {
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "127.0.0.1";
    sluice_io *io;
    assert_int_equal(sluice_io_open(&io, &s, NULL, NULL), SLUICE_OK);
    uint8_t q[300];
    int n = sluice_mdns_build_query(NAME, true, false, false, 0, q, sizeof q);
    assert_true(n > 0);
    if (sluice_io_mdns_query(io, q, (size_t)n) != SLUICE_OK) {
        sluice_io_close(io);
        print_message("no multicast route on this machine: skipped\n");
        skip();
    }
    return io;
}

static void send_answer_to(uint16_t port) {
    sluice_addr addr;
    assert_int_equal(sluice_addr_parse(&addr, "198.18.0.1", 0), SLUICE_OK);
    uint8_t r[300];
    int n = sluice_mdns_build_response(NAME, &addr, 120, r, sizeof r);
    assert_true(n > 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(fd, r, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
    close(fd);
}

static void test_io_mdns_hears_answers_sent_to_port_5353_and_closes(void **state) {
    (void)state;
    sluice_io *io = open_io_and_query();
    int fds[8];
    /* One UDP socket, the query socket, and the 5353 listener (unless 5353 cannot be shared). */
    int nfds = sluice_io_fds(io, fds, 8);
    if (nfds < 3) {
        sluice_io_close(io);
        print_message("port 5353 cannot be shared here: skipped\n");
        skip();
    }
    answers a = {0};
    sluice_io_set_mdns_handler(io, on_mdns, &a);
    pump(io, &a, 5353);
    assert_true(a.count >= 1);
    char text[64];
    sluice_addr_format(&a.addr, text, sizeof text);
    assert_string_equal(text, "198.18.0.1:0");
    /* Closing the mDNS sockets leaves the one UDP socket; a new query reopens them. */
    sluice_io_mdns_close(io);
    assert_int_equal(sluice_io_fds(io, fds, 8), 1);
    sluice_io_mdns_close(io);
    uint8_t q[300];
    int n = sluice_mdns_build_query(NAME, true, false, false, 0, q, sizeof q);
    assert_int_equal(sluice_io_mdns_query(io, q, (size_t)n), SLUICE_OK);
    assert_int_equal(sluice_io_fds(io, fds, 8), nfds);
    sluice_io_close(io);
}

static void test_io_mdns_hears_unicast_answers_to_the_query_port(void **state) {
    (void)state;
    sluice_io *io = open_io_and_query();
    int fds[8];
    int nfds = sluice_io_fds(io, fds, 8);
    assert_true(nfds >= 2);
    struct sockaddr_in qa;
    socklen_t ql = sizeof qa;
    assert_int_equal(getsockname(fds[1], (struct sockaddr *)&qa, &ql), 0); /* the query socket */
    answers a = {0};
    sluice_io_set_mdns_handler(io, on_mdns, &a);
    pump(io, &a, ntohs(qa.sin_port));
    assert_true(a.count >= 1);
    sluice_io_close(io);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_mdns_hears_answers_sent_to_port_5353_and_closes),
        cmocka_unit_test(test_io_mdns_hears_unicast_answers_to_the_query_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
