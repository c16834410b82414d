// AES-256-GCM encryption of keystore values under a master key, and the
// keyring that lets the master key be rotated.
//
// Sealed form (version 2, what Seal writes):
//   0x02 | 8-byte key id | 12-byte random nonce | ciphertext | 16-byte tag
// Legacy form (version 1, still opened):
//   0x01 | 12-byte random nonce | ciphertext | 16-byte tag
// The associated data binds a value to its "namespace/key" slot, so a sealed
// value copied to another slot does not open; in version 2 it also covers
// the version byte and the key id.
//
// The key id names the key a value was sealed under without revealing it:
// the first 8 bytes of SHA-256 over a domain label and the key. It can be
// logged and shown to operators; key material never is.
#ifndef TASKER_SERVICES_KEYSTORE_CIPHER_H_
#define TASKER_SERVICES_KEYSTORE_CIPHER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker::keystore {

class Cipher {
 public:
  // `key_material`: 32 raw bytes, 64 hex characters or base64 of 32 bytes.
  // INVALID_ARGUMENT otherwise (the message never contains the key).
  static absl::StatusOr<Cipher> FromKeyMaterial(absl::string_view key_material);

  // The 8-byte key id (raw) and its 16 hex characters.
  const std::string& key_id() const { return key_id_; }
  std::string KeyIdHex() const;

  // Seals in version 2 under this key.
  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view associated_data) const;
  // Opens version 1 or version 2 values sealed under this key. DATA_LOSS when
  // the value does not open (wrong key, tampered, wrong slot, malformed).
  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view associated_data) const;

  // The key id a version 2 value names; nullopt for version 1 values and
  // anything malformed.
  static std::optional<std::string> KeyIdOf(absl::string_view sealed);

 private:
  Cipher(std::string key, std::string key_id) : key_(std::move(key)), key_id_(std::move(key_id)) {}
  std::string key_;
  std::string key_id_;
};

// The current master key and the previous ones still being retired. Seals
// with the current key; opens what any of them sealed.
class Keyring {
 public:
  // Previous keys equal to the current key or to each other are dropped.
  explicit Keyring(Cipher current, std::vector<Cipher> previous = {});

  const Cipher& current() const { return current_; }
  const std::vector<Cipher>& previous() const { return previous_; }
  // The key with this raw key id, or nullptr.
  const Cipher* Find(absl::string_view key_id) const;

  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view associated_data) const {
    return current_.Seal(plaintext, associated_data);
  }

  struct Opened {
    std::string plaintext;
    const Cipher* key = nullptr;  // the key it opened under (owned by the keyring)
    // Version 2 under the current key: nothing to re-encrypt.
    bool under_current = false;
  };
  // A version 2 value opens under the key its key id names; a version 1
  // value is tried under each key, the current one first. DATA_LOSS when no
  // key opens it (the message names key ids, never keys or values).
  absl::StatusOr<Opened> Open(absl::string_view sealed, absl::string_view associated_data) const;

 private:
  Cipher current_;
  std::vector<Cipher> previous_;
};

}  // namespace tasker::keystore

#endif  // TASKER_SERVICES_KEYSTORE_CIPHER_H_
