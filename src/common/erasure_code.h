// ErasureCode: Reed-Solomon k+m over GF(2^8), with ISA-L doing the
// arithmetic. k data units and m parity units of equal length; any k of the
// k+m rebuild the rest. The encode matrix is ISA-L's Cauchy matrix, whose
// every k x k submatrix is invertible, so any m erasures are recoverable
// (a Vandermonde matrix is not safe for every k and m). This is the codec
// only: where the units live and how stripes are laid out is the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

// An erasure-coding policy: K data units and M parity units per stripe.
struct EcScheme {
  unsigned k = 0, m = 0;
  unsigned units() const { return k + m; }
  std::string to_string() const { return std::to_string(k) + "+" + std::to_string(m); }
  bool operator==(const EcScheme&) const = default;
  // "K+M" with 1 <= K, 1 <= M, K + M <= kMaxUnits; EINVAL otherwise.
  static Result<EcScheme> parse(std::string_view text);
  static constexpr unsigned kMaxUnits = 32;
};

class ErasureCode {
 public:
  static Result<ErasureCode> make(EcScheme scheme);
  const EcScheme& scheme() const { return m_scheme; }

  // Computes the m parity units from the k data units, each `len` bytes.
  void encode(const std::vector<const uint8_t*>& data, const std::vector<uint8_t*>& parity,
              size_t len) const;
  // `units` holds k + m buffers of `len` bytes (data first, then parity);
  // those with present[i] false are rebuilt from k present ones. EIO when
  // fewer than k are present.
  Status reconstruct(const std::vector<uint8_t*>& units, const std::vector<bool>& present,
                     size_t len) const;

 private:
  explicit ErasureCode(EcScheme scheme) : m_scheme(scheme) {}
  EcScheme m_scheme;
  std::vector<uint8_t> m_matrix;  // (k + m) x k encode matrix, identity on top
  std::vector<uint8_t> m_tables;  // ec_init_tables of the parity rows
};

}  // namespace dynamicfs
