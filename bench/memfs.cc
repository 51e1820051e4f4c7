// memfs: the physical limit for bench/run.sh. A minimal low-level FUSE
// daemon that keeps every file in memory and does no storage work at all, so
// what it reaches on a row is what the FUSE round trip itself allows on this
// machine with dynamicfs's kernel cache settings (entry and attribute
// timeouts of 10 s, no writeback cache). dynamicfs's metadata rows are judged
// against it. Written for the bench only; not shipped, not a filesystem to
// keep data in.
//
//   memfs [-o timeout=SECONDS] [-s] MOUNTPOINT     (-s: one thread)
//
// One reader-writer lock guards the whole tree: operations are microseconds
// and the bench's thread counts are small, so the lock is not what limits it.
#define FUSE_USE_VERSION 314  // the fuse_loop_cfg_* API (3.12+)

#include <fuse_lowlevel.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace {

struct Node {
  fuse_ino_t ino = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  uint64_t lookups = 0;
  std::string data;                        // regular files
  std::map<std::string, fuse_ino_t> kids;  // directories
  fuse_ino_t parent = FUSE_ROOT_ID;        // directories
  timespec atime{}, mtime{}, ctime{};
};

std::shared_mutex g_mu;
std::unordered_map<fuse_ino_t, std::unique_ptr<Node>> g_nodes;
fuse_ino_t g_next = FUSE_ROOT_ID + 1;
double g_timeout = 10.0;

timespec now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

Node* find(fuse_ino_t ino) {
  auto it = g_nodes.find(ino);
  return it == g_nodes.end() ? nullptr : it->second.get();
}

void fill(const Node& n, struct stat* st) {
  std::memset(st, 0, sizeof(*st));
  st->st_ino = n.ino;
  st->st_mode = n.mode;
  st->st_nlink = n.nlink;
  st->st_uid = n.uid;
  st->st_gid = n.gid;
  st->st_size = S_ISDIR(n.mode) ? 4096 : static_cast<off_t>(n.data.size());
  st->st_blksize = 4096;
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_atim = n.atime;
  st->st_mtim = n.mtime;
  st->st_ctim = n.ctime;
}

// Replies with N's entry (and, for create, the open file in FI); the
// kernel now holds one more lookup of N.
void reply_entry_locked(fuse_req_t req, Node* n, fuse_file_info* fi = nullptr) {
  fuse_entry_param e{};
  e.ino = n->ino;
  e.attr_timeout = g_timeout;
  e.entry_timeout = g_timeout;
  fill(*n, &e.attr);
  ++n->lookups;
  if (fi != nullptr) {
    fuse_reply_create(req, &e, fi);
  } else {
    fuse_reply_entry(req, &e);
  }
}

void drop_if_unused(Node* n) {
  if (n->nlink == 0 && n->lookups == 0) g_nodes.erase(n->ino);
}

Node* make_node(fuse_req_t req, mode_t mode) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto n = std::make_unique<Node>();
  n->ino = g_next++;
  n->mode = mode;
  n->uid = ctx->uid;
  n->gid = ctx->gid;
  n->nlink = S_ISDIR(mode) ? 2 : 1;
  n->atime = n->mtime = n->ctime = now();
  Node* raw = n.get();
  g_nodes.emplace(raw->ino, std::move(n));
  return raw;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::unique_lock lk(g_mu);  // counts a lookup
  Node* p = find(parent);
  if (p == nullptr) return (void)fuse_reply_err(req, ENOENT);
  auto it = p->kids.find(name);
  if (it == p->kids.end()) {
    fuse_entry_param e{};
    e.entry_timeout = g_timeout;  // a negative entry, cached
    return (void)fuse_reply_entry(req, &e);
  }
  reply_entry_locked(req, find(it->second));
}

void forget_one(fuse_ino_t ino, uint64_t n) {
  Node* node = find(ino);
  if (node == nullptr) return;
  node->lookups = node->lookups > n ? node->lookups - n : 0;
  drop_if_unused(node);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  {
    std::unique_lock lk(g_mu);
    forget_one(ino, n);
  }
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* f) {
  {
    std::unique_lock lk(g_mu);
    for (size_t i = 0; i < count; ++i) forget_one(f[i].ino, f[i].nlookup);
  }
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  std::shared_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  struct stat st;
  fill(*n, &st);
  fuse_reply_attr(req, &st, g_timeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* a, int to_set, fuse_file_info*) {
  std::unique_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (to_set & FUSE_SET_ATTR_MODE) n->mode = (n->mode & S_IFMT) | (a->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) n->uid = a->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) n->gid = a->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (S_ISDIR(n->mode)) return (void)fuse_reply_err(req, EISDIR);
    n->data.resize(static_cast<size_t>(a->st_size));
    n->mtime = now();
  }
  if (to_set & FUSE_SET_ATTR_ATIME) n->atime = a->st_atim;
  if (to_set & FUSE_SET_ATTR_MTIME) n->mtime = a->st_mtim;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) n->atime = now();
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) n->mtime = now();
  n->ctime = now();
  struct stat st;
  fill(*n, &st);
  fuse_reply_attr(req, &st, g_timeout);
}

