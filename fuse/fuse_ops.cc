// FUSE low-level op handlers: each one unpacks the request, calls the
// FileSystem, and replies with the result or its errno. Nothing else.
#include "fuse/fuse_ops.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/xattr.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuse/fuse_server.h"

namespace dynamicfs {

namespace {

struct DirHandle {
  // Taken by the first readdir and again at every offset 0 (rewinddir), so
  // offsets stay stable while the directory changes and a rewound stream
  // sees the directory as it is now.
  std::vector<DirEntry> entries;
  bool listed = false;
};

FuseServer& server(fuse_req_t req) {
  return *static_cast<FuseServer*>(fuse_req_userdata(req));
}
FileSystem& fs(fuse_req_t req) {
  return server(req).fs();
}

Caller caller_of(fuse_req_t req, bool with_groups = false) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller c;
  c.uid = ctx->uid;
  c.gid = ctx->gid;
  c.pid = static_cast<uint32_t>(ctx->pid);
  c.umask = ctx->umask;
  if (with_groups) {
    gid_t groups[64];
    int n = fuse_req_getgroups(req, 64, groups);
    for (int i = 0; i < n && i < 64; ++i) c.groups.push_back(groups[i]);
  }
  return c;
}

// The errno of the reply this thread sent last, so the timing wrapper can
// count failures without each handler reporting them.
thread_local int t_reply_errno = 0;

void reply_err(fuse_req_t req, int err) {
  t_reply_errno = err;
  fuse_reply_err(req, err);
}

void reply_entry(fuse_req_t req, const InodeRecord& rec) {
  fuse_entry_param e{};
  e.ino = rec.ino;
  e.generation = 0;
  rec.to_stat(&e.attr);
  e.attr_timeout = server(req).attr_timeout();
  e.entry_timeout = server(req).entry_timeout();
  fuse_reply_entry(req, &e);
}

template <typename T>
void reply_entry_or_err(fuse_req_t req, const Result<T>& r) {
  if (r.is_ok()) {
    reply_entry(req, r.value());
  } else {
    reply_err(req, r.err());
  }
}

void reply_status(fuse_req_t req, const Status& st) {
  reply_err(req, st.is_ok() ? 0 : st.err());
}

void op_init(void* userdata, fuse_conn_info* conn) {
  const FuseConfig& cfg = static_cast<FuseServer*>(userdata)->config();
  if (cfg.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else
    conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  conn->max_write = 1u << 20;
  conn->max_readahead = 1u << 20;
  // POSIX ACLs: the kernel enforces them (and implies default_permissions);
  // the filesystem keeps mode and ACL in step and applies default ACLs and
  // the umask on create, so the kernel must not mask the mode first.
  if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
    conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_SPLICE_READ) conn->want |= FUSE_CAP_SPLICE_READ;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // Inode numbers are never reused and lookup answers "." and "..", so a
  // file handle (name_to_handle_at, NFS) stays valid across remounts.
  if (conn->capable & FUSE_CAP_EXPORT_SUPPORT) conn->want |= FUSE_CAP_EXPORT_SUPPORT;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto r = fs(req).lookup(parent, name);
  if (!r.is_ok() && r.err() == ENOENT) {
    // Negative entry: lets the kernel cache the absence briefly.
    fuse_entry_param e{};
    e.entry_timeout = server(req).entry_timeout();
    fuse_reply_entry(req, &e);
    return;
  }
  reply_entry_or_err(req, r);
}

void op_forget(fuse_req_t req, fuse_ino_t /*ino*/, uint64_t /*nlookup*/) {
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t /*count*/, fuse_forget_data* /*forgets*/) {
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  auto r = fs(req).getattr(ino);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  struct stat st {};
  r->to_stat(&st);
  fuse_reply_attr(req, &st, server(req).attr_timeout());
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                fuse_file_info* /*fi*/) {
  SetAttr sa;
  if (to_set & FUSE_SET_ATTR_MODE) {
    sa.valid |= SetAttr::kMode;
    sa.mode = attr->st_mode;
  }
  if (to_set & FUSE_SET_ATTR_UID) {
    sa.valid |= SetAttr::kUid;
    sa.uid = attr->st_uid;
  }
  if (to_set & FUSE_SET_ATTR_GID) {
    sa.valid |= SetAttr::kGid;
    sa.gid = attr->st_gid;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    sa.valid |= SetAttr::kSize;
    sa.size = static_cast<uint64_t>(attr->st_size);
  }
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    sa.valid |= SetAttr::kAtimeNow;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    sa.valid |= SetAttr::kAtime;
    sa.atime = {attr->st_atim.tv_sec, static_cast<uint32_t>(attr->st_atim.tv_nsec)};
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    sa.valid |= SetAttr::kMtimeNow;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    sa.valid |= SetAttr::kMtime;
    sa.mtime = {attr->st_mtim.tv_sec, static_cast<uint32_t>(attr->st_mtim.tv_nsec)};
  }
  if (to_set & FUSE_SET_ATTR_CTIME) {
    sa.valid |= SetAttr::kCtime;
    sa.ctime = {attr->st_ctim.tv_sec, static_cast<uint32_t>(attr->st_ctim.tv_nsec)};
  }
  auto r = fs(req).setattr(ino, sa, caller_of(req, (to_set & FUSE_SET_ATTR_MODE) != 0));
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  struct stat st {};
  r->to_stat(&st);
  fuse_reply_attr(req, &st, server(req).attr_timeout());
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto r = fs(req).readlink(ino);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  fuse_reply_readlink(req, r->c_str());
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  reply_entry_or_err(req, fs(req).mknod(parent, name, mode, rdev, caller_of(req)));
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  reply_entry_or_err(req, fs(req).mkdir(parent, name, mode, caller_of(req)));
}

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  reply_entry_or_err(req, fs(req).symlink(parent, name, link, caller_of(req)));
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  reply_entry_or_err(req, fs(req).link(ino, newparent, newname));
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  reply_status(req, fs(req).unlink(parent, name));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  reply_status(req, fs(req).rmdir(parent, name));
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  reply_status(req, fs(req).rename(parent, name, newparent, newname, flags));
}

