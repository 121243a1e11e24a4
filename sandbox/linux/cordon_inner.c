/*
 * cordon-inner: the Linux inner stage, native. The last step inside bubblewrap's namespaces
 * before the command runs; the same spec and steps as inner.py's sandbox side, without paying for a
 * second Python interpreter on every launch (~10 ms of a ~25 ms launch).
 *
 *   cordon-inner --spec-fd N -- CMD [ARGS...]
 *
 * The launcher (inner.py: encode_native) decides everything; this program only executes the
 * plan it reads from fd N, in the order of inner.py's main():
 *   prelude (start, wait for its "ready" line), no_new_privs, Landlock (the "read / except
 *   these" expansion is done here, as seen from inside the sandbox), close every fd above 2,
 *   drop every capability, own process group, seccomp (a BPF program compiled by the launcher
 *   with pyseccomp), exec. Any failing step exits 125 and says which step; nothing is run.
 *
 * Plan format: "CORDONI1", then records: tag (1 byte), length (u32 little-endian), bytes.
 *   P prelude argument (in order)       L Landlock flags (u32: 1 on, 2 required, 4 tcp, 8 scope,
 *                                         16 resolve_unix: handled from ABI 9, granted nowhere)
 *   O Landlock off (reason)             r / w / d / l / x  read / write / device / list / deny path
 *   S seccomp program (struct sock_filter[])
 *   R resource limit: resource, soft, hard (3 x u64 little-endian), set right before seccomp
 *   T fd (u32) of a unix socket to the launcher: O_PATH fds of /tmp and /dev/shm are sent there
 *     first thing (SCM_RIGHTS), so it can tell afterwards whether a full /tmp stopped the command
 *   H handoff fd (decimal): a warm sandbox (sandbox/linux/pool.py). With every wall up, write
 *     "R" on that socket, then wait for the command: one message of argv, env and cwd (each
 *     string NUL-terminated, each list ended by an empty string) carrying stdin, stdout and
 *     stderr as SCM_RIGHTS; install them and exec. The CMD given on the command line is unused.
 *   W the watch variant of S             N the socket fd its listener is sent on (see below)
 *   D "1": send a NETLINK_SOCK_DIAG socket (made before seccomp) with the listener: the
 *     launcher's late-socket guard lists the sandbox's own unix sockets with it
 * Every record but L, S, R, T and W is text and must hold no NUL byte (exit 125 otherwise).
 *
 * Must not touch: mounts and namespaces (bubblewrap), policy decisions (the launcher).
 * Built statically when the C library allows it: no dynamic loader, so no LD_* variable
 * can run code before the walls are up.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_SETUP_FAILED 125
#define PRELUDE_TIMEOUT_MS 5000

/* Landlock uapi, spelled out: the build host's headers may predate ABI 4-6. */
#define SYS_LL_CREATE 444
#define SYS_LL_ADD 445
#define SYS_LL_RESTRICT 446
#define SYS_CLOSE_RANGE_NR 436
#define LL_VERSION 1
#define LL_RULE_PATH 1
#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
#define FS_ABI1 ((1ULL << 13) - 1)
#define FS_ALL ((1ULL << 16) - 1) /* stops below FS_RESOLVE_UNIX: no rule grants it */
#define FS_RESOLVE_UNIX (1ULL << 16) /* ABI 9 */
#define FILE_RIGHTS (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
#define READ_RIGHTS (FS_EXECUTE | FS_READ_FILE | FS_READ_DIR)
#define DEVICE_RIGHTS (FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
#define NET_BIND (1ULL << 0)
#define NET_CONNECT (1ULL << 1)

struct ll_ruleset_attr {
    uint64_t handled_fs, handled_net, scoped;
};
struct ll_path_attr {
    uint64_t allowed;
    int32_t parent_fd;
} __attribute__((packed));
struct bpf_prog {
    unsigned short len;
    void *filter;
};

static const char *step = "arguments";

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(2, "sandbox: inner stage failed at %s: %s; the command was not run\n", step, msg);
    _exit(EXIT_SETUP_FAILED);
}

static void *xalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) fail("out of memory");
    return p;
}

/* ---- the plan ------------------------------------------------------------------------ */
struct list {
    char **items;
    size_t n, cap;
};

