/* Opens /proc/meminfo with flag combinations that must keep the kernel's semantics (the shim
 * may only change what a read returns). For each case prints
 *   <case> open=ok|E<errno> read=ok|E<errno>|- write=ok|E<errno>|-
 * so a preloaded run can be compared with a plain one line by line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void outcome(const char *label, int ok, int err) {
    if (ok) printf(" %s=ok", label);
    else printf(" %s=E%d", label, err);
}

static void try_open(const char *name, int flags) {
    char buf[256];
    errno = 0;
    int fd = open("/proc/meminfo", flags, 0644);
    printf("%s", name);
    outcome("open", fd >= 0, errno);
    if (fd >= 0) {
        errno = 0;
        ssize_t n = read(fd, buf, sizeof buf);
        outcome("read", n > 0, errno);
        errno = 0;
        ssize_t w = write(fd, "", 0);
        outcome("write0", w == 0, errno);
        close(fd);
    } else {
        printf(" read=- write0=-");
    }
    printf("\n");
}

static void try_fopen(const char *name, const char *mode) {
    char buf[256];
    errno = 0;
    FILE *f = fopen("/proc/meminfo", mode);
    printf("%s", name);
    outcome("open", f != NULL, errno);
    if (f) {
        errno = 0;
        size_t n = fread(buf, 1, sizeof buf, f);
        outcome("read", n > 0, errno);
        printf(" write0=-");
        fclose(f);
    } else {
        printf(" read=- write0=-");
    }
    printf("\n");
}

int main(void) {
    try_open("O_RDONLY", O_RDONLY);
    try_open("O_WRONLY", O_WRONLY);
    try_open("O_RDWR", O_RDWR);
    try_open("O_RDONLY|O_DIRECTORY", O_RDONLY | O_DIRECTORY);
    try_open("O_PATH", O_PATH);
    try_open("O_RDONLY|O_NOFOLLOW", O_RDONLY | O_NOFOLLOW);
    try_open("O_RDONLY|O_CREAT|O_EXCL", O_RDONLY | O_CREAT | O_EXCL);
    try_open("O_RDONLY|O_NONBLOCK", O_RDONLY | O_NONBLOCK);
    try_fopen("fopen r+", "r+");
    try_fopen("fopen a", "a");
    return 0;
}
