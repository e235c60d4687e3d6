#include "io.h"

#include "tls.h"
#include "turn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct io_socket {
    int fd;
    sluice_addr local;
} io_socket;

typedef struct io_pending {
    int sock;
    sluice_addr remote;
    size_t len;
    uint8_t data[SLUICE_IO_MAX_DATAGRAM];
} io_pending;

typedef struct io_tcp {
    int fd; /* -1: free slot */
    bool connected;
    sluice_addr local, remote;
    uint8_t *out; /* bytes for the socket; with TLS: plaintext waiting to be encrypted */
    size_t out_len;
    uint8_t *in;  /* received stream (plaintext) not yet framed */
    size_t in_len;
    sluice_tls_client *tls; /* NULL: plain TCP */
    uint8_t *cout; /* with TLS: ciphertext for the socket */
    size_t cout_len;
    bool tls_up; /* handshake done and verified */
    char name[256]; /* with TLS: the name verified */
} io_tcp;

struct sluice_io {
    const sluice_allocator *alloc;
    const sluice_logger *log;
    io_socket socks[SLUICE_IO_MAX_SOCKETS];
    size_t nsocks;
    /* The send batch and the receive buffers (32 KB each) exist only while in use: from
     * the first sluice_io_send to the end of sluice_io_flush, and inside sluice_io_recv.
     * An idle connection holds neither (one malloc per poll costs nothing beside the
     * syscalls it batches). */
    io_pending *out;
    size_t nout;
    uint64_t send_drops;
    io_tcp tcp[SLUICE_IO_MAX_TCP];
    int mdns_fd; /* -1 until the first query */
    int mdns_listen_fd; /* -1: none; 0.0.0.0:5353 joined to 224.0.0.251 for multicast answers */
    sluice_addr mdns_local;
    sluice_io_recv_fn mdns_fn;
    void *mdns_user;
    struct { sluice_addr local, remote; } closed[2 * SLUICE_IO_MAX_TCP]; /* see poll_stream_closed */
    size_t nclosed;
    char *tls_ca_pem;         /* copy of the settings' extra trust anchors */
    sluice_tls_ctx *tls_ctx;  /* made on the first TLS connection */
    uint8_t (*rxbuf)[SLUICE_IO_MAX_DATAGRAM]; /* SLUICE_IO_BATCH of them, during sluice_io_recv only */
};

static void tcp_write(sluice_io *io, io_tcp *t);
static void tcp_recv(sluice_io *io, io_tcp *t, sluice_io_recv_fn fn, void *user);

void sluice_io_addr_to_sockaddr(const sluice_addr *a, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->ip, 4);
        *len = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->ip, 16);
        *len = sizeof *s6;
    }
}

