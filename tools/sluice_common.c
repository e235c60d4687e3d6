/* Shared helpers of the `sluice` tool: options to config, sockets, WebSocket I/O,
 * signaling JSON, the receiving side of the file protocol. See sluice_tool.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice_tool.h"

void tool_config(const tool_opts *o, sluice_config *cfg, sluice_ice_server *servers)
{
    sluice_config_default(cfg);
    size_t n = 0;
    for (size_t i = 0; i < o->nice; i++) {
        bool turn = strncmp(o->ice_urls[i], "turn", 4) == 0;
        servers[n].urls = &o->ice_urls[i];
        servers[n].urls_count = 1;
        servers[n].username = turn ? o->turn_user : NULL;
        servers[n].credential = turn ? o->turn_pass : NULL;
        n++;
    }
    cfg->ice_servers = n ? servers : NULL;
    cfg->ice_servers_count = n;
    if (o->bind) {
        cfg->bind_address = o->bind;
        /* Loopback candidates are off by default; binding 127.x asks for them. */
        cfg->ice_loopback = strncmp(o->bind, "127.", 4) == 0 || strcmp(o->bind, "::1") == 0;
    }
    cfg->ice_policy = o->relay_only ? SLUICE_ICE_POLICY_RELAY : SLUICE_ICE_POLICY_ALL;
    if (o->max_message) {
        cfg->max_message_size = o->max_message;
    }
}

sluice_time tool_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sluice_time)ts.tv_sec * 1000000u + (sluice_time)ts.tv_nsec / 1000u;
}

void tool_log(const char *who, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sluice %s: ", who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void tool_sha256_hex(EVP_MD_CTX *ctx, char out[65])
{
    uint8_t md[32];
    unsigned int len = 0;
    out[0] = '\0';
    if (!ctx || EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32) {
        return;
    }
    for (unsigned i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v > 65535) {
        return -1;
    }
    *port = (uint16_t)v;
    return 0;
}

int tool_split_hostport(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') {
            return -1;
        }
        hl = (size_t)(rb - s - 1);
        s++;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            return -1;
        }
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= cap) {
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    return parse_port(colon + 1, port);
}

int tool_parse_ws_url(const char *url, char *host, size_t hcap, uint16_t *port, char *target,
                      size_t tcap, char *hosthdr, size_t hhcap)
{
    if (strncmp(url, "ws://", 5) != 0) {
        return -1;
    }
    const char *h = url + 5;
    const char *slash = strchr(h, '/');
    size_t al = slash ? (size_t)(slash - h) : strlen(h);
    char auth[300];
    if (al == 0 || al >= sizeof auth || al >= hhcap) {
        return -1;
    }
    memcpy(auth, h, al);
    auth[al] = '\0';
    memcpy(hosthdr, auth, al + 1);
    const char *t = slash ? slash : "/";
    if (strlen(t) >= tcap) {
        return -1;
    }
    strcpy(target, t);
    bool has_port = auth[0] == '[' ? strstr(auth, "]:") != NULL : strchr(auth, ':') != NULL;
    if (has_port) {
        return tool_split_hostport(auth, host, hcap, port);
    }
    const char *hs = auth;
    size_t hl = al;
    if (auth[0] == '[') {
        if (auth[al - 1] != ']') {
            return -1;
        }
        hs++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hcap) {
        return -1;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = 80;
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int tool_tcp_listen(const char *host, uint16_t port, uint16_t *bound_port)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) {
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    set_nonblock(fd);
    return fd;
}

int tool_tcp_connect(const char *host, uint16_t port)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) {
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_nonblock(fd);
    }
    return fd;
}

int tool_ws_read(int fd, ws_conn *ws)
{
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0;
    }
    if (n <= 0) {
        return -1;
    }
    ws_feed(ws, buf, (size_t)n); /* an overflow shows as WS_EV_ERROR */
    return 0;
}

int tool_ws_write(int fd, ws_conn *ws)
{
    while (ws_out_pending(ws)) {
        size_t len;
        const uint8_t *p = ws_out(ws, &len);
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        ws_out_consume(ws, (size_t)n);
    }
    return 0;
}

void tool_sig_description(cli_str *s, const char *type, const char *sdp)
{
    cli_str_puts(s, "{\"type\":");
    cli_str_json_string(s, type, strlen(type));
    cli_str_puts(s, ",\"sdp\":");
    cli_str_json_string(s, sdp, strlen(sdp));
    cli_str_puts(s, "}");
}

void tool_sig_candidate(cli_str *s, const char *mid, int index, const char *cand)
{
    const char *m = mid ? mid : "0", *c = cand ? cand : "";
    cli_str_puts(s, "{\"type\":\"candidate\",\"mid\":");
    cli_str_json_string(s, m, strlen(m));
    cli_str_printf(s, ",\"index\":%d,\"candidate\":", index);
    cli_str_json_string(s, c, strlen(c));
    cli_str_puts(s, "}");
}

