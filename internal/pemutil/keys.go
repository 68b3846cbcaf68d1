package pemutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
)

// Key size bounds of CheckKeyStrength.
const (
	// MinRSABits is the smallest RSA key accepted: NIST SP 800-131A has
	// disallowed smaller ones for signatures since 2013.
	MinRSABits = 2048
	// MaxRSABits is the largest: crypto/tls refuses larger peer keys, and
	// each larger signature would cost the CA seconds.
	MaxRSABits = 8192
)

// ErrWeakKey is wrapped by CheckKeyStrength's errors.
var ErrWeakKey = errors.New("key not accepted")

// CheckKeyStrength accepts RSA keys of MinRSABits to MaxRSABits bits,
// ECDSA keys on P-256, P-384 or P-521, and Ed25519 keys; its error names
// the key's algorithm and size (e.g. "RSA 1024"), never its material.
func CheckKeyStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits < MinRSABits:
			return fmt.Errorf("%w: RSA %d is too weak: RSA keys must have at least %d bits", ErrWeakKey, bits, MinRSABits)
		case bits > MaxRSABits:
			return fmt.Errorf("%w: RSA %d is too large: RSA keys may have at most %d bits", ErrWeakKey, bits, MaxRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		switch name := k.Curve.Params().Name; name {
		case "P-256", "P-384", "P-521":
			return nil
		default:
			return fmt.Errorf("%w: ECDSA curve %s is not supported: use P-256, P-384 or P-521", ErrWeakKey, name)
		}
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("%w: key type %T is not supported: use RSA (at least %d bits), ECDSA or Ed25519", ErrWeakKey, pub, MinRSABits)
	}
}
