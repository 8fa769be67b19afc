/* An fd number that once held the served /proc/meminfo is reused for another file; a rewind
 * (lseek to 0) or pread at 0 on it must return that other file's bytes, untouched.
 *
 *   fdreuse MODE OTHERFILE
 *
 * MODE: close    open meminfo, read, close(), open OTHERFILE until it gets the same number
 *       fclose   fopen meminfo, read, fclose(), open OTHERFILE
 *       rawclose open meminfo, read, syscall(SYS_close) (bypasses any close hook), open OTHERFILE
 *       dup2     open meminfo, read, dup2(open(OTHERFILE), fd) without closing first
 * OTHERFILE is opened O_RDWR (a shim writing into it would corrupt it on disk).
 * Output: same_fd=0|1, then "--lseek--" + bytes after lseek(0)+read, "--pread--" + pread at 0,
 * "--end--". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: fdreuse close|fclose|rawclose|dup2 OTHERFILE\n"); return 64; }
    const char *mode = argv[1], *other = argv[2];
    char buf[8192];
    int fd, fd2;
    if (!strcmp(mode, "fclose")) {
        FILE *f = fopen("/proc/meminfo", "r");
        if (!f) { perror("fopen"); return 2; }
        fd = fileno(f);
        if (fread(buf, 1, 100, f) == 0) { perror("fread"); return 2; }
        fclose(f);
    } else {
        fd = open("/proc/meminfo", O_RDONLY);
        if (fd < 0) { perror("open"); return 2; }
        if (read(fd, buf, 100) <= 0) { perror("read"); return 2; }
        if (!strcmp(mode, "close")) close(fd);
        else if (!strcmp(mode, "rawclose")) syscall(SYS_close, fd);
        else if (strcmp(mode, "dup2") != 0) { fprintf(stderr, "fdreuse: unknown mode %s\n", mode); return 64; }
    }
    if (!strcmp(mode, "dup2")) {
        int o = open(other, O_RDWR);
        if (o < 0) { perror("open other"); return 2; }
        fd2 = dup2(o, fd);
        close(o);
    } else {
        /* The kernel hands out the lowest free number, which need not be the one just freed
         * (the shim may have used a lower fd meanwhile): keep opening until it comes back. */
        fd2 = -1;
        for (int tries = 0; tries < 64; tries++) {
            fd2 = open(other, O_RDWR);
            if (fd2 < 0 || fd2 == fd) break;
        }
    }
    if (fd2 < 0) { perror("open other"); return 2; }
    printf("same_fd=%d\n", fd2 == fd);
    /* consume part of the file first so the rewind is a real rewind */
    if (read(fd2, buf, 3) < 0) { perror("read other"); return 2; }
    if (lseek(fd2, 0, SEEK_SET) != 0) { perror("lseek"); return 2; }
    ssize_t n = read(fd2, buf, sizeof buf);
    printf("--lseek--\n");
    if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
    n = pread(fd2, buf, sizeof buf, 0);
    printf("--pread--\n");
    if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
    printf("--end--\n");
    return 0;
}
