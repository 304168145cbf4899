// The kernel's floor for a process per test, with and without the sandbox's
// isolation: what running these tests costs when no runner logic runs at all.
//
//   floor JOBS process [DIR...] < tests.tsv
//   floor JOBS sandbox [DIR...] < tests.tsv
//
// Each line of stdin is "<test binary>\t<test name>". JOBS threads take the
// tests in turn; each test runs as `<binary> --exact <name> --nocapture`,
// with this program's environment, its output to /dev/null.
//
// `process` forks and execs the test: the floor of a runner without isolation.
// `sandbox` does the kernel work cargo-isolate's sandbox promises, and nothing
// else (no output capture, no report, no spec, no id maps, no overlays, no
// sysfs): a cgroup leaf in the memory, pids and cpuacct v1 hierarchies when
// they are writable; a clone into new mount, pid, network, uts and ipc
// namespaces (and a user namespace when not root); a tmpfs root with
// read-only binds of the system directories and of each DIR, a fresh /proc
// masked as the sandbox masks it, a /dev of six nodes with devpts and
// /dev/shm, a tmpfs /tmp, `lo` up, the host root detached; pid 1 forks the
// test and reaps it; the test makes its own user namespace and copies the
// mount namespace (which locks the mounts) before it execs.
//
// It prints "N tests, -j J: S s" and one "test I failed: STATUS" line per
// failure, and exits 1 if any failed. Built and run by bench.py (runners G
// and H); Linux only.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 200000
#define MAX_DIRS 16

extern char **environ;

static char *bins[MAX_TESTS], *names[MAX_TESTS];
static int n_tests;
static atomic_int next_test, failures;
static int sandbox;
static long clone_flags;
static const char *dirs[MAX_DIRS];
static int n_dirs;
// The run's directory in each measured v1 hierarchy; empty when not writable.
static char cgroup_run[3][1024];
static const char *controllers[3] = {"memory", "pids", "cpuacct"};

static void die(const char *what) {
  dprintf(2, "floor: %s: %s\n", what, strerror(errno));
  _exit(120);
}

static void mkdir_p(const char *path) {
  char b[512];
  snprintf(b, sizeof b, "%s", path);
  for (char *s = b + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      mkdir(b, 0755);
      *s = '/';
    }
  mkdir(b, 0755);
}

static void set_attr(const char *path, unsigned long set, unsigned long clear) {
  struct mount_attr a = {.attr_set = set, .attr_clr = clear};
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &a, sizeof a)) die(path);
}

// A read-only recursive bind of the host's `path` (under /.old) at `path`.
static void bind_ro(const char *path) {
  char src[512];
  struct stat st;
  snprintf(src, sizeof src, "/.old%s", path);
  if (stat(src, &st)) return;
  mkdir_p(path);
  if (mount(src, path, NULL, MS_BIND | MS_REC, NULL)) die(path);
  set_attr(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0);
}

static void bind_node(const char *name) {
  char src[64], dst[64];
  snprintf(src, sizeof src, "/.old/dev/%s", name);
  snprintf(dst, sizeof dst, "/dev/%s", name);
  close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
  if (mount(src, dst, NULL, MS_BIND, NULL)) die(dst);
}

// The sandbox's root, in the order cargo-isolate's init builds it.
static void build_root(void) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make / private");
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")) die("root tmpfs");
  mkdir("/tmp/.old", 0755);
  if (syscall(SYS_pivot_root, "/tmp", "/tmp/.old")) die("pivot_root");
  if (chdir("/")) die("chdir /");
  mkdir("/tmp", 01777);
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m")) die("/tmp");
  const char *system[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"};
  for (size_t i = 0; i < sizeof system / sizeof *system; i++) bind_ro(system[i]);
  for (int i = 0; i < n_dirs; i++) bind_ro(dirs[i]);

  mkdir("/proc", 0555);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die("/proc");
  const char *read_only[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"};
  for (size_t i = 0; i < sizeof read_only / sizeof *read_only; i++) {
    if (mount(read_only[i], read_only[i], NULL, MS_BIND | MS_REC, NULL)) continue;
    set_attr(read_only[i], MOUNT_ATTR_RDONLY, 0);
  }
  if (!mount("/proc/sys/net", "/proc/sys/net", NULL, MS_BIND | MS_REC, NULL))
    set_attr("/proc/sys/net", 0, MOUNT_ATTR_RDONLY);
  const char *hidden[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/latency_stats",
                          "/proc/sched_debug"};
  for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++)
    mount("/.old/dev/null", hidden[i], NULL, MS_BIND, NULL);
  const char *hidden_dirs[] = {"/proc/acpi", "/proc/scsi", "/proc/asound"};
  for (size_t i = 0; i < sizeof hidden_dirs / sizeof *hidden_dirs; i++)
    mount("tmpfs", hidden_dirs[i], "tmpfs", MS_RDONLY, "size=4k");

  mkdir("/dev", 0755);
  if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "size=64k,mode=0755")) die("/dev");
  const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) bind_node(nodes[i]);
  mkdir("/dev/pts", 0755);
  if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666"))
    die("/dev/pts");
  mkdir("/dev/shm", 01777);
  if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m")) die("/dev/shm");

  if (umount2("/.old", MNT_DETACH)) die("detach the host root");
  rmdir("/.old");
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq r = {0};
  strcpy(r.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &r)) die("lo");
  r.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &r)) die("lo up");
  close(s);
}

