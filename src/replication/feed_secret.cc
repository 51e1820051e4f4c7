// FeedSecret: key file checks and HMAC-SHA256 with OpenSSL.
#include "src/replication/feed_secret.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace dynamicfs {

namespace {

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

}  // namespace

Result<FeedSecret> FeedSecret::load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::from_errno("cannot open the secret file " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::error(err, "cannot stat " + path);
  }
  auto refuse = [&](int err, const std::string& why) {
    ::close(fd);
    return Status::error(err, "refusing the secret file " + path + ": " + why);
  };
  if (!S_ISREG(st.st_mode)) return refuse(EINVAL, "not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return refuse(EPERM, std::string("its mode is ") + mode +
                             "; group and others must have no access (chmod 600 " + path + ")");
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return refuse(EPERM, "owned by uid " + std::to_string(st.st_uid) + ", not by this user");
  std::string key;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return refuse(errno, "cannot read it");
    }
    if (n == 0) break;
    key.append(buf, static_cast<size_t>(n));
    if (key.size() > 65536) return refuse(EFBIG, "longer than 64 KiB");
  }
  ::close(fd);
  while (!key.empty() &&
         (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' || key.back() == '\t'))
    key.pop_back();
  if (key.size() < kMinBytes) {
    return Status::error(EINVAL, "refusing the secret file " + path + ": it holds " +
                                     std::to_string(key.size()) + " bytes, at least " +
                                     std::to_string(kMinBytes) + " are needed");
  }
  return FeedSecret(std::move(key));
}

Status FeedSecret::generate(const std::string& path) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status::error(EIO, "no random bytes from OpenSSL");
  std::string text = to_hex(raw, sizeof raw) + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::from_errno("cannot create " + path);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return Status::error(err, "cannot write " + path);
  }
  return Status::ok();
}

std::string FeedSecret::mac(std::string_view message) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), m_key.data(), static_cast<int>(m_key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return to_hex(out, len);
}

bool FeedSecret::verify(std::string_view message, std::string_view mac_hex) const {
  const std::string want = mac(message);
  return mac_hex.size() == want.size() &&
         CRYPTO_memcmp(want.data(), mac_hex.data(), want.size()) == 0;
}

std::string FeedSecret::request_message(std::string_view method, std::string_view target,
                                        std::string_view nonce) {
  std::string m = "dynamicfs-feed-request-1\n";
  m.append(method).append("\n").append(target).append("\n").append(nonce);
  return m;
}

std::string FeedSecret::reply_message(std::string_view nonce, std::string_view body) {
  std::string m = "dynamicfs-feed-reply-1\n";
  m.append(nonce).append("\n").append(body);
  return m;
}

std::string FeedSecret::authorization(std::string_view method, std::string_view target,
                                      std::string* nonce) const {
  *nonce = new_nonce();
  return "DFS-HMAC " + *nonce + " " + mac(request_message(method, target, *nonce));
}

bool FeedSecret::check_authorization(std::string_view method, std::string_view target,
                                     std::string_view header, std::string* nonce) const {
  constexpr std::string_view scheme = "DFS-HMAC ";
  if (header.substr(0, scheme.size()) != scheme) return false;
  header.remove_prefix(scheme.size());
  size_t space = header.find(' ');
  if (space == std::string_view::npos || space < 16 || space > 64) return false;
  std::string_view n = header.substr(0, space);
  if (!verify(request_message(method, target, n), header.substr(space + 1))) return false;
  *nonce = std::string(n);
  return true;
}

std::string FeedSecret::new_nonce() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    std::random_device rd;  // the kernel's generator, should OpenSSL's fail
    for (auto& b : raw) b = static_cast<unsigned char>(rd());
  }
  return to_hex(raw, sizeof raw);
}

std::string FeedSecret::sha256_hex(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return to_hex(out, sizeof out);
}

}  // namespace dynamicfs
