// Small file helpers shared by the unit tests: seeded random bytes (tests
// print or fix their seeds) and whole-file reads and writes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace dynamicfs::test_files {

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Up to LEN bytes of PATH at OFFSET (fewer at the end of the file).
inline std::string read_range(const std::string& path, uint64_t offset, size_t len) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string s(len, '\0');
  in.read(s.data(), static_cast<std::streamsize>(len));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

}  // namespace dynamicfs::test_files
