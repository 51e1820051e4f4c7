// Result<T>: a value or a Status, so functions that produce something can still
// report errors as values.
#pragma once

#include <optional>
#include <utility>

#include "src/common/status.h"

namespace dynamicfs {

template <typename T>
class Result {
 public:
  Result(T value) : m_value(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : m_status(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool is_ok() const { return m_status.is_ok(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return m_status; }
  int err() const { return m_status.err(); }

  T& value() & { return *m_value; }
  const T& value() const& { return *m_value; }
  T&& value() && { return std::move(*m_value); }
  T* operator->() { return &*m_value; }
  const T* operator->() const { return &*m_value; }
  T& operator*() { return *m_value; }

 private:
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