static void push(struct list *l, char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
        if (!l->items) fail("out of memory");
    }
    l->items[l->n++] = s;
}

static struct {
    struct list prelude, read, write, dev, list, deny, rlimits;
    uint32_t ll_flags;
    int report_fd;
    const char *ll_off;
    unsigned char *bpf, *watch;
    size_t bpf_len, watch_len;
    int handoff_fd; /* -1: the command comes from argv */
    int notify_fd;  /* -1: no denial observation */
    int diag;       /* send a sock_diag socket with the listener */
} plan = {.handoff_fd = -1, .notify_fd = -1};

static unsigned char *read_all(int fd, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = xalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) fail("out of memory");
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("read spec fd %d: %s", fd, strerror(errno));
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

static void parse_plan(unsigned char *buf, size_t len) {
    if (len < 8 || memcmp(buf, "CORDONI1", 8) != 0) fail("the spec is not a native inner-stage plan");
    size_t i = 8;
    while (i < len) {
        if (len - i < 5) fail("truncated spec at byte %zu", i);
        unsigned char tag = buf[i];
        uint32_t n = (uint32_t)buf[i + 1] | (uint32_t)buf[i + 2] << 8 | (uint32_t)buf[i + 3] << 16 |
                     (uint32_t)buf[i + 4] << 24;
        i += 5;
        if (n > len - i) fail("truncated spec at byte %zu", i);
        char *s = xalloc(n + 1); /* NUL-terminated copy */
        memcpy(s, buf + i, n);
        /* Text records (paths, arguments, reasons) become C strings: an embedded NUL
         * would silently cut one short (a deny path naming its parent, say). */
        if (tag != 'S' && tag != 'L' && tag != 'R' && tag != 'T' && tag != 'W' && memchr(s, 0, n))
            fail("spec record '%c' at byte %zu holds a NUL byte", tag, i - 5);
        switch (tag) {
        case 'P': push(&plan.prelude, s); break;
        case 'r': push(&plan.read, s); break;
        case 'w': push(&plan.write, s); break;
        case 'd': push(&plan.dev, s); break;
        case 'l': push(&plan.list, s); break;
        case 'x': push(&plan.deny, s); break;
        case 'O': plan.ll_off = s; break;
        case 'H': {
            char *end;
            long v = strtol(s, &end, 10);
            if (!n || *end || v < 3 || v > 1 << 20) fail("bad handoff record '%s'", s);
            plan.handoff_fd = (int)v;
            break;
        }
        case 'T':
            if (n != 4) fail("bad report record");
            memcpy(&plan.report_fd, s, 4);
            break;
        case 'R':
            if (n != 24) fail("bad resource limit record");
            push(&plan.rlimits, s);
            break;
        case 'L':
            if (n != 4) fail("bad Landlock record");
            memcpy(&plan.ll_flags, s, 4);
            break;
        case 'S':
            plan.bpf = (unsigned char *)s;
            plan.bpf_len = n;
            break;
        case 'W':
            plan.watch = (unsigned char *)s;
            plan.watch_len = n;
            break;
        case 'N': {
            char *end;
            long v = strtol(s, &end, 10);
            if (!n || *end || v < 3 || v > 1 << 20) fail("bad notify record '%s'", s);
            plan.notify_fd = (int)v;
            break;
        }
        case 'D':
            plan.diag = n == 1 && s[0] == '1';
            break;
        default: fail("unknown spec record %#x at byte %zu", tag, i - 5);
        }
        i += n;
    }
}

/* ---- prelude ---------------------------------------------------------------------------- */
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the prelude detached (double fork: it must not be the command's child, whose wait()
 * would see it) and wait until it prints "ready". */