int tool_sig_apply(sluice_peer *pc, const cli_json *m, const char *who)
{
    const char *type = cli_json_get_string(m, "type");
    if (!type) {
        return 0;
    }
    if (strcmp(type, "offer") == 0 || strcmp(type, "answer") == 0) {
        const char *sdp = cli_json_get_string(m, "sdp");
        if (!sdp) {
            return SLUICE_ERR_SDP;
        }
        int rc = sluice_peer_set_remote_description(pc, type, sdp);
        if (rc < 0) {
            tool_log(who, "remote %s refused: %s", type, sluice_strerror(rc));
            return rc;
        }
        return 1;
    }
    if (strcmp(type, "candidate") == 0) {
        const char *mid = cli_json_get_string(m, "mid");
        const char *cand = cli_json_get_string(m, "candidate");
        int index = (int)cli_json_get_number(m, "index", 0);
        int rc = sluice_peer_add_ice_candidate(pc, mid ? mid : "0", index, cand ? cand : "");
        if (rc < 0) {
            /* Not fatal: candidates we cannot use (TCP, other families) are normal. */
            tool_log(who, "candidate ignored (%s): %.120s", sluice_strerror(rc),
                     cand ? cand : "");
        }
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Receiving side of the file protocol                                                  */
/* ------------------------------------------------------------------------------------ */

void xfer_rx_free(xfer_rx *x)
{
    EVP_MD_CTX_free(x->sha);
    x->sha = NULL;
    x->active = false;
}

static void result_msg(cli_str *r, bool ok, uint64_t bytes, const char *sha, const char *err)
{
    cli_str_printf(r, "{\"type\":\"result\",\"ok\":%s,\"bytes\":%" PRIu64 ",\"sha256\":",
                   ok ? "true" : "false", bytes);
    cli_str_json_string(r, sha, strlen(sha));
    if (err) {
        cli_str_puts(r, ",\"error\":");
        cli_str_json_string(r, err, strlen(err));
    }
    cli_str_puts(r, "}");
}

/* Keep only a safe base name: no directories, no leading dots, printable ASCII. */
static void sanitize_name(const char *in, char *out, size_t cap)
{
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    size_t j = 0;
    for (size_t i = 0; base[i] && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)base[i];
        bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || (c == '.' && j > 0);
        out[j++] = okc ? (char)c : '_';
    }
    out[j] = '\0';
    if (j == 0) {
        snprintf(out, cap, "received.bin");
    }
}

int xfer_rx_message(xfer_rx *x, const uint8_t *p, size_t n, bool text, cli_str *reply, bool *ok,
                    char mine[65])
{
    *ok = false;
    mine[0] = '\0';
    if (!text) {
        if (!x->active) {
            result_msg(reply, false, x->bytes, "", "data before the file header");
            return -1;
        }
        EVP_DigestUpdate(x->sha, p, n);
        x->bytes += n;
        if (x->on_data) {
            x->on_data(x->user, p, n);
        }
        return 0;
    }
    cli_json *m = cli_json_parse((const char *)p, n, NULL, 0);
    const char *type = m ? cli_json_get_string(m, "type") : NULL;
    int rc = 0;
    if (type && strcmp(type, "file") == 0) {
        xfer_rx_free(x);
        x->sha = EVP_MD_CTX_new();
        if (!x->sha || EVP_DigestInit_ex(x->sha, EVP_sha256(), NULL) != 1) {
            result_msg(reply, false, 0, "", "SHA-256 unavailable");
            rc = -1;
        } else {
            x->active = true;
            x->bytes = 0;
            double sz = cli_json_get_number(m, "size", -1);
            x->size = sz >= 0 && sz < 1e18 ? (uint64_t)sz : UINT64_MAX;
            const char *name = cli_json_get_string(m, "name");
            sanitize_name(name ? name : "", x->name, sizeof x->name);
        }
    } else if (type && strcmp(type, "end") == 0 && x->active) {
        tool_sha256_hex(x->sha, mine);
        xfer_rx_free(x);
        const char *theirs = cli_json_get_string(m, "sha256");
        double b = cli_json_get_number(m, "bytes", -1);
        *ok = theirs && strcmp(theirs, mine) == 0 && b == (double)x->bytes &&
              (x->size == UINT64_MAX || x->size == x->bytes);
        result_msg(reply, *ok, x->bytes, mine, *ok ? NULL : "count or SHA-256 differ");
        rc = 1;
    } else {
        result_msg(reply, false, x->bytes, "", "unexpected message on the file channel");
        rc = -1;
    }
    cli_json_free(m);
    return rc;
}
