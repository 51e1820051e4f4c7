// FuseServer: session set-up, mount options and the multi-threaded loop.
#include "fuse/fuse_server.h"

#include <unistd.h>

#include <csignal>

#include "fuse/fuse_ops.h"

namespace dynamicfs {

FuseServer::FuseServer(FileSystem& fs, FuseConfig config)
    : m_fs(fs),
      m_config(std::move(config)),
      m_entry_timeout(m_config.entry_timeout),
      m_attr_timeout(m_config.attr_timeout) {}

FuseServer::~FuseServer() {
  unmount();
  if (m_session != nullptr) {
    if (m_signals) fuse_remove_signal_handlers(m_session);
    fuse_session_destroy(m_session);
  }
}

Status FuseServer::mount() {
  std::vector<std::string> argv_s{"dynamicfs"};
  // libfuse splits -o at commas; a backslash keeps one in the fsname.
  std::string fsname;
  for (char c : m_config.fsname) {
    if (c == ',' || c == '\\') fsname += '\\';
    fsname += c;
  }
  std::string opts = "default_permissions,fsname=" + fsname + ",subtype=dynamicfs";
  if (geteuid() == 0) opts += ",allow_other";
  for (const auto& o : m_config.options) opts += "," + o;
  argv_s.push_back("-o");
  argv_s.push_back(opts);
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  m_session = fuse_session_new(&args, &fuse_op_table(), sizeof(fuse_lowlevel_ops), this);
  if (m_session == nullptr) {
    return Status::error(
        EINVAL, "cannot create FUSE session (unknown or invalid mount option in '" + opts + "')");
  }
  if (fuse_set_signal_handlers(m_session) != 0)
    return Status::error(EIO, "cannot install signal handlers");
  m_signals = true;
  if (fuse_session_mount(m_session, m_config.mountpoint.c_str()) != 0) {
    return Status::error(EIO, "cannot mount FUSE filesystem at " + m_config.mountpoint +
                                  " (is /dev/fuse available and fuse3 installed?)");
  }
  m_mounted = true;
  return Status::ok();
}

Status FuseServer::run() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, m_config.max_threads);
  // Every worker stays once started: with fewer allowed idle, libfuse ends
  // a worker after a request and starts another for the next one (a
  // clone3 per 13 requests during 8-thread creates, measured with strace).
  fuse_loop_cfg_set_idle_threads(cfg, m_config.max_threads);
  int rc = fuse_session_loop_mt(m_session, cfg);
  fuse_loop_cfg_destroy(cfg);
  if (rc != 0 && rc != SIGTERM && rc != SIGINT && rc != SIGHUP) {
    return Status::error(rc < 0 ? -rc : EIO, "FUSE loop ended with an error");
  }
  return Status::ok();
}

void FuseServer::request_exit() {
  if (m_session != nullptr) fuse_session_exit(m_session);
}

void FuseServer::unmount() {
  if (m_mounted && m_session != nullptr) {
    fuse_session_unmount(m_session);
    m_mounted = false;
  }
}

}  // namespace dynamicfs
