// The floor of `scripts/bench-server`: the least work a keep-alive HTTP/1.1 server can do per update check. One
// thread, one epoll loop, no parsing beyond counting the request heads a read holds (`\r\n\r\n`), and the same fixed
// answer (the file given, with a minimal head) written for each in one `write`: two system calls per request, no
// routing, no headers looked at, no allocation. It is not a server (it ignores methods, paths and framing); it
// measures what the machine and the load generator allow, so that a target like "1.5x nginx" can be checked for
// being reachable at all on the machine the benchmark runs on.
//
//   floor-server PORT FILE
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static char answer[8192];
static int answer_len;

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor-server PORT FILE\n");
        return 2;
    }
    FILE *file = fopen(argv[2], "rb");
    if (!file) {
        perror(argv[2]);
        return 1;
    }
    char body[4096];
    size_t body_len = fread(body, 1, sizeof body, file);
    fclose(file);
    answer_len = snprintf(answer, sizeof answer,
                          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                          "date: Sun, 06 Dec 2026 00:00:00 GMT\r\n\r\n",
                          body_len);
    memcpy(answer + answer_len, body, body_len);
    answer_len += (int)body_len;

    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4096) != 0) {
        perror("bind");
        return 1;
    }
    int poll = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(poll, EPOLL_CTL_ADD, listener, &event);

    struct epoll_event ready[256];
    static char in[16384], out[65536];
    for (;;) {
        int n = epoll_wait(poll, ready, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                int conn;
                while ((conn = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event e = {.events = EPOLLIN, .data.fd = conn};
                    epoll_ctl(poll, EPOLL_CTL_ADD, conn, &e);
                }
                continue;
            }
            ssize_t got = read(fd, in, sizeof in - 1);
            if (got <= 0) {
                close(fd);
                continue;
            }
            in[got] = 0;
            int len = 0;
            for (char *p = in; (p = strstr(p, "\r\n\r\n")) && len + answer_len <= (int)sizeof out; p += 4) {
                memcpy(out + len, answer, answer_len);
                len += answer_len;
            }
            if (len > 0 && write(fd, out, len) != len) {
                close(fd);
            }
        }
    }
}
