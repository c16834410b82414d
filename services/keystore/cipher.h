// AES-256-GCM encryption of keystore values under a master key.
//
// Sealed form: 0x01 | 12-byte random nonce | ciphertext | 16-byte tag. The
// associated data binds a value to its "namespace/key" slot, so a sealed
// value copied to another slot does not open.
#ifndef TASKER_SERVICES_KEYSTORE_CIPHER_H_
#define TASKER_SERVICES_KEYSTORE_CIPHER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker::keystore {

class Cipher {
 public:
  // `key_material`: 32 raw bytes, 64 hex characters or base64 of 32 bytes.
  // INVALID_ARGUMENT otherwise (the message never contains the key).
  static absl::StatusOr<Cipher> FromKeyMaterial(absl::string_view key_material);

  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view associated_data) const;
  // DATA_LOSS when the value does not open (wrong key, tampered, wrong slot).
  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view associated_data) const;

 private:
  explicit Cipher(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace tasker::keystore

#endif  // TASKER_SERVICES_KEYSTORE_CIPHER_H_
