/* Syscall probes for the confinement tests: each probe makes one call that a sandbox must
 * refuse, with arguments chosen so that, if the wall were missing, a privileged caller gets a
 * harmless error (bad magic, missing path) instead of side effects. Each probe runs in its own
 * forked child; one line per probe: "<name> <result> <errno>" or "<name> signal <n>".
 * Build: gcc -O0 -o probes probes.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/kcmp.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static long p_socket_inet(void) { return socket(AF_INET, SOCK_STREAM, 0); }
static long p_socket_inet6(void) { return socket(AF_INET6, SOCK_DGRAM, 0); }
static long p_socket_inet_hi32(void) { return syscall(SYS_socket, 0x100000002L, SOCK_STREAM, 0); }
static long p_socket_unix(void) { return socket(AF_UNIX, SOCK_STREAM, 0); }
static long p_socketpair_unix(void) { int sv[2]; return socketpair(AF_UNIX, SOCK_STREAM, 0, sv); }
static long p_socketpair_inet(void) { int sv[2]; return socketpair(AF_INET, SOCK_STREAM, 0, sv); }
static long p_netlink_route(void) { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0); }
static long p_netlink_diag(void) { return socket(AF_NETLINK, SOCK_RAW, 4 /* NETLINK_SOCK_DIAG */); }
static long p_netlink_uevent(void) { return socket(AF_NETLINK, SOCK_RAW, 15 /* KOBJECT_UEVENT */); }
static long p_packet(void) { return socket(AF_PACKET, SOCK_RAW, 0); }
static long p_raw(void) { return socket(AF_INET, SOCK_RAW, 1 /* ICMP */); }
static long p_vsock(void) { return socket(AF_VSOCK, SOCK_STREAM, 0); }
static long p_ptrace(void) { return syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0); }
static long p_process_vm_readv(void) {
    char a[8] = "abcdefg", b[8];
    struct iovec l = {b, 8}, r = {a, 8};
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0);
}
static long p_io_uring(void) { struct io_uring_params p; memset(&p, 0, sizeof p); return syscall(SYS_io_uring_setup, 1, &p); }
static long p_bpf(void) { return syscall(SYS_bpf, -1, NULL, 0); }
static long p_perf(void) { return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0); }
static long p_add_key(void) { return syscall(SYS_add_key, "user", "cordon", "x", 1, KEY_SPEC_PROCESS_KEYRING); }
static long p_keyctl(void) { return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }
static long p_request_key(void) { return syscall(SYS_request_key, "user", "cordon-absent", NULL, 0); }
static long p_kexec(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL); }
static long p_init_module(void) { return syscall(SYS_init_module, NULL, 0, ""); }
static long p_finit_module(void) { return syscall(SYS_finit_module, -1, "", 0); }
static long p_delete_module(void) { return syscall(SYS_delete_module, "cordon_absent_module", O_NONBLOCK); }
static long p_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL if unfiltered */ }
static long p_mount(void) { return mount("none", "/cordon-absent-dir", "tmpfs", 0, NULL); }
static long p_umount(void) { return umount2("/cordon-absent-dir", 0); }
static long p_pivot_root(void) { return syscall(SYS_pivot_root, "/cordon-absent", "/cordon-absent"); }
static long p_chroot(void) { return chroot("/cordon-absent"); }
static long p_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long p_unshare_net(void) { return unshare(CLONE_NEWNET); }
static long p_clone_newuser(void) {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return pid > 0 ? 0 : pid;
}
static long p_clone3(void) { return syscall(435 /* clone3 */, NULL, 0); }
static long p_setns(void) {
    int fd = open("/proc/self/ns/uts", O_RDONLY);
    if (fd < 0) return -1;
    return setns(fd, 0);
}
static long p_sethostname(void) { static char n[200]; memset(n, 'x', 199); return sethostname(n, 199); /* EINVAL unfiltered */ }
static long p_settimeofday(void) { return syscall(SYS_settimeofday, NULL, NULL); }
static long p_adjtimex(void) { struct timex t; memset(&t, 0, sizeof t); return adjtimex(&t); }
static long p_syslog(void) { return syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0); }
static long p_swapon(void) { return syscall(SYS_swapon, "/cordon-absent", 0); }
static long p_userfaultfd(void) { return syscall(SYS_userfaultfd, 0); }
static long p_kcmp(void) { return syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM, 0, 0); }
static long p_pidfd_getfd(void) {
    int pfd = syscall(SYS_pidfd_open, getpid(), 0);
    if (pfd < 0) return -1;
    return syscall(SYS_pidfd_getfd, pfd, 0, 0);
}
static long p_open_by_handle_at(void) { return syscall(SYS_open_by_handle_at, -1, NULL, 0); }
static long p_fsopen(void) { return syscall(430 /* fsopen */, "tmpfs", 0); }
static long p_open_tree(void) { return syscall(428 /* open_tree */, AT_FDCWD, "/cordon-absent", 0); }
static long p_tiocsti(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) return -1;
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    if (s < 0) return -1;
    char c = 'x';
    return ioctl(s, TIOCSTI, &c);
}
static long p_tiocsti_hi32(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) return -1;
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    if (s < 0) return -1;
    char c = 'x';
    return syscall(SYS_ioctl, s, 0x100000000UL | TIOCSTI, &c);
}
static long p_tiocstdin(void) { char c = 'x'; return ioctl(0, TIOCSTI, &c); }
static long p_tioclinux(void) { char sub = 6; return ioctl(0, TIOCLINUX, &sub); }
static long p_personality(void) {
    long r = personality(ADDR_NO_RANDOMIZE);
    return r == -1 ? -1 : 0;
}
static long p_personality_query(void) { return personality(0xffffffff) == -1 ? -1 : 0; }
static long p_x32(void) { return syscall(0x40000000L | SYS_getpid); }
static long p_i386(void) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) /* i386 getpid */ : "memory");
    if (ret < 0) { errno = -ret; return -1; }
    return 0;
}
static long p_getpid(void) { return getpid() > 0 ? 0 : -1; }

