// FeedSecret: the shared secret that authenticates a lab-sync feed (see
// LabFeed). The publisher and every follower read the same key from a file
// that only its owner may read; a file others could read is refused, since
// anyone holding the key could push a volume to the whole lab. Requests are
// signed with HMAC-SHA256 over the method, path and a fresh nonce, and each
// answer over that nonce and the body, so a stranger can neither read the
// feed nor forge or replay one.
#pragma once

#include <string>
#include <string_view>

#include "src/common/result.h"

namespace dynamicfs {

class FeedSecret {
 public:
  static constexpr size_t kMinBytes = 16;

  // Reads the key (trailing whitespace dropped). Refused: a file that is
  // not regular, readable or writable by group or others, owned by another
  // user (root's files are accepted), or shorter than kMinBytes.
  static Result<FeedSecret> load(const std::string& path);
  // Writes a new random key (32 bytes, hex) to PATH with mode 0600; EEXIST
  // if PATH exists.
  static Status generate(const std::string& path);

  // Lower-case hex HMAC-SHA256 of MESSAGE under the key.
  std::string mac(std::string_view message) const;
  // Constant-time comparison with mac(MESSAGE).
  bool verify(std::string_view message, std::string_view mac_hex) const;

  // What a request and an answer sign.
  static std::string request_message(std::string_view method, std::string_view target,
                                     std::string_view nonce);
  static std::string reply_message(std::string_view nonce, std::string_view body);
  // The Authorization header of a request: "DFS-HMAC NONCE MAC" with a
  // fresh nonce (returned in *nonce, to check the answer's signature).
  std::string authorization(std::string_view method, std::string_view target,
                            std::string* nonce) const;
  // Checks a request's Authorization header; *nonce set when it is valid.
  bool check_authorization(std::string_view method, std::string_view target,
                           std::string_view header, std::string* nonce) const;
  // The header carrying an answer's MAC.
  static constexpr const char* kSignatureHeader = "X-Dynamicfs-Signature";
  // 16 random bytes in hex.
  static std::string new_nonce();
  // Lower-case hex SHA-256 of DATA.
  static std::string sha256_hex(std::string_view data);

 private:
  explicit FeedSecret(std::string key) : m_key(std::move(key)) {}
  std::string m_key;
};

}  // namespace dynamicfs