// An open keeps the page cache unless a read through it must reach the
// daemon to update the access time (the kernel keeps none for FUSE):
// relatime after a change, every open under strictatime. O_DIRECT is left
// to the kernel's own direct I/O path (not FOPEN_DIRECT_IO): it bypasses
// the cache for that descriptor, writes back and drops cached pages of the
// range around each direct write, removes setuid/setgid bits like any
// write, follows fcntl(F_SETFL) toggling O_DIRECT, and lets such a file be
// mmap'ed.
void set_open_flags(fuse_file_info* fi, bool atime_due) {
  fi->keep_cache = ((fi->flags & O_ACCMODE) == O_WRONLY || !atime_due) ? 1 : 0;
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto rec = fs(req).getattr(ino);
  if (!rec.is_ok()) {
    reply_err(req, rec.err());
    return;
  }
  if (rec->is_dir()) {
    reply_err(req, EISDIR);
    return;
  }
  Status st = fs(req).open_file(ino, fi->flags);
  if (!st.is_ok()) {
    reply_err(req, st.err());
    return;
  }
  set_open_flags(fi, fs(req).atime_due(rec.value()));
  if (fuse_reply_open(req, fi) != 0) (void)fs(req).release_file(ino);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
  auto r = fs(req).mknod(parent, name, S_IFREG | (mode & 07777), 0, caller_of(req));
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  Status st = fs(req).open_file(r->ino, 0);
  if (!st.is_ok()) {
    reply_err(req, st.err());
    return;
  }
  set_open_flags(fi, false);  // nothing of a new file is cached
  fuse_entry_param e{};
  e.ino = r->ino;
  r->to_stat(&e.attr);
  e.attr_timeout = server(req).attr_timeout();
  e.entry_timeout = server(req).entry_timeout();
  if (fuse_reply_create(req, &e, fi) != 0) (void)fs(req).release_file(r->ino);
}

// A read or write the kernel sends for an O_DIRECT descriptor (page-cache
// writeback of an mmap'ed O_DIRECT file is not one).
bool direct_request(const fuse_file_info* fi) {
  return fi != nullptr && (fi->flags & O_DIRECT) != 0 && fi->writepage == 0;
}