bool sluice_io_sockaddr_to_addr(const struct sockaddr *sa, sluice_addr *a) {
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = 4;
        a->port = ntohs(s4->sin_port);
        memcpy(a->ip, &s4->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        /* IPv4-mapped addresses never occur: sockets are IPV6_V6ONLY. */
        a->family = 6;
        a->port = ntohs(s6->sin6_port);
        memcpy(a->ip, &s6->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool is_loopback(const sluice_addr *a) {
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return a->family == 4 ? a->ip[0] == 127 : memcmp(a->ip, v6lo, 16) == 0;
}

static bool is_link_local6(const sluice_addr *a) {
    return a->family == 6 && a->ip[0] == 0xfe && (a->ip[1] & 0xc0) == 0x80;
}

static int open_socket(sluice_io *io, const sluice_addr *local, const sluice_io_settings *s) {
    int fam = local->family == 4 ? AF_INET : AF_INET6;
    int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return SLUICE_ERR_IO;
    if (fam == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    /* Bigger kernel buffers absorb bursts at high rates (best effort, capped by rmem_max). */
    int bufsz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    uint32_t lo = s->port_min, hi = s->port_max;
    if (lo == 0) lo = hi = 0;
    for (uint32_t port = lo; port <= hi; port++) {
        sluice_addr a = *local;
        a.port = (uint16_t)port;
        struct sockaddr_storage ss;
        socklen_t sl;
        sluice_io_addr_to_sockaddr(&a, &ss, &sl);
        if (bind(fd, (struct sockaddr *)&ss, sl) == 0) {
            struct sockaddr_storage bound;
            socklen_t bl = sizeof bound;
            getsockname(fd, (struct sockaddr *)&bound, &bl);
            sluice_io_sockaddr_to_addr((struct sockaddr *)&bound, &a);
            io->socks[io->nsocks].fd = fd;
            io->socks[io->nsocks].local = a;
            io->nsocks++;
            return SLUICE_OK;
        }
        if (errno != EADDRINUSE) break;
    }
    close(fd);
    return lo ? SLUICE_ERR_EXHAUSTED : SLUICE_ERR_IO;
}

int sluice_io_open(sluice_io **out, const sluice_io_settings *s, const sluice_allocator *alloc,
                   const sluice_logger *log) {
    if (!out || !s) return SLUICE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    sluice_io *io = sluice_mem_calloc(alloc, 1, sizeof *io);
    if (!io) return SLUICE_ERR_NOMEM;
    io->alloc = alloc;
    io->log = log;
    io->mdns_fd = -1;
    io->mdns_listen_fd = -1;
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++) io->tcp[k].fd = -1;
    int last_err = SLUICE_ERR_IO;
    if (s->bind_address) {
        sluice_addr a;
        if (sluice_addr_parse(&a, s->bind_address, 0) != SLUICE_OK) {
            sluice_mem_free(alloc, io);
            return SLUICE_ERR_CONFIG;
        }
        last_err = open_socket(io, &a, s);
    } else {
        struct ifaddrs *ifs = NULL;
        if (getifaddrs(&ifs) == 0) {
            for (struct ifaddrs *i = ifs; i && io->nsocks < SLUICE_IO_MAX_SOCKETS; i = i->ifa_next) {
                if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
                sluice_addr a;
                if (!sluice_io_sockaddr_to_addr(i->ifa_addr, &a)) continue;
                if (a.family == 6 && (!s->ipv6 || is_link_local6(&a))) continue;
                if (is_loopback(&a) && !s->loopback) continue;
                bool dup = false;
                for (size_t k = 0; k < io->nsocks; k++) {
                    sluice_addr b = io->socks[k].local;
                    b.port = 0;
                    if (sluice_addr_equal(&a, &b)) dup = true;
                }
                if (dup) continue;
                int rc = open_socket(io, &a, s);
                if (rc) last_err = rc;
            }
            freeifaddrs(ifs);
        }
    }
    if (io->nsocks == 0) {
        SLUICE_LOG(log, SLUICE_LOG_ERROR, "io", "no usable local address could be bound");
        sluice_mem_free(alloc, io);
        return last_err ? last_err : SLUICE_ERR_IO;
    }
    if (s->tls_ca_pem) {
        /* Made now so that a bad PEM fails here, not at the first turns: connection. */
        int rc = SLUICE_ERR_NOMEM;
        if (!(io->tls_ca_pem = sluice_mem_strdup(alloc, s->tls_ca_pem)) ||
            (rc = sluice_tls_ctx_new(&io->tls_ctx, io->tls_ca_pem, true, alloc, log)) != SLUICE_OK) {
            sluice_io_close(io);
            return rc;
        }
    }
    for (size_t k = 0; k < io->nsocks; k++) {
        char buf[64];
        sluice_addr_format(&io->socks[k].local, buf, sizeof buf);
        SLUICE_LOG(log, SLUICE_LOG_DEBUG, "io", "bound %s", buf);
    }
    *out = io;
    return SLUICE_OK;
}

void sluice_io_close(sluice_io *io) {
    if (!io) return;
    for (size_t k = 0; k < io->nsocks; k++) close(io->socks[k].fd);
    if (io->mdns_fd >= 0) close(io->mdns_fd);
    if (io->mdns_listen_fd >= 0) close(io->mdns_listen_fd);
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++) {
        if (io->tcp[k].fd >= 0) close(io->tcp[k].fd);
        sluice_tls_client_free(io->tcp[k].tls);
        sluice_mem_free(io->alloc, io->tcp[k].out);
        sluice_mem_free(io->alloc, io->tcp[k].in);
        sluice_mem_free(io->alloc, io->tcp[k].cout);
    }
    sluice_tls_ctx_free(io->tls_ctx);
    sluice_mem_free(io->alloc, io->tls_ca_pem);
    sluice_mem_free(io->alloc, io->out);
    sluice_mem_free(io->alloc, io);
}

size_t sluice_io_local_addresses(const sluice_io *io, sluice_addr *out, size_t cap) {
    for (size_t k = 0; k < io->nsocks && k < cap; k++) out[k] = io->socks[k].local;
    return io->nsocks;
}

static void recv_mdns(sluice_io *io, int fd) {
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, io->rxbuf[0], SLUICE_IO_MAX_DATAGRAM, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0) break;
        sluice_addr remote;
        if (io->mdns_fn && sluice_io_sockaddr_to_addr((struct sockaddr *)&from, &remote))
            io->mdns_fn(io->mdns_user, &io->mdns_local, &remote, io->rxbuf[0], (size_t)n);
    }
}