static void start_prelude(void) {
    int out[2], pidp[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(pidp, O_CLOEXEC)) fail("pipe: %s", strerror(errno));
    char **argv = xalloc((plan.prelude.n + 1) * sizeof *argv);
    memcpy(argv, plan.prelude.items, plan.prelude.n * sizeof *argv);
    pid_t child = fork();
    if (child < 0) fail("fork: %s", strerror(errno));
    if (child == 0) {
        pid_t g = fork();
        if (g == 0) {
            dup2(out[1], 1);
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0) dup2(null, 0);
            execvp(argv[0], argv);
            dprintf(2, "sandbox: prelude %s: %s\n", argv[0], strerror(errno));
            _exit(127);
        }
        if (write(pidp[1], &g, sizeof g) != sizeof g) _exit(127);
        _exit(0);
    }
    close(out[1]);
    close(pidp[1]);
    waitpid(child, NULL, 0);
    pid_t g = 0;
    if (read(pidp[0], &g, sizeof g) != sizeof g) g = 0;
    close(pidp[0]);
    char buf[256];
    size_t n = 0;
    long long deadline = now_ms() + PRELUDE_TIMEOUT_MS;
    while (!memchr(buf, '\n', n)) {
        long long left = deadline - now_ms();
        struct pollfd p = {out[0], POLLIN, 0};
        int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR) continue;
        ssize_t r = ready > 0 ? read(out[0], buf + n, sizeof buf - 1 - n) : 0;
        if (r <= 0 || n + (size_t)r >= sizeof buf - 1) {
            if (g > 0) kill(g, SIGKILL);
            buf[n] = 0;
            fail("prelude %s %s before printing 'ready' (output: '%s')", argv[0], ready > 0 ? "exited" : "timed out",
                 buf);
        }
        n += (size_t)r;
    }
    close(out[0]); /* the prelude must not write to stdout after "ready" */
    buf[n] = 0;
    char *line = buf, *nl = memchr(buf, '\n', n);
    if (memchr(buf, 0, (size_t)(nl - buf))) {
        if (g > 0) kill(g, SIGKILL);
        fail("prelude %s printed a NUL byte before its first line ended (expected 'ready')", argv[0]);
    }
    *nl = 0;
    while (*line == ' ' || *line == '\t' || *line == '\r') line++;
    size_t m = strlen(line);
    while (m && (line[m - 1] == ' ' || line[m - 1] == '\t' || line[m - 1] == '\r')) line[--m] = 0;
    if (strcmp(line, "ready") != 0) {
        if (g > 0) kill(g, SIGKILL);
        fail("prelude %s printed '%s' instead of 'ready'", argv[0], line);
    }
}

/* ---- Landlock --------------------------------------------------------------------------- */
static int ruleset = -1, fs_rules = 0;
static uint64_t handled_fs;

static int under(const char *path, const char *root) {
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    if (strcmp(path, root) == 0 || strcmp(root, "/") == 0) return 1;
    return strncmp(path, root, n) == 0 && path[n] == '/';
}

/* Allow `access` beneath `path`. Symlinks are not followed (a rule on a link would land on its
 * target); a path that cannot be opened gets no rule (the safe side). */
static void add_path(const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISLNK(st.st_mode)) {
        if (!S_ISDIR(st.st_mode)) access &= FILE_RIGHTS;
        access &= handled_fs;
        if (access) {
            struct ll_path_attr a = {access, fd};
            if (syscall(SYS_LL_ADD, ruleset, LL_RULE_PATH, &a, 0) < 0)
                fail("landlock_add_rule(%s): %s", path, strerror(errno));
            fs_rules++;
        }
    }
    close(fd);
}

/* "Read everything beneath `dir` except `denies`": Landlock only allows, so: list-only on
 * `dir`, full `access` on each entry that holds no denied path, recursion into those that do. */
static void expand(const char *dir, char **denies, size_t nd, uint64_t access) {
    add_path(dir, FS_READ_DIR);
    size_t dl = strlen(dir);
    while (dl > 0 && dir[dl - 1] == '/') dl--;
    DIR *d = opendir(dir);
    if (!d) return; /* unreadable: nothing granted beneath */
    char **sub = xalloc(nd * sizeof *sub);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *path = xalloc(dl + strlen(e->d_name) + 2);
        memcpy(path, dir, dl);
        path[dl] = '/';
        strcpy(path + dl + 1, e->d_name);
        size_t nl = strlen(e->d_name), ns = 0;
        int exact = 0;
        for (size_t i = 0; i < nd; i++) {
            const char *rest = denies[i] + dl + 1; /* every deny here is under dir */
            if (strncmp(rest, e->d_name, nl) == 0 && (rest[nl] == 0 || rest[nl] == '/')) {
                sub[ns++] = denies[i];
                if (rest[nl] == 0) exact = 1;
            }
        }
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            type = lstat(path, &st) ? DT_UNKNOWN : S_ISLNK(st.st_mode) ? DT_LNK : S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
        }
        if (ns == 0 || !exact) {
            if (ns && type == DT_DIR) expand(path, sub, ns, access);
            else if (type != DT_LNK) add_path(path, access);
        }
        free(path);
    }
    free(sub);
    closedir(d);
}

