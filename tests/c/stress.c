/* Load and concurrency: THREADS threads each do ITERATIONS rounds of open/read/lseek(0)/read/
 * close of every virtualized file plus sysinfo, sysconf(_SC_PHYS_PAGES, _SC_NPROCESSORS_ONLN)
 * and get_nprocs, while another thread keeps forking children that do CHILD_ROUNDS rounds of the
 * same and exit. Every answer is checked for well-formed content and the expected values.
 *
 *   stress THREADS ITERATIONS EXPECTED_MEMTOTAL_KB EXPECTED_CPUS [CHILD_ROUNDS]
 *
 * The workers first do a warm-up round; the file descriptor count (/proc/self/fd) is taken
 * before any thread starts and after all have been joined, VmRSS after the warm-up (all threads
 * alive, waiting at a barrier) and at the end (all threads alive, waiting again).
 * Output (key=value): bad, rounds, children, child_failures, fds_before, fds_after,
 * rss_warm_kb, rss_end_kb. Exit status 0 when the program ran (the caller judges the values). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

static int iterations, child_rounds = 20, in_child;
static unsigned long long expected_kb;
static long expected_cpus;
static atomic_long bad, rounds, children, child_failures;
static atomic_int done;
static pthread_barrier_t barrier;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define BUF_SIZE (512 * 1024)

static void complain(const char *file, const char *what, const char *content) {
    long n = atomic_fetch_add(&bad, 1);
    if (n >= 8) return;
    char line[512];
    int len = snprintf(line, sizeof line, "stress%s: %s: %s: %.120s\n", in_child ? " (child)" : "", file, what,
                       content ? content : "");
    if (in_child) {
        (void)!write(2, line, len > 0 && len < (int)sizeof line ? (size_t)len : sizeof line - 1);
        return;
    }
    pthread_mutex_lock(&lock);
    fputs(line, stderr);
    pthread_mutex_unlock(&lock);
}

/* Reads until EOF; -1 on a read error. */
static ssize_t read_all(int fd, char *buf) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, BUF_SIZE - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n >= BUF_SIZE - 1) break;
    }
    buf[n] = 0;
    return (ssize_t)n;
}

static int count_lines_starting(const char *buf, const char *prefix, int digit_after) {
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, pl) == 0 && (!digit_after || isdigit((unsigned char)p[pl]))) n++;
    }
    return n;
}

static unsigned long long field(const char *buf, const char *key) {
    const char *p = strstr(buf, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : ~0ULL;
}

static int valid_uptime(const char *b) {
    /* "<digits>.<2 digits> <digits>.<2 digits>\n" */
    for (int part = 0; part < 2; part++) {
        if (!isdigit((unsigned char)*b)) return 0;
        while (isdigit((unsigned char)*b)) b++;
        if (*b++ != '.') return 0;
        if (!isdigit((unsigned char)b[0]) || !isdigit((unsigned char)b[1])) return 0;
        b += 2;
        if (*b++ != (part == 0 ? ' ' : '\n')) return 0;
    }
    return *b == 0;
}

static int valid_vmstat(const char *b) {
    int lines = 0;
    while (*b) {
        const char *s = b;
        while (*b == '_' || islower((unsigned char)*b) || isdigit((unsigned char)*b)) b++;
        if (b == s || *b++ != ' ') return 0;
        if (!isdigit((unsigned char)*b)) return 0;
        while (isdigit((unsigned char)*b)) b++;
        if (*b++ != '\n') return 0;
        lines++;
    }
    return lines >= 20;
}

static long cpulist_count(const char *b) {
    long n = 0;
    while (*b && *b != '\n') {
        char *end;
        long lo = strtol(b, &end, 10), hi = lo;
        if (end == b) return -1;
        b = end;
        if (*b == '-') {
            hi = strtol(b + 1, &end, 10);
            if (end == b + 1) return -1;
            b = end;
        }
        n += hi - lo + 1;
        if (*b == ',') b++;
    }
    return *b == '\n' && b[1] == 0 ? n : -1;
}

static const char *const FILES[] = {
    "/proc/meminfo", "/proc/vmstat", "/proc/swaps", "/proc/uptime",
    "/proc/cpuinfo", "/proc/stat",   "/sys/devices/system/cpu/online",
};

static void check(const char *file, const char *b) {
    if (!strcmp(file, "/proc/meminfo")) {
        unsigned long long total = field(b, "MemTotal:"), freekb = field(b, "MemFree:"),
                           avail = field(b, "MemAvailable:");
        if (strncmp(b, "MemTotal:", 9) || total != expected_kb) complain(file, "first line", b);
        else if (!(freekb <= avail && avail <= total)) complain(file, "MemFree <= MemAvailable <= MemTotal", b);
        else if (field(b, "SwapFree:") > field(b, "SwapTotal:")) complain(file, "SwapFree > SwapTotal", b);
    } else if (!strcmp(file, "/proc/vmstat")) {
        if (!valid_vmstat(b)) complain(file, "malformed", b);
    } else if (!strcmp(file, "/proc/swaps")) {
        if (strncmp(b, "Filename", 8)) complain(file, "header", b);
    } else if (!strcmp(file, "/proc/uptime")) {
        if (!valid_uptime(b)) complain(file, "malformed", b);
    } else if (!strcmp(file, "/proc/cpuinfo")) {
        if (count_lines_starting(b, "processor\t:", 0) != expected_cpus) complain(file, "processor count", b);
    } else if (!strcmp(file, "/proc/stat")) {
        if (strncmp(b, "cpu  ", 5) || count_lines_starting(b, "cpu", 1) != expected_cpus)
            complain(file, "cpu lines", b);
    } else {
        if (cpulist_count(b) != expected_cpus) complain(file, "cpu count", b);
    }
}

static void round_once(char *buf, int i) {
    for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++) {
        const char *file = FILES[f];
        int flags = O_RDONLY | (i & 1 ? O_CLOEXEC : 0);
        int fd = (i % 3 == 0) ? openat(AT_FDCWD, file, flags) : open(file, flags);
        if (fd < 0) {
            complain(file, "open failed", strerror(errno));
            continue;
        }
        if (read_all(fd, buf) < 0) complain(file, "read failed", strerror(errno));
        else check(file, buf);
        if (lseek(fd, 0, SEEK_SET) != 0) complain(file, "lseek failed", strerror(errno));
        else if (read_all(fd, buf) < 0) complain(file, "read after rewind failed", strerror(errno));
        else check(file, buf);
        if (close(fd) != 0) complain(file, "close failed", strerror(errno));
    }
    struct sysinfo si;
    if (sysinfo(&si) != 0) complain("sysinfo", "failed", strerror(errno));
    else if ((unsigned long long)si.totalram * si.mem_unit != expected_kb * 1024 || si.freeram > si.totalram ||
             si.freeswap > si.totalswap)
        complain("sysinfo", "values", NULL);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if ((unsigned long long)pages * (unsigned long long)psz != expected_kb * 1024) complain("sysconf", "PHYS_PAGES", NULL);
    if (sysconf(_SC_NPROCESSORS_ONLN) != expected_cpus) complain("sysconf", "NPROCESSORS_ONLN", NULL);
    if (get_nprocs() != expected_cpus) complain("get_nprocs", "count", NULL);
    atomic_fetch_add(&rounds, 1);
}