/* Multicast-capable IPv4 interface addresses (up, not loopback), for joining the group and
 * sending queries on each link. Returns the count written (at most cap). */
static size_t mdns_interfaces(struct in_addr *out, size_t cap) {
    size_t n = 0;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) return 0;
    for (struct ifaddrs *i = ifs; i && n < cap; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        if ((i->ifa_flags & (IFF_UP | IFF_MULTICAST | IFF_LOOPBACK)) != (IFF_UP | IFF_MULTICAST)) continue;
        out[n++] = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
    }
    freeifaddrs(ifs);
    return n;
}

/* Responders that ignore the legacy-unicast rule of RFC 6762 §6.7 (Chromium's among them)
 * answer a query from an ephemeral port by multicast to 224.0.0.251:5353 (§6). To hear those
 * answers we share port 5353 with the local responders (SO_REUSEADDR/SO_REUSEPORT, as every
 * mDNS stack does) and join the group on each link. Best effort: -1 when that is impossible. */
static int mdns_open_listener(sluice_io *io) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
#endif
    struct sockaddr_in any;
    memset(&any, 0, sizeof any);
    any.sin_family = AF_INET;
    any.sin_port = htons(5353);
    if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0) {
        SLUICE_LOG(io->log, SLUICE_LOG_DEBUG, "io", "mDNS: cannot bind port 5353 (%s): unicast answers only",
                   strerror(errno));
        close(fd);
        return -1;
    }
    struct in_addr ifs[SLUICE_IO_MAX_SOCKETS];
    size_t nif = mdns_interfaces(ifs, SLUICE_IO_MAX_SOCKETS);
    size_t joined = 0;
    for (size_t k = 0; k <= nif; k++) {
        if (k == nif && joined) break;
        struct ip_mreq mr;
        memset(&mr, 0, sizeof mr);
        mr.imr_multiaddr.s_addr = htonl(0xE00000FBu); /* 224.0.0.251 */
        mr.imr_interface.s_addr = k < nif ? ifs[k].s_addr : htonl(INADDR_ANY); /* last: by route */
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) == 0) joined++;
    }
    if (!joined) {
        SLUICE_LOG(io->log, SLUICE_LOG_DEBUG, "io", "mDNS: cannot join 224.0.0.251: unicast answers only");
        close(fd);
        return -1;
    }
    return fd;
}

int sluice_io_mdns_query(sluice_io *io, const uint8_t *query, size_t len) {
    if (io->mdns_fd < 0) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return SLUICE_ERR_IO;
        int ttl = 255, loop = 1; /* §11: TTL 255; loop: the responder may be on this host */
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
        struct sockaddr_in any;
        memset(&any, 0, sizeof any);
        any.sin_family = AF_INET;
        if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0) {
            close(fd);
            return SLUICE_ERR_IO;
        }
        struct sockaddr_storage bound;
        socklen_t bl = sizeof bound;
        getsockname(fd, (struct sockaddr *)&bound, &bl);
        sluice_io_sockaddr_to_addr((struct sockaddr *)&bound, &io->mdns_local);
        io->mdns_fd = fd;
        io->mdns_listen_fd = mdns_open_listener(io);
    }
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(5353);
    to.sin_addr.s_addr = htonl(0xE00000FBu); /* 224.0.0.251 */
    /* The name's owner may be on any link: ask on each multicast interface (IP_MULTICAST_IF),
     * or by route when there is none. */
    struct in_addr ifs[SLUICE_IO_MAX_SOCKETS];
    size_t nif = mdns_interfaces(ifs, SLUICE_IO_MAX_SOCKETS);
    size_t sent = 0;
    for (size_t k = 0; k < nif; k++) {
        if (setsockopt(io->mdns_fd, IPPROTO_IP, IP_MULTICAST_IF, &ifs[k], sizeof ifs[k]) != 0) continue;
        if (sendto(io->mdns_fd, query, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to) == (ssize_t)len) sent++;
    }
    if (sent == 0) {
        struct in_addr none = {.s_addr = htonl(INADDR_ANY)};
        setsockopt(io->mdns_fd, IPPROTO_IP, IP_MULTICAST_IF, &none, sizeof none);
        if (sendto(io->mdns_fd, query, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to) < 0)
            return SLUICE_ERR_IO;
    }
    return SLUICE_OK;
}