static uint64_t fs_rights(int abi) {
    uint64_t r = FS_ABI1;
    if (abi >= 2) r |= FS_REFER;
    if (abi >= 3) r |= FS_TRUNCATE;
    if (abi >= 5) r |= FS_IOCTL_DEV;
    return r;
}

static int in_write_root(const char *p) {
    for (size_t i = 0; i < plan.write.n; i++)
        if (under(p, plan.write.items[i])) return 1;
    return 0;
}

/* Returns the summary exported as CORDON_LANDLOCK (inner.py: _summary). */
static char *apply_landlock(void) {
    static char summary[512];
    long abi = syscall(SYS_LL_CREATE, NULL, 0, LL_VERSION);
    if (abi < 1) {
        if (abi < 0 && errno != ENOSYS && errno != EOPNOTSUPP)
            fail("landlock_create_ruleset(VERSION): %s", strerror(errno));
        if (plan.ll_flags & 2) fail("Landlock is not available on this kernel (required by the policy)");
        return "abi=0 not-enforced";
    }
    struct ll_ruleset_attr attr = {fs_rights((int)abi), 0, 0};
    int net = (plan.ll_flags & 4) && abi >= 4, scope = (plan.ll_flags & 8) && abi >= 6;
    if (net) attr.handled_net = NET_BIND | NET_CONNECT;
    if (scope) attr.scoped = 3; /* abstract unix sockets, signals */
    int resolve_unix = (plan.ll_flags & 16) && abi >= 9;
    if (resolve_unix) attr.handled_fs |= FS_RESOLVE_UNIX;
    handled_fs = attr.handled_fs;
    ruleset = (int)syscall(SYS_LL_CREATE, &attr, scope ? 24 : net ? 16 : 8, 0);
    if (ruleset < 0) fail("landlock_create_ruleset: %s", strerror(errno));

    /* A deny inside a writable root cannot be expressed (a rule there grants everything
     * beneath); bubblewrap's masks enforce those. */
    char **deny = xalloc((plan.deny.n + 1) * sizeof *deny);
    size_t nd = 0;
    for (size_t i = 0; i < plan.deny.n; i++) {
        const char *p = plan.deny.items[i];
        int dup = 0;
        for (size_t j = 0; j < nd; j++) dup |= !strcmp(deny[j], p);
        if (!dup && !in_write_root(p)) deny[nd++] = plan.deny.items[i];
    }
    char **beneath = xalloc((nd + 1) * sizeof *beneath);
    for (size_t i = 0; i < plan.read.n; i++) {
        const char *root = plan.read.items[i];
        int hidden = 0;
        size_t nb = 0;
        for (size_t j = 0; j < nd; j++) {
            if (under(root, deny[j])) hidden = 1;
            else if (under(deny[j], root)) beneath[nb++] = deny[j];
        }
        if (hidden) continue;
        if (nb) expand(root, beneath, nb, READ_RIGHTS);
        else add_path(root, READ_RIGHTS);
    }
    for (size_t i = 0; i < plan.write.n; i++) add_path(plan.write.items[i], FS_ALL);
    for (size_t i = 0; i < plan.dev.n; i++) add_path(plan.dev.items[i], DEVICE_RIGHTS);
    for (size_t i = 0; i < plan.list.n; i++) add_path(plan.list.items[i], FS_READ_DIR);
    if (syscall(SYS_LL_RESTRICT, ruleset, 0) < 0) fail("landlock_restrict_self: %s", strerror(errno));
    close(ruleset);

    char missing[200] = "";
    const char *names[] = {"refer", "truncate", "ioctl_dev"};
    int abis[] = {2, 3, 5};
    for (int k = 0; k < 3; k++)
        if (abi < abis[k]) snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", *missing ? "," : "", names[k]);
    if ((plan.ll_flags & 4) && abi < 4)
        snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%stcp-bind/connect", *missing ? "," : "");
    if ((plan.ll_flags & 8) && abi < 6)
        snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%sabstract-unix-socket-+-signal-scoping",
                 *missing ? "," : "");
    snprintf(summary, sizeof summary, "abi=%ld fs-rules=%d tcp=%s scope=%s%s%s%s", abi, fs_rules,
             net ? "denied" : "open", scope ? "abstract_unix_socket,signal" : "none",
             resolve_unix ? " unix=resolve_unix" : "", *missing ? " missing=" : "", missing);
    if (getenv("CORDON_INNER_DEBUG"))
        dprintf(2, "sandbox: inner: landlock %s (native; %zu deny paths left to bubblewrap)\n", summary,
                plan.deny.n - nd);
    return summary;
}

