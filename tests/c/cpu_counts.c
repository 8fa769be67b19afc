/* Prints, as key=value lines, what the CPU-count entry points answer, next to the raw kernel
 * affinity (syscall(SYS_sched_getaffinity), which no preload can intercept).
 *
 * keys: get_nprocs get_nprocs_conf sc_onln sc_conf
 *       self_count self_list      sched_getaffinity(0)          (the calling thread)
 *       pid_count pid_list        sched_getaffinity(getpid())
 *       thread_count thread_list  sched_getaffinity(gettid()) from a second thread
 *       parent_count parent_list  sched_getaffinity(getppid())  (another process)
 *       raw_count raw_list        the raw system call for the calling thread
 * A failing call prints <key>_error=<errno>. Lists are comma-separated CPU numbers. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static void print_set(const char *key, const cpu_set_t *set) {
    printf("%s_count=%d\n%s_list=", key, CPU_COUNT(set), key);
    int first = 1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, set)) {
            printf(first ? "%d" : ",%d", cpu);
            first = 0;
        }
    }
    printf("\n");
}

static void affinity(const char *key, pid_t pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(pid, sizeof set, &set) != 0) {
        printf("%s_error=%d\n", key, errno);
        return;
    }
    print_set(key, &set);
}

static void *thread_main(void *arg) {
    (void)arg;
    affinity("thread", (pid_t)syscall(SYS_gettid));
    return NULL;
}

int main(void) {
    printf("get_nprocs=%d\n", get_nprocs());
    printf("get_nprocs_conf=%d\n", get_nprocs_conf());
    printf("sc_onln=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("sc_conf=%ld\n", sysconf(_SC_NPROCESSORS_CONF));
    affinity("self", 0);
    affinity("pid", getpid());
    affinity("parent", getppid());

    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0) {
        printf("thread_error=1\n");
    } else {
        pthread_join(t, NULL);
    }

    cpu_set_t raw;
    CPU_ZERO(&raw);
    long r = syscall(SYS_sched_getaffinity, 0, sizeof raw, &raw);
    if (r < 0) {
        printf("raw_error=%d\n", errno);
    } else {
        print_set("raw", &raw);
    }
    fflush(stdout);
    return 0;
}
