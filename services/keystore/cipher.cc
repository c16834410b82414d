#include "services/keystore/cipher.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace tasker::keystore {
namespace {

constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr char kVersion = 0x01;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

absl::StatusOr<Cipher> Cipher::FromKeyMaterial(absl::string_view material) {
  std::string text(material);
  absl::StripAsciiWhitespace(&text);
  std::string key;
  if (material.size() == kKeySize) {
    key = std::string(material);
  } else if (text.size() == 2 * kKeySize &&
             std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
    key = absl::HexStringToBytes(text);
  } else if (!absl::Base64Unescape(text, &key) || key.size() != kKeySize) {
    return absl::InvalidArgumentError(
        "master key: must be 32 bytes, given raw, as 64 hex characters or as base64");
  }
  return Cipher(std::move(key));
}

absl::StatusOr<std::string> Cipher::Seal(absl::string_view plaintext, absl::string_view aad) const {
  std::string out(1 + kNonceSize + plaintext.size() + kTagSize, '\0');
  out[0] = kVersion;
  auto* nonce = reinterpret_cast<unsigned char*>(&out[1]);
  if (RAND_bytes(nonce, kNonceSize) != 1) return absl::InternalError("no randomness for a nonce");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  auto* cipher_out = reinterpret_cast<unsigned char*>(&out[1 + kNonceSize]);
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                                 reinterpret_cast<const unsigned char*>(key_.data()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher_out, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipher_out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          &out[1 + kNonceSize + plaintext.size()]) != 1) {
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return out;
}

absl::StatusOr<std::string> Cipher::Open(absl::string_view sealed, absl::string_view aad) const {
  if (sealed.size() < 1 + kNonceSize + kTagSize || sealed[0] != kVersion) {
    return absl::DataLossError("sealed value is malformed");
  }
  const size_t size = sealed.size() - 1 - kNonceSize - kTagSize;
  std::string plain(size, '\0');
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + 1);
  const auto* cipher_in = reinterpret_cast<const unsigned char*>(sealed.data() + 1 + kNonceSize);
  std::string tag(sealed.substr(1 + kNonceSize + size));
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, cipher_in,
                        static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) != 1) {
    return absl::DataLossError("value does not decrypt under this master key");
  }
  return plain;
}

}  // namespace tasker::keystore