static uid_t host_uid;
static gid_t host_gid;

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die(path);
  close(fd);
}

// Not root: the clone made a user namespace; map our ids to 0 in it, as
// cargo-isolate's rootless sandbox does (unmapped, no file could be made).
static void map_own_ids(void) {
  char map[64];
  write_file("/proc/self/setgroups", "deny");
  snprintf(map, sizeof map, "0 %u 1", (unsigned)host_uid);
  write_file("/proc/self/uid_map", map);
  snprintf(map, sizeof map, "0 %u 1", (unsigned)host_gid);
  write_file("/proc/self/gid_map", map);
}

static void join_cgroup(const char *leaf[3]) {
  for (int h = 0; h < 3; h++) {
    if (!leaf[h]) continue;
    char procs[600];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", leaf[h]);
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) die(procs);
    close(fd);
  }
}

// The child of the clone: pid 1 of the sandbox, or the test itself.
static void child(int i, const char *leaf[3]) {
  join_cgroup(leaf);
  if (sandbox) {
    if (clone_flags & CLONE_NEWUSER) map_own_ids();
    build_root();
    loopback_up();
    pid_t test = fork();
    if (test < 0) die("fork the test");
    if (test > 0) {
      int status, rc = 126;
      pid_t w;
      while ((w = waitpid(-1, &status, 0)) > 0)
        if (w == test) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      _exit(rc);
    }
    if (unshare(CLONE_NEWUSER) || unshare(CLONE_NEWNS)) die("the test's namespaces");
  }
  int null = open("/dev/null", O_WRONLY);
  if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) die("/dev/null");
  char *argv[] = {bins[i], "--exact", names[i], "--nocapture", NULL};
  execve(bins[i], argv, environ);
  die(bins[i]);
}

static void *worker(void *arg) {
  long id = (long)arg;
  char leaf_dir[3][1100];
  for (;;) {
    int i = atomic_fetch_add(&next_test, 1);
    if (i >= n_tests) return NULL;
    // Errors here fail the test, not the run: every cgroup made is removed.
    const char *leaf[3] = {NULL, NULL, NULL};
    int status = -1;
    for (int h = 0; sandbox && h < 3; h++) {
      if (!cgroup_run[h][0]) continue;
      snprintf(leaf_dir[h], sizeof leaf_dir[h], "%s/w%ld-%d", cgroup_run[h], id, i);
      if (mkdir(leaf_dir[h], 0755)) goto failed;
      leaf[h] = leaf_dir[h];
    }
    // A raw clone: the child of this multi-threaded process only makes
    // system calls before it execs, and a fork-like clone needs no stack.
    long pid = syscall(SYS_clone, clone_flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) child(i, leaf);
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      status = 0;
  failed:
    if (status != 0) {
      atomic_fetch_add(&failures, 1);
      if (status == -1) fprintf(stderr, "test %d failed: %s\n", i, strerror(errno));
      else fprintf(stderr, "test %d failed: wait status %#x\n", i, status);
    }
    for (int h = 0; h < 3; h++)
      if (leaf[h] && rmdir(leaf[h])) fprintf(stderr, "floor: rmdir %s: %s\n", leaf[h], strerror(errno));
  }
}

// The run's directory in each v1 hierarchy this process may write, below
// its own cgroup there (as cargo-isolate does); none on cgroup v2.
static void make_cgroup_run(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[1024];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
    if (!path) continue;
    *path++ = 0;
    ctl++;
    for (int h = 0; h < 3; h++) {
      char *list = strdup(ctl), *save = NULL;
      for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (strcmp(c, controllers[h]) || cgroup_run[h][0]) continue;
        char dir[512];
        snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s%s/floor-%d", controllers[h],
                 strcmp(path, "/") ? path : "", getpid());
        if (mkdir(dir, 0755) == 0) snprintf(cgroup_run[h], sizeof cgroup_run[h], "%s", dir);
      }
      free(list);
    }
  }
  if (f) fclose(f);
}

int main(int argc, char **argv) {
  if (argc < 3 || atoi(argv[1]) < 1 || (strcmp(argv[2], "process") && strcmp(argv[2], "sandbox"))) {
    fprintf(stderr, "usage: floor JOBS process|sandbox [DIR...] < tests.tsv\n");
    return 2;
  }
  int jobs = atoi(argv[1]);
  if (jobs > 64) jobs = 64;
  sandbox = !strcmp(argv[2], "sandbox");
  for (int a = 3; a < argc && n_dirs < MAX_DIRS; a++) dirs[n_dirs++] = argv[a];
  if (sandbox) {
    clone_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
    host_uid = geteuid();
    host_gid = getegid();
    if (host_uid != 0) clone_flags |= CLONE_NEWUSER;
    make_cgroup_run();
  }
  char line[8192];
  while (n_tests < MAX_TESTS && fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = 0;
    bins[n_tests] = strdup(line);
    names[n_tests] = strdup(tab + 1);
    n_tests++;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t threads[64];
  for (long k = 0; k < jobs; k++) pthread_create(&threads[k], NULL, worker, (void *)k);
  for (int k = 0; k < jobs; k++) pthread_join(threads[k], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int cgroups = 0;
  for (int h = 0; h < 3; h++)
    if (cgroup_run[h][0]) cgroups++, rmdir(cgroup_run[h]);
  printf("%d tests, -j %d: %.3f s (%s, %d cgroup v1 hierarchies)\n", n_tests, jobs,
         (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, argv[2], cgroups);
  return failures ? 1 : 0;
}