// Creates NAME in PARENT; replies with its entry (and open info for create).
void make(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  std::unique_lock lk(g_mu);
  Node* p = find(parent);
  if (p == nullptr || !S_ISDIR(p->mode)) return (void)fuse_reply_err(req, ENOENT);
  if (p->kids.count(name) != 0) return (void)fuse_reply_err(req, EEXIST);
  Node* n = make_node(req, mode);
  p->kids.emplace(name, n->ino);
  p->mtime = p->ctime = now();
  if (S_ISDIR(mode)) {
    n->parent = parent;
    ++p->nlink;
  }
  reply_entry_locked(req, n, fi);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  if (!S_ISREG(mode)) return (void)fuse_reply_err(req, EPERM);
  make(req, parent, name, mode, nullptr);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  make(req, parent, name, S_IFDIR | (mode & 07777), nullptr);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
  make(req, parent, name, S_IFREG | (mode & 07777), fi);
}

void remove(fuse_req_t req, fuse_ino_t parent, const char* name, bool dir) {
  std::unique_lock lk(g_mu);
  Node* p = find(parent);
  if (p == nullptr) return (void)fuse_reply_err(req, ENOENT);
  auto it = p->kids.find(name);
  if (it == p->kids.end()) return (void)fuse_reply_err(req, ENOENT);
  Node* n = find(it->second);
  if (dir != S_ISDIR(n->mode)) return (void)fuse_reply_err(req, dir ? ENOTDIR : EISDIR);
  if (dir && !n->kids.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
  p->kids.erase(it);
  p->mtime = p->ctime = now();
  if (dir) {
    --p->nlink;
    n->nlink = 0;
  } else {
    --n->nlink;
  }
  n->ctime = now();
  drop_if_unused(n);
  fuse_reply_err(req, 0);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  remove(req, parent, name, false);
}
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  remove(req, parent, name, true);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  if (flags & ~RENAME_NOREPLACE) return (void)fuse_reply_err(req, EINVAL);
  std::unique_lock lk(g_mu);
  Node* p = find(parent);
  Node* np = find(newparent);
  if (p == nullptr || np == nullptr) return (void)fuse_reply_err(req, ENOENT);
  auto it = p->kids.find(name);
  if (it == p->kids.end()) return (void)fuse_reply_err(req, ENOENT);
  const fuse_ino_t moving = it->second;
  auto old = np->kids.find(newname);
  if (old != np->kids.end()) {
    if (flags & RENAME_NOREPLACE) return (void)fuse_reply_err(req, EEXIST);
    if (old->second == moving) return (void)fuse_reply_err(req, 0);
    Node* victim = find(old->second);
    if (S_ISDIR(victim->mode) && !victim->kids.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
    victim->nlink = S_ISDIR(victim->mode) ? 0 : victim->nlink - 1;
    if (S_ISDIR(victim->mode)) --np->nlink;
    np->kids.erase(old);
    drop_if_unused(victim);
  }
  p->kids.erase(name);
  np->kids[newname] = moving;
  Node* m = find(moving);
  if (S_ISDIR(m->mode) && parent != newparent) {
    --p->nlink;
    ++np->nlink;
    m->parent = newparent;
  }
  p->mtime = p->ctime = np->mtime = np->ctime = m->ctime = now();
  fuse_reply_err(req, 0);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::unique_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (fi->flags & O_TRUNC) n->data.clear();
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  std::shared_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  const size_t len = n->data.size();
  const size_t start = std::min(len, static_cast<size_t>(off));
  fuse_reply_buf(req, n->data.data() + start, std::min(size, len - start));
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info*) {
  std::unique_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  const size_t end = static_cast<size_t>(off) + size;
  if (n->data.size() < end) n->data.resize(end);
  std::memcpy(n->data.data() + off, buf, size);
  n->mtime = n->ctime = now();
  fuse_reply_write(req, size);
}

void op_ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);
}
void op_fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  fuse_reply_err(req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::shared_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (!S_ISDIR(n->mode)) return (void)fuse_reply_err(req, ENOTDIR);
  fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  std::shared_lock lk(g_mu);
  Node* n = find(ino);
  if (n == nullptr) return (void)fuse_reply_err(req, ENOENT);
  std::string buf(size, '\0');
  size_t used = 0;
  // Offsets: 1 after ".", 2 after "..", 3 + i after the i-th child.
  auto add = [&](const char* name, fuse_ino_t child, mode_t mode, off_t next) {
    struct stat st {};
    st.st_ino = child;
    st.st_mode = mode;
    size_t want = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, next);
    if (want > size - used) return false;
    used += want;
    return true;
  };
  off_t pos = off;
  if (pos == 0 && add(".", ino, S_IFDIR, 1)) pos = 1;
  if (pos == 1 && add("..", n->parent, S_IFDIR, 2)) pos = 2;
  if (pos >= 2) {
    auto it = n->kids.begin();
    std::advance(it, std::min<size_t>(static_cast<size_t>(pos - 2), n->kids.size()));
    for (; it != n->kids.end(); ++it) {
      Node* c = find(it->second);
      if (!add(it->first.c_str(), c->ino, c->mode, pos + 1)) break;
      ++pos;
    }
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs s {};
  s.f_bsize = s.f_frsize = 4096;
  s.f_blocks = s.f_bfree = s.f_bavail = 1ull << 24;
  s.f_files = s.f_ffree = s.f_favail = 1ull << 24;
  s.f_namemax = 255;
  fuse_reply_statfs(req, &s);
}

}  // namespace