/* ---- capabilities ----------------------------------------------------------------------- */
#define PR_CAP_AMBIENT_ 47
#define PR_CAP_AMBIENT_CLEAR_ALL_ 4
#define SECUREBITS_LOCKED 0xEF /* NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE + their locks, KEEP_CAPS lock */

/* Nonzero sets among CapInh/CapPrm/CapEff/CapAmb (and CapBnd for uid 0, which regains the
 * bounding set on exec), written into `held` for the error message. */
static int caps_held(char *held, size_t size) {
    int root = getuid() == 0 || geteuid() == 0;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) fail("/proc/self/status: %s", strerror(errno));
    char line[256];
    int any = 0;
    if (held) *held = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Cap", 3) != 0) continue;
        if (!strncmp(line, "CapBnd", 6) && !root) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        unsigned long long v = strtoull(colon + 1, NULL, 16);
        if (v) {
            any = 1;
            if (held) {
                *colon = 0;
                snprintf(held + strlen(held), size - strlen(held), "%s%s=%#llx", *held ? " " : "", line, v);
            }
        }
    }
    fclose(f);
    return any;
}

static void drop_capabilities(void) {
    if (!caps_held(NULL, 0)) return;
    prctl(PR_SET_SECUREBITS, SECUREBITS_LOCKED, 0, 0, 0); /* without CAP_SETPCAP the check below reports */
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) break; /* EINVAL past the last known cap */
    prctl(PR_CAP_AMBIENT_, PR_CAP_AMBIENT_CLEAR_ALL_, 0, 0, 0);
    uint32_t header[2] = {0x20080522, 0}; /* v3, this process */
    uint32_t data[6] = {0};
    if (syscall(SYS_capset, header, data) < 0) fail("capset: %s", strerror(errno));
    char held[512];
    if (caps_held(held, sizeof held)) fail("capabilities still held: %s", held);
}

/* ---- fds and the warm-sandbox handoff ------------------------------------------------------ */
static void close_range_(unsigned lo, unsigned hi) {
    if (lo > hi) return;
    if (syscall(SYS_CLOSE_RANGE_NR, lo, hi, 0) < 0)
        for (unsigned i = lo; i <= hi && i < 65536; i++) close((int)i); /* close_range missing (< 5.9) */
}

static void close_fds_except(int keep) {
    if (keep < 0) {
        close_range_(3, ~0U);
        return;
    }
    close_range_(3, (unsigned)keep - 1);
    close_range_((unsigned)keep + 1, ~0U);
}

/* Close every fd above 2 but `a` and `b` (either may be -1). */
static void close_fds_except2(int a, int b) {
    if (a < 0 || b < 0 || a == b) {
        close_fds_except(a < 0 ? b : a);
        return;
    }
    int lo = a < b ? a : b, hi = a < b ? b : a;
    close_range_(3, (unsigned)lo - 1);
    close_range_((unsigned)lo + 1, (unsigned)hi - 1);
    close_range_((unsigned)hi + 1, ~0U);
}

#define HANDOFF_MAX (1 << 20)

/* NUL-terminated strings from *p up to an empty one; NULL-terminated array. */
static char **take_list(char **p, char *end) {
    struct list l = {0};
    for (;;) {
        char *nul = memchr(*p, 0, (size_t)(end - *p));
        if (!nul) fail("malformed handoff message");
        if (nul == *p) {
            *p = nul + 1;
            break;
        }
        push(&l, *p);
        *p = nul + 1;
    }
    push(&l, NULL);
    return l.items;
}

