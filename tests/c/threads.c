/* Many threads open/read/close /proc/meminfo (open, fopen), rewind kept fds and call
 * sysinfo at the same time; every answer must show the expected MemTotal, and no fd may leak.
 *
 *   threads THREADS ITERATIONS EXPECTED_MEMTOTAL_KB
 *
 * Output: bad=N (answers with another MemTotal or failed calls), fds_before=A fds_after=B. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static int iterations;
static unsigned long long expected;
static int bad;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void complain(const char *what, unsigned long long got) {
    pthread_mutex_lock(&lock);
    if (bad < 5) fprintf(stderr, "threads: %s gave %llu\n", what, got);
    bad++;
    pthread_mutex_unlock(&lock);
}

static unsigned long long memtotal(const char *buf) {
    const char *p = strstr(buf, "MemTotal:");
    return p ? strtoull(p + 9, NULL, 10) : 0;
}

static void *worker(void *arg) {
    (void)arg;
    char buf[8192];
    int kept = open("/proc/meminfo", O_RDONLY);
    for (int i = 0; i < iterations; i++) {
        int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) close(fd);
        buf[n > 0 ? n : 0] = 0;
        if (memtotal(buf) != expected) complain("open", memtotal(buf));

        FILE *f = fopen("/proc/meminfo", "r");
        size_t m = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[m] = 0;
        if (memtotal(buf) != expected) complain("fopen", memtotal(buf));

        n = kept >= 0 && lseek(kept, 0, SEEK_SET) == 0 ? read(kept, buf, sizeof buf - 1) : -1;
        buf[n > 0 ? n : 0] = 0;
        if (memtotal(buf) != expected) complain("lseek+read", memtotal(buf));

        struct sysinfo si;
        if (sysinfo(&si) != 0 || (unsigned long long)si.totalram * si.mem_unit / 1024 != expected)
            complain("sysinfo", (unsigned long long)si.totalram * si.mem_unit / 1024);
    }
    if (kept >= 0) close(kept);
    return NULL;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: threads THREADS ITERATIONS EXPECTED_KB\n"); return 64; }
    int nthreads = atoi(argv[1]);
    iterations = atoi(argv[2]);
    expected = strtoull(argv[3], NULL, 10);
    pthread_t t[64];
    if (nthreads > 64) nthreads = 64;
    int before = count_fds();
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    printf("bad=%d\nfds_before=%d\nfds_after=%d\n", bad, before, count_fds());
    return 0;
}
