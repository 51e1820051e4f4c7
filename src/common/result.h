// Result<T>: a value or a Status, so functions that produce something can still
// report errors as values.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "src/common/status.h"

namespace dynamicfs {

// Aborts with the error's text: value() of an error Result is a bug in the
// caller (it must test is_ok() first), never something to run on from.
[[noreturn]] inline void result_value_of_error(const Status& st) {
  std::fprintf(stderr, "dynamicfs: internal error: value() of a failed Result (%s)\n",
               st.to_string().c_str());
  std::abort();
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_value(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : m_status(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool is_ok() const { return m_status.is_ok(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return m_status; }
  int err() const { return m_status.err(); }

  T& value() & { return checked(); }
  const T& value() const& { return checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &checked(); }
  T& operator*() { return checked(); }

 private:
  T& checked() {
    if (!m_value) result_value_of_error(m_status);
    return *m_value;
  }
  const T& checked() const {
    if (!m_value) result_value_of_error(m_status);
    return *m_value;
  }

  Status m_status;
  std::optional<T> m_value;
};

}  // namespace dynamicfs

#define DFS_CONCAT_INNER(a, b) a##b
#define DFS_CONCAT(a, b) DFS_CONCAT_INNER(a, b)
// Declares `lhs` from a Result expression or returns its Status.
#define DFS_ASSIGN_OR_RETURN(lhs, expr) \
  DFS_ASSIGN_OR_RETURN_IMPL(DFS_CONCAT(_res_, __LINE__), lhs, expr)
#define DFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.is_ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