/* All walls are up (seccomp included): say so, then become the command the launcher sends. */
static char **handoff(int sock, char ***envp) {
    if (write(sock, "R", 1) != 1) fail("ready: %s", strerror(errno));
    char *buf = xalloc(HANDOFF_MAX);
    char control[CMSG_SPACE(3 * sizeof(int))];
    struct iovec iov = {buf, HANDOFF_MAX - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n == 0) _exit(0); /* the pool closed this sandbox unused */
    if (n < 0) fail("recvmsg: %s", strerror(errno));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(3 * sizeof(int)) ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        fail("malformed handoff message");
    int fds[3];
    memcpy(fds, CMSG_DATA(c), sizeof fds);
    char *p = buf, *end = buf + n;
    buf[n] = 0;
    char **argv = take_list(&p, end);
    *envp = take_list(&p, end);
    char *cwd = p;
    if (!argv[0] || !memchr(cwd, 0, (size_t)(end - cwd) + 1)) fail("malformed handoff message");
    /* Above 2 first, so dup2 never overwrites a descriptor still to be moved. */
    for (int i = 0; i < 3; i++) {
        int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        if (hi < 0) fail("dup: %s", strerror(errno));
        close(fds[i]);
        fds[i] = hi;
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) fail("dup2: %s", strerror(errno));
        close(fds[i]);
    }
    close(sock);
    if (chdir(cwd) < 0) fail("chdir %s: %s", cwd, strerror(errno));
    return argv;
}

/* ---- resource limits ------------------------------------------------------------------- */
/* O_PATH descriptors of /tmp and /dev/shm to the launcher (inner.py: _report_tmp). */
static void report_tmp(void) {
    int fds[2], n = 0;
    const char *paths[] = {"/tmp", "/dev/shm"};
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) fds[n++] = fd;
    }
    char byte[3] = {'t', 'm', 'p'};
    struct iovec iov = {byte, sizeof byte};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n) {
        memset(&u, 0, sizeof u);
        msg.msg_control = u.buf;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    }
    if (sendmsg(plan.report_fd, &msg, 0) < 0) fail("sendmsg: %s", strerror(errno));
    for (int i = 0; i < n; i++) close(fds[i]);
    close(plan.report_fd);
}

static uint64_t u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Lower each limit to (soft, hard); one already lower (inherited) stays as it is. */
static void set_rlimits(void) {
    for (size_t i = 0; i < plan.rlimits.n; i++) {
        const unsigned char *r = (const unsigned char *)plan.rlimits.items[i];
        int resource = (int)u64le(r);
        rlim_t soft = (rlim_t)u64le(r + 8), hard = (rlim_t)u64le(r + 16);
        struct rlimit cur;
        if (getrlimit(resource, &cur) < 0) fail("getrlimit(%d): %s", resource, strerror(errno));
        if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < hard) hard = cur.rlim_max;
        if (cur.rlim_cur != RLIM_INFINITY && cur.rlim_cur < soft) soft = cur.rlim_cur;
        struct rlimit want = {soft < hard ? soft : hard, hard};
        if (setrlimit(resource, &want) < 0) fail("setrlimit(%d): %s", resource, strerror(errno));
    }
}

/* ---- denial observation ------------------------------------------------------------------
 * The watch program is the plain one with its EPERM returns (and path-taking filesystem calls)
 * sent to a user-notification listener; the launcher's supervisor answers each exactly as the
 * plain program would (sandbox/linux/supervise.py). The listener goes to the launcher over
 * `sock` and is closed here: the command must never hold it. Returns 0, with nothing
 * installed, when the kernel refuses a listener (EBUSY: one exists up the process tree).
 *
 * The late-socket guard's program notifies sendmsg() too, and nobody could answer the one that
 * carries the listener itself: a thread started before the filter (so outside it: a filter
 * binds the thread that installs it and those it starts later) sends it, and has ended before
 * anything else runs. */
struct listener_send {
    int sock, nfds, fds[2], go[2], sent, err;
};

