/* cgshim benchmark driver: one program that both times the operations (worker mode) and runs the
 * workers side by side with and without LD_PRELOAD (driver mode), so every ratio in the table comes
 * from one run on one machine state.
 *
 * Why a separate worker process per sample: LD_PRELOAD only takes effect at exec, so the native,
 * shim and LXCFS samples must be different processes of the same binary that differ only in their
 * environment (or in the path they read). The driver interleaves them round by round, rotating the
 * order, so that frequency scaling, cache state and background load hit every variant alike.
 *
 * Method (after LXCFS's own measurement, reference/peers.md §1.11): each worker warms up, sizes its
 * batches to a time budget, times several batches with CLOCK_MONOTONIC and reports the best batch
 * mean. The driver takes the median over rounds, and each ratio is the median of the per-round
 * ratios (paired within a round, which cancels slow drift). Nothing here asserts on time: a missed
 * target is printed as MISS and the exit status stays 0.
 *
 * Hot and cold: the shim keeps container usage for at most 1 ms (a value window) and discovery,
 * limits and the host meminfo template for at most 1 s, so a back-to-back loop measures its hot
 * path. The "cold" rows (cold mode) sleep ~2 ms before every sample, untimed, so each timed
 * operation finds the value window expired; they time one operation per sample and report the
 * median sample of the round (the driver then takes the median over rounds as for the others).
 *
 * Usage:
 *   bench worker <op> <path> <budget_ms> <batches>   time one op; prints "ok <ns/op> <iters/batch>"
 *   bench cold <op> <path> <samples>                 one op per sample, ~2 ms apart (untimed);
 *                                                    prints "ok <median ns/op> <samples>"
 *   bench probe <path>                               prints what this process sees as MemTotal
 *   bench all --shim SO --empty SO --file F [--lxcfs-meminfo P] [--rounds N] [--batches N]
 *             [--budget-ms N] [--spawn-runs N] [--cold-samples N] [--prog /bin/true]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/mman.h>

extern char **environ;

static volatile unsigned long sink; /* keeps results observable so nothing is optimised away */
static char readbuf[65536];         /* same read size as the LXCFS Python measurement */

static int cmp_double_w(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Worker: the timed loops. Each returns 0, or -1 with errno set by the failing call.          */

static int loop_read(const char *path, long n)
{
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        ssize_t got;
        unsigned long total = 0;
        while ((got = read(fd, readbuf, sizeof readbuf)) > 0)
            total += (unsigned long)got;
        int saved = errno;
        close(fd);
        if (got < 0) {
            errno = saved;
            return -1;
        }
        sink += total;
    }
    return 0;
}

static int loop_fopen(const char *path, long n)
{
    char line[512];
    for (long i = 0; i < n; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        while (fgets(line, sizeof line, f))
            sink += (unsigned char)line[0];
        fclose(f);
    }
    return 0;
}

static int loop_open_close(const char *path, long n)
{
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            return -1;
        close(fd);
    }
    return 0;
}

static int loop_sysinfo(const char *path, long n)
{
    (void)path;
    struct sysinfo si;
    for (long i = 0; i < n; i++) {
        if (sysinfo(&si) != 0)
            return -1;
        sink += si.totalram;
    }
    return 0;
}

static int loop_sysconf(const char *path, long n)
{
    (void)path;
    for (long i = 0; i < n; i++) {
        long v = sysconf(_SC_PHYS_PAGES);
        if (v <= 0) {
            if (errno == 0)
                errno = EINVAL;
            return -1;
        }
        sink += (unsigned long)v;
    }
    return 0;
}

static int loop_affinity(const char *path, long n)
{
    (void)path;
    cpu_set_t set;
    for (long i = 0; i < n; i++) {
        if (sched_getaffinity(0, sizeof set, &set) != 0)
            return -1;
        sink += (unsigned long)CPU_COUNT(&set);
    }
    return 0;
}

/* procps pattern (free, top, vmstat): the file stays open, every refresh is lseek(fd, 0, SEEK_SET)
 * plus one read into an 8 KiB buffer. The fd is opened on the first call and kept for the life of
 * the worker, so only the lseek+read pairs are timed. */
static int loop_lseek_read(const char *path, long n)
{
    static int fd = -1;
    if (fd < 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
    }
    for (long i = 0; i < n; i++) {
        if (lseek(fd, 0, SEEK_SET) != 0)
            return -1;
        ssize_t got = read(fd, readbuf, 8191);
        if (got < 0)
            return -1;
        if (got == 0) {
            errno = ENODATA; /* an empty read at offset 0 is not what procps would accept */
            return -1;
        }
        sink += (unsigned long)got;
    }
    return 0;
}

