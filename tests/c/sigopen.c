/* The fast path (and the slow one) under signals: while the main thread loops inside hooked
 * calls (open/read/lseek/close of /proc/meminfo, sysinfo, sysconf, get_nprocs), SIGALRM from a
 * fast interval timer and SIGUSR1 from a second thread interrupt it. The handler calls open()
 * on an unrelated path (/dev/null) and on /proc/meminfo, reads the latter and checks it.
 *
 *   sigopen EXPECTED_MEMTOTAL_KB ITERATIONS warm|cold
 *
 * warm: the main thread makes one round of hooked calls before the signals start (the real
 *       functions are looked up, the caches filled);
 * cold: the timer is armed before the very first hooked call of the process.
 * Output (key=value): iterations, main_bad, signals, handler_devnull_ok, handler_meminfo_ok,
 * handler_bad, errno_clobbered. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static unsigned long long expected_kb;
static atomic_long signals, devnull_ok, meminfo_ok, handler_bad, errno_clobbered;
static atomic_int stop;

static unsigned long long memtotal(const char *buf) {
    const char *p = strstr(buf, "MemTotal:");
    return p ? strtoull(p + 9, NULL, 10) : 0;
}

static void handler(int sig) {
    (void)sig;
    int saved = errno;
    atomic_fetch_add(&signals, 1);
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        atomic_fetch_add(&devnull_ok, 1);
        close(fd);
    } else {
        atomic_fetch_add(&handler_bad, 1);
    }
    char buf[8192];
    fd = open("/proc/meminfo", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        if (memtotal(buf) == expected_kb) atomic_fetch_add(&meminfo_ok, 1);
        else atomic_fetch_add(&handler_bad, 1);
    } else {
        atomic_fetch_add(&handler_bad, 1);
    }
    errno = saved;
}

static void *pester(void *arg) {
    pthread_t main_thread = *(pthread_t *)arg;
    struct timespec ts = {0, 50 * 1000};
    while (!atomic_load(&stop)) {
        pthread_kill(main_thread, SIGUSR1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static long round_once(char *buf, size_t size) {
    long bad = 0;
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0) return 1;
    ssize_t n = read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
    if (memtotal(buf) != expected_kb) bad++;
    if (lseek(fd, 0, SEEK_SET) != 0) bad++;
    n = read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
    if (memtotal(buf) != expected_kb) bad++;
    close(fd);
    struct sysinfo si;
    if (sysinfo(&si) != 0 || (unsigned long long)si.totalram * si.mem_unit != expected_kb * 1024) bad++;
    if ((unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)sysconf(_SC_PAGESIZE) !=
        expected_kb * 1024)
        bad++;
    if (get_nprocs() < 1) bad++;
    /* errno must survive every hooked call that succeeded (and the handler). */
    errno = 1234;
    fd = open("/proc/meminfo", O_RDONLY);
    if (errno != 1234) atomic_fetch_add(&errno_clobbered, 1);
    if (fd >= 0) close(fd);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: sigopen EXPECTED_MEMTOTAL_KB ITERATIONS warm|cold\n");
        return 64;
    }
    expected_kb = strtoull(argv[1], NULL, 10);
    long iterations = atol(argv[2]);
    int warm = !strcmp(argv[3], "warm");
    static char buf[16384];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    long bad = 0;
    if (warm) bad += round_once(buf, sizeof buf);

    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t self = pthread_self(), other;
    pthread_create(&other, NULL, pester, &self);
    long i;
    for (i = 0; i < iterations; i++) bad += round_once(buf, sizeof buf);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    atomic_store(&stop, 1);
    pthread_join(other, NULL);
    printf("iterations=%ld\nmain_bad=%ld\nsignals=%ld\nhandler_devnull_ok=%ld\nhandler_meminfo_ok=%ld\n"
           "handler_bad=%ld\nerrno_clobbered=%ld\n",
           i, bad, atomic_load(&signals), atomic_load(&devnull_ok), atomic_load(&meminfo_ok),
           atomic_load(&handler_bad), atomic_load(&errno_clobbered));
    return 0;
}