static void *worker(void *arg) {
    (void)arg;
    char *buf = malloc(BUF_SIZE);
    round_once(buf, 0); /* warm-up */
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier); /* main measured */
    for (int i = 1; i <= iterations; i++) round_once(buf, i);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier); /* main measured */
    free(buf);
    return NULL;
}

static void *forker(void *arg) {
    (void)arg;
    while (!atomic_load(&done)) {
        pid_t pid = fork();
        if (pid == 0) {
            in_child = 1;
            atomic_store(&bad, 0);
            char *buf = malloc(BUF_SIZE);
            for (int i = 0; i < child_rounds; i++) round_once(buf, i);
            _exit(atomic_load(&bad) ? 1 : 0);
        }
        if (pid < 0) {
            complain("fork", "failed", strerror(errno));
            usleep(10000);
            continue;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        atomic_fetch_add(&children, 1);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) atomic_fetch_add(&child_failures, 1);
    }
    return NULL;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static long rss_kb(void) {
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, "VmRSS:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: stress THREADS ITERATIONS EXPECTED_MEMTOTAL_KB EXPECTED_CPUS [CHILD_ROUNDS]\n");
        return 64;
    }
    int nthreads = atoi(argv[1]);
    iterations = atoi(argv[2]);
    expected_kb = strtoull(argv[3], NULL, 10);
    expected_cpus = atol(argv[4]);
    if (argc > 5) child_rounds = atoi(argv[5]);
    if (nthreads < 1 || nthreads > 256) return 64;

    int fds_before = count_fds();
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    pthread_t fork_thread;
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, NULL);
    pthread_barrier_wait(&barrier); /* everyone warmed up */
    long rss_warm = rss_kb();
    pthread_create(&fork_thread, NULL, forker, NULL);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier); /* everyone finished */
    long rss_end = rss_kb();
    atomic_store(&done, 1);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    pthread_join(fork_thread, NULL);
    int fds_after = count_fds();
    printf("bad=%ld\nrounds=%ld\nchildren=%ld\nchild_failures=%ld\nfds_before=%d\nfds_after=%d\n"
           "rss_warm_kb=%ld\nrss_end_kb=%ld\n",
           atomic_load(&bad), atomic_load(&rounds), atomic_load(&children), atomic_load(&child_failures),
           fds_before, fds_after, rss_warm, rss_end);
    free(t);
    return 0;
}