/* htop's pattern for every process on every refresh: openat(<fd of /proc/PID>, "stat"), read,
 * close. `path` is the directory; its fd is opened once and kept. */
static int loop_openat_stat(const char *path, long n)
{
    static int dir = -1;
    if (dir < 0) {
        dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            return -1;
    }
    for (long i = 0; i < n; i++) {
        int fd = openat(dir, "stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        ssize_t got = read(fd, readbuf, sizeof readbuf);
        close(fd);
        if (got <= 0)
            return -1;
        sink += (unsigned long)got;
    }
    return 0;
}

/* 16 threads running the open+read+close loop at once; n is the total over all threads. */
#define THREADS 16
struct thread_job { const char *path; long n; int rc; };

static void *thread_read(void *arg)
{
    struct thread_job *j = arg;
    static __thread char buf[65536];
    for (long i = 0; i < j->n; i++) {
        int fd = open(j->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            j->rc = -1;
            return NULL;
        }
        ssize_t got;
        while ((got = read(fd, buf, sizeof buf)) > 0)
            sink += (unsigned long)got;
        close(fd);
    }
    return NULL;
}

static int loop_threads(const char *path, long n)
{
    pthread_t t[THREADS];
    struct thread_job j[THREADS];
    for (int i = 0; i < THREADS; i++) {
        j[i] = (struct thread_job){path, n / THREADS + (i < n % THREADS), 0};
        if (pthread_create(&t[i], NULL, thread_read, &j[i]) != 0)
            return -1;
    }
    int rc = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        rc |= j[i].rc;
    }
    return rc;
}

struct opdef {
    const char *name;
    int (*loop)(const char *, long);
};

static const struct opdef OPS[] = {
    {"read", loop_read},
    {"fopen", loop_fopen},
    {"open-close", loop_open_close},
    {"lseek-read", loop_lseek_read},
    {"sysinfo", loop_sysinfo},
    {"sysconf", loop_sysconf},
    {"affinity", loop_affinity},
    {"openat-stat", loop_openat_stat},
    {"threads", loop_threads},
};

static const struct opdef *find_op(const char *name)
{
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (strcmp(OPS[i].name, name) == 0)
            return &OPS[i];
    return NULL;
}

static int worker(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench worker <op> <path> <budget_ms> <batches>\n");
        return 2;
    }
    const struct opdef *op = find_op(argv[2]);
    const char *path = argv[3];
    double budget_ns = atof(argv[4]) * 1e6;
    int batches = atoi(argv[5]);
    if (!op || budget_ns <= 0 || batches < 1) {
        printf("err bad worker arguments\n");
        return 2;
    }

    /* Warm-up, doubling the chunk until a chunk takes a quarter of the budget (and at least 5 ms
     * or 64 iterations overall): caches, the dentry cache, lazy binding and the shim's one-time
     * discovery are all settled before timing, and the last chunk sizes the batches. */
    double warm_target = budget_ns / 4 > 5e6 ? budget_ns / 4 : 5e6;
    long chunk = 1, warmed = 0;
    double per_op = 0;
    for (;;) {
        double t0 = now_ns();
        if (op->loop(path, chunk) != 0) {
            printf("err %s %s: %s\n", op->name, path, strerror(errno));
            return 1;
        }
        double dt = now_ns() - t0;
        warmed += chunk;
        per_op = dt / (double)chunk;
        if ((dt >= warm_target && warmed >= 64) || warmed >= 50000000)
            break;
        chunk *= 2;
    }
    long iters = (long)(budget_ns / (per_op > 1 ? per_op : 1));
    if (iters < 16)
        iters = 16;

    double best = INFINITY;
    for (int b = 0; b < batches; b++) {
        double t0 = now_ns();
        if (op->loop(path, iters) != 0) {
            printf("err %s %s: %s\n", op->name, path, strerror(errno));
            return 1;
        }
        double mean = (now_ns() - t0) / (double)iters;
        if (mean < best)
            best = mean;
    }
    printf("ok %.3f %ld\n", best, iters);
    return 0;
}

/* ---- stack and memory footprints ---------------------------------------------------------- */