struct probe { const char *name; long (*fn)(void); };
static const struct probe probes[] = {
#define P(n) {#n, p_##n}
    P(socket_inet), P(socket_inet6), P(socket_inet_hi32), P(socket_unix), P(socketpair_unix), P(socketpair_inet),
    P(netlink_route), P(netlink_diag), P(netlink_uevent), P(packet), P(raw), P(vsock), P(ptrace),
    P(process_vm_readv), P(io_uring), P(bpf), P(perf), P(add_key), P(keyctl), P(request_key), P(kexec),
    P(init_module), P(finit_module), P(delete_module), P(reboot), P(mount), P(umount), P(pivot_root), P(chroot),
    P(unshare_user), P(unshare_net), P(clone_newuser), P(clone3), P(setns), P(sethostname), P(settimeofday),
    P(adjtimex), P(syslog), P(swapon), P(userfaultfd), P(kcmp), P(pidfd_getfd), P(open_by_handle_at), P(fsopen),
    P(open_tree), P(tiocsti), P(tiocsti_hi32), P(tiocstdin), P(tioclinux), P(personality), P(personality_query),
    P(x32), P(i386), P(getpid),
#undef P
};

int main(int argc, char **argv) {
    int n = sizeof probes / sizeof probes[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n; i++) puts(probes[i].name);
        return 0;
    }
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(argv[a], probes[i].name) != 0) continue;
            found = 1;
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                errno = 0;
                long r = probes[i].fn();
                printf("%s %ld %d\n", probes[i].name, r < 0 ? -1L : 0L, r < 0 ? errno : 0);
                fflush(stdout);
                _exit(0);
            }
            int st = 0;
            waitpid(pid, &st, 0);
            if (WIFSIGNALED(st)) printf("%s signal %d\n", probes[i].name, WTERMSIG(st));
        }
        if (!found) { fprintf(stderr, "unknown probe %s\n", argv[a]); return 2; }
    }
    return 0;
}
