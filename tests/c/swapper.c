/* Allocates MIB MiB of anonymous memory, writes every page (distinct, non-zero contents, so
 * nothing can be deduplicated or treated as a zero page), prints "ready" and then sleeps until
 * its standard input is closed. In a memory cgroup whose limit is below MIB, the kernel has to
 * push part of it into swap (or kill it when it may not swap).
 *
 *   swapper MIB */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: swapper MIB\n"); return 64; }
    size_t bytes = (size_t)atol(argv[1]) << 20;
    unsigned char *p = malloc(bytes);
    if (!p) { perror("malloc"); return 2; }
    for (size_t i = 0; i < bytes; i += 64) p[i] = (unsigned char)(i / 4096 * 31 + i / 64 + 1);
    printf("ready\n");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    return 0;
}