void sluice_io_mdns_close(sluice_io *io) {
    if (io->mdns_fd >= 0) close(io->mdns_fd);
    if (io->mdns_listen_fd >= 0) close(io->mdns_listen_fd);
    io->mdns_fd = io->mdns_listen_fd = -1;
}

void sluice_io_set_mdns_handler(sluice_io *io, sluice_io_recv_fn fn, void *user) {
    io->mdns_fn = fn;
    io->mdns_user = user;
}

int sluice_io_recv(sluice_io *io, sluice_io_recv_fn fn, void *user, size_t max_datagrams) {
    int total = 0;
    /* NOMEM: nothing is read now; the kernel keeps the datagrams for the next call. */
    if (!(io->rxbuf = sluice_mem_alloc(io->alloc, (size_t)SLUICE_IO_BATCH * SLUICE_IO_MAX_DATAGRAM))) return 0;
    if (io->mdns_fd >= 0) recv_mdns(io, io->mdns_fd);
    if (io->mdns_listen_fd >= 0) recv_mdns(io, io->mdns_listen_fd);
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++)
        if (io->tcp[k].fd >= 0) tcp_recv(io, &io->tcp[k], fn, user);
    struct mmsghdr msgs[SLUICE_IO_BATCH];
    struct iovec iov[SLUICE_IO_BATCH];
    struct sockaddr_storage from[SLUICE_IO_BATCH];
    for (size_t k = 0; k < io->nsocks; k++) {
        while ((size_t)total < max_datagrams) {
            size_t want = SLUICE_MIN((size_t)SLUICE_IO_BATCH, max_datagrams - (size_t)total);
            memset(msgs, 0, sizeof(msgs[0]) * want);
            for (size_t i = 0; i < want; i++) {
                iov[i].iov_base = io->rxbuf[i];
                iov[i].iov_len = SLUICE_IO_MAX_DATAGRAM;
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_name = &from[i];
                msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            }
            int n = recvmmsg(io->socks[k].fd, msgs, (unsigned)want, MSG_DONTWAIT, NULL);
            if (n <= 0) break;
            for (int i = 0; i < n; i++) {
                sluice_addr remote;
                if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue; /* never ours: too big */
                if (!sluice_io_sockaddr_to_addr((struct sockaddr *)&from[i], &remote)) continue;
                fn(user, &io->socks[k].local, &remote, io->rxbuf[i], msgs[i].msg_len);
            }
            total += n;
            if ((size_t)n < want) break;
        }
    }
    sluice_mem_free(io->alloc, io->rxbuf);
    io->rxbuf = NULL;
    return total;
}

static int find_socket(const sluice_io *io, const sluice_addr *local) {
    for (size_t k = 0; k < io->nsocks; k++)
        if (sluice_addr_equal(&io->socks[k].local, local)) return (int)k;
    return -1;
}

int sluice_io_send(sluice_io *io, const sluice_addr *local, const sluice_addr *remote,
                   const uint8_t *data, size_t len) {
    if (!io || !local || !remote || len > SLUICE_IO_MAX_DATAGRAM) return SLUICE_ERR_INVALID_ARGUMENT;
    int k = find_socket(io, local);
    if (k < 0) return SLUICE_ERR_NOT_FOUND;
    if (io->nout == SLUICE_IO_BATCH) sluice_io_flush(io);
    if (!io->out && !(io->out = sluice_mem_alloc(io->alloc, SLUICE_IO_BATCH * sizeof *io->out)))
        return SLUICE_ERR_NOMEM; /* dropped, as the kernel would: the protocols retransmit */
    io_pending *p = &io->out[io->nout++];
    p->sock = k;
    p->remote = *remote;
    p->len = len;
    memcpy(p->data, data, len);
    return SLUICE_OK;
}