// O_DIRECT I/O must be aligned to the logical block size, as on a block
// device (the kernel checks the buffer only for real devices).
constexpr uint64_t kDirectAlign = 512;
bool misaligned_direct(const fuse_file_info* fi, off_t off, size_t size) {
  return direct_request(fi) && ((static_cast<uint64_t>(off) | size) & (kDirectAlign - 1)) != 0;
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  if (misaligned_direct(fi, off, size)) {
    reply_err(req, EINVAL);
    return;
  }
  std::unique_ptr<char[]> buf(new char[size]);
  auto r = fs(req).read(ino, static_cast<uint64_t>(off), size, buf.get());
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  fuse_reply_buf(req, buf.get(), r.value());
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off,
              fuse_file_info* fi) {
  if (misaligned_direct(fi, off, size)) {
    reply_err(req, EINVAL);
    return;
  }
  auto r = fs(req).write(ino, static_cast<uint64_t>(off), data, size);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  if (fi->flags & (O_SYNC | O_DSYNC)) {
    Status st = fs(req).fsync(ino, (fi->flags & O_SYNC) != O_SYNC);
    if (!st.is_ok()) {
      reply_err(req, st.err());
      return;
    }
  }
  if (direct_request(fi) && r.value() > 0) {
    // The kernel drops cached pages of the range after a synchronous direct
    // write, but not after an asynchronous one, and a buffered reader may
    // have cached the old bytes while this write was on its way. Drop them
    // before the writer hears the write is done.
    (void)fuse_lowlevel_notify_inval_inode(server(req).session(), ino, off,
                                           static_cast<off_t>(r.value()));
  }
  fuse_reply_write(req, r.value());
}

void op_flush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
  reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  reply_status(req, fs(req).release_file(ino));
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* /*fi*/) {
  reply_status(req, fs(req).fsync(ino, datasync != 0));
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Status st = fs(req).open_dir(ino);
  if (!st.is_ok()) {
    reply_err(req, st.err());
    return;
  }
  auto* h = new DirHandle{};
  fi->fh = reinterpret_cast<uint64_t>(h);
  fi->cache_readdir = 0;
  if (fuse_reply_open(req, fi) != 0) {
    delete h;
    (void)fs(req).release_file(ino);
  }
}