/* One call of the kind the footprint rows measure. */
static int one_call(const char *op)
{
    char buf[8192];
    if (!strncmp(op, "open:", 5)) {
        int fd = open(op + 5, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        ssize_t got = read(fd, buf, sizeof buf);
        close(fd);
        return got > 0 ? 0 : -1;
    }
    if (!strncmp(op, "fopen:", 6)) {
        FILE *f = fopen(op + 6, "r");
        if (!f)
            return -1;
        int ok = fgets(buf, sizeof buf, f) != NULL;
        fclose(f);
        return ok ? 0 : -1;
    }
    struct sysinfo si;
    if (!strcmp(op, "sysinfo"))
        return sysinfo(&si);
    if (!strcmp(op, "sysconf(_SC_PHYS_PAGES)"))
        return sysconf(_SC_PHYS_PAGES) > 0 ? 0 : -1;
    if (!strcmp(op, "sysconf(_SC_NPROCESSORS_ONLN)"))
        return sysconf(_SC_NPROCESSORS_ONLN) > 0 ? 0 : -1;
    if (!strcmp(op, "get_nprocs"))
        return get_nprocs() > 0 ? 0 : -1;
    errno = EINVAL;
    return -1;
}

#define PAINT 0xa5
#define STACK_SIZE (1 << 20)
struct stack_job { const char *op; char *base; size_t cold, warm; int rc; };

static size_t stack_touched(const char *base)
{
    size_t i = 0;
    while (i < STACK_SIZE && (unsigned char)base[i] == PAINT)
        i++;
    return STACK_SIZE - i;
}

static void *stack_thread(void *arg)
{
    struct stack_job *j = arg;
    j->rc = one_call(j->op);
    j->cold = stack_touched(j->base);
    volatile char here;
    memset(j->base, PAINT, (size_t)((const char *)&here - j->base) - 512);
    j->rc |= one_call(j->op);
    j->warm = stack_touched(j->base);
    return NULL;
}

/* Bytes of stack one call touches on a thread whose painted stack we own, first and second
 * time; the thread's own frames are the same with and without the library. */
static int stack_use(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench stack <op>\n");
        return 2;
    }
    struct stack_job j = {.op = argv[2]};
    j.base = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(j.base, PAINT, STACK_SIZE);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, j.base, STACK_SIZE);
    pthread_t t;
    if (pthread_create(&t, &a, stack_thread, &j) != 0 || pthread_join(t, NULL) != 0 || j.rc != 0) {
        printf("err %s failed\n", argv[2]);
        return 1;
    }
    printf("ok %zu %zu\n", j.cold, j.warm);
    return 0;
}

static long anon_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Anonymous:", 10))
            kib = atol(line + 10);
    if (f)
        fclose(f);
    return kib;
}

/* Anonymous memory (charged to the cgroup) the first call adds, and what `count` more add. */
static int memory_use(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench anon <op> <count>\n");
        return 2;
    }
    long count = atol(argv[3]);
    long before = anon_kib();
    if (one_call(argv[2]) != 0) {
        printf("err %s failed\n", argv[2]);
        return 1;
    }
    long first = anon_kib();
    for (long i = 0; i < count; i++)
        one_call(argv[2]);
    printf("ok %ld %ld\n", first - before, anon_kib() - first);
    return 0;
}

#define COLD_GAP_NS 2000000L /* > the shim's 1 ms value window; see the label of the cold rows */
#define COLD_WARMUP 16

