/* The thin I/O layer: non-blocking UDP sockets (IPv4 + IPv6), one per local address,
 * batched with recvmmsg/sendmmsg, plus TCP and TLS (tls.h) streams to TURN servers. The only
 * module that touches sockets. */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include "util.h"

#include <sys/socket.h>

#define SLUICE_IO_MAX_SOCKETS 16
#define SLUICE_IO_BATCH 16
#define SLUICE_IO_MAX_DATAGRAM 2048
#define SLUICE_IO_MAX_TCP 4
#define SLUICE_IO_TCP_BUFFER (256 * 1024)

typedef struct sluice_io_settings {
    const char *bind_address; /**< only this local IP (NULL: every usable interface address) */
    uint16_t port_min, port_max; /**< 0,0: any port */
    bool loopback;            /**< include 127.0.0.1 / ::1 (always when bind_address is loopback) */
    bool ipv6;                /**< include IPv6 (global and unique-local; link-local is skipped) */
    /** TURN over TLS: PEM certificates trusted in addition to the system CA store (private
     *  TURN servers); NULL: the system store only. Copied. */
    const char *tls_ca_pem;
} sluice_io_settings;

typedef struct sluice_io sluice_io;

/** sluice_addr <-> sockaddr (for the other socket owner, mux.c). An unknown family gives false. */
void sluice_io_addr_to_sockaddr(const sluice_addr *a, struct sockaddr_storage *ss, socklen_t *len);
bool sluice_io_sockaddr_to_addr(const struct sockaddr *sa, sluice_addr *a);

/** Open one socket per selected local address. Errors: NOMEM, IO (no usable address or bind
 *  failed for all), EXHAUSTED (no free port in the range), CONFIG (tls_ca_pem holds no
 *  certificate). */
int sluice_io_open(sluice_io **out, const sluice_io_settings *s, const sluice_allocator *alloc,
                   const sluice_logger *log);
void sluice_io_close(sluice_io *io);

/** The bound local addresses (with their ports). */
size_t sluice_io_local_addresses(const sluice_io *io, sluice_addr *out, size_t cap);

typedef void (*sluice_io_recv_fn)(void *user, const sluice_addr *local, const sluice_addr *remote,
                                  const uint8_t *data, size_t len);

/** Read what is ready on every socket (bounded: at most `max_datagrams`), calling fn for
 *  each. Returns the number read. Never blocks. */
int sluice_io_recv(sluice_io *io, sluice_io_recv_fn fn, void *user, size_t max_datagrams);

/** Queue a datagram for sending from `local` to `remote` (sent by sluice_io_flush or when the
 *  batch is full). Errors: NOT_FOUND (no socket for local), INVALID_ARGUMENT. */
int sluice_io_send(sluice_io *io, const sluice_addr *local, const sluice_addr *remote,
                   const uint8_t *data, size_t len);
/** Send every queued datagram (sendmmsg per socket). Datagrams the kernel refuses
 *  (EAGAIN, ENOBUFS) are dropped: the protocols above retransmit. Returns datagrams sent. */
int sluice_io_flush(sluice_io *io);

/** Socket fds to watch for reading. Returns the count (may exceed cap). */
int sluice_io_fds(const sluice_io *io, int *fds, size_t cap);

/** mDNS (RFC 6762): send `query` to 224.0.0.251:5353 on every multicast-capable IPv4
 *  interface from a lazily opened socket on an ephemeral port (responders that honour §6.7
 *  answer it by unicast there). Responders that answer by multicast instead (Chromium) are
 *  heard on a second socket bound to port 5353 (shared, SO_REUSEADDR) that joined the group,
 *  when that bind is possible. Replies from both arrive through the handler set with
 *  sluice_io_set_mdns_handler from sluice_io_recv. Errors: IO. */
int sluice_io_mdns_query(sluice_io *io, const uint8_t *query, size_t len);
void sluice_io_set_mdns_handler(sluice_io *io, sluice_io_recv_fn fn, void *user);
/** Close the mDNS sockets (no name left to resolve): while open, the shared port 5353 may
 *  take unicast packets meant for another local mDNS stack. The next query reopens them. */
void sluice_io_mdns_close(sluice_io *io);

/** TURN over TCP (RFC 6062 framing, RFC 8656 §12.5): send `data` (one STUN or padded ChannelData
 *  message) over a TCP connection from the IP of `local` to `remote`, opened on first use
 *  (non-blocking; bytes wait in a bounded buffer until it connects). Received bytes are split
 *  into messages and delivered by sluice_io_recv with the same `local` / `remote`.
 *  Errors: NOT_FOUND (no socket for local), EXHAUSTED (too many connections), BUFFER_FULL,
 *  IO (the connection failed; it is dropped and reopened by the next send). */
int sluice_io_send_tcp(sluice_io *io, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data,
                       size_t len);
/** TURN over TLS (`turns:`, RFC 8656 §3.1): as sluice_io_send_tcp, but the connection carries
 *  TLS 1.2+ (OpenSSL, driven from sluice_io_flush / sluice_io_recv, never blocking). The
 *  server certificate must chain to the system CA store or settings.tls_ca_pem and name
 *  `server_name` (the URL host as configured, before DNS; an IP literal is matched against IP
 *  SANs and not sent as SNI). A failed handshake or verification drops the connection with a
 *  WARN log line giving the reason; bytes queued for it are lost (STUN retransmits; the next
 *  send opens a new connection). Errors: as sluice_io_send_tcp, INVALID_ARGUMENT (no name),
 *  CRYPTO, INVALID_STATE (a plain TCP connection, or one verified for another name, to that
 *  address exists; and the other way round for sluice_io_send_tcp). */
int sluice_io_send_tls(sluice_io *io, const sluice_addr *local, const sluice_addr *remote, const char *server_name,
                       const uint8_t *data, size_t len);
/** A TCP/TLS connection that failed or was closed (by the server, a reset, a refused connect,
 *  a failed TLS handshake or verification) since the last call: true and its addresses, or
 *  false. Oldest first; at most 2 * SLUICE_IO_MAX_TCP are remembered. */
bool sluice_io_poll_stream_closed(sluice_io *io, sluice_addr *local, sluice_addr *remote);
/** True while TCP bytes wait to be written (the caller should poll again soon). */
bool sluice_io_tcp_pending(const sluice_io *io);

/** Datagrams dropped by the kernel on send. */
uint64_t sluice_io_send_drops(const sluice_io *io);

#endif