static void *send_listener(void *arg) {
    struct listener_send *s = arg;
    char go = 0;
    if (read(s->go[0], &go, 1) != 1 || go != 'L') return NULL; /* no listener: nothing to send */
    char byte = 'L';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(s->nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(s->nfds * sizeof(int));
    memcpy(CMSG_DATA(c), s->fds, s->nfds * sizeof(int));
    s->sent = sendmsg(s->sock, &msg, 0) == 1;
    s->err = errno;
    return NULL;
}

static int load_watch(int sock) {
    if (plan.watch_len % 8 || plan.watch_len / 8 > 0xFFFF) fail("seccomp watch program is malformed");
    struct bpf_prog prog = {(unsigned short)(plan.watch_len / 8), plan.watch};
    /* Before the filter, which refuses it: without one the supervisor refuses pathname connects. */
    int diag = plan.diag ? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 4 /* NETLINK_SOCK_DIAG */) : -1;
    struct listener_send s = {sock, diag >= 0 ? 2 : 1, {-1, diag}, {-1, -1}, 0, 0};
    pthread_t sender;
    if (pipe2(s.go, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    if ((errno = pthread_create(&sender, NULL, send_listener, &s)) != 0) fail("thread: %s", strerror(errno));
    /* WAIT_KILLABLE_RECV (5.19): once the supervisor holds a call, only a fatal signal interrupts
     * the caller, so a restarted call cannot repeat a send the supervisor already made. */
    int listener = (int)syscall(SYS_seccomp, 1 /* SET_MODE_FILTER */, 8 | 32 /* NEW_LISTENER | WAIT_KILLABLE_RECV */, &prog);
    if (listener < 0 && errno == EINVAL)
        listener = (int)syscall(SYS_seccomp, 1 /* SET_MODE_FILTER */, 8 /* FLAG_NEW_LISTENER */, &prog);
    s.fds[0] = listener;
    /* write() and the join (futex) are never notified. */
    if (write(s.go[1], listener < 0 ? "X" : "L", 1) != 1) fail("pipe: %s", strerror(errno));
    pthread_join(sender, NULL);
    close(s.go[0]);
    close(s.go[1]);
    if (diag >= 0) close(diag);
    close(sock);
    if (listener < 0) return 0;
    /* The filter is in place: without its listener every notified call would fail (ENOSYS). */
    if (!s.sent) fail("sending the seccomp listener to the launcher: %s", strerror(s.err));
    close(listener);
    return 1;
}

/* ---- the root-only scan (on the host, for the launcher) ----------------------------------
 * cordon-inner --root-only DIR: what sandbox.denylist.root_only_files(DIR) finds, for a
 * root launch to hide (the same walk and the same rules, kept in step with that function:
 * tests/sandbox/linux/test_fswatch.py compares the two). Run by the launcher on the
 * host, unconfined (it only reads metadata), while it plans the launch: the walk costs
 * ~2,700 stat calls under /etc, which Python spends ~15 ms on and this ~4 ms, off the
 * launcher's own path. Output: each path NUL-terminated, unsorted; exit 0 only when the walk
 * completed and everything was written (the launcher scans in Python otherwise). */
static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Lock and temporary files that come and go while tools edit /etc (denylist._transient). */
static int transient(const char *name) {
    size_t n = strlen(name);
    if (ends_with(name, n, "+") || ends_with(name, n, "~") || ends_with(name, n, ".lock") || ends_with(name, n, ".tmp"))
        return 1;
    if (name[0] == '.' && name[1] == '#') return 1;
    const char *dot = strrchr(name, '.');
    if (!dot || !dot[1]) return 0;
    for (const char *c = dot + 1; *c; c++)
        if (*c < '0' || *c > '9') return 0;
    return 1;
}

static char out_buf[1 << 16];
static size_t out_len;

static int flush_out(void) {
    for (size_t off = 0; off < out_len;) {
        ssize_t w = write(1, out_buf + off, out_len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    out_len = 0;
    return 0;
}

static int emit(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name), need = a + 1 + b + 1;
    if (need > sizeof out_buf) return -1; /* longer than PATH_MAX many times over */
    if (out_len + need > sizeof out_buf && flush_out() < 0) return -1;
    memcpy(out_buf + out_len, dir, a);
    out_buf[out_len + a] = '/';
    memcpy(out_buf + out_len + a + 1, name, b + 1); /* with its NUL */
    out_len += need;
    return 0;
}

static int root_only_scan(const char *top) {
    close_range_(3, ~0U); /* nothing the launcher had open is ours */
    struct list stack = {0};
    push(&stack, strdup(top));
    /* The top is followed, as os.listdir follows it; below it only what lstat saw as a
     * directory is entered, never a symlink put there since. */
    int follow = 1;
    while (stack.n) {
        char *d = stack.items[--stack.n];
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        follow = 0;
        DIR *dir = dfd < 0 ? NULL : fdopendir(dfd);
        if (!dir) {
            if (dfd >= 0) close(dfd);
            free(d);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(dir))) {
            const char *name = e->d_name;
            if ((name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) || transient(name)) continue;
            struct stat st;
            if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
            if (S_ISDIR(st.st_mode)) {
                if ((st.st_mode & 05) != 05) { /* others cannot list or enter it: hidden whole */
                    if (emit(d, name) < 0) return 1;
                } else {
                    char *p = xalloc(strlen(d) + strlen(name) + 2);
                    sprintf(p, "%s/%s", d, name);
                    push(&stack, p);
                }
            } else if (!S_ISLNK(st.st_mode) && !(st.st_mode & 04)) { /* symlinks: checked where they point */
                if (emit(d, name) < 0) return 1;
            }
        }
        closedir(dir);
        free(d);
    }
    return flush_out() < 0 ? 1 : 0;
}

/* ---- main -------------------------------------------------------------------------------- */
int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--root-only") == 0) {
        step = "root-only scan";
        return root_only_scan(argv[2]);
    }
    if (argc < 5 || strcmp(argv[1], "--spec-fd") != 0 || strcmp(argv[3], "--") != 0)
        fail("usage: cordon-inner --spec-fd N -- CMD [ARGS...]");
    char *end;
    long fd = strtol(argv[2], &end, 10);
    if (*end || fd < 0) fail("bad --spec-fd %s", argv[2]);
    char **command = argv + 4;

    step = "spec";
    size_t len;
    unsigned char *buf = read_all((int)fd, &len);
    parse_plan(buf, len);

    if (plan.report_fd) {
        step = "tmp report";
        report_tmp();
    }
    if (plan.prelude.n) {
        step = "prelude";
        start_prelude();
    }
    step = "no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("%s", strerror(errno));
    if (plan.ll_flags & 1) {
        step = "landlock";
        setenv("CORDON_LANDLOCK", apply_landlock(), 1);
    } else if (plan.ll_off) {
        setenv("CORDON_LANDLOCK", "not-enforced", 1);
    }
    step = "close fds";
    int keep = plan.watch_len && plan.notify_fd > 2 ? plan.notify_fd : -1; /* the listener's way out */
    close_fds_except2(plan.handoff_fd, keep);
    step = "capabilities";
    drop_capabilities();
    step = "process group";
    /* The command leads its own group, so the launcher's killpg reaches it and its children
     * (but not the prelude, which stays in bwrap's group). EPERM: already a session leader. */
    if (setpgid(0, 0) < 0 && errno != EPERM) fail("setpgid: %s", strerror(errno));
    if (plan.rlimits.n) {
        step = "resource limits";
        set_rlimits();
    }
    if (plan.bpf_len) {
        step = "seccomp";
        if (plan.bpf_len % 8 || plan.bpf_len / 8 > 0xFFFF) fail("seccomp program is not a whole number of instructions");
        struct bpf_prog prog = {(unsigned short)(plan.bpf_len / 8), plan.bpf};
        /* No supervisor socket (the stage run alone): the plain filter; its notified calls
         * (the late-socket guard's connect) then fail with ENOSYS, refused as without a listener. */
        if (keep < 0 || fcntl(keep, F_GETFD) < 0 || !load_watch(keep)) {
            if (prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, &prog, 0, 0) != 0)
                fail("seccomp filter not installed: %s", strerror(errno));
        }
    }
    if (plan.handoff_fd >= 0) {
        step = "handoff";
        char **envp, *landlock = getenv("CORDON_LANDLOCK");
        command = handoff(plan.handoff_fd, &envp);
        extern char **environ;
        environ = envp;
        if (landlock) setenv("CORDON_LANDLOCK", landlock, 1);
    }
    execvp(command[0], command);
    /* The command's own failure, reported the way a shell would. */
    int err = errno;
    dprintf(2, "sandbox: %s: %s\n", command[0], strerror(err));
    return err == ENOENT ? 127 : 126;
}