int sluice_io_flush(sluice_io *io) {
    int sent = 0;
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++)
        if (io->tcp[k].fd >= 0 && (io->tcp[k].out_len || io->tcp[k].cout_len)) tcp_write(io, &io->tcp[k]);
    struct mmsghdr msgs[SLUICE_IO_BATCH];
    struct iovec iov[SLUICE_IO_BATCH];
    struct sockaddr_storage to[SLUICE_IO_BATCH];
    size_t i = 0;
    while (i < io->nout) {
        /* Batch consecutive datagrams of the same socket. */
        size_t j = i, n = 0;
        while (j < io->nout && io->out[j].sock == io->out[i].sock) {
            socklen_t sl;
            sluice_io_addr_to_sockaddr(&io->out[j].remote, &to[n], &sl);
            iov[n].iov_base = io->out[j].data;
            iov[n].iov_len = io->out[j].len;
            memset(&msgs[n], 0, sizeof msgs[n]);
            msgs[n].msg_hdr.msg_name = &to[n];
            msgs[n].msg_hdr.msg_namelen = sl;
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            n++;
            j++;
        }
        int fd = io->socks[io->out[i].sock].fd;
        size_t done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), MSG_DONTWAIT);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) continue;
                /* EAGAIN / ENOBUFS / unreachable: drop this one and go on. */
                io->send_drops++;
                done++;
                continue;
            }
            done += (size_t)r;
            sent += r;
        }
        i = j;
    }
    io->nout = 0;
    sluice_mem_free(io->alloc, io->out);
    io->out = NULL;
    return sent;
}


/* ---- TURN over TCP and TLS ------------------------------------------------------------ */

static void tcp_drop(sluice_io *io, io_tcp *t) {
    if (io->nclosed == SLUICE_ARRAY_LEN(io->closed)) {
        memmove(&io->closed[0], &io->closed[1], sizeof io->closed[0] * (io->nclosed - 1));
        io->nclosed--;
    }
    io->closed[io->nclosed].local = t->local;
    io->closed[io->nclosed].remote = t->remote;
    io->nclosed++;
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    t->connected = false;
    t->out_len = t->in_len = t->cout_len = 0;
    if (t->tls) {
        char addr[64];
        sluice_addr_format(&t->remote, addr, sizeof addr);
        const char *why = sluice_tls_client_reason(t->tls);
        SLUICE_LOG(io->log, why[0] ? SLUICE_LOG_WARN : SLUICE_LOG_INFO, "io",
                   "TLS connection to TURN server %s (%s) closed%s%s", t->name, addr, why[0] ? ": " : "", why);
        sluice_tls_client_free(t->tls);
        t->tls = NULL;
        return;
    }
    SLUICE_LOG(io->log, SLUICE_LOG_INFO, "io", "TCP connection to TURN server closed");
}

static io_tcp *tcp_find(sluice_io *io, const sluice_addr *local, const sluice_addr *remote) {
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++)
        if (io->tcp[k].fd >= 0 && sluice_addr_equal(&io->tcp[k].local, local) &&
            sluice_addr_equal(&io->tcp[k].remote, remote))
            return &io->tcp[k];
    return NULL;
}

