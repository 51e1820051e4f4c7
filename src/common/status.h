// Status: the error value every layer returns. Errors are values, never
// exceptions across FUSE or thread-pool boundaries; each carries a real errno
// so the FUSE layer can reply with it unchanged.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

namespace dynamicfs {

// [[nodiscard]]: an error dropped on the floor is a lost error; a caller that
// really has nothing to do with one says so with `(void)`.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(int err, std::string msg = {}) { return Status(err, std::move(msg)); }
  // Convenience for the errno left by a failed system call.
  static Status from_errno(std::string msg) { return Status(errno, std::move(msg)); }

  bool is_ok() const { return m_errno == 0; }
  explicit operator bool() const { return is_ok(); }
  int err() const { return m_errno; }
  const std::string& message() const { return m_message; }
  // "message: strerror" for logs and CLI output.
  std::string to_string() const;

 private:
  Status(int err, std::string msg) : m_errno(err == 0 ? EIO : err), m_message(std::move(msg)) {}
  int m_errno = 0;
  std::string m_message;
};

}  // namespace dynamicfs

// Propagates a non-ok Status to the caller.
#define DFS_RETURN_IF_ERROR(expr)     \
  do {                                \
    ::dynamicfs::Status _st = (expr); \
    if (!_st.is_ok()) return _st;     \
  } while (0)
