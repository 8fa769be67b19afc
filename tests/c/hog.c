/* Grows the memory cgroup's usage on a schedule: STEPS times, wait INTERVAL_MS then
 * allocate and touch MIB MiB (kept); then stay alive until TOTAL_MS since start.
 *
 *   hog STEPS MIB INTERVAL_MS TOTAL_MS */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: hog STEPS MIB INTERVAL_MS TOTAL_MS\n"); return 64; }
    int steps = atoi(argv[1]);
    size_t mib = (size_t)atoi(argv[2]);
    long long interval = atoll(argv[3]), total = atoll(argv[4]);
    long long start = now_ms();
    for (int i = 1; i <= steps; i++) {
        while (now_ms() < start + i * interval) usleep(10000);
        char *p = malloc(mib << 20);
        if (!p) { perror("malloc"); return 2; }
        memset(p, 0x33, mib << 20);
    }
    while (now_ms() < start + total) usleep(10000);
    return 0;
}