/* `name` NULL: plain TCP; else TLS verifying that name. */
static int tcp_open(sluice_io *io, const sluice_addr *local, const sluice_addr *remote, const char *name,
                    io_tcp **out) {
    io_tcp *t = NULL;
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP && !t; k++)
        if (io->tcp[k].fd < 0) t = &io->tcp[k];
    if (!t) return SLUICE_ERR_EXHAUSTED;
    if (!t->out && !(t->out = sluice_mem_alloc(io->alloc, SLUICE_IO_TCP_BUFFER))) return SLUICE_ERR_NOMEM;
    if (!t->in && !(t->in = sluice_mem_alloc(io->alloc, SLUICE_IO_TCP_BUFFER))) return SLUICE_ERR_NOMEM;
    if (name) {
        if (strlen(name) >= sizeof t->name) return SLUICE_ERR_INVALID_ARGUMENT;
        if (!t->cout && !(t->cout = sluice_mem_alloc(io->alloc, SLUICE_IO_TCP_BUFFER))) return SLUICE_ERR_NOMEM;
        if (!io->tls_ctx) {
            int rc = sluice_tls_ctx_new(&io->tls_ctx, NULL, true, io->alloc, io->log);
            if (rc) return rc;
        }
    }
    int fd = socket(remote->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return SLUICE_ERR_IO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sl;
    sluice_addr bind_addr = *local;
    bind_addr.port = 0;
    sluice_io_addr_to_sockaddr(&bind_addr, &ss, &sl);
    if (local->family == remote->family) (void)bind(fd, (struct sockaddr *)&ss, sl);
    sluice_io_addr_to_sockaddr(remote, &ss, &sl);
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
        close(fd);
        return SLUICE_ERR_IO;
    }
    t->tls = NULL;
    t->tls_up = false;
    if (name) {
        int rc = sluice_tls_client_new(&t->tls, io->tls_ctx, name);
        if (rc) {
            close(fd);
            return rc;
        }
        snprintf(t->name, sizeof t->name, "%s", name);
    }
    t->fd = fd;
    t->connected = false;
    t->local = *local;
    t->remote = *remote;
    t->out_len = t->in_len = t->cout_len = 0;
    *out = t;
    return SLUICE_OK;
}

/* Move TLS output into cout and queued plaintext into OpenSSL. Plaintext is encrypted only
 * while cout has room for a whole record, so OpenSSL's write buffer stays bounded.
 * Returns false when the connection failed (it is dropped). */
static bool tls_pump(sluice_io *io, io_tcp *t) {
    for (;;) {
        t->cout_len += sluice_tls_client_take(t->tls, t->cout + t->cout_len, SLUICE_IO_TCP_BUFFER - t->cout_len);
        int h = sluice_tls_client_handshake(t->tls);
        if (h < 0) {
            tcp_drop(io, t);
            return false;
        }
        if (h == 1 && !t->tls_up) {
            t->tls_up = true;
            SLUICE_LOG(io->log, SLUICE_LOG_DEBUG, "io", "TLS to TURN server %s verified", t->name);
        }
        if (!t->out_len || !t->tls_up || sluice_tls_client_pending(t->tls) ||
            SLUICE_IO_TCP_BUFFER - t->cout_len < 16384 + 512)
            return true;
        int n = sluice_tls_client_write(t->tls, t->out, t->out_len);
        if (n < 0) {
            tcp_drop(io, t);
            return false;
        }
        if (n == 0) return true;
        memmove(t->out, t->out + n, t->out_len - (size_t)n);
        t->out_len -= (size_t)n;
    }
}

static void tcp_write(sluice_io *io, io_tcp *t) {
    for (;;) {
        if (t->tls && !tls_pump(io, t)) return;
        uint8_t *buf = t->tls ? t->cout : t->out;
        size_t *len = t->tls ? &t->cout_len : &t->out_len;
        if (!*len) return;
        while (*len) {
            ssize_t n = send(t->fd, buf, *len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS || errno == ENOTCONN) return;
                tcp_drop(io, t);
                return;
            }
            t->connected = true;
            memmove(buf, buf + n, *len - (size_t)n);
            *len -= (size_t)n;
        }
        /* TLS: more plaintext may now fit into cout. */
        if (!t->tls || (!t->out_len && !sluice_tls_client_pending(t->tls))) return;
    }
}

static bool tcp_has_output(const io_tcp *t) {
    if (t->fd < 0) return false;
    if (!t->tls) return t->out_len > 0;
    /* Plaintext waiting for the handshake is not "pending": the server must answer first. */
    return t->cout_len > 0 || sluice_tls_client_pending(t->tls) > 0 || (t->tls_up && t->out_len > 0);
}

static int stream_send(sluice_io *io, const sluice_addr *local, const sluice_addr *remote, const char *name,
                       const uint8_t *data, size_t len) {
    if (!io || !local || !remote || (!data && len)) return SLUICE_ERR_INVALID_ARGUMENT;
    if (find_socket(io, local) < 0) return SLUICE_ERR_NOT_FOUND;
    io_tcp *t = tcp_find(io, local, remote);
    if (!t) {
        int rc = tcp_open(io, local, remote, name, &t);
        if (rc) return rc;
    }
    /* Never let turns: bytes go out in clear on a plain connection to the same address. */
    if ((name != NULL) != (t->tls != NULL) || (name && strcmp(name, t->name) != 0)) return SLUICE_ERR_INVALID_STATE;
    if (len > SLUICE_IO_TCP_BUFFER - t->out_len) return SLUICE_ERR_BUFFER_FULL;
    memcpy(t->out + t->out_len, data, len);
    t->out_len += len;
    tcp_write(io, t);
    return SLUICE_OK;
}

