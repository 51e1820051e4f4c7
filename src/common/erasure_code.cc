// ErasureCode: ISA-L encode tables, and decode by inverting the rows of
// k surviving units.
#include "src/common/erasure_code.h"

#include <isa-l/erasure_code.h>

#include <charconv>

namespace dynamicfs {

Result<EcScheme> EcScheme::parse(std::string_view text) {
  auto plus = text.find('+');
  EcScheme s;
  auto bad = [&] {
    return Status::error(EINVAL, "erasure coding scheme '" + std::string(text) +
                                     "' is not K+M with K >= 1, M >= 1 and K + M <= " +
                                     std::to_string(kMaxUnits) + " (e.g. 4+2)");
  };
  if (plus == std::string_view::npos) return bad();
  auto num = [](std::string_view t, unsigned* out) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && p == t.data() + t.size() && !t.empty();
  };
  if (!num(text.substr(0, plus), &s.k) || !num(text.substr(plus + 1), &s.m)) return bad();
  if (s.k < 1 || s.m < 1 || s.k + s.m > kMaxUnits) return bad();
  return s;
}

Result<ErasureCode> ErasureCode::make(EcScheme scheme) {
  if (scheme.k < 1 || scheme.m < 1 || scheme.units() > EcScheme::kMaxUnits)
    return Status::error(EINVAL, "invalid erasure coding scheme " + scheme.to_string());
  ErasureCode ec(scheme);
  const int k = static_cast<int>(scheme.k), rows = static_cast<int>(scheme.units());
  ec.m_matrix.resize(static_cast<size_t>(rows * k));
  gf_gen_cauchy1_matrix(ec.m_matrix.data(), rows, k);
  ec.m_tables.resize(static_cast<size_t>(32 * k * (rows - k)));
  ec_init_tables(k, rows - k, ec.m_matrix.data() + k * k, ec.m_tables.data());
  return ec;
}

void ErasureCode::encode(const std::vector<const uint8_t*>& data,
                         const std::vector<uint8_t*>& parity, size_t len) const {
  std::vector<unsigned char*> in(data.size());
  for (size_t i = 0; i < data.size(); ++i) in[i] = const_cast<unsigned char*>(data[i]);
  std::vector<unsigned char*> out(parity.begin(), parity.end());
  ec_encode_data(static_cast<int>(len), static_cast<int>(m_scheme.k),
                 static_cast<int>(m_scheme.m), const_cast<unsigned char*>(m_tables.data()),
                 in.data(), out.data());
}

Status ErasureCode::reconstruct(const std::vector<uint8_t*>& units,
                                const std::vector<bool>& present, size_t len) const {
  const unsigned k = m_scheme.k, n = m_scheme.units();
  std::vector<unsigned> have, lost;
  for (unsigned i = 0; i < n; ++i) (present[i] ? have : lost).push_back(i);
  if (lost.empty()) return Status::ok();
  if (have.size() < k) {
    return Status::error(EIO, "stripe " + m_scheme.to_string() + " has " +
                                  std::to_string(have.size()) + " of the " + std::to_string(k) +
                                  " units needed to rebuild it");
  }
  have.resize(k);
  // Rows of the surviving units, inverted: maps them back to the data.
  std::vector<uint8_t> sub(k * k), inv(k * k);
  for (unsigned r = 0; r < k; ++r)
    for (unsigned c = 0; c < k; ++c) sub[r * k + c] = m_matrix[have[r] * k + c];
  if (gf_invert_matrix(sub.data(), inv.data(), static_cast<int>(k)) != 0)
    return Status::error(EIO, "erasure code matrix is singular for this set of units");
  // A lost unit's row: data rows come straight from the inverse; parity rows
  // are the encode row times the inverse.
  std::vector<uint8_t> rows(lost.size() * k);
  for (size_t l = 0; l < lost.size(); ++l) {
    for (unsigned c = 0; c < k; ++c) {
      if (lost[l] < k) {
        rows[l * k + c] = inv[lost[l] * k + c];
      } else {
        uint8_t v = 0;
        for (unsigned j = 0; j < k; ++j) v ^= gf_mul(m_matrix[lost[l] * k + j], inv[j * k + c]);
        rows[l * k + c] = v;
      }
    }
  }
  std::vector<uint8_t> tables(32 * k * lost.size());
  ec_init_tables(static_cast<int>(k), static_cast<int>(lost.size()), rows.data(), tables.data());
  std::vector<unsigned char*> in(k), out(lost.size());
  for (unsigned r = 0; r < k; ++r) in[r] = units[have[r]];
  for (size_t l = 0; l < lost.size(); ++l) out[l] = units[lost[l]];
  ec_encode_data(static_cast<int>(len), static_cast<int>(k), static_cast<int>(lost.size()),
                 tables.data(), in.data(), out.data());
  return Status::ok();
}

}  // namespace dynamicfs
