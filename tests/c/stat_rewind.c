/* The procps pattern for /proc/stat: fopen once, then fflush() (which drops the buffered input;
 * without it glibc serves the old buffer even from procfs) and rewind()/fseek()/fseeko() + fgets
 * before every sample (top, vmstat). Prints the aggregate user+system ticks of each sample, busy-looping
 * ~300 ms on this CPU between samples.
 *
 *   stat_rewind MODE        MODE: rewind | fseek | fseeko
 * Output: sample0=<ticks> sample1=<ticks> sample2=<ticks> */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

static unsigned long long busy_ticks(FILE *f) {
    char line[512];
    unsigned long long user = 0, nice = 0, sys = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "cpu ", 4) != 0) return 0;
    sscanf(line + 4, "%llu %llu %llu", &user, &nice, &sys);
    return user + nice + sys;
}

static void spin_ms(long ms) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "rewind";
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 1;
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            spin_ms(300);
            fflush(f);
            if (!strcmp(mode, "fseek")) fseek(f, 0, SEEK_SET);
            else if (!strcmp(mode, "fseeko")) fseeko(f, 0, SEEK_SET);
            else rewind(f);
        }
        printf("sample%d=%llu\n", i, busy_ticks(f));
    }
    return 0;
}
