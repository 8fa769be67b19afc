/* The supervised-program rows of scripts/bench.sh, built with -static (the library cannot load
 * into it, so `cgshim exec` supervises it):
 *
 *   supervised ops PATH N   open, read to the end and close PATH N times; prints the mean
 *                           microseconds per operation
 *   supervised spawn N ARGV...
 *                           runs ARGV N times (fork, exec, wait); prints the median microseconds
 *                           per run
 *   supervised true         exits at once (the program the spawn rows start)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "true"))
        return 0;
    if (argc == 4 && !strcmp(argv[1], "ops")) {
        const char *path = argv[2];
        long n = atol(argv[3]);
        static char buf[1 << 16];
        double t0 = now_us();
        for (long i = 0; i < n; i++) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                perror(path);
                return 1;
            }
            while (read(fd, buf, sizeof buf) > 0)
                ;
            close(fd);
        }
        printf("%.3f\n", (now_us() - t0) / n);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "spawn")) {
        long n = atol(argv[2]);
        double *t = calloc(n, sizeof *t);
        for (long i = 0; i < n; i++) {
            double t0 = now_us();
            pid_t pid = fork();
            if (pid == 0) {
                execv(argv[3], argv + 3);
                _exit(127);
            }
            int status;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s failed\n", argv[3]);
                return 1;
            }
            t[i] = now_us() - t0;
        }
        qsort(t, n, sizeof *t, cmp);
        printf("%.1f\n", t[n / 2]);
        return 0;
    }
    fprintf(stderr, "usage: supervised ops PATH N | spawn N ARGV... | true\n");
    return 2;
}
