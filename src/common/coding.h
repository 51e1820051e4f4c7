// Fixed-width integer encoding. Keys are big-endian so RocksDB's bytewise
// order follows numeric order (file offsets, directory order); values are
// little-endian like the on-disk superblock.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dynamicfs {

inline void put_be64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

inline void put_be32(std::string* out, uint32_t v) {
  char buf[4];
  for (int i = 3; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 4);
}

inline uint64_t get_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline uint32_t get_be32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

template <typename T>
inline void put_le(std::string* out, T v) {
  static_assert(std::is_integral_v<T>);
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) {
    buf[i] = static_cast<char>(static_cast<uint64_t>(v) >> (8 * i));
  }
  out->append(buf, sizeof(T));
}

template <typename T>
inline T get_le(const char* p) {
  static_assert(std::is_integral_v<T>);
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return static_cast<T>(v);
}

// Sequential little-endian reader over a value; `ok()` turns false on overrun
// so a truncated record is detected instead of read past its end.
class LeReader {
 public:
  explicit LeReader(std::string_view data) : m_data(data) {}
  template <typename T>
  T get() {
    if (m_pos + sizeof(T) > m_data.size()) {
      m_ok = false;
      return T{};
    }
    T v = get_le<T>(m_data.data() + m_pos);
    m_pos += sizeof(T);
    return v;
  }
  bool ok() const { return m_ok; }
  size_t remaining() const { return m_data.size() - m_pos; }

 private:
  std::string_view m_data;
  size_t m_pos = 0;
  bool m_ok = true;
};

}  // namespace dynamicfs
