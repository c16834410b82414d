#include "services/keystore/cipher.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tasker::keystore {
namespace {

constexpr size_t kKeySize = 32;
constexpr size_t kKeyIdSize = 8;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr char kVersion1 = 0x01;
constexpr char kVersion2 = 0x02;
constexpr size_t kHeader1 = 1;
constexpr size_t kHeader2 = 1 + kKeyIdSize;
// Domain separation: the key id is a hash of this label and the key, so it
// cannot be confused with any other hash of the key.
// sizeof keeps the terminating NUL, which separates the label from the key.
constexpr char kKeyIdLabel[] = "tasker keystore master key id v1";

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* U(absl::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string KeyIdFor(const std::string& key) {
  std::string input = absl::StrCat(absl::string_view(kKeyIdLabel, sizeof(kKeyIdLabel)), key);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha256(), nullptr);
  OPENSSL_cleanse(input.data(), input.size());
  return std::string(reinterpret_cast<const char*>(digest), kKeyIdSize);
}

// AES-256-GCM of `plaintext` into out[offset..]: nonce, ciphertext, tag.
absl::Status GcmSeal(const std::string& key, absl::string_view aad, absl::string_view plaintext, std::string& out,
                     size_t offset) {
  out.resize(offset + kNonceSize + plaintext.size() + kTagSize);
  auto* nonce = reinterpret_cast<unsigned char*>(&out[offset]);
  if (RAND_bytes(nonce, kNonceSize) != 1) return absl::InternalError("no randomness for a nonce");
  auto* cipher_out = nonce + kNonceSize;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher_out, &len, U(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipher_out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, cipher_out + plaintext.size()) != 1) {
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return absl::OkStatus();
}

// Opens `body` (nonce, ciphertext, tag); the caller checked its size.
absl::StatusOr<std::string> GcmOpen(const std::string& key, absl::string_view aad, absl::string_view body) {
  const size_t size = body.size() - kNonceSize - kTagSize;
  std::string plain(size, '\0');
  std::string tag(body.substr(kNonceSize + size));
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key), U(body)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, U(body) + kNonceSize,
                        static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) != 1) {
    return absl::DataLossError("value does not decrypt under this master key");
  }
  return plain;
}

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
  std::string id = KeyIdFor(key);
  return Cipher(std::move(key), std::move(id));
}

std::string Cipher::KeyIdHex() const { return absl::BytesToHexString(key_id_); }

absl::StatusOr<std::string> Cipher::Seal(absl::string_view plaintext, absl::string_view aad) const {
  std::string out = absl::StrCat(absl::string_view(&kVersion2, 1), key_id_);
  // The header is authenticated too: a value's key id cannot be rewritten.
  const std::string full_aad = absl::StrCat(out, aad);
  if (absl::Status sealed = GcmSeal(key_, full_aad, plaintext, out, kHeader2); !sealed.ok()) return sealed;
  return out;
}

absl::StatusOr<std::string> Cipher::Open(absl::string_view sealed, absl::string_view aad) const {
  if (!sealed.empty() && sealed[0] == kVersion1 && sealed.size() >= kHeader1 + kNonceSize + kTagSize) {
    return GcmOpen(key_, aad, sealed.substr(kHeader1));
  }
  if (!sealed.empty() && sealed[0] == kVersion2 && sealed.size() >= kHeader2 + kNonceSize + kTagSize) {
    if (sealed.substr(1, kKeyIdSize) != key_id_) {
      return absl::DataLossError(absl::StrCat("value is sealed under master key id ",
                                              absl::BytesToHexString(sealed.substr(1, kKeyIdSize)),
                                              ", not under this key (id ", KeyIdHex(), ")"));
    }
    return GcmOpen(key_, absl::StrCat(sealed.substr(0, kHeader2), aad), sealed.substr(kHeader2));
  }
  return absl::DataLossError("sealed value is malformed");
}

std::optional<std::string> Cipher::KeyIdOf(absl::string_view sealed) {
  if (sealed.size() < kHeader2 + kNonceSize + kTagSize || sealed[0] != kVersion2) return std::nullopt;
  return std::string(sealed.substr(1, kKeyIdSize));
}

Keyring::Keyring(Cipher current, std::vector<Cipher> previous) : current_(std::move(current)) {
  for (auto& key : previous) {
    if (Find(key.key_id()) == nullptr) previous_.push_back(std::move(key));
  }
}

const Cipher* Keyring::Find(absl::string_view key_id) const {
  if (current_.key_id() == key_id) return &current_;
  for (const auto& key : previous_) {
    if (key.key_id() == key_id) return &key;
  }
  return nullptr;
}

absl::StatusOr<Keyring::Opened> Keyring::Open(absl::string_view sealed, absl::string_view aad) const {
  Opened out;
  if (auto id = Cipher::KeyIdOf(sealed)) {
    out.key = Find(*id);
    if (out.key == nullptr) {
      return absl::DataLossError(absl::StrCat("value is sealed under master key id ", absl::BytesToHexString(*id),
                                              ", which is neither the current nor a previous master key"));
    }
    auto plain = out.key->Open(sealed, aad);
    if (!plain.ok()) return plain.status();
    out.plaintext = std::move(*plain);
    out.under_current = out.key == &current_;
    return out;
  }
  if (sealed.size() < kHeader1 + kNonceSize + kTagSize || sealed[0] != kVersion1) {
    return absl::DataLossError("sealed value is malformed");
  }
  // Version 1 names no key: the first that opens it is the one.
  std::vector<const Cipher*> keys = {&current_};
  for (const auto& key : previous_) keys.push_back(&key);
  for (const Cipher* key : keys) {
    auto plain = key->Open(sealed, aad);
    if (plain.ok()) {
      out.plaintext = std::move(*plain);
      out.key = key;
      return out;
    }
  }
  return absl::DataLossError("value does not decrypt under the current or any previous master key");
}

}  // namespace tasker::keystore