static void cold_gap(void)
{
    struct timespec ts = {0, COLD_GAP_NS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Cold mode: every sample sleeps COLD_GAP_NS first (not timed), then times exactly one operation.
 * A few untimed gapped operations first settle lazy binding and the shim's one-time discovery.
 * Prints the median sample: robust against the sample that also pays the shim's 1 s refresh of
 * discovery/limits/template, and against wake-up noise after the sleep. */
static int cold(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench cold <op> <path> <samples>\n");
        return 2;
    }
    const struct opdef *op = find_op(argv[2]);
    const char *path = argv[3];
    long samples = atol(argv[4]);
    if (!op || samples < 1) {
        printf("err bad cold arguments\n");
        return 2;
    }
    double *t = malloc((size_t)samples * sizeof *t);
    for (long i = -COLD_WARMUP; i < samples; i++) {
        cold_gap();
        double t0 = now_ns();
        if (op->loop(path, 1) != 0) {
            printf("err %s %s: %s\n", op->name, path, strerror(errno));
            return 1;
        }
        double dt = now_ns() - t0;
        if (i >= 0)
            t[i] = dt;
    }
    qsort(t, (size_t)samples, sizeof *t, cmp_double_w);
    double med = samples % 2 ? t[samples / 2] : (t[samples / 2 - 1] + t[samples / 2]) / 2;
    printf("ok %.3f %ld\n", med, samples);
    free(t);
    return 0;
}

/* What this process sees: MemTotal from the file (via the same open/read calls as the timed loop),
 * sysinfo() and sysconf(_SC_PHYS_PAGES), all in kB. The driver prints this so the reader can see
 * whether the shim was actually serving the cgroup's numbers while it was being timed. */
static int probe(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench probe <meminfo path>\n");
        return 2;
    }
    long long memtotal = -1;
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        size_t len = 0;
        ssize_t got;
        while (len < sizeof readbuf - 1 &&
               (got = read(fd, readbuf + len, sizeof readbuf - 1 - len)) > 0)
            len += (size_t)got;
        readbuf[len] = 0;
        close(fd);
        const char *p = strstr(readbuf, "MemTotal:");
        if (p)
            memtotal = strtoll(p + 9, NULL, 10);
    }
    struct sysinfo si;
    long long si_kb = -1;
    if (sysinfo(&si) == 0)
        si_kb = (long long)si.totalram * (long long)si.mem_unit / 1024;
    long pages = sysconf(_SC_PHYS_PAGES);
    long long sc_kb = pages > 0 ? (long long)pages * sysconf(_SC_PAGESIZE) / 1024 : -1;
    printf("%lld %lld %lld\n", memtotal, si_kb, sc_kb);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */

static char self_exe[4096];

/* The caller's environment minus any LD_PRELOAD, plus ours when preload is non-NULL. */
static char **make_env(const char *preload)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    if (preload) {
        size_t len = strlen(preload) + 12;
        char *e = malloc(len);
        snprintf(e, len, "LD_PRELOAD=%s", preload);
        env[k++] = e;
    }
    env[k] = NULL;
    return env;
}

/* Run `self_exe args...` with env, capture stdout (up to cap bytes). Returns the exit status. */
static int run_capture(char **args, char **env, char *out, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(out, cap, "err pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, self_exe, &fa, NULL, args, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(out, cap, "err spawn: %s", strerror(rc));
        return -1;
    }
    size_t len = 0;
    ssize_t got;
    while (len < cap - 1 && (got = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = 0;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        snprintf(out, cap, "err worker killed by signal %d", WTERMSIG(status));
        return -1;
    }
    return WEXITSTATUS(status);
}

enum { COL_NATIVE, COL_SHIM, COL_LXCFS, NCOL };

struct row {
    const char *label;
    const char *op;
    const char *path[NCOL]; /* NULL: column not measured for this row */
    double target;          /* max shim/native ratio; 0 = informational */
    int cold;               /* 1: bench cold (one op per sample, ~2 ms apart), not batches */
    double *res[NCOL];      /* per round, ns/op (NAN on error) */
    long iters[NCOL];       /* iterations per batch, or samples per round for cold rows */
    char err[NCOL][256];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the finite values; NAN if there are none. Sorts a copy. */
static double median(const double *v, size_t n)
{
    double *c = malloc((n ? n : 1) * sizeof *c);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            c[k++] = v[i];
    double m = NAN;
    if (k) {
        qsort(c, k, sizeof *c, cmp_double);
        m = k % 2 ? c[k / 2] : (c[k / 2 - 1] + c[k / 2]) / 2;
    }
    free(c);
    return m;
}

static double mean(const double *v, size_t n)
{
    double s = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            s += v[i];
            k++;
        }
    return k ? s / (double)k : NAN;
}

/* Median over rounds of the paired ratio col/native. */
static double paired_ratio(const struct row *r, int col, int rounds, double *lo, double *hi)
{
    double *q = malloc((size_t)rounds * sizeof *q);
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < rounds; i++) {
        q[i] = r->res[col][i] / r->res[COL_NATIVE][i];
        if (isfinite(q[i])) {
            if (q[i] < *lo)
                *lo = q[i];
            if (q[i] > *hi)
                *hi = q[i];
        }
    }
    double m = median(q, (size_t)rounds);
    free(q);
    return m;
}

static void fmt_us(char *dst, size_t cap, double ns)
{
    if (!isfinite(ns))
        snprintf(dst, cap, "-");
    else if (ns < 10000)
        snprintf(dst, cap, "%.3f", ns / 1000);
    else
        snprintf(dst, cap, "%.1f", ns / 1000);
}