int main(int argc, char** argv) {
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  fuse_cmdline_opts opts{};
  if (fuse_parse_cmdline(&args, &opts) != 0 || opts.mountpoint == nullptr) {
    std::fprintf(stderr, "usage: memfs [-o timeout=SECONDS] [-s] MOUNTPOINT\n");
    return 2;
  }
  for (int i = 0; i + 1 < args.argc; ++i) {
    if (std::strncmp(args.argv[i + 1], "timeout=", 8) == 0)
      g_timeout = std::strtod(args.argv[i + 1] + 8, nullptr);
  }
  auto root = std::make_unique<Node>();
  root->ino = FUSE_ROOT_ID;
  root->mode = S_IFDIR | 0777;
  root->nlink = 2;
  root->lookups = 1;
  root->atime = root->mtime = root->ctime = now();
  g_nodes.emplace(FUSE_ROOT_ID, std::move(root));

  fuse_lowlevel_ops ops{};
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.rename = op_rename;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.flush = op_ok;
  ops.release = op_ok;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_ok;
  ops.fsyncdir = op_fsync;
  ops.statfs = op_statfs;

  // Only our own options stay out of libfuse's way: drop "-o timeout=...".
  fuse_args pass = FUSE_ARGS_INIT(0, nullptr);
  for (int i = 0; i < args.argc; ++i) {
    if (i + 1 < args.argc && std::strcmp(args.argv[i], "-o") == 0 &&
        std::strncmp(args.argv[i + 1], "timeout=", 8) == 0) {
      ++i;
      continue;
    }
    fuse_opt_add_arg(&pass, args.argv[i]);
  }
  fuse_session* se = fuse_session_new(&pass, &ops, sizeof(ops), nullptr);
  if (se == nullptr) return 1;
  int rc = 1;
  if (fuse_set_signal_handlers(se) == 0) {
    if (fuse_session_mount(se, opts.mountpoint) == 0) {
      fuse_daemonize(opts.foreground);
      if (opts.singlethread) {
        rc = fuse_session_loop(se);
      } else {
        // The same loop settings as dynamicfs's FuseServer, so the two are
        // compared on their work, not on libfuse's thread handling (with
        // few idle threads allowed, libfuse starts a thread for almost every
        // request of a fast daemon).
        fuse_loop_config* cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 1);
        fuse_loop_cfg_set_max_threads(cfg, 16);
        fuse_loop_cfg_set_idle_threads(cfg, 16);
        rc = fuse_session_loop_mt(se, cfg);
        fuse_loop_cfg_destroy(cfg);
      }
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  fuse_opt_free_args(&pass);
  fuse_opt_free_args(&args);
  free(opts.mountpoint);
  return rc == 0 ? 0 : 1;
}
