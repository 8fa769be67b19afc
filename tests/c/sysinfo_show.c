/* Prints, as key=value lines, what the memory entry points answer, next to the raw kernel
 * answer (syscall(SYS_sysinfo), which no preload can intercept) and the /proc/meminfo
 * MemTotal/MemFree read right before and right after. It retries (up to 50 times) until
 * MemTotal/MemFree did not change across the window; either way the caller can demand that
 * sysinfo, sysconf and get_*phys_pages agree with /proc/meminfo at some instant of the window
 * (a value between "before" and "after"; exactly equal when stable=1).
 *
 * keys: attempts stable before_MemTotal before_MemFree after_MemTotal after_MemFree
 *       before_SwapTotal before_SwapFree after_SwapTotal after_SwapFree
 *       totalram freeram sharedram bufferram totalswap freeswap procs uptime load0..2
 *       mem_unit totalhigh freehigh (hooked sysinfo)
 *       raw_* (same fields from the raw syscall)
 *       sc_phys_pages sc_avphys_pages sc_pagesize get_phys_pages get_avphys_pages */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static unsigned long long swap_total, swap_free;

static int meminfo(unsigned long long *total, unsigned long long *freekb) {
    char buf[16384];
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, "MemTotal:");
    char *q = strstr(buf, "MemFree:");
    if (!p || !q) return -1;
    *total = strtoull(p + 9, NULL, 10);
    *freekb = strtoull(q + 8, NULL, 10);
    char *st = strstr(buf, "SwapTotal:");
    char *sf = strstr(buf, "SwapFree:");
    swap_total = st ? strtoull(st + 10, NULL, 10) : 0;
    swap_free = sf ? strtoull(sf + 9, NULL, 10) : 0;
    return 0;
}

static void show(const char *prefix, const struct sysinfo *s) {
    printf("%stotalram=%lu\n%sfreeram=%lu\n%ssharedram=%lu\n%sbufferram=%lu\n", prefix, s->totalram,
           prefix, s->freeram, prefix, s->sharedram, prefix, s->bufferram);
    printf("%stotalswap=%lu\n%sfreeswap=%lu\n%sprocs=%u\n%suptime=%ld\n", prefix, s->totalswap, prefix,
           s->freeswap, prefix, (unsigned)s->procs, prefix, s->uptime);
    printf("%sload0=%lu\n%sload1=%lu\n%sload2=%lu\n%smem_unit=%u\n%stotalhigh=%lu\n%sfreehigh=%lu\n",
           prefix, s->loads[0], prefix, s->loads[1], prefix, s->loads[2], prefix, s->mem_unit, prefix,
           s->totalhigh, prefix, s->freehigh);
}

int main(void) {
    unsigned long long t1 = 0, f1 = 0, t2 = 0, f2 = 0, st1 = 0, sf1 = 0;
    struct sysinfo hooked, raw;
    long phys = 0, avphys = 0, psz = 0, gphys = 0, gavphys = 0;
    int attempt, stable = 0;
    for (attempt = 1; attempt <= 50; attempt++) {
        if (meminfo(&t1, &f1) != 0) { perror("meminfo before"); return 2; }
        st1 = swap_total;
        sf1 = swap_free;
        if (sysinfo(&hooked) != 0) { perror("sysinfo"); return 2; }
        if (syscall(SYS_sysinfo, &raw) != 0) { perror("SYS_sysinfo"); return 2; }
        phys = sysconf(_SC_PHYS_PAGES);
        avphys = sysconf(_SC_AVPHYS_PAGES);
        psz = sysconf(_SC_PAGESIZE);
        gphys = get_phys_pages();
        gavphys = get_avphys_pages();
        if (meminfo(&t2, &f2) != 0) { perror("meminfo after"); return 2; }
        if (t1 == t2 && f1 == f2 && st1 == swap_total && sf1 == swap_free) { stable = 1; break; }
        usleep(20000);
    }
    printf("attempts=%d\nstable=%d\n", attempt, stable);
    printf("before_MemTotal=%llu\nbefore_MemFree=%llu\nafter_MemTotal=%llu\nafter_MemFree=%llu\n", t1, f1,
           t2, f2);
    printf("before_SwapTotal=%llu\nbefore_SwapFree=%llu\nafter_SwapTotal=%llu\nafter_SwapFree=%llu\n", st1, sf1,
           swap_total, swap_free);
    show("", &hooked);
    show("raw_", &raw);
    printf("sc_phys_pages=%ld\nsc_avphys_pages=%ld\nsc_pagesize=%ld\nget_phys_pages=%ld\nget_avphys_pages=%ld\n",
           phys, avphys, psz, gphys, gavphys);
    return 0;
}
