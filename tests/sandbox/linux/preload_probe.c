/* LD_PRELOAD probe for the attack battery: every process that loads it appends
 * "<exe> seccomp=<mode>" to $CORDON_PRELOAD_LOG, so a test sees which programs ran the
 * library and whether the seccomp filter was already in place (2) or not (0). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void probe(void) {
    char buf[8192], line[256];
    const char *log = getenv("CORDON_PRELOAD_LOG");
    int fd = open("/proc/self/status", O_RDONLY);
    if (!log || fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    char *s = strstr(buf, "Seccomp:\t");
    char exe[256] = "?";
    ssize_t m = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (m > 0) exe[m] = 0;
    snprintf(line, sizeof line, "%s seccomp=%c\n", exe, s ? s[9] : '?');
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (out >= 0) { write(out, line, strlen(line)); close(out); }
}