void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                    bool plus) {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  if (off == 0 || !h->listed) {
    auto r = fs(req).list_dir(ino);
    if (!r.is_ok()) {
      reply_err(req, r.err());
      return;
    }
    h->entries = std::move(r).value();
    h->listed = true;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < h->entries.size(); ++i) {
    const DirEntry& d = h->entries[i];
    size_t n;
    if (plus) {
      fuse_entry_param e{};
      bool dot = d.name == "." || d.name == "..";
      auto r = dot ? Result<InodeRecord>(Status::error(ENOENT)) : fs(req).getattr(d.ino);
      if (r.is_ok()) {
        r->to_stat(&e.attr);
        e.ino = d.ino;
        e.attr_timeout = server(req).attr_timeout();
        e.entry_timeout = server(req).entry_timeout();
      } else {
        // "." and "..", or removed since the listing was taken: the entry
        // without attributes (ino 0), so READDIRPLUS lists exactly what
        // READDIR would and offsets mean the same in both.
        e.attr.st_ino = d.ino;
        e.attr.st_mode = d.type;
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                 static_cast<off_t>(i + 1));
    } else {
      struct stat st {};
      st.st_ino = d.ino;
      st.st_mode = d.type;
      n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(), &st,
                            static_cast<off_t>(i + 1));
    }
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdir_common(req, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  readdir_common(req, ino, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  reply_status(req, fs(req).release_file(ino));
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* /*fi*/) {
  reply_status(req, fs(req).fsync(ino, datasync != 0));
}

void op_statfs(fuse_req_t req, fuse_ino_t /*ino*/) {
  struct statvfs s = fs(req).statfs();
  fuse_reply_statfs(req, &s);
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  reply_status(req, fs(req).access(ino, mask, caller_of(req, true)));
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) {
  const bool acl = std::strncmp(name, "system.posix_acl_", 17) == 0;
  reply_status(
      req, fs(req).setxattr(ino, name, std::string_view(value, size), flags, caller_of(req, acl)));
}

void reply_xattr_value(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (size < value.size()) {
    reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto r = fs(req).getxattr(ino, name);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  reply_xattr_value(req, r.value(), size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = fs(req).listxattr(ino);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  std::string joined;
  for (const auto& n : r.value()) {
    joined += n;
    joined.push_back('\0');
  }
  reply_xattr_value(req, joined, size);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  reply_status(req, fs(req).removexattr(ino, name));
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* /*fi*/) {
  // The kernel answers SEEK_SET/CUR/END itself; only DATA and HOLE come here.
  // A negative offset is past no data and no hole: ENXIO, as ext4 says.
  if (off < 0) {
    reply_err(req, ENXIO);
    return;
  }
  auto r = fs(req).seek_data_or_hole(ino, static_cast<uint64_t>(off), whence);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  fuse_reply_lseek(req, static_cast<off_t>(r.value()));
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                  fuse_file_info* /*fi*/) {
  if (offset < 0 || length <= 0) {
    reply_err(req, EINVAL);
    return;
  }
  reply_status(req, fs(req).fallocate(ino, mode, static_cast<uint64_t>(offset),
                                      static_cast<uint64_t>(length)));
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info* /*fi_in*/,
                        fuse_ino_t ino_out, off_t off_out, fuse_file_info* /*fi_out*/, size_t len,
                        int flags) {
  if (flags != 0 || off_in < 0 || off_out < 0) {
    reply_err(req, EINVAL);
    return;
  }
  auto r = fs(req).copy_range(ino_in, static_cast<uint64_t>(off_in), ino_out,
                              static_cast<uint64_t>(off_out), len);
  if (!r.is_ok()) {
    reply_err(req, r.err());
    return;
  }
  fuse_reply_write(req, r.value());
}

// Wraps a handler: counts the call, its latency and whether it failed.
template <FuseOp Op, auto Fn>
struct Timed;
template <FuseOp Op, typename... Args, void (*Fn)(fuse_req_t, Args...)>
struct Timed<Op, Fn> {
  static void call(fuse_req_t req, Args... args) {
    FuseServer& srv = server(req);  // req is gone once the handler replied
    t_reply_errno = 0;
    auto start = std::chrono::steady_clock::now();
    Fn(req, args...);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    int err = t_reply_errno;
    srv.op_metrics().record(Op, static_cast<uint64_t>(ns), err != 0);
    if (auto* log = spdlog::default_logger_raw(); log->should_log(spdlog::level::debug)) {
      log->debug("fuse {}: {} ({} us)", fuse_op_name(Op), err != 0 ? std::strerror(err) : "ok",
                 ns / 1000);
    }
  }
};

fuse_lowlevel_ops make_table() {
  fuse_lowlevel_ops ops{};
  ops.lseek = Timed<FuseOp::kLseek, op_lseek>::call;
  ops.fallocate = Timed<FuseOp::kFallocate, op_fallocate>::call;
  ops.copy_file_range = Timed<FuseOp::kCopyFileRange, op_copy_file_range>::call;
  ops.init = op_init;
  ops.lookup = Timed<FuseOp::kLookup, op_lookup>::call;
  ops.forget = Timed<FuseOp::kForget, op_forget>::call;
  ops.forget_multi = Timed<FuseOp::kForget, op_forget_multi>::call;
  ops.getattr = Timed<FuseOp::kGetattr, op_getattr>::call;
  ops.setattr = Timed<FuseOp::kSetattr, op_setattr>::call;
  ops.readlink = Timed<FuseOp::kReadlink, op_readlink>::call;
  ops.mknod = Timed<FuseOp::kMknod, op_mknod>::call;
  ops.mkdir = Timed<FuseOp::kMkdir, op_mkdir>::call;
  ops.symlink = Timed<FuseOp::kSymlink, op_symlink>::call;
  ops.link = Timed<FuseOp::kLink, op_link>::call;
  ops.unlink = Timed<FuseOp::kUnlink, op_unlink>::call;
  ops.rmdir = Timed<FuseOp::kRmdir, op_rmdir>::call;
  ops.rename = Timed<FuseOp::kRename, op_rename>::call;
  ops.open = Timed<FuseOp::kOpen, op_open>::call;
  ops.create = Timed<FuseOp::kCreate, op_create>::call;
  ops.read = Timed<FuseOp::kRead, op_read>::call;
  ops.write = Timed<FuseOp::kWrite, op_write>::call;
  ops.flush = Timed<FuseOp::kFlush, op_flush>::call;
  ops.release = Timed<FuseOp::kRelease, op_release>::call;
  ops.fsync = Timed<FuseOp::kFsync, op_fsync>::call;
  ops.opendir = Timed<FuseOp::kOpendir, op_opendir>::call;
  ops.readdir = Timed<FuseOp::kReaddir, op_readdir>::call;
  ops.readdirplus = Timed<FuseOp::kReaddirplus, op_readdirplus>::call;
  ops.releasedir = Timed<FuseOp::kReleasedir, op_releasedir>::call;
  ops.fsyncdir = Timed<FuseOp::kFsyncdir, op_fsyncdir>::call;
  ops.statfs = Timed<FuseOp::kStatfs, op_statfs>::call;
  ops.access = Timed<FuseOp::kAccess, op_access>::call;
  ops.setxattr = Timed<FuseOp::kSetxattr, op_setxattr>::call;
  ops.getxattr = Timed<FuseOp::kGetxattr, op_getxattr>::call;
  ops.listxattr = Timed<FuseOp::kListxattr, op_listxattr>::call;
  ops.removexattr = Timed<FuseOp::kRemovexattr, op_removexattr>::call;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& fuse_op_table() {
  static const fuse_lowlevel_ops table = make_table();
  return table;
}

}  // namespace dynamicfs