static void fmt_ratio(char *dst, size_t cap, double r)
{
    if (!isfinite(r))
        snprintf(dst, cap, "-");
    else
        snprintf(dst, cap, "%.3fx", r);
}

#define TABLE_FMT "%-58s %11s %11s %11s %10s %10s %8s  %s\n"

static void print_row(const char *label, double nat, double shim, double lx, double rs, double rl,
                      double target, int error)
{
    char a[32], b[32], c[32], d[32], e[32], t[32];
    fmt_us(a, sizeof a, nat);
    fmt_us(b, sizeof b, shim);
    fmt_us(c, sizeof c, lx);
    fmt_ratio(d, sizeof d, rs);
    fmt_ratio(e, sizeof e, rl);
    const char *verdict = "info";
    if (target > 0) {
        snprintf(t, sizeof t, "<=%.2fx", target);
        verdict = error || !isfinite(rs) ? "ERROR" : rs <= target ? "PASS" : "MISS";
    } else {
        snprintf(t, sizeof t, "-");
        if (error)
            verdict = "ERROR";
    }
    printf(TABLE_FMT, label, a, b, c, d, e, t, verdict);
}

struct spawn_variant {
    const char *name;
    char **env;
    double *t; /* ns per run */
    long failures;
    int last_status;
};

/* Start `prog` once with env, wait for it; returns wall ns, or -1 with the status in *status. */
static double spawn_once(const char *prog, char **env, int *status)
{
    char *args[] = {(char *)prog, NULL};
    pid_t pid;
    double t0 = now_ns();
    int rc = posix_spawn(&pid, prog, NULL, NULL, args, env);
    if (rc != 0) {
        *status = -rc;
        return -1;
    }
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    double t1 = now_ns();
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        return -1;
    return t1 - t0;
}