int sluice_io_send_tcp(sluice_io *io, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data,
                       size_t len) {
    return stream_send(io, local, remote, NULL, data, len);
}

int sluice_io_send_tls(sluice_io *io, const sluice_addr *local, const sluice_addr *remote, const char *server_name,
                       const uint8_t *data, size_t len) {
    if (!server_name || !server_name[0]) return SLUICE_ERR_INVALID_ARGUMENT;
    return stream_send(io, local, remote, server_name, data, len);
}

bool sluice_io_poll_stream_closed(sluice_io *io, sluice_addr *local, sluice_addr *remote) {
    if (!io || io->nclosed == 0) return false;
    if (local) *local = io->closed[0].local;
    if (remote) *remote = io->closed[0].remote;
    io->nclosed--;
    memmove(&io->closed[0], &io->closed[1], sizeof io->closed[0] * io->nclosed);
    return true;
}

bool sluice_io_tcp_pending(const sluice_io *io) {
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++)
        if (tcp_has_output(&io->tcp[k])) return true;
    return false;
}

static void tcp_recv(sluice_io *io, io_tcp *t, sluice_io_recv_fn fn, void *user) {
    for (;;) {
        if (t->in_len == SLUICE_IO_TCP_BUFFER) {
            tcp_drop(io, t); /* a message larger than the buffer: not TURN */
            return;
        }
        size_t got;
        if (t->tls) {
            /* Decrypted bytes first: OpenSSL may hold some from an earlier read. */
            int m = sluice_tls_client_read(t->tls, t->in + t->in_len, SLUICE_IO_TCP_BUFFER - t->in_len);
            if (m < 0) {
                tcp_drop(io, t);
                return;
            }
            if (m == 0) {
                tcp_write(io, t); /* handshake flights, and plaintext once it is done */
                if (t->fd < 0) return;
                uint8_t tmp[16384];
                ssize_t n = recv(t->fd, tmp, sizeof tmp, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS || errno == ENOTCONN))
                    return;
                if (n <= 0 || sluice_tls_client_feed(t->tls, tmp, (size_t)n) != SLUICE_OK) {
                    tcp_drop(io, t);
                    return;
                }
                t->connected = true;
                continue;
            }
            got = (size_t)m;
        } else {
            ssize_t n = recv(t->fd, t->in + t->in_len, SLUICE_IO_TCP_BUFFER - t->in_len, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                if (n < 0 && (errno == EINPROGRESS || errno == ENOTCONN)) return;
                tcp_drop(io, t);
                return;
            }
            if (n < 0) return;
            t->connected = true;
            got = (size_t)n;
        }
        t->in_len += got;
        size_t off = 0;
        for (;;) {
            int m = sluice_turn_tcp_frame(t->in + off, t->in_len - off);
            if (m < 0) {
                tcp_drop(io, t);
                return;
            }
            if (m == 0) break;
            sluice_addr local = t->local, remote = t->remote;
            fn(user, &local, &remote, t->in + off, (size_t)m);
            if (t->fd < 0) return; /* dropped meanwhile */
            off += (size_t)m;
        }
        memmove(t->in, t->in + off, t->in_len - off);
        t->in_len -= off;
    }
}

int sluice_io_fds(const sluice_io *io, int *fds, size_t cap) {
    for (size_t k = 0; k < io->nsocks && k < cap; k++) fds[k] = io->socks[k].fd;
    size_t n = io->nsocks;
    if (io->mdns_fd >= 0) {
        if (n < cap) fds[n] = io->mdns_fd;
        n++;
    }
    if (io->mdns_listen_fd >= 0) {
        if (n < cap) fds[n] = io->mdns_listen_fd;
        n++;
    }
    for (size_t k = 0; k < SLUICE_IO_MAX_TCP; k++) {
        if (io->tcp[k].fd < 0) continue;
        if (n < cap) fds[n] = io->tcp[k].fd;
        n++;
    }
    return (int)n;
}

uint64_t sluice_io_send_drops(const sluice_io *io) { return io->send_drops; }
