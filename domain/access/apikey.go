package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// KeyPrefix starts every API key, so that a key pasted where it should not be
// (a log, a repository) is recognized by secret scanners and by people.
const KeyPrefix = "trk_"

// keySecretBytes is the randomness of a key: 256 bits, beyond any guessing.
const keySecretBytes = 32

// keyLength is the length of a key as NewAPIKey writes it: the prefix and the
// secret in unpadded base64url.
var keyLength = len(KeyPrefix) + base64.RawURLEncoding.EncodedLen(keySecretBytes)

// KeyHash is what the store keeps of a key instead of the key.
//
// A plain SHA-256 is the right hash here, where a password would need a slow
// one (bcrypt, argon2): a key is 256 random bits, not something a person chose,
// so a stolen hash cannot be reversed by trying candidates, however fast each
// try is; and a fast hash costs nothing on every request.
type KeyHash [sha256.Size]byte

// HashAPIKey is the hash the store keeps of key.
func HashAPIKey(key string) KeyHash { return sha256.Sum256([]byte(key)) }

// Equal compares two hashes in constant time, so that how long a comparison
// takes tells nothing about how much of a hash matched.
func (h KeyHash) Equal(other KeyHash) bool { return subtle.ConstantTimeCompare(h[:], other[:]) == 1 }

// NewAPIKey makes a new random key: KeyPrefix and 32 bytes of crypto/rand.
func NewAPIKey() (string, error) {
	secret := make([]byte, keySecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("reading randomness for an API key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(secret), nil
}

// LooksLikeAPIKey tells whether key has the shape NewAPIKey gives keys; one
// that has not cannot be a key, and needs no look-up.
func LooksLikeAPIKey(key string) bool {
	if len(key) != keyLength || !strings.HasPrefix(key, KeyPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(key[len(KeyPrefix):])
	return err == nil
}

// MaxKeyNameLength bounds a key's name.
const MaxKeyNameLength = 64

// ParseKeyName checks a key's name: 1 to 64 characters among letters, digits,
// '.', '_' and '-', so that it reads well in logs and tables and needs no
// quoting anywhere.
func ParseKeyName(name string) (string, error) {
	if name == "" || len(name) > MaxKeyNameLength {
		return "", fmt.Errorf("a key's name must be 1 to %d characters, got %d", MaxKeyNameLength, len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", fmt.Errorf("a key's name may hold only letters, digits, '.', '_' and '-', not %q", r)
		}
	}
	return name, nil
}