static const char *opt(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

static int driver(int argc, char **argv)
{
    const char *shim = opt(argc, argv, "--shim", NULL);
    const char *empty = opt(argc, argv, "--empty", NULL);
    const char *file = opt(argc, argv, "--file", "/etc/hostname");
    const char *lxcfs = opt(argc, argv, "--lxcfs-meminfo", NULL);
    const char *prog = opt(argc, argv, "--prog", "/bin/true");
    int rounds = atoi(opt(argc, argv, "--rounds", "9"));
    const char *batches = opt(argc, argv, "--batches", "5");
    const char *budget = opt(argc, argv, "--budget-ms", "40");
    long spawn_runs = atol(opt(argc, argv, "--spawn-runs", "2000"));
    const char *cold_samples = opt(argc, argv, "--cold-samples", "200");
    long long expect_kb = atoll(opt(argc, argv, "--expect-memtotal-kb", "0"));
    if (!shim || !empty || rounds < 1 || spawn_runs < 1 || atol(cold_samples) < 1) {
        fprintf(stderr, "usage: bench all --shim SO --empty SO [--file F] [--lxcfs-meminfo P] "
                        "[--rounds N] [--batches N] [--budget-ms N] [--spawn-runs N] "
                        "[--cold-samples N] [--prog P]\n");
        return 2;
    }

    char **env_native = make_env(NULL);
    char **env_shim = make_env(shim);
    char **env_for[NCOL] = {env_native, env_shim, env_native}; /* LXCFS is read without the shim */

    /* What each variant sees: shows whether the shim was doing its real work while timed. */
    {
        const char *src[NCOL] = {"/proc/meminfo", "/proc/meminfo", lxcfs};
        const char *name[NCOL] = {"native", "shim", "lxcfs"};
        printf("What each variant sees (kB):   %-8s %12s %12s %12s\n", "", "MemTotal", "sysinfo",
               "sysconf");
        for (int c = 0; c < NCOL; c++) {
            if (!src[c])
                continue;
            char out[512];
            char *args[] = {"bench", "probe", (char *)src[c], NULL};
            int rc = run_capture(args, env_for[c], out, sizeof out);
            long long mt = -1, si = -1, sc = -1;
            if (rc != 0 || sscanf(out, "%lld %lld %lld", &mt, &si, &sc) != 3) {
                printf("  %-8s probe failed: %s\n", name[c], out);
                continue;
            }
            if (c == COL_LXCFS) /* LXCFS cannot change sysinfo/sysconf (peers.md §0.1) */
                printf("  %-36s %12lld %12s %12s\n", name[c], mt, "(host)", "(host)");
            else
                printf("  %-36s %12lld %12lld %12lld\n", name[c], mt, si, sc);
            if (c == COL_SHIM && expect_kb > 0 &&
                (mt != expect_kb || si != expect_kb || sc != expect_kb))
                printf("  WARNING: the shim did not report the cgroup limit (%lld kB) everywhere; "
                       "its rows may time the fail-open path, not its real work\n",
                       expect_kb);
        }
        printf("\n");
        fflush(stdout);
    }

    const char *blockstat = opt(argc, argv, "--block-stat", NULL);
    struct row rows[] = {
        {.label = "/proc/meminfo open+read+close, back-to-back loop", .op = "read",
         .path = {"/proc/meminfo", "/proc/meminfo", lxcfs}, .target = 2.0},
        {.label = "/proc/./meminfo open+read+close", .op = "read",
         .path = {"/proc/./meminfo", "/proc/./meminfo", NULL}, .target = 2.0},
        {.label = "/proc/stat open+read+close", .op = "read",
         .path = {"/proc/stat", "/proc/stat", NULL}, .target = 3.0},
        {.label = "/proc/vmstat open+read+close", .op = "read",
         .path = {"/proc/vmstat", "/proc/vmstat", NULL}},
        {.label = "/proc/meminfo, 16 threads at once (per read)", .op = "threads",
         .path = {"/proc/meminfo", "/proc/meminfo", NULL}},
        {.label = "/proc/meminfo open+read+close, cold values (2 ms apart)", .op = "read",
         .path = {"/proc/meminfo", "/proc/meminfo", lxcfs}, .cold = 1},
        {.label = "/proc/meminfo lseek(0)+read on a kept fd (procps pattern)", .op = "lseek-read",
         .path = {"/proc/meminfo", "/proc/meminfo", lxcfs}},
        {.label = "/proc/meminfo fopen+fgets+fclose", .op = "fopen",
         .path = {"/proc/meminfo", "/proc/meminfo", lxcfs}},
        {.label = NULL, .op = "open-close", .path = {file, file, NULL}, .target = 1.02},
        {.label = "openat(<fd of /proc/self>, \"stat\")+read+close (htop)", .op = "openat-stat",
         .path = {"/proc/self", "/proc/self", NULL}, .target = 1.02},
        {.label = "a file named stat elsewhere (/sys/block/<dev>/stat)", .op = "read",
         .path = {blockstat, blockstat, NULL}, .target = 1.02},
        {.label = "sysinfo()", .op = "sysinfo", .path = {"-", "-", NULL}},
        {.label = "sysinfo(), cold (2 ms apart)", .op = "sysinfo", .path = {"-", "-", NULL},
         .cold = 1},
        {.label = "sysconf(_SC_PHYS_PAGES)", .op = "sysconf", .path = {"-", "-", NULL}},
        {.label = "sched_getaffinity(0), narrowed to S", .op = "affinity", .path = {"-", "-", NULL}},
    };
    static char open_label[128];
    snprintf(open_label, sizeof open_label, "open+close %s", file);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        if (!rows[r].label)
            rows[r].label = open_label;
    const int nrows = (int)(sizeof rows / sizeof rows[0]);

    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < NCOL; c++) {
            if (!rows[r].path[COL_NATIVE])
                rows[r].path[c] = NULL; /* nothing to compare with (e.g. no block device) */
            rows[r].res[c] = malloc((size_t)rounds * sizeof(double));
            for (int i = 0; i < rounds; i++)
                rows[r].res[c][i] = NAN;
        }

    fprintf(stderr, "per-operation rounds: ");
    for (int i = 0; i < rounds; i++) {
        fprintf(stderr, "%d ", i + 1);
        for (int r = 0; r < nrows; r++) {
            for (int k = 0; k < NCOL; k++) {
                int c = (k + i) % NCOL; /* rotate the order every round */
                if (!rows[r].path[c] || rows[r].err[c][0])
                    continue; /* not measured, or already failed once: don't repeat */
                char out[512];
                char *args[] = {"bench", "worker", (char *)rows[r].op, (char *)rows[r].path[c],
                                (char *)budget, (char *)batches, NULL};
                char *cold_args[] = {"bench", "cold", (char *)rows[r].op,
                                     (char *)rows[r].path[c], (char *)cold_samples, NULL};
                run_capture(rows[r].cold ? cold_args : args, env_for[c], out, sizeof out);
                double ns;
                long it;
                if (sscanf(out, "ok %lf %ld", &ns, &it) == 2) {
                    rows[r].res[c][i] = ns;
                    rows[r].iters[c] = it;
                } else {
                    out[strcspn(out, "\n")] = 0;
                    snprintf(rows[r].err[c], sizeof rows[r].err[c], "%.250s",
                             out[0] ? out : "worker printed nothing");
                }
            }
        }
    }
    fprintf(stderr, "\n");

    /* Process start: prog with no preload (info), with an empty .so (baseline), with the shim.
     * Interleaved run by run, order rotated every run. */
    struct spawn_variant sv[3] = {
        {"none", env_native, NULL, 0, 0},
        {"empty", make_env(empty), NULL, 0, 0},
        {"shim", env_shim, NULL, 0, 0},
    };
    for (int v = 0; v < 3; v++)
        sv[v].t = malloc((size_t)spawn_runs * sizeof(double));
    long warm = spawn_runs / 20 > 20 ? 20 : spawn_runs / 20 + 1;
    fprintf(stderr, "process start: %ld warm-ups + %ld runs per variant...\n", warm, spawn_runs);
    for (long i = -warm; i < spawn_runs; i++) {
        for (int k = 0; k < 3; k++) {
            int v = (int)((k + (i < 0 ? -i : i)) % 3);
            int status = 0;
            double t = spawn_once(prog, sv[v].env, &status);
            if (i < 0)
                continue;
            sv[v].t[i] = t < 0 ? NAN : t;
            if (t < 0) {
                sv[v].failures++;
                sv[v].last_status = status;
            }
        }
    }

    /* ---- table ---- */
    printf("Times in µs per operation; ratios are medians of per-round paired ratios.\n");
    printf(TABLE_FMT, "operation", "native", "shim", "lxcfs", "shim/nat", "lxcfs/nat", "target",
           "result");
    printf(TABLE_FMT, "----------------------------------------------------------", "-----------",
           "-----------", "-----------", "----------", "----------", "--------", "------");
    double single_ratio = NAN, threads_ratio = NAN;
    for (int r = 0; r < nrows; r++) {
        struct row *w = &rows[r];
        if (!w->path[COL_NATIVE]) {
            printf(TABLE_FMT, w->label, "-", "-", "-", "-", "-", "-", "not measured");
            continue;
        }
        double med[NCOL], ratio[NCOL] = {NAN, NAN, NAN}, lo, hi;
        for (int c = 0; c < NCOL; c++)
            med[c] = w->path[c] ? median(w->res[c], (size_t)rounds) : NAN;
        ratio[COL_SHIM] = paired_ratio(w, COL_SHIM, rounds, &lo, &hi);
        if (w->path[COL_LXCFS])
            ratio[COL_LXCFS] = paired_ratio(w, COL_LXCFS, rounds, &lo, &hi);
        int error = w->err[COL_NATIVE][0] || w->err[COL_SHIM][0];
        print_row(w->label, med[COL_NATIVE], med[COL_SHIM], med[COL_LXCFS], ratio[COL_SHIM],
                  ratio[COL_LXCFS], w->target, error);
        if (r == 0)
            single_ratio = ratio[COL_SHIM];
        if (strcmp(w->op, "threads") == 0)
            threads_ratio = ratio[COL_SHIM];
    }
    print_row("16 threads: their shim/native over the single thread's", NAN, NAN, NAN,
              threads_ratio / single_ratio, NAN, 1.2, !isfinite(threads_ratio));
    double med_none = median(sv[0].t, (size_t)spawn_runs);
    double med_empty = median(sv[1].t, (size_t)spawn_runs);
    double med_shim = median(sv[2].t, (size_t)spawn_runs);
    double mean_none = mean(sv[0].t, (size_t)spawn_runs);
    double mean_empty = mean(sv[1].t, (size_t)spawn_runs);
    double mean_shim = mean(sv[2].t, (size_t)spawn_runs);
    char lab[128];
    snprintf(lab, sizeof lab, "start %s, median (native=empty .so)", prog);
    print_row(lab, med_empty, med_shim, NAN, med_shim / med_empty, NAN, 1.02,
              sv[1].failures || sv[2].failures);
    snprintf(lab, sizeof lab, "start %s, mean (native=empty .so)", prog);
    print_row(lab, mean_empty, mean_shim, NAN, mean_shim / mean_empty, NAN, 0,
              sv[1].failures || sv[2].failures);

    /* ---- footprints: stack and anonymous memory of one call ---- */
    static const char *calls[] = {
        "open:/proc/meminfo", "open:/proc/vmstat", "open:/proc/stat", "fopen:/proc/meminfo",
        "fopen:/proc/stat", "sysinfo", "sysconf(_SC_PHYS_PAGES)", "sysconf(_SC_NPROCESSORS_ONLN)",
        "get_nprocs",
    };
    printf("\nStack of one call (bytes of a painted thread stack it touched; shim minus native, "
           "target <= 16384):\n");
    printf("%-34s %9s %9s %9s %9s %9s %9s  %s\n", "call", "native", "shim", "extra", "native",
           "shim", "extra", "result");
    printf("%-34s %29s %29s\n", "", "first call", "second call");
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        long v[2][2] = {{-1, -1}, {-1, -1}};
        for (int c = 0; c < 2; c++) {
            char out[256];
            char *args[] = {"bench", "stack", (char *)calls[i], NULL};
            if (run_capture(args, env_for[c], out, sizeof out) == 0)
                sscanf(out, "ok %ld %ld", &v[c][0], &v[c][1]);
        }
        long cold = v[1][0] - v[0][0], warm = v[1][1] - v[0][1];
        int bad = v[0][0] < 0 || v[1][0] < 0;
        printf("%-34s %9ld %9ld %9ld %9ld %9ld %9ld  %s\n", calls[i], v[0][0], v[1][0], cold,
               v[0][1], v[1][1], warm, bad ? "ERROR" : cold <= 16384 && warm <= 16384 ? "PASS" : "MISS");
    }
    printf("\nAnonymous memory (KiB, charged to the cgroup) of the first call, and of 2000 more:\n");
    printf("%-34s %9s %9s %9s %9s\n", "call", "native", "shim", "native", "shim");
    printf("%-34s %19s %19s\n", "", "first call", "2000 more");
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        long v[2][2] = {{-1, -1}, {-1, -1}};
        for (int c = 0; c < 2; c++) {
            char out[256];
            char *args[] = {"bench", "anon", (char *)calls[i], "2000", NULL};
            if (run_capture(args, env_for[c], out, sizeof out) == 0)
                sscanf(out, "ok %ld %ld", &v[c][0], &v[c][1]);
        }
        printf("%-34s %9ld %9ld %9ld %9ld\n", calls[i], v[0][0], v[1][0], v[0][1], v[1][1]);
    }

    /* ---- details: spread and sizes, so a reader can judge the noise behind each ratio ---- */
    printf("\nDetails:\n");
    for (int r = 0; r < nrows; r++) {
        struct row *w = &rows[r];
        double lo, hi;
        if (!w->path[COL_NATIVE])
            continue;
        paired_ratio(w, COL_SHIM, rounds, &lo, &hi);
        printf("  %-58s shim/native per round %.3f..%.3f", w->label, lo, hi);
        if (w->path[COL_LXCFS] && !w->err[COL_LXCFS][0]) {
            paired_ratio(w, COL_LXCFS, rounds, &lo, &hi);
            printf(", lxcfs/native %.2f..%.2f", lo, hi);
        }
        printf("; %s %ld/%ld", w->cold ? "samples/round" : "iters/batch", w->iters[COL_NATIVE],
               w->iters[COL_SHIM]);
        if (w->path[COL_LXCFS])
            printf("/%ld", w->iters[COL_LXCFS]);
        printf("\n");
        const char *cn[NCOL] = {"native", "shim", "lxcfs"};
        for (int c = 0; c < NCOL; c++)
            if (w->err[c][0])
                printf("    %s FAILED: %s\n", cn[c], w->err[c]);
    }
    printf("  start %s: no preload median %.1f µs mean %.1f µs; empty .so median %.1f mean %.1f; "
           "shim median %.1f mean %.1f (%ld runs each)\n",
           prog, med_none / 1000, mean_none / 1000, med_empty / 1000, mean_empty / 1000,
           med_shim / 1000, mean_shim / 1000, spawn_runs);
    for (int v = 0; v < 3; v++)
        if (sv[v].failures)
            printf("    %s: %ld runs of %s failed (last wait status 0x%x)\n", sv[v].name,
                   sv[v].failures, prog, sv[v].last_status);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "worker") == 0)
        return worker(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "cold") == 0)
        return cold(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "probe") == 0)
        return probe(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "stack") == 0)
        return stack_use(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "anon") == 0)
        return memory_use(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "all") == 0) {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
        if (n <= 0) {
            perror("readlink /proc/self/exe");
            return 1;
        }
        self_exe[n] = 0;
        return driver(argc, argv);
    }
    fprintf(stderr, "usage: bench worker|cold|probe|all ...\n");
    return 2;
}
